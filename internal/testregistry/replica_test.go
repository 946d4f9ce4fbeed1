package testregistry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A replica's side channel reads and deletes through a hook that refuses
// every other DELETE: the client's DELETE is refused with 405 (and told),
// the side channel's goes through; other requests reach next.
func TestSideChannel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRegistry(t, Options{DeleteEnabled: true, Dir: t.TempDir()})
	h, err := PushImage(ctx, r.Addr()+"/acme/app:v1", ImageSpec{Seed: 1, Created: created})
	if err != nil {
		t.Fatal(err)
	}
	d := h.String()
	if err := Tag(ctx, r.Addr()+"/acme/app:v2", r.Addr()+"/acme/app:v1"); err != nil {
		t.Fatal(err)
	}
	if _, err := PushImage(ctx, r.Addr()+"/acme/other:x", ImageSpec{Seed: 2, Created: created}); err != nil {
		t.Fatal(err)
	}
	side := NewSideChannel(r.Addr(), "X-Test-Side")
	var mu sync.Mutex
	var refused []string
	var nextSaw []string
	r.SetHook(side.RefuseDeletes(func(req *http.Request) {
		mu.Lock()
		refused = append(refused, req.URL.Path)
		mu.Unlock()
	}, func() Hook {
		return func(_ http.ResponseWriter, req *http.Request) bool {
			mu.Lock()
			nextSaw = append(nextSaw, req.Method+" "+req.URL.Path)
			mu.Unlock()
			return false
		}
	}))

	if got := httpStatus(t, http.MethodDelete, "http://"+r.Addr()+"/v2/acme/app/manifests/v2"); got != http.StatusMethodNotAllowed {
		t.Errorf("client DELETE: %d, want 405", got)
	}
	repos, err := side.Catalog(ctx)
	if diff := cmp.Diff([]string{"acme/app", "acme/other"}, repos); err != nil || diff != "" {
		t.Errorf("Catalog: %v (-want +got):\n%s", err, diff)
	}
	if got, ok, err := side.Head(ctx, "acme/app", "v2"); got != d || !ok || err != nil {
		t.Errorf("Head(v2) = %q, %v, %v; want %s", got, ok, err, d)
	}
	if _, ok, err := side.Head(ctx, "acme/app", "nope"); ok || err != nil {
		t.Errorf("Head(nope) = %v, %v; want not found", ok, err)
	}
	body, mt, ok, err := side.Get(ctx, "acme/app", d)
	if !ok || err != nil || mt != "application/vnd.oci.image.manifest.v1+json" || sha256Digest(body).String() != d {
		t.Errorf("Get = %d bytes, %q, %v, %v", len(body), mt, ok, err)
	}
	if ok, err := side.Delete(ctx, "acme/app", "v2"); !ok || err != nil {
		t.Errorf("Delete(v2) = %v, %v", ok, err)
	}
	if ok, err := side.Delete(ctx, "acme/app", "v2"); ok || err != nil {
		t.Errorf("Delete(v2) again = %v, %v; want not found", ok, err)
	}
	if tags, err := ListTags(ctx, r.Addr()+"/acme/app"); err != nil || !cmp.Equal(tags, []string{"v1"}) {
		t.Errorf("tags left: %q, %v; want v1 (the side channel deleted v2, the client nothing)", tags, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{"/v2/acme/app/manifests/v2"}, refused); diff != "" {
		t.Errorf("refused (-want +got):\n%s", diff)
	}
	if !strings.Contains(strings.Join(nextSaw, "\n"), "DELETE /v2/acme/app/manifests/v2") {
		t.Errorf("the side channel's DELETE did not reach next: %q", nextSaw)
	}
}

// The request log records each request as sent and as decoded, with its
// auth scheme, Basic user, body and the status answered, and hands the
// body on to the handler.
func TestRequestLog(t *testing.T) {
	t.Parallel()
	var log RequestLog
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		log.Record(w, req, func(w http.ResponseWriter, req *http.Request) {
			b, _ := io.ReadAll(req.Body)
			if req.Method == http.MethodDelete {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			fmt.Fprintf(w, "got %s", b)
		})
	}))
	defer srv.Close()
	send := func(method, path, body string, auth func(*http.Request)) string {
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if auth != nil {
			auth(req)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := send(http.MethodPost, "/a%2Fb/login?x=1", `{"secret":"s"}`, func(r *http.Request) { r.SetBasicAuth("ci", "pw") }); got != `got {"secret":"s"}` {
		t.Errorf("the handler read %q", got)
	}
	send(http.MethodDelete, "/v2/x/tags/t/", "", func(r *http.Request) { r.Header.Set("Authorization", "Bearer tok") })
	want := []Request{
		{Method: "POST", Path: "/a%2Fb/login", DecodedPath: "/a/b/login", Query: "x=1", Auth: "Basic", User: "ci", Body: `{"secret":"s"}`, Status: 200},
		{Method: "DELETE", Path: "/v2/x/tags/t/", DecodedPath: "/v2/x/tags/t/", Auth: "Bearer", Status: 204},
	}
	if diff := cmp.Diff(want, log.Requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if got := log.Requests()[0].String(); got != "POST /a%2Fb/login?x=1" {
		t.Errorf("String() = %q", got)
	}
	if diff := cmp.Diff([]string{"DELETE /v2/x/tags/t/"}, log.Deletes()); diff != "" {
		t.Errorf("Deletes (-want +got):\n%s", diff)
	}
	log.Reset()
	if n := len(log.Requests()); n != 0 {
		t.Errorf("%d requests after Reset", n)
	}
}
