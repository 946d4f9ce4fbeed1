package policy

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// allowed are the only packages the planner may import directly: the
// standard library's pure parts, semver, glob and the registry model. A
// new import must be added here on purpose (like go-containerregistry's
// depcheck): the planner stays a pure function, with no network, files,
// clock or processes within reach.
var allowed = map[string]bool{
	"cmp": true, "errors": true, "fmt": true, "maps": true, "math": true, "regexp": true, "slices": true,
	"sort": true, "strconv": true, "strings": true, "time": true, "unicode": true, "unicode/utf8": true,
	"github.com/Masterminds/semver/v3":                     true,
	"github.com/gobwas/glob":                               true,
	"github.com/tagsweep/tagsweep/internal/registry/image": true,
}

// allowedModules bound the transitive dependencies outside the standard
// library.
var allowedModules = []string{"github.com/Masterminds/semver/v3", "github.com/gobwas/glob", "github.com/tagsweep/tagsweep/internal/registry/image", "github.com/tagsweep/tagsweep/internal/policy"}

type listed struct {
	ImportPath string
	Standard   bool
	Imports    []string
}

func goList(t *testing.T, args ...string) []listed {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list", "-json"}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	var pkgs []listed
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p listed
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// TestDependencies keeps the planner pure: it imports only the allowlist,
// its model package imports only time, and nothing outside the standard
// library and the allowed modules is among its dependencies. It also keeps
// the GitHub Actions adapter the only importer of go-githubactions.
func TestDependencies(t *testing.T) {
	t.Parallel()
	for _, p := range goList(t, ".", "../registry/image") {
		for _, imp := range p.Imports {
			if p.ImportPath == "github.com/tagsweep/tagsweep/internal/registry/image" && imp != "time" {
				t.Errorf("the model package imports %s; it imports only time", imp)
			}
			if p.ImportPath == "github.com/tagsweep/tagsweep/internal/policy" && !allowed[imp] {
				t.Errorf("internal/policy imports %s, which is not in its allowlist", imp)
			}
		}
	}
	for _, p := range goList(t, "-deps", ".") {
		if p.Standard {
			continue
		}
		ok := false
		for _, m := range allowedModules {
			ok = ok || p.ImportPath == m || strings.HasPrefix(p.ImportPath, m+"/")
		}
		if !ok {
			t.Errorf("internal/policy depends on %s", p.ImportPath)
		}
	}
	for _, p := range goList(t, "../...") {
		for _, imp := range p.Imports {
			if imp == "github.com/sethvargo/go-githubactions" && p.ImportPath != "github.com/tagsweep/tagsweep/internal/action" {
				t.Errorf("%s imports go-githubactions; only internal/action may", p.ImportPath)
			}
		}
	}
}
