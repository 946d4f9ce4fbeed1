package shipcheck

import (
	"os"
	"strings"
	"testing"
	"testing/fstest"
)

// Dependabot covers both Go modules, the actions and the Dockerfile.
func TestDependabot(t *testing.T) {
	t.Parallel()
	cfg := mustRead(t, ".github/dependabot.yml")
	if err := CheckDependabot(cfg, os.DirFS(Root)); err != nil {
		t.Error(err)
	}
	tree := fstest.MapFS{"go.mod": {}, "tools/go.mod": {}, "Dockerfile": {}, "bench/x/go.mod": {}, "internal/testdata/go.mod": {}}
	if err := CheckDependabot(cfg, tree); err == nil || !strings.Contains(err.Error(), "gomod /bench/x") {
		t.Errorf("a third module: %v, want it named", err)
	}
	noTools := strings.Replace(string(cfg), "directory: /tools", "directory: /tool", 1)
	if err := CheckDependabot([]byte(noTools), os.DirFS(Root)); err == nil || !strings.Contains(err.Error(), "gomod /tools") {
		t.Errorf("tools/ not covered: %v", err)
	}
	typo := strings.Replace(string(cfg), "package-ecosystem: docker", "package-ecosytem: docker", 1)
	if err := CheckDependabot([]byte(typo), os.DirFS(Root)); err == nil {
		t.Error("a misspelt key passed")
	}
}
