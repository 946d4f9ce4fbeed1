package ghcr

import (
	"testing"

	"github.com/tagsweep/tagsweep/internal/registry/provider"
)

// TestHosts: the hosts the descriptor claims (lower case, without a port,
// as provider.Table.Detect asks) and look-alikes it must not.
func TestHosts(t *testing.T) {
	t.Parallel()
	for _, h := range []string{"ghcr.io", "GHCR.IO:443"} {
		if !Descriptor.Hosts(provider.Hostname(h)) {
			t.Errorf("%s is not claimed", h)
		}
	}
	for _, h := range []string{"notghcr.io", "ghcr.io.evil.example", "docker.io"} {
		if Descriptor.Hosts(provider.Hostname(h)) {
			t.Errorf("%s is claimed", h)
		}
	}
	c := Descriptor.Caps
	if !c.PushTime || !c.LowerCaseNames || !c.TokenOnly || !c.ListsUntagged {
		t.Errorf("caps %+v: want push times, lower-case names, a token alone and untagged listing", c)
	}
	if Descriptor.DeletesOffHint == "" || Descriptor.Build == nil {
		t.Error("GHCR deletes through its own API: it needs a deletes-off hint and a Build")
	}
}
