package testregistry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

var created = time.Date(2024, 3, 1, 12, 30, 0, 0, time.UTC)

func newRegistry(t *testing.T, opts Options) *Registry {
	t.Helper()
	r, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func httpStatus(t *testing.T, method, u string) int {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", acceptManifests)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func imageLayers(t *testing.T, ref string) []v1.Hash {
	t.Helper()
	img := must[v1.Image](t)(remote.Image(must[name.Reference](t)(parseRef(ref))))
	m := must[*v1.Manifest](t)(img.Manifest())
	var out []v1.Hash
	for _, l := range m.Layers {
		out = append(out, l.Digest)
	}
	return out
}

func TestClassify(t *testing.T) {
	t.Parallel()
	for path, want := range map[string]RouteClass{
		"/v2/":                                    ClassBase,
		"/v2":                                     ClassBase,
		"/v2/_catalog":                            ClassCatalog,
		"/v2/app/tags/list":                       ClassTags,
		"/v2/org/app/manifests/v1":                ClassManifest,
		"/v2/manifests/manifests/sha256:ab":       ClassManifest,
		"/v2/a/b/blobs/sha256:ab":                 ClassBlob,
		"/v2/a/blobs/uploads/":                    ClassUpload,
		"/v2/a/blobs/uploads/1234-uuid":           ClassUpload,
		"/v2/blobs/referrers/sha256:ab":           ClassReferrers,
		"/healthz":                                ClassOther,
		"/v2/app/something":                       ClassOther,
		"/v2/tags/list/manifests/tags":            ClassManifest,
		"/v2/org/blobs/blobs/sha256:0123456789ab": ClassBlob,
	} {
		if got := Classify(path); got != want {
			t.Errorf("Classify(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestBuildImageDeterministic(t *testing.T) {
	t.Parallel()
	spec := ImageSpec{Created: created, Seed: 7, Layers: 2}
	a := must[v1.Hash](t)(must[v1.Image](t)(BuildImage(spec)).Digest())
	b := must[v1.Hash](t)(must[v1.Image](t)(BuildImage(spec)).Digest())
	if a != b {
		t.Fatalf("same spec, different digests %s %s", a, b)
	}
	spec.Seed = 8
	if c := must[v1.Hash](t)(must[v1.Image](t)(BuildImage(spec)).Digest()); c == a {
		t.Fatalf("different seeds, same digest %s", c)
	}

	img := must[v1.Image](t)(BuildImage(ImageSpec{Docker: true, Seed: 1}))
	if mt := must[types.MediaType](t)(img.MediaType()); mt != types.DockerManifestSchema2 {
		t.Errorf("Docker image media type %s", mt)
	}
	raw := must[[]byte](t)(img.RawConfigFile())
	if !strings.Contains(string(raw), `"created":"0001-01-01T00:00:00Z"`) {
		t.Errorf("zero Created not written as zero value: %s", raw)
	}
}

func TestDistributionPushVerifyDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRegistry(t, Options{DeleteEnabled: true})
	repo := r.Addr() + "/app"

	imgDigest := must[v1.Hash](t)(PushImage(ctx, repo+":v1", ImageSpec{Created: created, Seed: 1, Layers: 2}))
	if err := VerifyPull(ctx, repo+":v1"); err != nil {
		t.Fatal(err)
	}
	if got := must[v1.Hash](t)(Digest(ctx, repo+":v1")); got != imgDigest {
		t.Fatalf("Digest = %s, want %s", got, imgDigest)
	}
	cf := must[*v1.ConfigFile](t)(must[v1.Image](t)(remote.Image(must[name.Reference](t)(parseRef(repo + ":v1")))).ConfigFile())
	if !cf.Created.Time.Equal(created) {
		t.Errorf("created = %v, want %v", cf.Created.Time, created)
	}

	amd := must[v1.Image](t)(BuildImage(ImageSpec{Created: created, Seed: 2, Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}))
	arm := must[v1.Image](t)(BuildImage(ImageSpec{Created: created, Seed: 3, Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}))
	armDigest := must[v1.Hash](t)(arm.Digest())
	idxDigest := must[v1.Hash](t)(PushIndex(ctx, repo+":multi", IndexSpec{Children: []v1.Image{amd, arm}}))
	if err := VerifyPull(ctx, repo+":multi"); err != nil {
		t.Fatal(err)
	}
	if err := VerifyPull(ctx, repo+"@"+idxDigest.String()); err != nil {
		t.Fatal(err)
	}

	// A nested Docker manifest list.
	dimg := must[v1.Image](t)(BuildImage(ImageSpec{Seed: 4, Docker: true}))
	inner := must[v1.ImageIndex](t)(BuildIndex(IndexSpec{Children: []v1.Image{dimg}, Docker: true}))
	if _, err := PushIndex(ctx, repo+":nested", IndexSpec{Indexes: []v1.ImageIndex{inner}, Children: []v1.Image{amd}}); err != nil {
		t.Fatal(err)
	}
	if err := VerifyPull(ctx, repo+":nested"); err != nil {
		t.Fatal(err)
	}

	sig := must[v1.Hash](t)(PushCosignSignature(ctx, repo, imgDigest, "sig", 1))
	sigRef := repo + ":" + CosignTag(imgDigest, "sig")
	if got := must[v1.Hash](t)(Digest(ctx, sigRef)); got != sig {
		t.Fatalf("signature digest %s, want %s", got, sig)
	}
	if err := VerifyPull(ctx, sigRef); err != nil {
		t.Fatal(err)
	}

	if err := Tag(ctx, repo+":latest", repo+":v1"); err != nil {
		t.Fatal(err)
	}
	tags := must[[]string](t)(ListTags(ctx, repo))
	want := []string{"latest", "multi", "nested", CosignTag(imgDigest, "sig"), "v1"}
	slices.Sort(want)
	if !slices.Equal(tags, want) {
		t.Fatalf("tags = %v, want %v", tags, want)
	}
	if tags := must[[]string](t)(ListTags(ctx, r.Addr()+"/nope")); len(tags) != 0 || tags == nil {
		t.Fatalf("unknown repo tags = %#v", tags)
	}
	if ok := must[bool](t)(Exists(ctx, r.Addr()+"/nope:v1")); ok {
		t.Fatal("Exists(unknown repo) = true")
	}

	// Delete the arm64 child: the index is now broken.
	r.ResetRequests()
	if err := remote.Delete(must[name.Reference](t)(parseRef(repo + "@" + armDigest.String()))); err != nil {
		t.Fatal(err)
	}
	err := VerifyPull(ctx, repo+":multi")
	if err == nil {
		t.Fatal("VerifyPull succeeded after deleting a child")
	}
	wantMsg := fmt.Sprintf("app:multi: child %s (linux/arm64): manifest: 404 MANIFEST_UNKNOWN", armDigest)
	if err.Error() != wantMsg {
		t.Fatalf("error %q, want %q", err, wantMsg)
	}
	if !IsNotFound(err) {
		t.Errorf("IsNotFound(%v) = false", err)
	}
	if ok := must[bool](t)(Exists(ctx, repo+"@"+armDigest.String())); ok {
		t.Fatal("deleted child still exists")
	}
	if d := r.Deletes(); !slices.Equal(d, []string{"DELETE /v2/app/manifests/" + armDigest.String()}) {
		t.Fatalf("Deletes = %v", d)
	}
}

func TestVerifyPullMissingLayer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRegistry(t, Options{DeleteEnabled: true})
	repo := r.Addr() + "/app"
	if _, err := PushImage(ctx, repo+":v1", ImageSpec{Seed: 1}); err != nil {
		t.Fatal(err)
	}
	layer := imageLayers(t, repo+":v1")[0]
	// Hide the layer with a hook rather than deleting it.
	r.SetHook(func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method == http.MethodGet && strings.HasSuffix(req.URL.Path, "/blobs/"+layer.String()) {
			WriteError(w, http.StatusNotFound, "BLOB_UNKNOWN", "gone")
			return true
		}
		return false
	})
	err := VerifyPull(ctx, repo+":v1")
	want := fmt.Sprintf("app:v1: layer %s: 404 BLOB_UNKNOWN", layer)
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
	r.SetHook(nil)
	if err := VerifyPull(ctx, repo+":v1"); err != nil {
		t.Fatal(err)
	}
}

func TestDistributionGC(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRegistry(t, Options{DeleteEnabled: true})
	repo := r.Addr() + "/app"

	oldDigest := must[v1.Hash](t)(PushImage(ctx, repo+":old", ImageSpec{Seed: 10}))
	keepDigest := must[v1.Hash](t)(PushImage(ctx, repo+":keep", ImageSpec{Seed: 11}))
	untagged := must[v1.Hash](t)(PushImage(ctx, repo+"@"+must[v1.Hash](t)(must[v1.Image](t)(BuildImage(ImageSpec{Seed: 12})).Digest()).String(), ImageSpec{Seed: 12}))
	oldLayers := imageLayers(t, repo+":old")
	keepLayers := imageLayers(t, repo+":keep")

	subject := must[v1.Descriptor](t)(Descriptor(ctx, repo+":keep"))
	withFallback := must[v1.Hash](t)(PushReferrer(ctx, repo, subject, "application/vnd.example.sbom", 1, ""))
	noFallback := must[v1.Hash](t)(PushReferrer(ctx, repo, subject, "application/vnd.example.sbom", 2, "", WithoutFallbackTag()))

	if err := remote.Delete(must[name.Reference](t)(parseRef(repo + "@" + oldDigest.String()))); err != nil {
		t.Fatal(err)
	}
	blobURL := func(h v1.Hash) string { return "http://" + r.Addr() + "/v2/app/blobs/" + h.String() }
	if s := httpStatus(t, http.MethodGet, blobURL(oldLayers[0])); s != http.StatusOK {
		t.Fatalf("before GC: old layer status %d", s)
	}
	if err := r.GC(ctx, true); err != nil {
		t.Fatal(err)
	}
	if s := httpStatus(t, http.MethodGet, blobURL(oldLayers[0])); s != http.StatusNotFound {
		t.Fatalf("after GC: old layer status %d, want 404", s)
	}
	if s := httpStatus(t, http.MethodGet, blobURL(keepLayers[0])); s != http.StatusOK {
		t.Fatalf("after GC: kept layer status %d", s)
	}
	if err := VerifyPull(ctx, repo+":keep"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what string
		h    v1.Hash
		want bool
	}{
		{"untagged image", untagged, false},
		{"referrer listed in the fallback index", withFallback, true},
		{"referrer without fallback tag", noFallback, false},
		{"kept image", keepDigest, true},
	} {
		if got := must[bool](t)(Exists(ctx, repo+"@"+c.h.String())); got != c.want {
			t.Errorf("after GC: %s exists = %v, want %v", c.what, got, c.want)
		}
	}
}

func TestRequestCountingAndHooks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var sawMiddleware bool
	mw := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			w.Header().Set("X-Test-Middleware", "1")
			next.ServeHTTP(w, req)
		})
	}
	r := newRegistry(t, Options{DeleteEnabled: true, MaxTags: 2, Middleware: mw})
	repo := r.Addr() + "/app"
	for _, tag := range []string{"a", "b", "c"} {
		if _, err := PushImage(ctx, repo+":"+tag, ImageSpec{Seed: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if c := r.Requests(); c.Total == 0 || c.Of(http.MethodPut, ClassManifest) != 3 || c.ByClass[ClassUpload] == 0 {
		t.Fatalf("push counts: %+v", c)
	}

	r.ResetRequests()
	if err := VerifyPull(ctx, repo+":a"); err != nil {
		t.Fatal(err)
	}
	c := r.Requests()
	if c.Total != 3 || c.Of(http.MethodGet, ClassManifest) != 1 || c.Of(http.MethodGet, ClassBlob) != 2 ||
		c.ByMethod[http.MethodGet] != 3 || c.ByClass[ClassBlob] != 2 || c.Hooked != 0 {
		t.Fatalf("VerifyPull counts: %+v", c)
	}

	// MaxTags clamps n and paginates with a Link header.
	resp, err := http.Get("http://" + r.Addr() + "/v2/app/tags/list?n=100")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	sawMiddleware = resp.Header.Get("X-Test-Middleware") == "1"
	if !strings.Contains(string(body), `"tags":["a","b"]`) || !strings.Contains(resp.Header.Get("Link"), "last=b") {
		t.Fatalf("tags page: %s Link=%q", body, resp.Header.Get("Link"))
	}
	if !sawMiddleware {
		t.Error("middleware did not run")
	}
	if tags := must[[]string](t)(ListTags(ctx, repo)); !slices.Equal(tags, []string{"a", "b", "c"}) {
		t.Fatalf("ListTags = %v", tags)
	}

	// Fail the next manifest GET once with 503.
	r.SetHook(FailRequests(http.StatusServiceUnavailable, "UNAVAILABLE", 1, MatchRoute(http.MethodGet, ClassManifest)))
	err = VerifyPull(ctx, repo+":a")
	if err == nil || err.Error() != "app:a: manifest: 503 UNAVAILABLE" {
		t.Fatalf("hooked VerifyPull err = %v", err)
	}
	if err := VerifyPull(ctx, repo+":a"); err != nil {
		t.Fatalf("hook should have fired once: %v", err)
	}
	if h := r.Requests().Hooked; h != 1 {
		t.Fatalf("Hooked = %d", h)
	}

	// A hook that swallows DELETEs: they are logged, but nothing is deleted.
	r.ResetRequests()
	r.SetHook(func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method != http.MethodDelete {
			return false
		}
		w.WriteHeader(http.StatusAccepted)
		return true
	})
	d := must[v1.Hash](t)(Digest(ctx, repo+":a"))
	if err := remote.Delete(must[name.Reference](t)(parseRef(repo + "@" + d.String()))); err != nil {
		t.Fatal(err)
	}
	if got := r.Deletes(); !slices.Equal(got, []string{"DELETE /v2/app/manifests/" + d.String()}) {
		t.Fatalf("Deletes = %v", got)
	}
	if ok := must[bool](t)(Exists(ctx, repo+":a")); !ok {
		t.Fatal("hook did not stop the DELETE")
	}
	r.SetHook(nil)
	if c := r.Requests(); c.Of(http.MethodDelete, ClassManifest) != 1 || c.Hooked != 1 {
		t.Fatalf("counts: %+v", c)
	}

	// DELETE by tag works on distribution v3.
	if s := httpStatus(t, http.MethodDelete, "http://"+r.Addr()+"/v2/app/manifests/c"); s != http.StatusAccepted {
		t.Fatalf("DELETE tag status %d", s)
	}
	if ok := must[bool](t)(Exists(ctx, repo+":c")); ok {
		t.Fatal("tag c still exists")
	}
}

func TestDeleteDisabled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRegistry(t, Options{})
	repo := r.Addr() + "/app"
	d := must[v1.Hash](t)(PushImage(ctx, repo+":v1", ImageSpec{Seed: 1}))
	if s := httpStatus(t, http.MethodDelete, "http://"+r.Addr()+"/v2/app/manifests/"+d.String()); s != http.StatusMethodNotAllowed {
		t.Fatalf("DELETE with delete disabled: status %d, want 405", s)
	}
}

