package shipcheck

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// Dependabot is the part of .github/dependabot.yml these checks read
// (decoded strictly, so a misspelt key fails).
type Dependabot struct {
	Version int `json:"version"`
	Updates []struct {
		Ecosystem string `json:"package-ecosystem"`
		Directory string `json:"directory"`
		Schedule  struct {
			Interval string `json:"interval"`
		} `json:"schedule"`
		Groups map[string]struct {
			Patterns    []string `json:"patterns"`
			UpdateTypes []string `json:"update-types,omitempty"`
		} `json:"groups,omitempty"`
	} `json:"updates"`
}

// CheckDependabot checks that Dependabot updates every Go module (each
// go.mod), the GitHub Actions, and the base images of every Dockerfile of the
// repository tree fsys.
func CheckDependabot(cfg []byte, fsys fs.FS) error {
	var d Dependabot
	if err := yaml.UnmarshalStrict(cfg, &d); err != nil {
		return fmt.Errorf("dependabot.yml: %w", err)
	}
	if d.Version != 2 {
		return fmt.Errorf("dependabot.yml: version %d, want 2", d.Version)
	}
	have := map[string]bool{}
	for _, u := range d.Updates {
		if u.Schedule.Interval == "" {
			return fmt.Errorf("dependabot.yml: %s %s has no schedule", u.Ecosystem, u.Directory)
		}
		have[u.Ecosystem+" "+path.Clean(u.Directory)] = true
	}
	want := map[string]bool{"github-actions /": true}
	err := fs.WalkDir(fsys, ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && (strings.HasPrefix(e.Name(), ".") && p != "." || e.Name() == "testdata") {
			return fs.SkipDir
		}
		dir := "/" + path.Dir(p)
		switch {
		case e.Name() == "go.mod":
			want["gomod "+path.Clean(dir)] = true
		case e.Name() == "Dockerfile" || strings.HasSuffix(e.Name(), ".Dockerfile"):
			want["docker "+path.Clean(dir)] = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	var missing []string
	for w := range want {
		if !have[w] {
			missing = append(missing, w)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("dependabot.yml does not update: %s", strings.Join(missing, ", "))
	}
	return nil
}
