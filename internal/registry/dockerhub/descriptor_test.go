package dockerhub

import (
	"testing"

	"github.com/tagsweep/tagsweep/internal/registry/provider"
)

// TestHosts: the hosts the descriptor claims (lower case, without a port,
// as provider.Table.Detect asks) and look-alikes it must not.
func TestHosts(t *testing.T) {
	t.Parallel()
	for _, h := range []string{"docker.io", "registry-1.docker.io", "index.docker.io", "registry.hub.docker.com", "Docker.IO:443"} {
		if !Descriptor.Hosts(provider.Hostname(h)) {
			t.Errorf("%s is not claimed", h)
		}
	}
	for _, h := range []string{"hub.docker.com", "docker.io.example", "mydocker.io"} {
		if Descriptor.Hosts(provider.Hostname(h)) {
			t.Errorf("%s is claimed", h)
		}
	}
	c := Descriptor.Caps
	if !c.PushTime || !c.LowerCaseNames || c.TokenOnly {
		t.Errorf("caps %+v: want push times and lower-case names, not a token alone", c)
	}
	if Descriptor.DeletesOffHint == "" || Descriptor.Build == nil {
		t.Error("Docker Hub deletes through its own API: it needs a deletes-off hint and a Build")
	}
}
