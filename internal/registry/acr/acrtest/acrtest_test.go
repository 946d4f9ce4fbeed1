package acrtest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/tagsweep/tagsweep/internal/testregistry"
)

func call(t *testing.T, method, url string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// TestLocksAndDeletes: a locked tag refuses the untag, a locked manifest
// and a manifest under a locked tag refuse the registry DELETE, all with
// ACR's 405 REGISTRY_DISALLOWED_OPERATION; the registry API refuses a
// DELETE by tag; unlocked, the untag keeps the manifest and the DELETE by
// digest deletes it; the listings carry the attributes.
func TestLocksAndDeletes(t *testing.T) {
	ctx := context.Background()
	reg, err := testregistry.New(ctx, testregistry.Options{DeleteEnabled: true, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	s, err := New(Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := reg.Addr()
	d1, err := testregistry.PushImage(ctx, a+"/app:one", testregistry.ImageSpec{Created: time.Now(), Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	d2, err := testregistry.PushImage(ctx, a+"/app:two", testregistry.ImageSpec{Created: time.Now(), Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := testregistry.Tag(ctx, a+"/app:one-too", a+"/app:one"); err != nil {
		t.Fatal(err)
	}
	lock := Attributes{DeleteEnabled: false, WriteEnabled: true, ReadEnabled: true, ListEnabled: true}
	s.SetTagAttributes("app", "one", lock)
	s.SetManifestAttributes("app", d2.String(), lock)

	locked := func(status int, body []byte) bool {
		var e struct {
			Errors []struct{ Code string } `json:"errors"`
		}
		return status == 405 && json.Unmarshal(body, &e) == nil && len(e.Errors) == 1 && e.Errors[0].Code == "REGISTRY_DISALLOWED_OPERATION"
	}
	if st, _, b := call(t, "DELETE", "http://"+a+"/acr/v1/app/_tags/one"); !locked(st, b) {
		t.Errorf("untag of a locked tag: %d %s", st, b)
	}
	if st, _, b := call(t, "DELETE", "http://"+a+"/v2/app/manifests/"+d1.String()); !locked(st, b) {
		t.Errorf("DELETE of a manifest under a locked tag: %d %s", st, b)
	}
	if st, _, b := call(t, "DELETE", "http://"+a+"/v2/app/manifests/"+d2.String()); !locked(st, b) {
		t.Errorf("DELETE of a locked manifest: %d %s", st, b)
	}
	if st, _, b := call(t, "DELETE", "http://"+a+"/v2/app/manifests/one-too"); st != 405 || locked(st, b) {
		t.Errorf("DELETE by tag: %d %s", st, b)
	}

	st, _, b := call(t, "GET", "http://"+a+"/acr/v1/app/_tags")
	var tags struct {
		ImageName string `json:"imageName"`
		Tags      []struct {
			Name, Digest         string
			ChangeableAttributes Attributes `json:"changeableAttributes"`
		} `json:"tags"`
	}
	if st != 200 || json.Unmarshal(b, &tags) != nil || tags.ImageName != "app" || len(tags.Tags) != 3 {
		t.Fatalf("_tags: %d %s", st, b)
	}
	for _, tg := range tags.Tags {
		if (tg.Name == "one") != !tg.ChangeableAttributes.DeleteEnabled {
			t.Errorf("%s: attributes %+v", tg.Name, tg.ChangeableAttributes)
		}
	}
	st, _, b = call(t, "GET", "http://"+a+"/acr/v1/app/_manifests")
	var mans struct {
		Manifests []struct {
			Digest               string
			Tags                 []string
			ChangeableAttributes Attributes `json:"changeableAttributes"`
		} `json:"manifests"`
	}
	if st != 200 || json.Unmarshal(b, &mans) != nil || len(mans.Manifests) != 2 {
		t.Fatalf("_manifests: %d %s", st, b)
	}

	s.SetTagAttributes("app", "one", Unlocked)
	if st, _, b := call(t, "DELETE", "http://"+a+"/acr/v1/app/_tags/one-too"); st != 202 {
		t.Errorf("untag: %d %s", st, b)
	}
	if ok, _ := testregistry.Exists(ctx, a+"/app@"+d1.String()); !ok {
		t.Error("the untag deleted the manifest")
	}
	if st, _, b := call(t, "DELETE", "http://"+a+"/v2/app/manifests/"+d1.String()); st != 202 {
		t.Errorf("DELETE by digest: %d %s", st, b)
	}
	if st, _, _ := call(t, "DELETE", "http://"+a+"/acr/v1/app/_tags/one"); st != 404 {
		t.Errorf("untag of a deleted tag: %d", st)
	}
	if n := len(s.RegistryDeletes()); n != 4 {
		t.Errorf("RegistryDeletes %v", s.RegistryDeletes())
	}
}
