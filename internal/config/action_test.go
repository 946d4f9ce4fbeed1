package config

import (
	"cmp"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestActionYAML keeps action.yml true to the inputs table: every input
// declared with its default and a description, every output declared.
func TestActionYAML(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../action.yml")
	if err != nil {
		t.Fatal(err)
	}
	y := string(raw)
	for _, in := range Inputs {
		re := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(in.Name) + ":\n    description: '[^\n]+'\n    required: (true|false)\n    default: '" + regexp.QuoteMeta(cmp.Or(in.ActionDefault, in.Default)) + "'\n")
		m := re.FindStringSubmatch(y)
		if m == nil {
			t.Errorf("action.yml does not declare input %q with default %q and a description", in.Name, cmp.Or(in.ActionDefault, in.Default))
			continue
		}
		if (m[1] == "true") != in.Required {
			t.Errorf("input %q: required: %s, want %v", in.Name, m[1], in.Required)
		}
	}
	inputs := regexp.MustCompile(`(?m)^  ([a-z-]+):\n    description:`).FindAllStringSubmatch(y[strings.Index(y, "inputs:"):strings.Index(y, "outputs:")], -1)
	if len(inputs) != len(Inputs) {
		t.Errorf("action.yml declares %d inputs, the table has %d", len(inputs), len(Inputs))
	}
	for _, out := range []string{"deleted-count", "kept-count", "failed-count", "deleted-tags", "reclaimed-bytes", "deleted-untagged-count", "report-file"} {
		if !strings.Contains(y[strings.Index(y, "outputs:"):], "\n  "+out+":\n    description: ") {
			t.Errorf("action.yml does not declare output %q", out)
		}
	}
	for _, want := range []string{"using: docker", "image: Dockerfile", "branding:"} {
		if !strings.Contains(y, want) {
			t.Errorf("action.yml lacks %q", want)
		}
	}
}

// TestDockerfile keeps the image what a docker action and a CI job image
// need: no USER instruction (GitHub runs a docker action as root, and the
// runner's files belong to the runner's uid), a base with a POSIX shell
// (GitLab CI and Jenkins run their steps through sh), CA certificates, and
// tagsweep on the PATH as the entrypoint.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var from []string
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 0 || strings.HasPrefix(f[0], "#"):
		case strings.EqualFold(f[0], "USER"):
			t.Errorf("Dockerfile has %q: a docker action must run as the default user, root", line)
		case strings.EqualFold(f[0], "FROM") && len(f) > 1:
			from = append(from, f[1])
		}
	}
	if len(from) == 0 || !strings.HasPrefix(from[len(from)-1], "alpine:") {
		t.Errorf("final image FROM %v, want an alpine base (a POSIX shell)", from)
	}
	for _, want := range []string{"apk add --no-cache ca-certificates", "/usr/local/bin/tagsweep", `ENTRYPOINT ["/usr/local/bin/tagsweep"]`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}
