package gar

import (
	"testing"

	"github.com/tagsweep/tagsweep/internal/registry/provider"
)

// TestHosts: the hosts the descriptor claims (lower case, without a port,
// as provider.Table.Detect asks) and look-alikes it must not.
func TestHosts(t *testing.T) {
	t.Parallel()
	for _, h := range []string{"us-central1-docker.pkg.dev", "europe-docker.pkg.dev", "gcr.io", "eu.gcr.io", "GCR.IO:443"} {
		if !Descriptor.Hosts(provider.Hostname(h)) {
			t.Errorf("%s is not claimed", h)
		}
	}
	for _, h := range []string{"evilgcr.io", "gcr.io.example.com", "pkg.dev", "docker.pkg.dev.example"} {
		if Descriptor.Hosts(provider.Hostname(h)) {
			t.Errorf("%s is claimed", h)
		}
	}
	if !Descriptor.Caps.UntagFirst {
		t.Error("Artifact Registry refuses a tagged digest: UntagFirst must be set")
	}
}
