package dockerhub

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/dockerhub/hubtest"
	"github.com/tagsweep/tagsweep/internal/registry/image"
	"github.com/tagsweep/tagsweep/internal/registry/oci"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// hubBackend is e.backend with the descriptor's pull-limit quota, as
// connect builds it.
func (e *env) hubBackend(t *testing.T, created bool) *Backend {
	t.Helper()
	reg, err := oci.New(e.addr, oci.WithScheme(oci.SchemeHTTP), oci.WithCredentials(oci.Credentials{Username: "acme", Password: secret}),
		oci.WithQuotas(PullLimit), oci.WithRateLimitRetries(6, time.Second, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Options{Registry: reg, API: mustURL(t, e.hub.URL()), Username: "acme", Password: secret, CreatedAges: created})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (e *env) multiArch(t *testing.T, ref string, seed int64) (string, []string) {
	t.Helper()
	var imgs []v1.Image
	var kids []string
	for i, arch := range []string{"amd64", "arm64"} {
		img, err := testregistry.BuildImage(testregistry.ImageSpec{Seed: seed*10 + int64(i), Created: time.Now().Add(-time.Hour), Platform: &v1.Platform{OS: "linux", Architecture: arch}})
		if err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		imgs, kids = append(imgs, img), append(kids, d.String())
	}
	idx, err := testregistry.PushIndex(context.Background(), e.addr+"/"+ref, testregistry.IndexSpec{Children: imgs})
	if err != nil {
		t.Fatal(err)
	}
	return idx.String(), kids
}

// TestManifestFromListing: after Tags, the manifests of listed digests
// (an image, an index and its platform images) come from the listing: no
// manifest GET, so no pull; their layers are the listing's. A digest the
// listing never named is read from the registry (one pull), and so is
// every manifest under CreatedAges (the config has the creation time).
func TestManifestFromListing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, hubtest.Options{PullLimit: 100})
	ctx := context.Background()
	d := e.push(t, "acme/app:v1", 1)
	idx, kids := e.multiArch(t, "acme/app:multi", 2)
	b := e.hubBackend(t, false)
	if _, err := b.Tags(ctx, "acme/app"); err != nil {
		t.Fatal(err)
	}
	m, err := b.Manifest(ctx, "acme/app", d)
	if err != nil || m.Digest != d || m.MediaType != image.MediaTypeOCIManifest || len(m.Blobs) == 0 || m.Blobs[0].Size == 0 {
		t.Fatalf("image from the listing: %+v %v", m, err)
	}
	mi, err := b.Manifest(ctx, "acme/app", idx)
	if err != nil || !mi.IsIndex() {
		t.Fatalf("index: %+v %v", mi, err)
	}
	if diff := cmp.Diff(kids, mi.Children); diff != "" {
		t.Errorf("index children (-want +got):\n%s", diff)
	}
	if mi.ChildInfo[kids[1]] != "linux/arm64" {
		t.Errorf("child info %v", mi.ChildInfo)
	}
	for _, k := range kids {
		if mk, err := b.Manifest(ctx, "acme/app", k); err != nil || len(mk.Blobs) == 0 {
			t.Errorf("child %s: %+v %v", k, mk, err)
		}
	}
	if p := e.hub.Pulls("acme"); p != 0 || b.Pulls() != 0 {
		t.Errorf("pulls %d (counted %d), want 0", p, b.Pulls())
	}
	// A digest no listing named: one GET.
	other := e.push(t, "acme/other:v1", 3)
	if _, err := b.Manifest(ctx, "acme/other", other); err != nil {
		t.Fatal(err)
	}
	if p := e.hub.Pulls("acme"); p != 1 || b.Pulls() != 1 {
		t.Errorf("pulls %d (counted %d), want 1", p, b.Pulls())
	}
	// Creation times: the config, behind a manifest GET.
	c := e.hubBackend(t, true)
	if _, err := c.Tags(ctx, "acme/app"); err != nil {
		t.Fatal(err)
	}
	m, err = c.Manifest(ctx, "acme/app", d)
	if err != nil || m.Created.IsZero() {
		t.Errorf("CreatedAges: %+v %v", m, err)
	}

	// Without layers in the listing (as live answers were reported): one
	// stand-in blob of the image's size.
	f := newEnv(t, hubtest.Options{OmitLayers: true})
	d = f.push(t, "acme/app:v1", 1)
	g := f.hubBackend(t, false)
	if _, err := g.Tags(ctx, "acme/app"); err != nil {
		t.Fatal(err)
	}
	m, err = g.Manifest(ctx, "acme/app", d)
	if err != nil || len(m.Blobs) != 1 || m.Blobs[0].Size == 0 || !strings.HasPrefix(m.Blobs[0].Digest, "listing-size:") {
		t.Errorf("without layers: %+v %v", m, err)
	}
}

