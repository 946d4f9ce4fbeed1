package config

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

const schemaPath = "../../schema/policy-file.schema.json"

// schema compiles the policy file's JSON Schema.
func schema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	abs, err := filepath.Abs(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	s, err := c.Compile(abs)
	if err != nil {
		t.Fatalf("compile %s: %v", schemaPath, err)
	}
	return s
}

// asJSON turns a YAML document into the value a JSON Schema validates.
func asJSON(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("json: %v", err)
	}
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// readmePolicies are the policy files README shows: the YAML blocks that
// start with "rules:".
func readmePolicies(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(b), -1) {
		body := m[1]
		for strings.HasPrefix(body, "#") {
			_, body, _ = strings.Cut(body, "\n")
		}
		if strings.HasPrefix(body, "rules:") {
			out = append(out, m[1])
		}
	}
	return out
}

// The schema accepts what the parser accepts (README's example and the
// testdata files) and rejects what it rejects where a schema can tell
// (unknown keys, kinds, enums); its keys and order-by values are the
// parser's.
func TestPolicySchema(t *testing.T) {
	t.Parallel()
	s := schema(t)
	good := readmePolicies(t)
	if len(good) == 0 {
		t.Fatal("README shows no policy file (a ```yaml block starting with rules:)")
	}
	files, _ := filepath.Glob("testdata/policy/*.yaml")
	if len(files) == 0 {
		t.Fatal("no testdata/policy/*.yaml")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		good = append(good, string(b))
	}
	for i, doc := range good {
		if _, _, err := ParsePolicy([]byte(doc)); err != nil {
			t.Errorf("policy %d: the parser refuses it: %v\n%s", i, err, doc)
		}
		if err := s.Validate(asJSON(t, []byte(doc))); err != nil {
			t.Errorf("policy %d: the schema refuses it: %v\n%s", i, err, doc)
		}
	}
	for _, doc := range []string{
		"rules:\n- kep: 5\n",
		"rules:\n- keep: five\n",
		"rules:\n- keep: -1\n",
		"rules:\n- order-by: name\n",
		"rules:\n- delete-untagged: maybe\n",
		"rules:\n- tags: []\n",
		"rules: []\n",
		"rule:\n- keep: 1\n",
		"rules:\n- older-than: soon\n",
	} {
		if _, _, err := ParsePolicy([]byte(doc)); err == nil {
			t.Errorf("the parser accepts %q", doc)
		}
		if err := s.Validate(asJSON(t, []byte(doc))); err == nil {
			t.Errorf("the schema accepts %q", doc)
		}
	}

	raw, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	var sch struct {
		Defs struct {
			Rule struct {
				Properties map[string]struct {
					Enum []string `json:"enum"`
				} `json:"properties"`
			} `json:"rule"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(raw, &sch); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range sch.Defs.Rule.Properties {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := slices.Clone(RuleKeys)
	sort.Strings(want)
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("schema rule keys (-parser +schema):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"created", "semver"}, sch.Defs.Rule.Properties["order-by"].Enum); diff != "" {
		t.Errorf("order-by enum (-parser +schema):\n%s", diff)
	}
}