func TestReferrers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	oci, err := NewOCIRegistry()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = oci.Close() })
	dist := newRegistry(t, Options{DeleteEnabled: true})

	const at = "application/vnd.example.sbom.v1+json"
	for _, tc := range []struct {
		name     string
		srv      Server
		fallback bool
	}{{"oci", oci, false}, {"distribution", dist, true}} {
		t.Run(tc.name, func(t *testing.T) {
			repo := tc.srv.Addr() + "/app"
			subjDigest := must[v1.Hash](t)(PushImage(ctx, repo+":v1", ImageSpec{Seed: 1}))
			subject := must[v1.Descriptor](t)(Descriptor(ctx, repo+":v1"))
			tc.srv.ResetRequests()
			ref1 := must[v1.Hash](t)(PushReferrer(ctx, repo, subject, at, 1, "", WithConfigMediaType(at)))
			ref2 := must[v1.Hash](t)(PushReferrer(ctx, repo, subject, at, 2, "sbom-tag",
				WithReferrerAnnotations(map[string]string{"k": "v"})))
			if n := tc.srv.Requests().Of(http.MethodGet, ClassReferrers); n != 2 {
				t.Errorf("referrers probes = %d, want 2", n)
			}
			if err := VerifyPull(ctx, repo+"@"+ref1.String()); err != nil {
				t.Fatal(err)
			}
			if err := VerifyPull(ctx, repo+":sbom-tag"); err != nil {
				t.Fatal(err)
			}

			idx := must[v1.ImageIndex](t)(remote.Referrers(must[name.Reference](t)(parseRef(repo + "@" + subjDigest.String())).(name.Digest)))
			im := must[*v1.IndexManifest](t)(idx.IndexManifest())
			got := map[v1.Hash]v1.Descriptor{}
			for _, d := range im.Manifests {
				got[d.Digest] = d
			}
			if len(got) != 2 {
				t.Fatalf("referrers = %+v", im.Manifests)
			}
			if got[ref1].ArtifactType != at {
				t.Errorf("ref1 artifactType %q", got[ref1].ArtifactType)
			}
			// go-containerregistry's registry reports config.mediaType.
			wantAT2 := at
			if !tc.fallback {
				wantAT2 = MediaTypeEmpty
			}
			if got[ref2].ArtifactType != wantAT2 || got[ref2].Annotations["k"] != "v" {
				t.Errorf("ref2 descriptor %+v, want artifactType %q", got[ref2], wantAT2)
			}

			fallbackRef := repo + ":" + FallbackTag(subjDigest)
			if ok := must[bool](t)(Exists(ctx, fallbackRef)); ok != tc.fallback {
				t.Errorf("fallback tag exists = %v, want %v", ok, tc.fallback)
			}
			if tc.fallback {
				if err := VerifyPull(ctx, fallbackRef); err != nil {
					t.Fatal(err)
				}
				// Replace the fallback index by hand: only ref2 is listed now.
				if _, err := PushFallbackIndex(ctx, repo, subjDigest, []v1.Descriptor{got[ref2]}); err != nil {
					t.Fatal(err)
				}
				idx := must[v1.ImageIndex](t)(remote.Referrers(must[name.Reference](t)(parseRef(repo + "@" + subjDigest.String())).(name.Digest)))
				if im := must[*v1.IndexManifest](t)(idx.IndexManifest()); len(im.Manifests) != 1 || im.Manifests[0].Digest != ref2 {
					t.Fatalf("referrers after PushFallbackIndex = %+v", im.Manifests)
				}
			}
		})
	}
}