// TestPullLimitEndsAtOnce: past the pull limit a manifest GET answers 429
// TOOMANYREQUESTS; it is not retried, the error says the limit and when
// the quota resets, and later GETs fail without a request; HEADs still go.
func TestPullLimitEndsAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, hubtest.Options{PullLimit: 1, PullWindow: time.Hour})
	ctx := context.Background()
	d1 := e.push(t, "acme/app:v1", 1)
	d2 := e.push(t, "acme/app:v2", 2)
	d3 := e.push(t, "acme/app:v3", 3)
	b := e.hubBackend(t, true)
	if _, err := b.Manifest(ctx, "acme/app", d1); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := b.Manifest(ctx, "acme/app", d2)
	_, err3 := b.Manifest(ctx, "acme/app", d3)
	if time.Since(start) > 5*time.Second {
		t.Errorf("the pull limit was waited out (%s)", time.Since(start))
	}
	for _, err := range []error{err, err3} {
		if !errors.Is(err, registry.ErrQuota) {
			t.Fatalf("past the limit: %v, want ErrQuota", err)
		}
		for _, want := range []string{"Docker Hub pull limit reached", "1 pulls per 1h0m0s for acme", "the quota resets"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%q lacks %q", err, want)
			}
		}
	}
	if p, r := e.hub.Pulls("acme"), e.hub.RefusedPulls("acme"); p != 1 || r != 1 {
		t.Errorf("pulls %d, refused %d: want 1 and 1 (no retry, the third not sent)", p, r)
	}
	if ok, err := b.Exists(ctx, "acme/app", d3); !ok || err != nil {
		t.Errorf("HEAD past the limit: %v %v", ok, err)
	}
	if b.Pulls() != 1 {
		t.Errorf("Pulls %d, want 1", b.Pulls())
	}
}

// TestImmutableTagsListed: the tags an enabled rule matches are listed
// protected, with the rule; rules without enabled protect nothing; a
// refusal a rule explains is that tag's ProtectedError and the
// repository's other deletions go on.
func TestImmutableTagsListed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, hubtest.Options{})
	ctx := context.Background()
	e.push(t, "acme/app:v1.0", 1)
	e.push(t, "acme/app:main", 2)
	e.push(t, "acme/app:pr-1", 3)
	b := e.hubBackend(t, false)
	protected := func() map[string]string {
		tags, err := b.Tags(ctx, "acme/app")
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, tg := range tags {
			if tg.Protected != "" {
				out[tg.Name] = tg.Protected
			}
		}
		return out
	}
	e.hub.SetImmutable("acme/app", false, ".*")
	if p := protected(); len(p) != 0 {
		t.Errorf("enabled false: %v", p)
	}
	e.hub.SetImmutable("acme/app", true, `^v[0-9.]+$`)
	if diff := cmp.Diff(map[string]string{"v1.0": "immutable on Docker Hub: rule ^v[0-9.]+$"}, protected()); diff != "" {
		t.Errorf("protected (-want +got):\n%s", diff)
	}
	// Made immutable after the listing: the refusal is that tag's alone.
	e.hub.SetImmutable("acme/app", true, `^v[0-9.]+$`, `^main$`)
	err := b.DeleteTag(ctx, "acme/app", "main")
	var pe *registry.ProtectedError
	if !errors.As(err, &pe) || pe.Reason != "immutable on Docker Hub: rule ^main$" {
		t.Errorf("immutable refusal: %v", err)
	}
	if err := b.DeleteTag(ctx, "acme/app", "pr-1"); err != nil {
		t.Errorf("the next tag: %v", err)
	}
	same(t, "tags left", e.tags(t, "acme/app"), []string{"main", "v1.0"})
}

