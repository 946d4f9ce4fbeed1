package policy

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the planner pure (no network, files, clock or
// processes among its dependencies) and the GitHub Actions adapter the
// only importer of go-githubactions.
func TestDependencies(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"net", "net/http", "os/exec", "io/ioutil", "github.com/google/go-containerregistry", "github.com/sethvargo/go-githubactions"} {
			if dep == banned || strings.HasPrefix(dep, banned+"/") && banned != "net" {
				t.Errorf("internal/policy depends on %s", dep)
			}
		}
	}
	out, err = exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		for _, imp := range f[1:] {
			if imp == "github.com/sethvargo/go-githubactions" && f[0] != "github.com/tagsweep/tagsweep/internal/action" {
				t.Errorf("%s imports go-githubactions; only internal/action may", f[0])
			}
		}
	}
}
