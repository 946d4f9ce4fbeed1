package shipcheck

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// GitLabInput is one spec:inputs entry of a GitLab CI template.
type GitLabInput struct {
	Description string
	Type        string // "" is string
	Default     any
	Options     []any
	Regex       string
	hasDefault  bool
}

// GitLabJob is the subset of GitLab's job keywords tagsweep's template and
// README examples use; decoding is strict, so another key (a typo) fails.
type GitLabJob struct {
	Stage string `json:"stage,omitempty"`
	Image struct {
		Name       string   `json:"name"`
		Entrypoint []string `json:"entrypoint,omitempty"`
	} `json:"image"`
	Rules []struct {
		If   string `json:"if,omitempty"`
		When string `json:"when,omitempty"`
	} `json:"rules,omitempty"`
	Interruptible *bool             `json:"interruptible,omitempty"`
	ResourceGroup string            `json:"resource_group,omitempty"`
	Variables     map[string]string `json:"variables,omitempty"`
	Script        []string          `json:"script"`
	Artifacts     *struct {
		When     string   `json:"when,omitempty"`
		Paths    []string `json:"paths"`
		ExpireIn string   `json:"expire_in,omitempty"`
	} `json:"artifacts,omitempty"`
	// Cache is GitLab's cache: keyword, which carries tagsweep's cache-dir
	// from one pipeline to the next.
	Cache *struct {
		Key    string   `json:"key,omitempty"`
		Paths  []string `json:"paths"`
		When   string   `json:"when,omitempty"`
		Policy string   `json:"policy,omitempty"`
	} `json:"cache,omitempty"`
}

// GitLabTemplate is a parsed templates/gitlab file: its spec:inputs header
// and its body with the inputs' defaults interpolated.
type GitLabTemplate struct {
	Inputs map[string]GitLabInput
	Jobs   map[string]GitLabJob
}

var interpolation = regexp.MustCompile(`\$\[\[\s*inputs\.([A-Za-z0-9_-]+)\s*\]\]`)

