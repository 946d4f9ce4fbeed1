package testregistry

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// TestACRLocked: the hook answers a DELETE of a locked digest or tag with
// ACR's 405 REGISTRY_DISALLOWED_OPERATION body (testdata/acr-locked.json)
// and lets every other request through to the registry.
func TestACRLocked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, err := New(ctx, Options{DeleteEnabled: true, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	locked, err := PushImage(ctx, r.Addr()+"/app:v1", ImageSpec{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	free, err := PushImage(ctx, r.Addr()+"/app:v2", ImageSpec{Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := Tag(ctx, r.Addr()+"/app:pinned", r.Addr()+"/app:v2"); err != nil {
		t.Fatal(err)
	}
	r.SetHook(ACRLocked("app/"+locked.String(), "app/pinned"))
	for _, ref := range []string{locked.String(), "pinned"} {
		req, _ := http.NewRequest(http.MethodDelete, "http://"+r.Addr()+"/v2/app/manifests/"+ref, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct {
			Errors []struct{ Code, Message string }
		}
		if resp.StatusCode != http.StatusMethodNotAllowed || json.Unmarshal(body, &e) != nil || len(e.Errors) != 1 || e.Errors[0].Code != "REGISTRY_DISALLOWED_OPERATION" {
			t.Errorf("DELETE %s: %d %s, want 405 REGISTRY_DISALLOWED_OPERATION", ref, resp.StatusCode, body)
		}
	}
	if s := httpStatus(t, http.MethodGet, "http://"+r.Addr()+"/v2/app/manifests/"+locked.String()); s != http.StatusOK {
		t.Errorf("GET of the locked manifest: %d, want 200 (only DELETEs are refused)", s)
	}
	if s := httpStatus(t, http.MethodDelete, "http://"+r.Addr()+"/v2/app/manifests/"+free.String()); s != http.StatusAccepted {
		t.Errorf("DELETE of an unlocked manifest: %d, want 202", s)
	}
}