func TestLegacy(t *testing.T) {
	t.Parallel()
	bin := LegacyBinary()
	if bin == "" {
		t.Skip("no distribution 2.8 binary (install docker-registry or set " + LegacyBinaryEnv + ")")
	}
	ctx := context.Background()
	p, err := StartLegacy(ctx, bin, Options{DeleteEnabled: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	repo := p.Addr() + "/app"
	oldDigest := must[v1.Hash](t)(PushImage(ctx, repo+":old", ImageSpec{Seed: 1}))
	if _, err := PushImage(ctx, repo+":keep", ImageSpec{Seed: 2, Docker: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := PushIndex(ctx, repo+":multi", IndexSpec{Children: []v1.Image{
		must[v1.Image](t)(BuildImage(ImageSpec{Seed: 3})),
		must[v1.Image](t)(BuildImage(ImageSpec{Seed: 4, Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}})),
	}}); err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"old", "keep", "multi"} {
		if err := VerifyPull(ctx, repo+":"+tag); err != nil {
			t.Fatal(err)
		}
	}
	if c := p.Requests(); c.Of(http.MethodPut, ClassManifest) < 3 {
		t.Fatalf("counts through the proxy: %+v", c)
	}

	// 2.8 cannot delete tags.
	s := httpStatus(t, http.MethodDelete, "http://"+p.Addr()+"/v2/app/manifests/old")
	if s != http.StatusBadRequest && s != http.StatusMethodNotAllowed {
		t.Fatalf("DELETE by tag: status %d, want 400 or 405", s)
	}
	if ok := must[bool](t)(Exists(ctx, repo+":old")); !ok {
		t.Fatal("tag deleted")
	}

	oldLayers := imageLayers(t, repo+":old")
	if err := remote.Delete(must[name.Reference](t)(parseRef(repo + "@" + oldDigest.String()))); err != nil {
		t.Fatal(err)
	}
	if got := p.Deletes(); len(got) != 2 || got[1] != "DELETE /v2/app/manifests/"+oldDigest.String() {
		t.Fatalf("Deletes = %v", got)
	}
	if ok := must[bool](t)(Exists(ctx, repo+":old")); ok {
		t.Fatal("tag still resolves after deleting its digest")
	}
	if err := p.GC(ctx, false); err != nil {
		t.Fatal(err)
	}
	if s := httpStatus(t, http.MethodGet, "http://"+p.Addr()+"/v2/app/blobs/"+oldLayers[0].String()); s != http.StatusNotFound {
		t.Fatalf("after GC: old layer status %d, want 404", s)
	}
	for _, tag := range []string{"keep", "multi"} {
		if err := VerifyPull(ctx, repo+":"+tag); err != nil {
			t.Fatal(err)
		}
	}

	// 2.8's garbage-collect --delete-untagged deletes the (untagged)
	// children of tagged indexes; distribution v3 fixed that.
	if err := p.GC(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := VerifyPull(ctx, repo+":keep"); err != nil {
		t.Fatal(err)
	}
	if err := VerifyPull(ctx, repo+":multi"); err == nil {
		t.Log("this 2.8 build keeps index children on GC --delete-untagged")
	} else if !strings.Contains(err.Error(), "app:multi: child ") || !IsNotFound(err) {
		t.Fatalf("unexpected error after GC --delete-untagged: %v", err)
	} else {
		t.Logf("as expected for 2.8: %v", err)
	}
}

func TestConcurrentHooksAndCounts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRegistry(t, Options{})
	ref := r.Addr() + "/app:v1"
	if _, err := PushImage(ctx, ref, ImageSpec{Seed: 1}); err != nil {
		t.Fatal(err)
	}
	r.ResetRequests()
	const workers, rounds = 8, 10
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				var se *StatusError
				if _, err := Exists(ctx, ref); err != nil && !(errors.As(err, &se) && se.StatusCode == http.StatusTooManyRequests) {
					t.Error(err)
					return
				}
				_ = r.Requests()
				_ = r.Deletes()
			}
		}()
	}
	for i := 0; i < rounds; i++ {
		r.SetHook(FailRequests(http.StatusTooManyRequests, "TOOMANYREQUESTS", 1, MatchRoute(http.MethodHead, "")))
		r.SetHook(nil)
	}
	wg.Wait()
	c := r.Requests()
	if c.Total != workers*rounds || c.Of(http.MethodHead, ClassManifest) != workers*rounds {
		t.Fatalf("counts: %+v", c)
	}
}

// TestCountingProxy: what goes through the proxy is counted by route and
// reaches the registry (a push and a pull work through it, Location and
// Link included); what goes to the registry directly is not counted.
func TestCountingProxy(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, Options{})
	p, err := NewCountingProxy(r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	ctx := context.Background()
	if _, err := PushImage(ctx, p.Addr()+"/app:v1", ImageSpec{Created: created, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	if err := VerifyPull(ctx, p.Addr()+"/app:v1"); err != nil {
		t.Fatal(err)
	}
	got := p.Requests()
	if got.Of("PUT", ClassManifest) != 1 || got.Of("GET", ClassManifest) == 0 || got.Total != r.Requests().Total {
		t.Errorf("through the proxy: %v; the registry saw %d", got.ByRoute, r.Requests().Total)
	}
	p.ResetRequests()
	if err := VerifyPull(ctx, r.Addr()+"/app:v1"); err != nil {
		t.Fatal(err)
	}
	if n := p.Requests().Total; n != 0 {
		t.Errorf("%d requests counted that did not go through the proxy", n)
	}
}
