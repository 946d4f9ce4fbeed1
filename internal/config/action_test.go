package config

import (
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
		re := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(in.Name) + ":\n    description: '[^\n]+'\n    required: (true|false)\n    default: '" + regexp.QuoteMeta(in.Default) + "'\n")
		m := re.FindStringSubmatch(y)
		if m == nil {
			t.Errorf("action.yml does not declare input %q with default %q and a description", in.Name, in.Default)
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
	for _, out := range []string{"deleted-count", "kept-count", "failed-count", "deleted-tags", "reclaimed-bytes", "report-file"} {
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