// ParseGitLabTemplate reads a template with a spec:inputs header: every input
// described and defaulted (so that an include without inputs works), of a
// known type, its default of that type; every $[[ inputs.x ]] declared and
// every declared input used; the body, with the given values (else the
// defaults) interpolated, strict YAML of GitLab jobs.
func ParseGitLabTemplate(b []byte, values map[string]any) (*GitLabTemplate, error) {
	head, body, ok := strings.Cut(string(b), "\n---\n")
	if !ok {
		return nil, fmt.Errorf("no --- between the spec header and the jobs")
	}
	var h struct {
		Spec struct {
			Inputs map[string]map[string]any `json:"inputs"`
		} `json:"spec"`
	}
	if err := yaml.UnmarshalStrict([]byte(head), &h); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	var errs []string
	t := &GitLabTemplate{Inputs: map[string]GitLabInput{}, Jobs: map[string]GitLabJob{}}
	for name, raw := range h.Spec.Inputs {
		var in GitLabInput
		for k, v := range raw {
			switch k {
			case "description":
				in.Description, _ = v.(string)
			case "type":
				in.Type, _ = v.(string)
			case "default":
				in.Default, in.hasDefault = v, true
			case "options":
				in.Options, _ = v.([]any)
			case "regex":
				in.Regex, _ = v.(string)
			default:
				errs = append(errs, fmt.Sprintf("input %s: unknown key %s", name, k))
			}
		}
		if in.Description == "" {
			errs = append(errs, "input "+name+": no description")
		}
		if !in.hasDefault {
			errs = append(errs, "input "+name+": no default (a mandatory input breaks an include without inputs)")
		}
		var okType bool
		switch in.Type {
		case "", "string":
			_, okType = in.Default.(string)
		case "number":
			_, okType = in.Default.(float64)
		case "boolean":
			_, okType = in.Default.(bool)
		case "array":
			_, okType = in.Default.([]any)
		default:
			errs = append(errs, fmt.Sprintf("input %s: type %q is not string, number, boolean or array", name, in.Type))
			okType = true
		}
		if in.hasDefault && !okType {
			errs = append(errs, fmt.Sprintf("input %s: default %v (%T) is not of type %s", name, in.Default, in.Default, cmpOr(in.Type, "string")))
		}
		t.Inputs[name] = in
	}
	used := map[string]bool{}
	var undeclared []string
	interpolated := interpolation.ReplaceAllStringFunc(body, func(m string) string {
		name := interpolation.FindStringSubmatch(m)[1]
		used[name] = true
		in, ok := t.Inputs[name]
		if !ok {
			undeclared = append(undeclared, name)
			return m
		}
		v, given := values[name]
		if !given {
			v = in.Default
		}
		return fmt.Sprint(v)
	})
	for _, u := range undeclared {
		errs = append(errs, "$[[ inputs."+u+" ]] is not declared in spec:inputs")
	}
	for name := range t.Inputs {
		if !used[name] {
			errs = append(errs, "input "+name+" is declared but never used")
		}
	}
	for name := range values {
		if _, ok := t.Inputs[name]; !ok {
			errs = append(errs, "include sets input "+name+", which the template does not declare")
		}
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return nil, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	if err := yaml.UnmarshalStrict([]byte(interpolated), &t.Jobs); err != nil {
		return nil, fmt.Errorf("jobs, interpolated: %w", err)
	}
	if len(t.Jobs) == 0 {
		return nil, fmt.Errorf("no job")
	}
	return t, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// CheckGitLabJob checks a tagsweep GitLab job: the released image with its
// entrypoint cleared (GitLab runs the script through sh), TAGSWEEP_* names
// that are inputs, and repositories that name the project's own repository
// along with what lies below it.
func CheckGitLabJob(name string, j GitLabJob, image string, inputs map[string]bool) error {
	var errs []string
	if !strings.HasPrefix(j.Image.Name, image+":") {
		errs = append(errs, fmt.Sprintf("image %q is not the released %s", j.Image.Name, image))
	}
	if !slices.Equal(j.Image.Entrypoint, []string{""}) {
		errs = append(errs, fmt.Sprintf("entrypoint %q: want [\"\"] (the image's entrypoint is tagsweep; GitLab runs sh)", j.Image.Entrypoint))
	}
	if len(j.Script) == 0 || !strings.Contains(strings.Join(j.Script, "\n"), "tagsweep") {
		errs = append(errs, "the script does not run tagsweep")
	}
	var names []string
	for k := range j.Variables {
		names = append(names, k)
	}
	if err := CheckEnvNames(names, inputs); err != nil {
		errs = append(errs, err.Error())
	}
	repos := []string{j.Variables["TAGSWEEP_REPOSITORIES"]}
	for _, s := range j.Script {
		if m := regexp.MustCompile(`--repositories[ =]("[^"]*"|'[^']*'|\S+)`).FindStringSubmatch(s); m != nil {
			repos = append(repos, strings.Trim(m[1], `"'`))
		}
	}
	for _, r := range repos {
		if err := CheckProjectPathGlobs(r); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if err := checkGitLabCache(j); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return fmt.Errorf("job %s: %s", name, strings.Join(errs, "; "))
	}
	return nil
}

// checkGitLabCache: a job that keeps a GitLab cache gives tagsweep a
// cache-dir inside one of its paths (else the cache carries nothing), and
// one that gives a cache-dir relative to the project keeps it in a cache.
func checkGitLabCache(j GitLabJob) error {
	dir := j.Variables["TAGSWEEP_CACHE_DIR"]
	for _, s := range j.Script {
		if m := regexp.MustCompile(`--cache-dir[ =]("[^"]*"|'[^']*'|\S+)`).FindStringSubmatch(s); m != nil {
			dir = strings.Trim(m[1], `"'`)
		}
	}
	if j.Cache == nil {
		return nil
	}
	if dir == "" {
		return fmt.Errorf("cache: %v, but tagsweep is given no cache-dir", j.Cache.Paths)
	}
	clean := path.Clean(dir)
	for _, p := range j.Cache.Paths {
		if p := path.Clean(p); clean == p || strings.HasPrefix(clean, p+"/") {
			return nil
		}
	}
	return fmt.Errorf("cache-dir %s lies in none of the cache: paths %v", dir, j.Cache.Paths)
}

// CheckProjectPathGlobs: `$CI_PROJECT_PATH/**` matches only what lies below
// the project's path, not the project's own repository `$CI_PROJECT_PATH`,
// where `$CI_REGISTRY_IMAGE` pushes; a list naming the first must name the
// second too.
func CheckProjectPathGlobs(list string) error {
	var globs []string
	for _, g := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == '\n' }) {
		globs = append(globs, strings.TrimSpace(g))
	}
	for _, p := range []string{"$CI_PROJECT_PATH", "${CI_PROJECT_PATH}"} {
		if slices.Contains(globs, p+"/**") && !slices.Contains(globs, p) {
			return fmt.Errorf("repositories %q: %s/** does not match %s itself, where $CI_REGISTRY_IMAGE pushes; list both", list, p, p)
		}
	}
	return nil
}
