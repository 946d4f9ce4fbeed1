package oci

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// TestRefusedOneManifest: a 405 naming no protection on one digest, on a
// registry that deletes (the zero-digest probe answers 404), fails that
// digest only; it does not mark the registry delete-disabled.
func TestRefusedOneManifest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startDistribution(t, testregistry.Options{DeleteEnabled: true})
	d1 := pushImage(t, r.Addr()+"/app:one", testregistry.ImageSpec{Seed: 1})
	d2 := pushImage(t, r.Addr()+"/app:two", testregistry.ImageSpec{Seed: 2})
	d3 := pushImage(t, r.Addr()+"/app:three", testregistry.ImageSpec{Seed: 3})
	r.SetHook(testregistry.FailRequests(http.StatusMethodNotAllowed, "UNSUPPORTED", 0, func(req *http.Request) bool {
		return req.Method == http.MethodDelete && strings.HasSuffix(req.URL.Path, "/"+d1)
	}))
	b := newBackend(t, r.Addr())
	err := b.DeleteDigest(ctx, "app", d1, nil)
	if err == nil || errors.Is(err, registry.ErrDeleteDisabled) || errors.Is(err, registry.ErrProtected) {
		t.Fatalf("DeleteDigest of the refused digest = %v, want a failure of that digest alone", err)
	}
	for _, d := range []string{d2, d3} {
		if err := b.DeleteDigest(ctx, "app", d, nil); err != nil {
			t.Errorf("DeleteDigest %s after a 405 on another: %v", d, err)
		}
	}
	want := []string{"DELETE /v2/app/manifests/" + d1, "DELETE /v2/app/manifests/sha256:" + strings.Repeat("0", 64),
		"DELETE /v2/app/manifests/" + d2, "DELETE /v2/app/manifests/" + d3}
	if diff := gocmp.Diff(want, r.Deletes()); diff != "" {
		t.Errorf("DELETE requests (-want +got):\n%s", diff)
	}
}

// TestDeletesOffMessage: the fix named for a registry refusing deletes
// is distribution's where the answer is distribution's (its
// Docker-Distribution-Api-Version header and UNSUPPORTED), and a generic
// one otherwise.
func TestDeletesOffMessage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := []struct {
		name    string
		enabled bool
		hook    testregistry.Hook
		want    string
		notWant string
	}{
		{name: "CNCF distribution with deletes off", want: "REGISTRY_STORAGE_DELETE_ENABLED=true"},
		{name: "another registry answering 405", enabled: true,
			hook: testregistry.FailRequests(http.StatusMethodNotAllowed, "UNSUPPORTED", 0, testregistry.MatchRoute(http.MethodDelete, "")),
			want: "the registry refuses deletes (405 UNSUPPORTED): enable deletes on this registry", notWant: "REGISTRY_STORAGE_DELETE_ENABLED"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := startDistribution(t, testregistry.Options{DeleteEnabled: tc.enabled})
			d := pushImage(t, r.Addr()+"/app:v1", testregistry.ImageSpec{Seed: 1})
			r.SetHook(tc.hook)
			for _, call := range []func(b *Backend) error{
				func(b *Backend) error { return b.DeleteDigest(ctx, "app", d, nil) },
				func(b *Backend) error { _, err := b.TagDeleteSupported(ctx, "app"); return err },
			} {
				err := call(newBackend(t, r.Addr()))
				if !errors.Is(err, registry.ErrDeleteDisabled) {
					t.Fatalf("err = %v, want ErrDeleteDisabled", err)
				}
				if !strings.Contains(err.Error(), tc.want) || (tc.notWant != "" && strings.Contains(err.Error(), tc.notWant)) {
					t.Errorf("err %q: want %q in it, and not %q", err, tc.want, tc.notWant)
				}
			}
			if diff := gocmp.Diff([]string{"v1"}, listTags(t, r.Addr()+"/app")); diff != "" {
				t.Errorf("tags left (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPlainHTTPAnswer: a registry reached over TLS (no scheme on a
// non-loopback host, or https:// on loopback) that answers plain HTTP says
// how to ask for plain HTTP: `http://` (and `insecure: true` where the
// host is not loopback).
func TestPlainHTTPAnswer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startDistribution(t, testregistry.Options{DeleteEnabled: true})
	pushImage(t, r.Addr()+"/app:v1", testregistry.ImageSpec{Seed: 1})
	// registry.example.test:443 is dialled at the plain-HTTP registry.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, r.Addr())
	}
	cases := []struct {
		name, host string
		opts       []Option
		want       string
		notWant    string
	}{
		{name: "no scheme, not loopback", host: "registry.example.test", opts: []Option{WithTransport(tr)},
			want: "a registry without a scheme is reached over TLS; if plain HTTP is really meant, write `http://registry.example.test` in `registry` and set `insecure: true`"},
		{name: "https:// on loopback", host: r.Addr(), opts: []Option{WithScheme(SchemeHTTPS)},
			want: "https:// means TLS only; if plain HTTP is really meant, write `http://" + r.Addr() + "` in `registry`", notWant: "insecure"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, tc.host, tc.opts...)
			_, err := b.TagNames(ctx, "app")
			var pe *PlainHTTPError
			if !errors.As(err, &pe) || !errors.Is(err, http.ErrSchemeMismatch) {
				t.Fatalf("TagNames = %v, want a *PlainHTTPError", err)
			}
			if !strings.Contains(err.Error(), tc.want) || (tc.notWant != "" && strings.Contains(pe.Hint, tc.notWant)) {
				t.Errorf("error %q:\nwant %q in it, and not %q in the hint", err, tc.want, tc.notWant)
			}
		})
	}
}

