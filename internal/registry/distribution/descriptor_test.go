package distribution

import (
	"strings"
	"testing"
)

// TestDescriptor: the generic kind claims no host (it is the fallback),
// has no vendor API, and its GC hint names the CNCF registry's command
// and what the other registries behind an unknown host do. (The backend's
// GC hint through New is in the oci package's TestCapabilities and the
// summary tests.)
func TestDescriptor(t *testing.T) {
	t.Parallel()
	d := Descriptor
	if d.Hosts != nil || d.Build != nil || d.Keychain != nil || d.DeletesOffHint != "" {
		t.Errorf("descriptor %+v", d.Traits)
	}
	for _, want := range []string{"registry garbage-collect --delete-untagged", "Harbor: run a garbage collection job", "zot, GitLab, Quay"} {
		if !strings.Contains(d.GCHint, want) {
			t.Errorf("GC hint %q does not say %q", d.GCHint, want)
		}
	}
}
