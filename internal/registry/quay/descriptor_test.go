package quay

import (
	"testing"

	"github.com/tagsweep/tagsweep/internal/registry/provider"
)

// TestHosts: the hosts the descriptor claims (lower case, without a port,
// as provider.Table.Detect asks) and look-alikes it must not.
func TestHosts(t *testing.T) {
	t.Parallel()
	for _, h := range []string{"quay.io", "QUAY.IO:443"} {
		if !Descriptor.Hosts(provider.Hostname(h)) {
			t.Errorf("%s is not claimed", h)
		}
	}
	for _, h := range []string{"quay.io.example", "notquay.io", "registry.quay.io"} {
		if Descriptor.Hosts(provider.Hostname(h)) {
			t.Errorf("%s is claimed", h)
		}
	}
}
