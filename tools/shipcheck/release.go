package shipcheck

import (
	"bufio"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/mod/modfile"
	"sigs.k8s.io/yaml"
)

// Goreleaser is the part of .goreleaser.yaml these checks read.
type Goreleaser struct {
	Builds []struct {
		ID      string   `json:"id"`
		Binary  string   `json:"binary"`
		Goos    []string `json:"goos"`
		Goarch  []string `json:"goarch"`
		Ldflags []string `json:"ldflags"`
	} `json:"builds"`
	DockersV2 []struct {
		IDs         []string          `json:"ids"`
		Dockerfile  string            `json:"dockerfile"`
		Images      []string          `json:"images"`
		Tags        []string          `json:"tags"`
		Platforms   []string          `json:"platforms"`
		BuildArgs   map[string]string `json:"build_args"`
		Annotations map[string]string `json:"annotations"`
	} `json:"dockers_v2"`
}

// ParseGoreleaser reads the fields of .goreleaser.yaml that these checks use
// (goreleaser check validates the whole file).
func ParseGoreleaser(b []byte) (*Goreleaser, error) {
	var g Goreleaser
	if err := yaml.Unmarshal(b, &g); err != nil {
		return nil, fmt.Errorf(".goreleaser.yaml: %w", err)
	}
	return &g, nil
}

// CheckImageAgreement checks that the image release.yml writes into
// action.yml (env IMAGE, tag vX.Y.Z) is the one GoReleaser pushes, under that
// tag, for the platforms GitHub's runners have, and with the binary the
// release stamps.
func CheckImageAgreement(releaseYML, goreleaserYAML []byte) error {
	img, err := ReleaseImage(releaseYML)
	if err != nil {
		return err
	}
	g, err := ParseGoreleaser(goreleaserYAML)
	if err != nil {
		return err
	}
	if len(g.DockersV2) != 1 {
		return fmt.Errorf(".goreleaser.yaml: want one dockers_v2 entry, got %d", len(g.DockersV2))
	}
	d := g.DockersV2[0]
	var errs []string
	if !slices.Equal(d.Images, []string{img}) {
		errs = append(errs, fmt.Sprintf("GoReleaser pushes %q, release.yml's action.yml names %q", d.Images, img))
	}
	if !slices.Contains(d.Tags, "{{ .Tag }}") {
		errs = append(errs, fmt.Sprintf("GoReleaser's tags %q lack {{ .Tag }}, the vX.Y.Z that action.yml names", d.Tags))
	}
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		if !slices.Contains(d.Platforms, p) {
			errs = append(errs, fmt.Sprintf("the image lacks platform %s", p))
		}
	}
	if d.BuildArgs["BINARY"] != "prebuilt" {
		errs = append(errs, fmt.Sprintf("build_args BINARY=%q: want prebuilt, the released binary", d.BuildArgs["BINARY"]))
	}
	if d.BuildArgs["VERSION"] != "{{ .Tag }}" || d.BuildArgs["COMMIT"] != "{{ .FullCommit }}" {
		errs = append(errs, fmt.Sprintf("build_args VERSION=%q COMMIT=%q: want {{ .Tag }} and {{ .FullCommit }} (the labels)", d.BuildArgs["VERSION"], d.BuildArgs["COMMIT"]))
	}
	if !strings.Contains(string(releaseYML), `.github/scripts/release-action-yml.sh "$TAG" "$IMAGE" action.yml`) {
		errs = append(errs, "release.yml does not run .github/scripts/release-action-yml.sh \"$TAG\" \"$IMAGE\" action.yml")
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// CheckGoreleaserVersion checks that each workflow using goreleaser-action
// installs the GoReleaser version that tools/go.mod pins (the one .ci/run
// checks .goreleaser.yaml with).
func CheckGoreleaserVersion(toolsGoMod []byte, workflows map[string][]byte) error {
	mf, err := modfile.Parse("tools/go.mod", toolsGoMod, nil)
	if err != nil {
		return err
	}
	var want string
	for _, r := range mf.Require {
		if r.Mod.Path == "github.com/goreleaser/goreleaser/v2" {
			want = r.Mod.Version
		}
	}
	if want == "" {
		return fmt.Errorf("tools/go.mod does not require github.com/goreleaser/goreleaser/v2")
	}
	var errs []string
	n := 0
	for name, w := range workflows {
		if !strings.Contains(string(w), "goreleaser/goreleaser-action@") {
			continue
		}
		n++
		vs := goreleaserActionVersions(w)
		if len(vs) == 0 {
			errs = append(errs, name+": goreleaser-action without a version")
		}
		for _, v := range vs {
			if v != want {
				errs = append(errs, fmt.Sprintf("%s installs GoReleaser %s, tools/go.mod pins %s", name, v, want))
			}
		}
	}
	if n == 0 {
		errs = append(errs, "no workflow uses goreleaser-action")
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// goreleaserActionVersions returns the `version:` of each goreleaser-action step.
func goreleaserActionVersions(w []byte) []string {
	var vs []string
	in := false
	sc := bufio.NewScanner(strings.NewReader(string(w)))
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "uses:") {
			in = strings.Contains(line, "goreleaser/goreleaser-action@")
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(line), "- ") {
			in = false
		}
		if in {
			if m := regexp.MustCompile(`^\s+version:\s*['"]?([^'"\s]+)`).FindStringSubmatch(line); m != nil {
				vs = append(vs, m[1])
			}
		}
	}
	return vs
}

// Dockerfile is what CheckDockerfile reads of a Dockerfile: its stages and,
// per stage, its ARG names and LABEL key=value pairs.
type Dockerfile struct {
	Stages []Stage
}

// Stage is one FROM of a Dockerfile.
type Stage struct {
	From, Name string
	Args       []string
	Labels     map[string]string
	Copies     []string
}

// ParseDockerfile is a small Dockerfile reader: instructions joined over
// line continuations, comments dropped; enough for FROM, ARG, LABEL, COPY.
func ParseDockerfile(b []byte) (*Dockerfile, error) {
	var d Dockerfile
	var logical []string
	var cur strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		t := strings.TrimSpace(line)
		if cur.Len() == 0 && (t == "" || strings.HasPrefix(t, "#")) {
			continue
		}
		if strings.HasSuffix(t, "\\") {
			cur.WriteString(strings.TrimSuffix(t, "\\") + " ")
			continue
		}
		cur.WriteString(t)
		logical = append(logical, cur.String())
		cur.Reset()
	}
	for _, l := range logical {
		instr, rest, _ := strings.Cut(l, " ")
		switch strings.ToUpper(instr) {
		case "FROM":
			f := strings.Fields(rest)
			var s Stage
			for _, w := range f {
				if strings.HasPrefix(w, "--") {
					continue
				}
				if s.From == "" {
					s.From = w
				}
			}
			if len(f) >= 3 && strings.EqualFold(f[len(f)-2], "AS") {
				s.Name = f[len(f)-1]
			}
			s.Labels = map[string]string{}
			d.Stages = append(d.Stages, s)
		case "ARG", "LABEL", "COPY":
			if len(d.Stages) == 0 {
				continue // a global ARG
			}
			s := &d.Stages[len(d.Stages)-1]
			switch strings.ToUpper(instr) {
			case "ARG":
				name, _, _ := strings.Cut(rest, "=")
				s.Args = append(s.Args, strings.TrimSpace(name))
			case "COPY":
				s.Copies = append(s.Copies, rest)
			case "LABEL":
				for _, kv := range splitLabels(rest) {
					k, v, ok := strings.Cut(kv, "=")
					if !ok {
						return nil, fmt.Errorf("LABEL %q: want key=value", kv)
					}
					s.Labels[k] = strings.Trim(v, `"`)
				}
			}
		}
	}
	if len(d.Stages) == 0 {
		return nil, fmt.Errorf("no FROM")
	}
	return &d, nil
}