// TestUntaggedNotDeleted: where the registry API refuses the DELETE by
// digest (405 before 2025-05-28), the tags are removed and the call is an
// UntaggedError naming them and the reason; the manifest stays stored.
func TestUntaggedNotDeleted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, hubtest.Options{LegacyDeletes: true})
	ctx := context.Background()
	d := e.push(t, "acme/app:a", 1)
	e.tag(t, "acme/app:b", "acme/app:a")
	b := e.hubBackend(t, false)
	err := b.DeleteDigest(ctx, "acme/app", d, []string{"a", "b"})
	var ue *registry.UntaggedError
	if !errors.As(err, &ue) || !strings.Contains(ue.Reason, "405") {
		t.Fatalf("legacy: %v, want an UntaggedError (405)", err)
	}
	same(t, "done", ue.Done, []string{"a", "b"})
	same(t, "tags left", e.tags(t, "acme/app"), []string{})
	if ok, _ := b.Exists(ctx, "acme/app", d); !ok {
		t.Error("the manifest is gone: the registry refused its DELETE")
	}
	if r := e.hub.RegistryDeleteRequests(); len(r) != 2 || !strings.HasSuffix(r[1], strings.Repeat("0", 64)) {
		t.Errorf("registry DELETEs %v: the digest, then the zero-digest probe", r)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestManifestReadOnce: a manifest read from the registry API (a pull) is
// not read again: the second call costs no pull.
func TestManifestReadOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, hubtest.Options{PullLimit: 100})
	d := e.push(t, "acme/app:v1", 1)
	b := e.hubBackend(t, true)
	ctx := context.Background()
	for range 3 {
		if m, err := b.Manifest(ctx, "acme/app", d); err != nil || m.Created.IsZero() {
			t.Fatalf("%+v %v", m, err)
		}
	}
	if p := e.hub.Pulls("acme"); p != 1 || b.Pulls() != 1 {
		t.Errorf("pulls %d (counted %d), want 1", p, b.Pulls())
	}
}

// TestQueuedDelete: Docker Hub may answer a DELETE by digest 500 and carry
// it out in the background (docs PR #24078). Done soon: DeleteDigest
// succeeds and the manifest is gone. Not done while tagsweep looks (HEADs,
// no pulls): the tags are deleted and the manifest is reported untagged
// but not deleted, with Docker Hub's 500 as the reason.
func TestQueuedDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, hubtest.Options{DeleteDelay: 300 * time.Millisecond})
	d := e.push(t, "acme/app:a", 1)
	b := e.hubBackend(t, false)
	if err := b.DeleteDigest(ctx, "acme/app", d, []string{"a"}); err != nil {
		t.Fatalf("queued, then done: %v", err)
	}
	if ok, _ := b.Exists(ctx, "acme/app", d); ok {
		t.Error("still stored")
	}

	f := newEnv(t, hubtest.Options{DeleteDelay: time.Hour})
	d = f.push(t, "acme/app:a", 1)
	c := f.hubBackend(t, false)
	var waits []time.Duration
	c.sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	err := c.DeleteDigest(ctx, "acme/app", d, []string{"a"})
	var ue *registry.UntaggedError
	if !errors.As(err, &ue) || !strings.Contains(ue.Reason, "500") || len(ue.Done) != 1 {
		t.Fatalf("queued for an hour: %v, want an UntaggedError (500)", err)
	}
	if len(waits) != len(queuedPolls) {
		t.Errorf("waits %v", waits)
	}
	if p := f.hub.Pulls("acme"); p != 0 {
		t.Errorf("%d pulls: the polls are HEADs", p)
	}
}
