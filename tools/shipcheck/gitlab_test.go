package shipcheck

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const gitlabTemplate = "templates/gitlab/tagsweep.yml"

// The GitLab template: inputs declared, described, defaulted and used; its
// job, interpolated with the defaults, runs the released image on the
// project's own registry (CI_REGISTRY*), its own repository included.
func TestGitLabTemplate(t *testing.T) {
	t.Parallel()
	tpl, err := ParseGitLabTemplate(mustRead(t, gitlabTemplate), nil)
	if err != nil {
		t.Fatalf("%s: %v", gitlabTemplate, err)
	}
	j, ok := tpl.Jobs["tagsweep"]
	if !ok || len(tpl.Jobs) != 1 {
		t.Fatalf("jobs %v, want one: tagsweep", tpl.Jobs)
	}
	if err := CheckGitLabJob("tagsweep", j, releaseImage(t), actionInputs(t)); err != nil {
		t.Error(err)
	}
	for k, want := range map[string]string{
		"TAGSWEEP_REGISTRY":     "$CI_REGISTRY",
		"TAGSWEEP_USERNAME":     "$CI_REGISTRY_USER",
		"TAGSWEEP_PASSWORD":     "$CI_REGISTRY_PASSWORD",
		"TAGSWEEP_REPOSITORIES": "$CI_PROJECT_PATH,$CI_PROJECT_PATH/**",
	} {
		if got := j.Variables[k]; got != want {
			t.Errorf("by default %s=%q, want %q", k, got, want)
		}
	}
	if j.Image.Name != releaseImage(t)+":v1" {
		t.Errorf("image %q by default, want the major tag v1", j.Image.Name)
	}
}

func TestGitLabCatches(t *testing.T) {
	t.Parallel()
	good := string(mustRead(t, gitlabTemplate))
	in, img := actionInputs(t), releaseImage(t)
	for _, c := range []struct{ name, old, new, want string }{
		{"undeclared input", "$[[ inputs.older-than ]]", "$[[ inputs.olderthan ]]", "not declared"},
		{"unused input", `"$[[ inputs.exclude-tags ]]"`, `""`, "never used"},
		{"no default", "      default: .post\n", "", "no default"},
		{"default of another type", "      type: number\n      default: 10\n", "      type: number\n      default: ten\n", "not of type"},
		{"unknown type", "type: boolean", "type: bool", "type \"bool\""},
		{"job keyword typo", "  script:\n", "  scripts:\n", "unknown field"},
		{"input name typo", "TAGSWEEP_OLDER_THAN", "TAGSWEEP_OLDERTHAN", "TAGSWEEP_OLDERTHAN"},
		{"no entrypoint", "    entrypoint: [\"\"]", "", "entrypoint"},
		{"other image", "ghcr.io/tagsweep/tagsweep:", "docker.io/tagsweep/tagsweep:", "released"},
		{"own repository missing", "default: $CI_PROJECT_PATH,$CI_PROJECT_PATH/**", "default: $CI_PROJECT_PATH/**", "list both"},
	} {
		if !strings.Contains(good, c.old) {
			t.Fatalf("%s: %q not in the template", c.name, c.old)
		}
		bad := strings.Replace(good, c.old, c.new, 1)
		tpl, err := ParseGitLabTemplate([]byte(bad), nil)
		if err == nil {
			err = CheckGitLabJob("tagsweep", tpl.Jobs["tagsweep"], img, in)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want an error with %q", c.name, err, c.want)
		}
	}
	if _, err := ParseGitLabTemplate([]byte(good), map[string]any{"kep": 3}); err == nil {
		t.Error("an include setting an undeclared input passed")
	}
}

var remoteTemplate = regexp.MustCompile(`^https://raw\.githubusercontent\.com/tagsweep/tagsweep/v[0-9][^/]*/(templates/gitlab/[a-z-]+\.yml)$`)

// checkGitLabBlock checks a README GitLab fragment: an include of the
// template at a release tag (the file exists, the inputs it sets are the
// template's), or tagsweep jobs written out.
func checkGitLabBlock(text string, img string, in map[string]bool) error {
	var top map[string]any
	if err := yaml.Unmarshal([]byte(text), &top); err != nil {
		return err
	}
	for key, v := range top {
		if key == "include" {
			var incs []struct {
				Remote string         `json:"remote"`
				Inputs map[string]any `json:"inputs"`
			}
			b, _ := yaml.Marshal(v)
			if err := yaml.UnmarshalStrict(b, &incs); err != nil {
				return err
			}
			for _, inc := range incs {
				m := remoteTemplate.FindStringSubmatch(inc.Remote)
				if m == nil {
					return &os.PathError{Op: "include", Path: inc.Remote, Err: os.ErrNotExist}
				}
				tb, err := os.ReadFile(filepath.Join(Root, m[1]))
				if err != nil {
					return err
				}
				if _, err := ParseGitLabTemplate(tb, inc.Inputs); err != nil {
					return err
				}
			}
			continue
		}
		var j GitLabJob
		b, _ := yaml.Marshal(v)
		if err := yaml.UnmarshalStrict(b, &j); err != nil {
			return err
		}
		if err := CheckGitLabJob(key, j, img, in); err != nil {
			return err
		}
	}
	return nil
}

// README's GitLab examples pass the same checks.
func TestREADMEGitLab(t *testing.T) {
	t.Parallel()
	blocks, kinds := readmeBlocks(t)
	n := 0
	for i, b := range blocks {
		if kinds[i] != GitLab {
			continue
		}
		n++
		if err := checkGitLabBlock(b.Text, releaseImage(t), actionInputs(t)); err != nil {
			t.Errorf("README.md:%d: %v", b.Line, err)
		}
	}
	if n < 2 {
		t.Errorf("README has %d GitLab examples, want the include and the job written out", n)
	}
	bad := GitLabMarker + "\nsweep:\n  image: {name: ghcr.io/tagsweep/tagsweep:v1, entrypoint: [\"\"]}\n  script: [tagsweep --repositories \"$CI_PROJECT_PATH/**\"]\n"
	if err := checkGitLabBlock(bad, releaseImage(t), actionInputs(t)); err == nil || !strings.Contains(err.Error(), "list both") {
		t.Errorf("README's old GitLab example: %v, want the own-repository error", err)
	}
	for bad, want := range map[string]string{
		"variables: {TAGSWEEP_CACHE_DIR: .cache}\n  cache: {key: k, paths: [.tagsweep-cache/]}\n": "lies in none",
		"cache: {key: k, paths: [.tagsweep-cache/]}\n":                                            "no cache-dir",
		"cache: {key: k, paths: [.c/], when: always, polcy: pull}\n":                              "unknown field",
	} {
		job := GitLabMarker + "\nsweep:\n  image: {name: ghcr.io/tagsweep/tagsweep:v1, entrypoint: [\"\"]}\n  " + bad + "  script: [tagsweep --repositories \"$CI_PROJECT_PATH,$CI_PROJECT_PATH/**\"]\n"
		if err := checkGitLabBlock(job, releaseImage(t), actionInputs(t)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("a job with %q: %v, want %q", bad, err, want)
		}
	}
	bad = GitLabMarker + "\ninclude:\n  - remote: https://raw.githubusercontent.com/tagsweep/tagsweep/v1.2.3/templates/gitlab/nope.yml\n"
	if err := checkGitLabBlock(bad, releaseImage(t), actionInputs(t)); err == nil {
		t.Error("an include of a missing template passed")
	}
}
