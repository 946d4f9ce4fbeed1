package shipcheck

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// Root is the repository root, from this package's directory (go test runs
// a package's tests in its directory).
const Root = "../.."

// Read returns a file of the repository, by its slash-separated path.
func Read(path string) ([]byte, error) {
	return os.ReadFile(filepath.Join(Root, filepath.FromSlash(path)))
}

// ActionInputs returns the input names action.yml declares.
func ActionInputs(actionYML []byte) (map[string]bool, error) {
	var a struct {
		Inputs map[string]any `json:"inputs"`
	}
	if err := yaml.Unmarshal(actionYML, &a); err != nil {
		return nil, fmt.Errorf("action.yml: %w", err)
	}
	if len(a.Inputs) == 0 {
		return nil, fmt.Errorf("action.yml declares no inputs")
	}
	in := map[string]bool{}
	for name := range a.Inputs {
		in[name] = true
	}
	return in, nil
}

// FutureInputs are inputs the contract names (shared/CONTRACT.md, "Inputs
// added in the second round") that deploy/ already sets before action.yml
// declares them; a release without them ignores the variable.
var FutureInputs = map[string]bool{"cache-dir": true}

var envName = regexp.MustCompile(`^TAGSWEEP_[A-Z0-9_]+$`)

// CheckEnvNames checks that every TAGSWEEP_* variable name is a tagsweep
// input (TAGSWEEP_OLDER_THAN is older-than), so that a typo is not silently
// ignored (tagsweep reads only the names it knows).
func CheckEnvNames(names []string, inputs map[string]bool) error {
	var bad []string
	for _, n := range names {
		if !strings.HasPrefix(n, "TAGSWEEP_") {
			continue
		}
		in := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(n, "TAGSWEEP_"), "_", "-"))
		if !envName.MatchString(n) || (!inputs[in] && !FutureInputs[in]) {
			bad = append(bad, n)
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return fmt.Errorf("not a tagsweep input: %s", strings.Join(bad, ", "))
	}
	return nil
}

// ReleaseImage is the image name (no tag) the release workflow pushes and
// names in action.yml: its env IMAGE.
func ReleaseImage(releaseYML []byte) (string, error) {
	var w struct {
		Env map[string]string `json:"env"`
	}
	if err := yaml.Unmarshal(releaseYML, &w); err != nil {
		return "", fmt.Errorf("release.yml: %w", err)
	}
	img := w.Env["IMAGE"]
	if img == "" {
		return "", fmt.Errorf("release.yml: no env IMAGE")
	}
	return img, nil
}