// splitLabels splits `k=v k2="a b"` on the spaces outside quotes.
func splitLabels(s string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
			cur.WriteRune(r)
		case r == ' ' && !quoted:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// CheckDockerfile checks that the final stage labels the image with its source
// repository, the version and the revision (from ARG VERSION and ARG COMMIT,
// which the release passes), and that the prebuilt stage copies the binary
// from where GoReleaser's dockers_v2 puts it.
func CheckDockerfile(d *Dockerfile, binary string) error {
	var errs []string
	final := d.Stages[len(d.Stages)-1]
	want := map[string]string{
		"org.opencontainers.image.source":   "https://github.com/tagsweep/tagsweep",
		"org.opencontainers.image.version":  "${VERSION}",
		"org.opencontainers.image.revision": "${COMMIT}",
	}
	for k, v := range want {
		if final.Labels[k] != v {
			errs = append(errs, fmt.Sprintf("final stage: LABEL %s=%q, want %q", k, final.Labels[k], v))
		}
	}
	for _, a := range []string{"VERSION", "COMMIT"} {
		if !slices.Contains(final.Args, a) {
			errs = append(errs, "final stage: no ARG "+a)
		}
	}
	stages := map[string]Stage{}
	for _, s := range d.Stages {
		stages[s.Name] = s
	}
	for _, name := range []string{"source", "prebuilt", "binary"} {
		if _, ok := stages[name]; !ok {
			errs = append(errs, "no stage "+name)
		}
	}
	if s := stages["binary"]; s.From != "${BINARY}" {
		errs = append(errs, fmt.Sprintf("stage binary is FROM %q, want ${BINARY}", s.From))
	}
	if s := stages["prebuilt"]; !slices.Contains(s.Copies, "${TARGETPLATFORM}/"+binary+" /out/tagsweep") {
		errs = append(errs, fmt.Sprintf("stage prebuilt copies %q, want ${TARGETPLATFORM}/%s (GoReleaser's layout)", s.Copies, binary))
	}
	if len(errs) > 0 {
		slices.Sort(errs)
		return fmt.Errorf("Dockerfile: %s", strings.Join(errs, "; "))
	}
	return nil
}
