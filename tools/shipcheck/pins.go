package shipcheck

import (
	"fmt"
	"regexp"
	"strings"
)

// Pin is one `uses:` of a workflow.
type Pin struct {
	Line    int
	Action  string // owner/repo[/path]
	SHA     string
	Version string // the comment after it, e.g. v7.0.1
}

var (
	usesLine = regexp.MustCompile(`^\s*(?:-\s+)?uses:\s*(\S+)\s*(?:#\s*(.*))?$`)
	pinned   = regexp.MustCompile(`^([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_./-]+)?)@([0-9a-f]{40})$`)
	semverC  = regexp.MustCompile(`^v\d+(\.\d+){0,2}(-[0-9A-Za-z.-]+)?$`)
)

// Pins returns the `uses:` of a workflow file, and an error for each one that
// is not pinned by a full commit SHA with its version in a comment
// (`uses: actions/checkout@<40 hex> # v7.0.1`); local actions (./) are
// allowed as they are, and docker:// images only by digest.
func Pins(workflow []byte) ([]Pin, []error) {
	var pins []Pin
	var errs []error
	for i, line := range strings.Split(string(workflow), "\n") {
		m := usesLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		ref, comment := strings.Trim(m[1], `'"`), strings.TrimSpace(m[2])
		switch {
		case strings.HasPrefix(ref, "./"):
			continue
		case strings.HasPrefix(ref, "docker://"):
			if !regexp.MustCompile(`@sha256:[0-9a-f]{64}$`).MatchString(ref) {
				errs = append(errs, fmt.Errorf("line %d: %s: pin a docker:// image by digest", i+1, ref))
			}
			continue
		}
		p := pinned.FindStringSubmatch(ref)
		if p == nil {
			errs = append(errs, fmt.Errorf("line %d: %s is not pinned by a full commit SHA (owner/repo@<40 hex>)", i+1, ref))
			continue
		}
		v, _, _ := strings.Cut(comment, " ")
		if !semverC.MatchString(v) {
			errs = append(errs, fmt.Errorf("line %d: %s: want its version as the comment (# v1.2.3), got %q", i+1, ref, comment))
			continue
		}
		pins = append(pins, Pin{Line: i + 1, Action: p[1], SHA: p[2], Version: v})
	}
	return pins, errs
}

// ConsistentPins checks that each action is pinned to one SHA and one version
// everywhere (a workflow updated and another forgotten is an error).
func ConsistentPins(pins map[string][]Pin) []error {
	type where struct {
		file string
		pin  Pin
	}
	// The repository of an action (a sub-action like anchore/sbom-action/download-syft shares its SHA).
	first := map[string]where{}
	var errs []error
	for file, ps := range pins {
		for _, p := range ps {
			repo := strings.Join(strings.SplitN(p.Action, "/", 3)[:2], "/")
			if w, ok := first[repo]; !ok {
				first[repo] = where{file, p}
			} else if w.pin.SHA != p.SHA || w.pin.Version != p.Version {
				errs = append(errs, fmt.Errorf("%s:%d pins %s@%s # %s, but %s:%d pins %s@%s # %s",
					file, p.Line, p.Action, p.SHA, p.Version, w.file, w.pin.Line, w.pin.Action, w.pin.SHA, w.pin.Version))
			}
		}
	}
	return errs
}
