package harbor

import (
	"net/http"
	"testing"
)

// TestDescriptor: Harbor runs on its users' hosts (no Hosts: never
// auto-detected), reports push times, lists untagged artifacts, and declares its registry-API 412.
func TestDescriptor(t *testing.T) {
	t.Parallel()
	if Descriptor.Hosts != nil || !Descriptor.Caps.PushTime || !Descriptor.Caps.ListsUntagged || Descriptor.GCHint != GCHint || Descriptor.Build == nil {
		t.Errorf("descriptor %+v", Descriptor.Traits)
	}
	if len(Descriptor.Protections) != 1 || Descriptor.Protections[0].Status != http.StatusPreconditionFailed || !Descriptor.Protections[0].Detail {
		t.Errorf("protections %+v, want the 412 with its detail", Descriptor.Protections)
	}
}
