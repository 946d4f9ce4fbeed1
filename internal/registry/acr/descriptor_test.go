package acr

import (
	"testing"

	"github.com/tagsweep/tagsweep/internal/registry/provider"
)

// TestHosts: the hosts the descriptor claims (lower case, without a port,
// as provider.Table.Detect asks) and look-alikes it must not.
func TestHosts(t *testing.T) {
	t.Parallel()
	for _, h := range []string{"myreg.azurecr.io", "myreg.azurecr.cn", "myreg.azurecr.us", "MyReg.AzureCR.io:443"} {
		if !Descriptor.Hosts(provider.Hostname(h)) {
			t.Errorf("%s is not claimed", h)
		}
	}
	for _, h := range []string{"azurecr.io.example", "myazurecr.io", "quay.io"} {
		if Descriptor.Hosts(provider.Hostname(h)) {
			t.Errorf("%s is claimed", h)
		}
	}
}

// TestLock: ACR's lock is declared as a protection with its reason.
func TestLock(t *testing.T) {
	t.Parallel()
	if len(Descriptor.Protections) != 1 || Descriptor.Protections[0].Code != "REGISTRY_DISALLOWED_OPERATION" || Descriptor.Protections[0].Reason != LockedReason {
		t.Errorf("protections %+v", Descriptor.Protections)
	}
}