// TestCatalogNotServed: a registry answering /v2/_catalog with 404 (olareg,
// GHCR) says to list the repositories by name.
func TestCatalogNotServed(t *testing.T) {
	t.Parallel()
	r := startDistribution(t, testregistry.Options{DeleteEnabled: true})
	r.SetHook(testregistry.FailRequests(http.StatusNotFound, "NOT_FOUND", 0, testregistry.MatchRoute(http.MethodGet, testregistry.ClassCatalog)))
	_, err := newBackend(t, r.Addr()).Repositories(context.Background())
	if !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("Repositories = %v, want ErrNotFound", err)
	}
	if want := "list the repositories by name in `repositories`"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}

// TestProtectionOption: an answer WithProtections names is a
// ProtectedError for that item alone, with the declared reason (and the
// registry's detail where asked); without the option the same answer is a
// refused method. The vendor descriptors' own protections are tested
// through the backend connect builds (registry/vendors).
func TestProtectionOption(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startDistribution(t, testregistry.Options{DeleteEnabled: true})
	d := pushImage(t, r.Addr()+"/app:held", testregistry.ImageSpec{Seed: 1})
	r.SetHook(testregistry.FailRequests(http.StatusLocked, "HELD", 0, func(req *http.Request) bool {
		return req.Method == http.MethodDelete && strings.HasSuffix(req.URL.Path, "/"+d)
	}))
	for _, tc := range []struct {
		name string
		opts []Option
		want string // the reason; "" for no protection
	}{
		{name: "declared", opts: []Option{WithProtections(Protection{Status: http.StatusLocked, Code: "HELD", Reason: "held"})}, want: "held"},
		{name: "declared with detail", opts: []Option{WithProtections(Protection{Status: http.StatusLocked, Reason: "held", Detail: true})}, want: "held (423 HELD: "},
		{name: "another code", opts: []Option{WithProtections(Protection{Status: http.StatusLocked, Code: "OTHER", Reason: "held"})}},
		{name: "none"},
	} {
		err := newBackend(t, r.Addr(), tc.opts...).DeleteDigest(ctx, "app", d, nil)
		var pe *registry.ProtectedError
		switch {
		case tc.want == "" && errors.Is(err, registry.ErrProtected):
			t.Errorf("%s: DeleteDigest = %v, want no protection", tc.name, err)
		case tc.want != "" && (!errors.As(err, &pe) || !strings.HasPrefix(pe.Reason, tc.want)):
			t.Errorf("%s: DeleteDigest = %v, want a ProtectedError with reason %q", tc.name, err, tc.want)
		}
	}
	if diff := gocmp.Diff([]string{"held"}, listTags(t, r.Addr()+"/app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
}

// TestDeletesOffHintOption: a registry refusing every DELETE is explained
// by the hint given WithDeletesOffHint (the host's vendor deletes through
// its own API), before distribution's fix.
func TestDeletesOffHintOption(t *testing.T) {
	t.Parallel()
	r := startDistribution(t, testregistry.Options{})
	d := pushImage(t, r.Addr()+"/app:v1", testregistry.ImageSpec{Seed: 1})
	err := newBackend(t, r.Addr(), WithDeletesOffHint("use the vendor's API")).DeleteDigest(context.Background(), "app", d, nil)
	if !errors.Is(err, registry.ErrDeleteDisabled) || !strings.Contains(err.Error(), "use the vendor's API") || strings.Contains(err.Error(), "REGISTRY_STORAGE_DELETE_ENABLED") {
		t.Errorf("DeleteDigest = %v, want ErrDeleteDisabled with the hint alone", err)
	}
}
