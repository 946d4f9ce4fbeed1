package oci

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/tagsweep/tagsweep/internal/redact"
	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/image"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// anonymous is a keychain that never finds credentials, so that tests do
// not depend on the docker config of the machine they run on.
type anonymous struct{}

func (anonymous) Resolve(authn.Resource) (authn.Authenticator, error) { return authn.Anonymous, nil }

func startDistribution(t *testing.T, o testregistry.Options) *testregistry.Registry {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	r, err := testregistry.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func newBackend(t *testing.T, addr string, opts ...Option) *Backend {
	t.Helper()
	b, err := New(addr, append([]Option{WithKeychain(anonymous{})}, opts...)...)
	if err != nil {
		t.Fatalf("New(%q): %v", addr, err)
	}
	return b
}

var created = time.Date(2025, 6, 1, 10, 30, 0, 0, time.UTC)

func pushImage(t *testing.T, ref string, spec testregistry.ImageSpec) string {
	t.Helper()
	h, err := testregistry.PushImage(context.Background(), ref, spec)
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func buildImage(t *testing.T, spec testregistry.ImageSpec) v1.Image {
	t.Helper()
	img, err := testregistry.BuildImage(spec)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func pushIndex(t *testing.T, ref string, spec testregistry.IndexSpec) string {
	t.Helper()
	h, err := testregistry.PushIndex(context.Background(), ref, spec)
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func tagRef(t *testing.T, ref, src string) {
	t.Helper()
	if err := testregistry.Tag(context.Background(), ref, src); err != nil {
		t.Fatal(err)
	}
}

func listTags(t *testing.T, repo string) []string {
	t.Helper()
	tags, err := testregistry.ListTags(context.Background(), repo)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(tags)
	return tags
}

// blobsOf is what Manifest must report as the blobs of img: config, then layers.
func blobsOf(t *testing.T, img v1.Image) []image.Blob {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	out := []image.Blob{{Digest: m.Config.Digest.String(), Size: m.Config.Size}}
	for _, l := range m.Layers {
		out = append(out, image.Blob{Digest: l.Digest.String(), Size: l.Size})
	}
	return out
}

func manifestSize(t *testing.T, img interface{ RawManifest() ([]byte, error) }) int64 {
	t.Helper()
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(raw))
}

func TestNewOptions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		host    string
		opts    []Option
		wantErr string // "" = success
	}{
		{name: "defaults", host: "127.0.0.1:5000"},
		{name: "hostname with port", host: "registry.example.test:443"},
		{name: "scheme in host", host: "https://registry.example.test", wantErr: "registry"},
		{name: "empty host", host: "", wantErr: "registry"},
		{name: "username without password", host: "r.test", opts: []Option{WithCredentials(Credentials{Username: "u"})}, wantErr: "together"},
		{name: "password without username", host: "r.test", opts: []Option{WithCredentials(Credentials{Password: "p"})}, wantErr: "together"},
		{name: "concurrency zero", host: "r.test", opts: []Option{WithConcurrency(0)}, wantErr: "concurrency"},
		{name: "negative retries", host: "r.test", opts: []Option{WithRateLimitRetries(-1, time.Second, time.Second)}, wantErr: "retry"},
		{name: "zero base", host: "r.test", opts: []Option{WithRateLimitRetries(1, 0, time.Second)}, wantErr: "retry"},
		{name: "max below base", host: "r.test", opts: []Option{WithRateLimitRetries(1, time.Second, time.Millisecond)}, wantErr: "retry"},
		{name: "all valid", host: "r.test", opts: []Option{WithCredentials(Credentials{Username: "u", Password: "p"}), WithConcurrency(1),
			WithRateLimitRetries(0, time.Millisecond, time.Millisecond), WithScheme(SchemeHTTPS), WithInsecure(true), WithUserAgent("x")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tc.host, append([]Option{WithKeychain(anonymous{})}, tc.opts...)...)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("New(%q) = %v, want success", tc.host, err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("New(%q) = %v, want an error mentioning %q", tc.host, err, tc.wantErr)
			}
		})
	}
}

func TestWho(t *testing.T) {
	t.Parallel()
	b := newBackend(t, "r.test", WithCredentials(Credentials{Username: "ci-bot", Password: "s3cret-pw"}))
	if diff := gocmp.Diff(`user "ci-bot" (from the username input)`, b.Who()); diff != "" {
		t.Errorf("Who (-want +got):\n%s", diff)
	}
	b = newBackend(t, "r.test")
	if !strings.HasPrefix(b.Who(), "anonymous access") {
		t.Errorf("Who without credentials = %q, want anonymous access", b.Who())
	}
}

func TestRepositoriesAndTags(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startDistribution(t, testregistry.Options{DeleteEnabled: true, MaxTags: 2})
	addr := r.Addr()
	d := pushImage(t, addr+"/app:v1", testregistry.ImageSpec{Created: created, Seed: 1})
	for _, tg := range []string{"v2", "v3", "v4", "latest"} {
		tagRef(t, addr+"/app:"+tg, addr+"/app@"+d)
	}
	pushImage(t, addr+"/team/api:v1", testregistry.ImageSpec{Seed: 2})
	pushImage(t, addr+"/team/deep/worker:v1", testregistry.ImageSpec{Seed: 3})
	b := newBackend(t, addr)

	repos, err := b.Repositories(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff([]string{"app", "team/api", "team/deep/worker"}, repos, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("Repositories (-want +got):\n%s", diff)
	}

	r.ResetRequests()
	tags, err := b.TagNames(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff([]string{"latest", "v1", "v2", "v3", "v4"}, tags, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("Tags over pages of 2 (-want +got):\n%s", diff)
	}
	if n := r.Requests().Of(http.MethodGet, testregistry.ClassTags); n < 3 {
		t.Errorf("tag list requests = %d, want at least 3 pages of 2", n)
	}

	tags, err = b.TagNames(ctx, "team/deep/worker")
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff([]string{"v1"}, tags); diff != "" {
		t.Errorf("Tags of a nested repository (-want +got):\n%s", diff)
	}

	_, err = b.TagNames(ctx, "missing")
	if !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("Tags(missing) = %v, want ErrNotFound", err)
	}
	if b.Stats().Requests == 0 {
		t.Errorf("Stats().Requests = 0 after requests")
	}
}

func TestManifest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startDistribution(t, testregistry.Options{DeleteEnabled: true})
	addr := r.Addr()
	repo := addr + "/app"

	ociSpec := testregistry.ImageSpec{Created: created, Seed: 1, Layers: 2}
	ociImg := buildImage(t, ociSpec)
	ociDigest := pushImage(t, repo+":oci", ociSpec)

	dockerSpec := testregistry.ImageSpec{Created: created.Add(time.Hour), Seed: 2, Docker: true}
	dockerImg := buildImage(t, dockerSpec)
	dockerDigest := pushImage(t, repo+":docker", dockerSpec)

	amd := buildImage(t, testregistry.ImageSpec{Created: created, Seed: 3})
	arm := buildImage(t, testregistry.ImageSpec{Created: created.Add(time.Minute), Seed: 4,
		Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}})
	amdDigest, _ := amd.Digest()
	armDigest, _ := arm.Digest()
	att := buildImage(t, testregistry.ImageSpec{Seed: 5, Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"}})
	attDigest, _ := att.Digest()
	idxCreated := "2025-07-01T00:00:00Z"
	idxSpec := testregistry.IndexSpec{
		Children:    []v1.Image{amd, arm},
		Annotations: map[string]string{image.AnnotationCreated: idxCreated},
		Addenda: []mutate.IndexAddendum{{Add: att, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{
				image.AnnotationReferenceType:   image.ReferenceTypeAttestation,
				image.AnnotationReferenceDigest: amdDigest.String(),
			}}}},
	}
	idx, err := testregistry.BuildIndex(idxSpec)
	if err != nil {
		t.Fatal(err)
	}
	idxDigest := pushIndex(t, repo+":multi", idxSpec)

	listSpec := testregistry.IndexSpec{Docker: true, Children: []v1.Image{
		buildImage(t, testregistry.ImageSpec{Created: created, Seed: 6, Docker: true}),
		buildImage(t, testregistry.ImageSpec{Created: created, Seed: 7, Docker: true, Platform: &v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}}),
	}}
	list, err := testregistry.BuildIndex(listSpec)
	if err != nil {
		t.Fatal(err)
	}
	listDigest := pushIndex(t, repo+":list", listSpec)
	listChildren := func() []string {
		im, err := list.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, d := range im.Manifests {
			out = append(out, d.Digest.String())
		}
		return out
	}()

	subject, err := testregistry.Descriptor(ctx, repo+":oci")
	if err != nil {
		t.Fatal(err)
	}
	const sbom = "application/vnd.example.sbom.v1+json"
	refDigest, err := testregistry.PushReferrer(ctx, repo, subject, sbom, 1, "sbom")
	if err != nil {
		t.Fatal(err)
	}

	b := newBackend(t, addr)
	cases := []struct {
		name string
		ref  string
		want *image.Manifest
	}{{
		name: "OCI image by tag",
		ref:  "oci",
		want: &image.Manifest{Digest: ociDigest, MediaType: image.MediaTypeOCIManifest, Size: manifestSize(t, ociImg),
			Created: created, Blobs: blobsOf(t, ociImg)},
	}, {
		name: "OCI image by digest",
		ref:  ociDigest,
		want: &image.Manifest{Digest: ociDigest, MediaType: image.MediaTypeOCIManifest, Size: manifestSize(t, ociImg),
			Created: created, Blobs: blobsOf(t, ociImg)},
	}, {
		name: "Docker schema 2 image",
		ref:  "docker",
		want: &image.Manifest{Digest: dockerDigest, MediaType: image.MediaTypeDockerManifest, Size: manifestSize(t, dockerImg),
			Created: created.Add(time.Hour), Blobs: blobsOf(t, dockerImg)},
	}, {
		name: "OCI index with platforms and an attestation",
		ref:  "multi",
		want: &image.Manifest{Digest: idxDigest, MediaType: image.MediaTypeOCIIndex, Size: manifestSize(t, idx),
			Created:  time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC),
			Children: []string{amdDigest.String(), armDigest.String(), attDigest.String()},
			ChildInfo: map[string]string{amdDigest.String(): "linux/amd64", armDigest.String(): "linux/arm64/v8",
				attDigest.String(): "attestation"}},
	}, {
		name: "Docker manifest list without a created annotation",
		ref:  "list",
		want: &image.Manifest{Digest: listDigest, MediaType: image.MediaTypeDockerList, Size: manifestSize(t, list),
			Children:  listChildren,
			ChildInfo: map[string]string{listChildren[0]: "linux/amd64", listChildren[1]: "linux/arm/v7"}},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := b.Manifest(ctx, "app", tc.ref)
			if err != nil {
				t.Fatal(err)
			}
			if diff := gocmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Manifest(%s) (-want +got):\n%s", tc.ref, diff)
			}
		})
	}

	t.Run("referrer artifact", func(t *testing.T) {
		t.Parallel()
		got, err := b.Manifest(ctx, "app", refDigest.String())
		if err != nil {
			t.Fatal(err)
		}
		want := []string{refDigest.String(), image.MediaTypeOCIManifest, sbom, subject.Digest.String()}
		if diff := gocmp.Diff(want, []string{got.Digest, got.MediaType, got.ArtifactType, got.Subject}); diff != "" {
			t.Errorf("[digest, media type, artifact type, subject] (-want +got):\n%s", diff)
		}
		if !got.Created.IsZero() {
			t.Errorf("Created = %v, want zero for an artifact without the annotation", got.Created)
		}
	})
	t.Run("missing", func(t *testing.T) {
		t.Parallel()
		_, err := b.Manifest(ctx, "app", "nope")
		if !errors.Is(err, registry.ErrNotFound) {
			t.Errorf("Manifest(nope) = %v, want ErrNotFound", err)
		}
	})
}

func TestResolveAndExists(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startDistribution(t, testregistry.Options{DeleteEnabled: true})
	addr := r.Addr()
	d := pushImage(t, addr+"/app:v1", testregistry.ImageSpec{Created: created, Seed: 1})
	idx := pushIndex(t, addr+"/app:multi", testregistry.IndexSpec{Children: []v1.Image{buildImage(t, testregistry.ImageSpec{Seed: 2})}})
	b := newBackend(t, addr)

	cases := []struct {
		name    string
		ref     string
		want    string
		wantErr error
	}{
		{name: "image tag", ref: "v1", want: d},
		{name: "index tag", ref: "multi", want: idx},
		{name: "digest", ref: d, want: d},
		{name: "missing tag", ref: "v9", wantErr: registry.ErrNotFound},
	}
	for _, tc := range cases {
		t.Run("Resolve "+tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := b.Resolve(ctx, "app", tc.ref)
			if !errors.Is(err, tc.wantErr) || got != tc.want {
				t.Errorf("Resolve(%s) = %q, %v; want %q, %v", tc.ref, got, err, tc.want, tc.wantErr)
			}
		})
	}

	missing := "sha256:" + strings.Repeat("0", 64)
	exists := []struct {
		name   string
		repo   string
		digest string
		want   bool
	}{
		{name: "image", repo: "app", digest: d, want: true},
		{name: "index", repo: "app", digest: idx, want: true},
		{name: "unknown digest", repo: "app", digest: missing, want: false},
		{name: "unknown repository", repo: "other", digest: d, want: false},
	}
	for _, tc := range exists {
		t.Run("Exists "+tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := b.Exists(ctx, tc.repo, tc.digest)
			if err != nil || got != tc.want {
				t.Errorf("Exists(%s, %s) = %v, %v; want %v, nil", tc.repo, tc.digest, got, err, tc.want)
			}
		})
	}
}

func TestReferrers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const sbom = "application/vnd.example.sbom.v1+json"

	t.Run("distribution has no referrers API", func(t *testing.T) {
		t.Parallel()
		r := startDistribution(t, testregistry.Options{DeleteEnabled: true})
		repo := r.Addr() + "/app"
		d := pushImage(t, repo+":v1", testregistry.ImageSpec{Seed: 1})
		subject, err := testregistry.Descriptor(ctx, repo+":v1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := testregistry.PushReferrer(ctx, repo, subject, sbom, 1, ""); err != nil {
			t.Fatal(err)
		}
		b := newBackend(t, r.Addr())
		r.ResetRequests()
		_, err = b.Referrers(ctx, "app", d)
		if !errors.Is(err, registry.ErrReferrersUnsupported) {
			t.Fatalf("Referrers = %v, want ErrReferrersUnsupported", err)
		}
		asked := r.Requests().Of(http.MethodGet, testregistry.ClassReferrers)
		// The answer is remembered: no second request.
		_, err = b.Referrers(ctx, "app", d)
		if !errors.Is(err, registry.ErrReferrersUnsupported) {
			t.Fatalf("second Referrers = %v, want ErrReferrersUnsupported", err)
		}
		if n := r.Requests().Of(http.MethodGet, testregistry.ClassReferrers); n != asked {
			t.Errorf("referrers requests after the second call = %d, want %d (remembered)", n, asked)
		}
		// The fallback tag is not read: the engine reads sha256-<hex> tags itself.
		if n := r.Requests().Of(http.MethodGet, testregistry.ClassTags); n != 0 {
			t.Errorf("tag list requests = %d, want 0 (tag fallback off)", n)
		}
	})

	t.Run("OCI 1.1 registry lists referrers", func(t *testing.T) {
		t.Parallel()
		r, err := testregistry.NewOCIRegistry()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		repo := r.Addr() + "/app"
		d := pushImage(t, repo+":v1", testregistry.ImageSpec{Seed: 1})
		subject, err := testregistry.Descriptor(ctx, repo+":v1")
		if err != nil {
			t.Fatal(err)
		}
		r1, err := testregistry.PushReferrer(ctx, repo, subject, sbom, 1, "")
		if err != nil {
			t.Fatal(err)
		}
		r2, err := testregistry.PushReferrer(ctx, repo, subject, sbom, 2, "")
		if err != nil {
			t.Fatal(err)
		}
		other := pushImage(t, repo+":v2", testregistry.ImageSpec{Seed: 2})
		b := newBackend(t, r.Addr())
		got, err := b.Referrers(ctx, "app", d)
		if err != nil {
			t.Fatal(err)
		}
		if diff := gocmp.Diff([]string{r1.String(), r2.String()}, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
			t.Errorf("Referrers (-want +got):\n%s", diff)
		}
		got, err = b.Referrers(ctx, "app", other)
		if err != nil || len(got) != 0 {
			t.Errorf("Referrers of an image without referrers = %v, %v; want none", got, err)
		}
	})
}

func TestTagDeleteSupported(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := []struct {
		name          string
		deleteEnabled bool
		want          bool
		wantErr       error // deletes off: said once, with the fix
		probes        int
	}{
		{name: "distribution v3 with deletes", deleteEnabled: true, want: true, probes: 1},
		{name: "distribution v3 without deletes (405)", deleteEnabled: false, want: false, wantErr: registry.ErrDeleteDisabled, probes: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := startDistribution(t, testregistry.Options{DeleteEnabled: tc.deleteEnabled})
			repo := r.Addr() + "/app"
			d := pushImage(t, repo+":v1", testregistry.ImageSpec{Seed: 1})
			tagRef(t, repo+":v2", repo+"@"+d)
			pushImage(t, repo+":v3", testregistry.ImageSpec{Seed: 2})
			before := listTags(t, repo)
			b := newBackend(t, r.Addr())
			r.ResetRequests()

			got, err := b.TagDeleteSupported(ctx, "app")
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) || got != tc.want {
				t.Fatalf("TagDeleteSupported = %v, %v; want %v, %v", got, err, tc.want, tc.wantErr)
			}
			if tc.wantErr != nil && !strings.Contains(err.Error(), "REGISTRY_STORAGE_DELETE_ENABLED=true") {
				t.Errorf("error %q does not name the fix", err)
			}
			deletes := r.Deletes()
			if len(deletes) != tc.probes || !strings.HasPrefix(deletes[0], "DELETE /v2/app/manifests/tagsweep-probe-") {
				t.Errorf("probe deletes = %q, want %d, a DELETE of a tagsweep-probe- tag first", deletes, tc.probes)
			}
			if tc.probes == 2 && deletes[1] != "DELETE /v2/app/manifests/sha256:"+strings.Repeat("0", 64) {
				t.Errorf("second probe = %q, want a DELETE of a digest that does not exist", deletes[1])
			}
			if diff := gocmp.Diff(before, listTags(t, repo)); diff != "" {
				t.Errorf("tags after the probe (-before +after):\n%s", diff)
			}
			for _, tg := range before {
				if err := testregistry.VerifyPull(ctx, repo+":"+tg); err != nil {
					t.Errorf("after the probe: %v", err)
				}
			}
			// Asked once per registry.
			got, err = b.TagDeleteSupported(ctx, "app")
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) || got != tc.want {
				t.Fatalf("second TagDeleteSupported = %v, %v; want %v, %v", got, err, tc.want, tc.wantErr)
			}
			if n := len(r.Deletes()); n != tc.probes {
				t.Errorf("DELETE requests after the second call = %d, want %d (remembered)", n, tc.probes)
			}
		})
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startDistribution(t, testregistry.Options{DeleteEnabled: true})
	repo := r.Addr() + "/app"
	shared := pushImage(t, repo+":keep", testregistry.ImageSpec{Seed: 1})
	tagRef(t, repo+":old", repo+"@"+shared)
	gone := pushImage(t, repo+":stale", testregistry.ImageSpec{Seed: 2})
	tagRef(t, repo+":stale2", repo+"@"+gone)
	b := newBackend(t, r.Addr())

	if err := b.DeleteTag(ctx, "app", "old"); err != nil {
		t.Fatalf("DeleteTag(old): %v", err)
	}
	if diff := gocmp.Diff([]string{"keep", "stale", "stale2"}, listTags(t, repo)); diff != "" {
		t.Errorf("tags after DeleteTag(old) (-want +got):\n%s", diff)
	}
	if err := testregistry.VerifyPull(ctx, repo+":keep"); err != nil {
		t.Errorf("kept tag after DeleteTag of a tag sharing its digest: %v", err)
	}

	if err := b.DeleteDigest(ctx, "app", gone, nil); err != nil {
		t.Fatalf("DeleteDigest: %v", err)
	}
	if diff := gocmp.Diff([]string{"keep"}, listTags(t, repo)); diff != "" {
		t.Errorf("tags after DeleteDigest (-want +got):\n%s", diff)
	}
	if ok, err := b.Exists(ctx, "app", gone); err != nil || ok {
		t.Errorf("Exists(deleted digest) = %v, %v; want false, nil", ok, err)
	}
	if err := b.DeleteDigest(ctx, "app", gone, nil); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("DeleteDigest of a deleted digest = %v, want ErrNotFound", err)
	}
	if err := b.DeleteTag(ctx, "app", "never-was"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("DeleteTag of a missing tag = %v, want ErrNotFound", err)
	}
	want := []string{
		"DELETE /v2/app/manifests/old",
		"DELETE /v2/app/manifests/" + gone,
		"DELETE /v2/app/manifests/" + gone,
		"DELETE /v2/app/manifests/never-was",
	}
	if diff := gocmp.Diff(want, r.Deletes()); diff != "" {
		t.Errorf("DELETE requests (-want +got):\n%s", diff)
	}
}

func TestDeleteDisabled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startDistribution(t, testregistry.Options{DeleteEnabled: false})
	repo := r.Addr() + "/app"
	d := pushImage(t, repo+":v1", testregistry.ImageSpec{Seed: 1})
	d2 := pushImage(t, repo+":v2", testregistry.ImageSpec{Seed: 2})
	b := newBackend(t, r.Addr())
	r.ResetRequests()

	err := b.DeleteDigest(ctx, "app", d, nil)
	if !errors.Is(err, registry.ErrDeleteDisabled) {
		t.Fatalf("DeleteDigest = %v, want ErrDeleteDisabled", err)
	}
	if !strings.Contains(err.Error(), "REGISTRY_STORAGE_DELETE_ENABLED=true") {
		t.Errorf("DeleteDigest error %q does not name the fix", err)
	}
	before := r.Requests()
	err2 := b.DeleteDigest(ctx, "app", d2, nil)
	if !errors.Is(err2, registry.ErrDeleteDisabled) {
		t.Errorf("second DeleteDigest = %v, want ErrDeleteDisabled", err2)
	}
	// The later error names the fix and no request: the 405 it remembers
	// was another digest's (another repository's, in a run).
	if msg := err2.Error(); !strings.Contains(msg, "REGISTRY_STORAGE_DELETE_ENABLED=true") || !strings.Contains(msg, "not sent") || strings.Contains(msg, d) {
		t.Errorf("second DeleteDigest error %q: want the fix, 'not sent', and not the first digest", msg)
	}
	after := r.Requests()
	// The 405 is confirmed by the DELETE of a digest that does not exist
	// (refused too), then remembered: the second DeleteDigest sends nothing.
	if diff := gocmp.Diff([]int{before.Total, 2}, []int{after.Total, after.Of(http.MethodDelete, testregistry.ClassManifest)}); diff != "" {
		t.Errorf("[total requests, DELETE requests] after the second DeleteDigest (-want +got):\n%s", diff)
	}
	if diff := gocmp.Diff([]string{"DELETE /v2/app/manifests/" + d, "DELETE /v2/app/manifests/sha256:" + strings.Repeat("0", 64)}, r.Deletes()); diff != "" {
		t.Errorf("DELETE requests (-want +got):\n%s", diff)
	}

	err = b.DeleteTag(ctx, "app", "v1")
	if !errors.Is(err, registry.ErrTagDeleteUnsupported) {
		t.Errorf("DeleteTag on a registry refusing deletes = %v, want ErrTagDeleteUnsupported", err)
	}
	if diff := gocmp.Diff([]string{"v1", "v2"}, listTags(t, repo)); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
}

// authHook answers every request with status and a Basic challenge, and
// records the users it saw.
type authHook struct {
	status int
	mu     sync.Mutex
	users  map[string]bool
}

func (h *authHook) hook(w http.ResponseWriter, req *http.Request) bool {
	h.mu.Lock()
	if u, _, ok := req.BasicAuth(); ok {
		h.users[u] = true
	}
	h.mu.Unlock()
	w.Header().Set("WWW-Authenticate", `Basic realm="testregistry"`)
	code := "UNAUTHORIZED"
	if h.status == http.StatusForbidden {
		code = "DENIED"
	}
	testregistry.WriteError(w, h.status, code, "no entry for you")
	return true
}

func TestErrorMapping(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const user, password = "ci-bot", "hunter2-very-secret"
	cases := []struct {
		name     string
		status   int
		call     func(b *Backend) error
		sentinel error
		need     string
	}{{
		name: "401 on tag list", status: http.StatusUnauthorized,
		call:     func(b *Backend) error { _, err := b.TagNames(ctx, "app"); return err },
		sentinel: registry.ErrUnauthorized, need: `pull on repository "app"`,
	}, {
		name: "401 on catalog", status: http.StatusUnauthorized,
		call:     func(b *Backend) error { _, err := b.Repositories(ctx); return err },
		sentinel: registry.ErrUnauthorized, need: "catalog",
	}, {
		name: "401 on manifest", status: http.StatusUnauthorized,
		call:     func(b *Backend) error { _, err := b.Manifest(ctx, "app", "v1"); return err },
		sentinel: registry.ErrUnauthorized, need: `pull on repository "app"`,
	}, {
		name: "403 on tag list", status: http.StatusForbidden,
		call:     func(b *Backend) error { _, err := b.TagNames(ctx, "app"); return err },
		sentinel: registry.ErrDenied, need: `pull on repository "app"`,
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := startDistribution(t, testregistry.Options{DeleteEnabled: true})
			pushImage(t, r.Addr()+"/app:v1", testregistry.ImageSpec{Seed: 1})
			h := &authHook{status: tc.status, users: map[string]bool{}}
			r.SetHook(h.hook)
			b := newBackend(t, r.Addr(), WithCredentials(Credentials{Username: user, Password: password}))
			err := tc.call(b)
			if !errors.Is(err, tc.sentinel) {
				t.Fatalf("err = %v, want %v", err, tc.sentinel)
			}
			var ae *registry.AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v (%T), want a *registry.AuthError", err, err)
			}
			if diff := gocmp.Diff([]any{tc.status, `user "ci-bot" (from the username input)`}, []any{ae.Status, ae.Who}); diff != "" {
				t.Errorf("[status, who] (-want +got):\n%s", diff)
			}
			if !strings.Contains(ae.Need, tc.need) {
				t.Errorf("Need = %q, want it to mention %q", ae.Need, tc.need)
			}
			if !strings.Contains(err.Error(), user) {
				t.Errorf("error %q does not name the user", err)
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("error %q contains the password", err)
			}
			if tc.status == http.StatusUnauthorized && !h.users[user] {
				t.Errorf("the registry never saw basic auth for %q (saw %v)", user, h.users)
			}
		})
	}
}

func TestRateLimitedAgainstRegistry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startDistribution(t, testregistry.Options{DeleteEnabled: true})
	pushImage(t, r.Addr()+"/app:v1", testregistry.ImageSpec{Seed: 1})

	// Two 429s with Retry-After: 0, then the registry answers.
	var mu sync.Mutex
	left := 2
	r.SetHook(func(w http.ResponseWriter, req *http.Request) bool {
		if testregistry.Classify(req.URL.Path) != testregistry.ClassTags {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		if left == 0 {
			return false
		}
		left--
		w.Header().Set("Retry-After", "0")
		testregistry.WriteError(w, http.StatusTooManyRequests, "TOOMANYREQUESTS", "slow down")
		return true
	})
	b := newBackend(t, r.Addr())
	tags, err := b.TagNames(ctx, "app")
	if err != nil {
		t.Fatalf("Tags after two 429s: %v", err)
	}
	if diff := gocmp.Diff([]any{[]string{"v1"}, int64(2)}, []any{tags, b.Stats().RateLimits}); diff != "" {
		t.Errorf("[tags, rate limits] (-want +got):\n%s", diff)
	}

	// Always 429: after the retries, ErrRateLimited.
	r.SetHook(func(w http.ResponseWriter, req *http.Request) bool {
		if testregistry.Classify(req.URL.Path) != testregistry.ClassTags {
			return false
		}
		w.Header().Set("Retry-After", "0")
		testregistry.WriteError(w, http.StatusTooManyRequests, "TOOMANYREQUESTS", "slow down")
		return true
	})
	b = newBackend(t, r.Addr(), WithRateLimitRetries(2, time.Millisecond, time.Millisecond))
	r.ResetRequests()
	_, err = b.TagNames(ctx, "app")
	if !errors.Is(err, registry.ErrRateLimited) {
		t.Errorf("Tags while always rate limited = %v, want ErrRateLimited", err)
	}
	if n := r.Requests().Of(http.MethodGet, testregistry.ClassTags); n != 3 {
		t.Errorf("tag list requests = %d, want 3 (one and two retries)", n)
	}
}

func TestScheme(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startDistribution(t, testregistry.Options{DeleteEnabled: true})
	pushImage(t, r.Addr()+"/app:v1", testregistry.ImageSpec{Seed: 1})

	t.Run("https only against plain HTTP fails, no fallback", func(t *testing.T) {
		b := newBackend(t, r.Addr(), WithScheme(SchemeHTTPS))
		r.ResetRequests()
		if _, err := b.TagNames(ctx, "app"); err == nil {
			t.Fatal("Tags over https against a plain-HTTP registry succeeded")
		}
		if _, err := b.Manifest(ctx, "app", "v1"); err == nil {
			t.Fatal("Manifest over https against a plain-HTTP registry succeeded")
		}
		if err := b.DeleteTag(ctx, "app", "v1"); err == nil {
			t.Fatal("DeleteTag over https against a plain-HTTP registry succeeded")
		}
		if n := r.Requests().Total; n != 0 {
			t.Errorf("plain HTTP requests that reached the registry = %d, want 0", n)
		}
	})
	t.Run("https only with insecure still uses TLS", func(t *testing.T) {
		b := newBackend(t, r.Addr(), WithScheme(SchemeHTTPS), WithInsecure(true))
		r.ResetRequests()
		if _, err := b.TagNames(ctx, "app"); err == nil {
			t.Fatal("Tags over https against a plain-HTTP registry succeeded")
		}
		if n := r.Requests().Total; n != 0 {
			t.Errorf("plain HTTP requests that reached the registry = %d, want 0", n)
		}
	})
	for _, tc := range []struct {
		name string
		opts []Option
	}{
		{name: "auto on loopback", opts: nil},
		{name: "plain HTTP", opts: []Option{WithScheme(SchemeHTTP)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend(t, r.Addr(), tc.opts...)
			tags, err := b.TagNames(ctx, "app")
			if err != nil {
				t.Fatal(err)
			}
			if diff := gocmp.Diff([]string{"v1"}, tags); diff != "" {
				t.Errorf("Tags (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("auto on localhost name", func(t *testing.T) {
		port := r.Addr()[strings.LastIndex(r.Addr(), ":"):]
		b := newBackend(t, "localhost"+port)
		if _, err := b.TagNames(ctx, "app"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCapabilities(t *testing.T) {
	t.Parallel()
	c := newBackend(t, "r.test").Capabilities()
	if !strings.Contains(c.GCHint, "registry garbage-collect") {
		t.Errorf("Capabilities = %+v, want the CNCF registry's GC command", c)
	}
}

// TestRegistry28 runs the delete calls against the CNCF registry 2.8
// (Debian's docker-registry), which answers a DELETE by tag with 400
// DIGEST_INVALID (distribution#3234).
func TestRegistry28(t *testing.T) {
	t.Parallel()
	bin := testregistry.LegacyBinary()
	if bin == "" {
		if os.Getenv("TAGSWEEP_REQUIRE_REGISTRY28") == "1" {
			t.Fatal("TAGSWEEP_REQUIRE_REGISTRY28=1 but no distribution 2.8 binary")
		}
		t.Skip("no distribution 2.8 binary (docker-registry)")
	}
	ctx := context.Background()
	p, err := testregistry.StartLegacy(ctx, bin, testregistry.Options{DeleteEnabled: true, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	repo := p.Addr() + "/app"
	d := pushImage(t, repo+":v1", testregistry.ImageSpec{Seed: 1})
	tagRef(t, repo+":v2", repo+"@"+d)
	other := pushImage(t, repo+":v3", testregistry.ImageSpec{Seed: 2})
	b := newBackend(t, p.Addr())

	ok, err := b.TagDeleteSupported(ctx, "app")
	if err != nil || ok {
		t.Fatalf("TagDeleteSupported on 2.8 = %v, %v; want false, nil", ok, err)
	}
	if err := b.DeleteTag(ctx, "app", "v2"); !errors.Is(err, registry.ErrTagDeleteUnsupported) {
		t.Errorf("DeleteTag on 2.8 = %v, want ErrTagDeleteUnsupported", err)
	}
	if diff := gocmp.Diff([]string{"v1", "v2", "v3"}, listTags(t, repo)); diff != "" {
		t.Errorf("tags after the probe and the refused tag delete (-want +got):\n%s", diff)
	}
	if err := b.DeleteDigest(ctx, "app", other, nil); err != nil {
		t.Fatalf("DeleteDigest on 2.8: %v", err)
	}
	if diff := gocmp.Diff([]string{"v1", "v2"}, listTags(t, repo)); diff != "" {
		t.Errorf("tags after DeleteDigest (-want +got):\n%s", diff)
	}
}

func TestPushPlaceholder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startDistribution(t, testregistry.Options{DeleteEnabled: true})
	shared := pushImage(t, r.Addr()+"/app:keep", testregistry.ImageSpec{Seed: 1, Created: created})
	if err := testregistry.Tag(ctx, r.Addr()+"/app:stale", r.Addr()+"/app:keep"); err != nil {
		t.Fatal(err)
	}
	b := newBackend(t, r.Addr())
	d1, err := b.PushPlaceholder(ctx, "app", "stale")
	if err != nil {
		t.Fatalf("PushPlaceholder: %v", err)
	}
	d2, err := b.PushPlaceholder(ctx, "app", "other")
	if err != nil {
		t.Fatalf("PushPlaceholder: %v", err)
	}
	if d1 == d2 || d1 == shared {
		t.Errorf("placeholders are not unique: %s %s (shared %s)", d1, d2, shared)
	}
	if got, err := b.Resolve(ctx, "app", "stale"); err != nil || got != d1 {
		t.Errorf("stale now points at %s, %v; want the placeholder %s", got, err, d1)
	}
	if got, err := b.Resolve(ctx, "app", "keep"); err != nil || got != shared {
		t.Errorf("keep points at %s, %v; want %s", got, err, shared)
	}
	// TagDigest points a tag back at an existing manifest.
	if err := b.TagDigest(ctx, "app", "other", shared); err != nil {
		t.Fatalf("TagDigest: %v", err)
	}
	if got, err := b.Resolve(ctx, "app", "other"); err != nil || got != shared {
		t.Errorf("other points at %s, %v after TagDigest; want %s", got, err, shared)
	}
	if err := b.TagDigest(ctx, "app", "x", "sha256:"+strings.Repeat("0", 64)); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("TagDigest of a missing manifest = %v, want ErrNotFound", err)
	}
	// Deleting the placeholder takes the tag and leaves the shared image.
	if err := b.DeleteDigest(ctx, "app", d1, []string{"stale"}); err != nil {
		t.Fatal(err)
	}
	tags, err := b.TagNames(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff([]string{"keep", "other"}, tags); diff != "" {
		t.Errorf("tags after deleting the placeholder (-want +got):\n%s", diff)
	}
	m, err := b.Manifest(ctx, "app", d2)
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != image.MediaTypeOCIManifest || len(m.Blobs) != 1 || m.Blobs[0].Size > 200 || !m.Placeholder {
		t.Errorf("placeholder manifest = %+v; want a placeholder: an OCI image with only a small config and no layers", m)
	}
}

// TestManifestPlaceholder: Manifest reports Placeholder for an image
// manifest with the marker annotation and no layers, whoever pushed it,
// and for nothing else: not for an ordinary image, nor for an image with
// layers that carries the marker (it has content, so it is an image).
func TestManifestPlaceholder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startDistribution(t, testregistry.Options{})
	mark := map[string]string{image.AnnotationPlaceholder: image.PlaceholderMarker}
	for _, tc := range []struct {
		tag  string
		spec testregistry.ImageSpec
		want bool
	}{
		{"plain", testregistry.ImageSpec{Seed: 1, Created: created}, false},
		{"marked-with-layers", testregistry.ImageSpec{Seed: 2, Created: created, Annotations: mark}, false},
		{"marked-empty", testregistry.ImageSpec{Layers: -1, Annotations: mark}, true},
		{"other-value", testregistry.ImageSpec{Layers: -1, Annotations: map[string]string{image.AnnotationPlaceholder: "no"}}, false},
	} {
		pushImage(t, r.Addr()+"/app:"+tc.tag, tc.spec)
		m, err := newBackend(t, r.Addr()).Manifest(ctx, "app", tc.tag)
		if err != nil {
			t.Fatal(err)
		}
		if m.Placeholder != tc.want {
			t.Errorf("%s: Placeholder = %v, want %v", tc.tag, m.Placeholder, tc.want)
		}
	}
}

// Listings ask for pages of at most 1000 (ECR refuses more) and follow
// the Link header for the rest.
func TestPageSize(t *testing.T) {
	t.Parallel()
	r := startDistribution(t, testregistry.Options{MaxTags: 2})
	for i, tg := range []string{"a", "b", "c", "d", "e"} {
		pushImage(t, r.Addr()+"/app:"+tg, testregistry.ImageSpec{Seed: int64(i), Created: created})
	}
	var mu sync.Mutex
	var queries []string
	r.SetHook(func(w http.ResponseWriter, req *http.Request) bool {
		if strings.HasSuffix(req.URL.Path, "/tags/list") || strings.HasSuffix(req.URL.Path, "/_catalog") {
			mu.Lock()
			queries = append(queries, req.URL.Path+"?"+req.URL.RawQuery)
			mu.Unlock()
		}
		return false
	})
	b := newBackend(t, r.Addr())
	tags, err := b.TagNames(context.Background(), "app")
	if err != nil || len(tags) != 5 {
		t.Fatalf("TagNames = %v, %v", tags, err)
	}
	if _, err := b.Repositories(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(queries) < 4 || queries[0] != "/v2/app/tags/list?n=1000" {
		t.Fatalf("listing requests %v: want n=1000 first, then the Link pages", queries)
	}
	if !slices.Contains(queries, "/v2/_catalog?n=1000") {
		t.Errorf("catalog requests in %v: want n=1000", queries)
	}
}

// A pagination Link to another host is refused: the credentials never go
// there and the listing fails instead of mixing in another registry.
func TestPaginationLinkToAnotherHost(t *testing.T) {
	t.Parallel()
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		elsewhere.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"name":"app","tags":["stolen"]}`)
	}))
	defer other.Close()
	r := startDistribution(t, testregistry.Options{})
	pushImage(t, r.Addr()+"/app:v1", testregistry.ImageSpec{Seed: 1})
	r.SetHook(func(w http.ResponseWriter, req *http.Request) bool {
		if !strings.HasSuffix(req.URL.Path, "/tags/list") && !strings.HasSuffix(req.URL.Path, "/_catalog") {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Link", "<"+other.URL+req.URL.Path+"?last=v1>; rel=\"next\"")
		fmt.Fprint(w, `{"name":"app","tags":["v1"],"repositories":["app"]}`)
		return true
	})
	b := newBackend(t, r.Addr(), WithCredentials(Credentials{Username: "u", Password: "secret-password"}))
	if tags, err := b.TagNames(context.Background(), "app"); err == nil {
		t.Errorf("TagNames followed a link to another host: %v", tags)
	}
	if repos, err := b.Repositories(context.Background()); err == nil {
		t.Errorf("Repositories followed a link to another host: %v", repos)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("%d requests went to the other host", n)
	}
}

// The registry deletes, then the answer is lost (the connection closes):
// the backend finds the manifest gone and reports success; a tag still
// there after a lost answer is not deleted blindly.
func TestDeleteAnswerLost(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startDistribution(t, testregistry.Options{DeleteEnabled: true})
	d := pushImage(t, r.Addr()+"/app:old", testregistry.ImageSpec{Seed: 1})
	pushImage(t, r.Addr()+"/app:other", testregistry.ImageSpec{Seed: 2})
	var deletes atomic.Int32
	execute := atomic.Bool{}
	execute.Store(true)
	r.SetHook(func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method != http.MethodDelete || req.Header.Get("X-Through") != "" {
			return false
		}
		deletes.Add(1)
		if execute.Load() {
			fwd, _ := http.NewRequest(http.MethodDelete, "http://"+r.Addr()+req.URL.Path, nil)
			fwd.Header.Set("X-Through", "1")
			if resp, err := http.DefaultClient.Do(fwd); err == nil {
				resp.Body.Close()
			}
		}
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close() // the answer is lost
		}
		return true
	})
	b := newBackend(t, r.Addr())
	if err := b.DeleteDigest(ctx, "app", d, nil); err != nil {
		t.Errorf("DeleteDigest with a lost answer = %v, want success (the manifest is gone)", err)
	}
	if ok, _ := b.Exists(ctx, "app", d); ok {
		t.Error("the manifest still exists")
	}
	// The DELETE never reaches the registry: a digest is sent again (and
	// fails again here), a tag is not.
	execute.Store(false)
	before := deletes.Load()
	err := b.DeleteTag(ctx, "app", "other")
	if err == nil || !strings.Contains(err.Error(), "the answer was lost; other is still there") {
		t.Errorf("DeleteTag with a lost request = %v", err)
	}
	if n := deletes.Load() - before; n != 1 {
		t.Errorf("tag DELETE sent %d times, want once", n)
	}
	before = deletes.Load()
	d2, _ := b.Resolve(ctx, "app", "other")
	if err := b.DeleteDigest(ctx, "app", d2, nil); err == nil {
		t.Error("DeleteDigest that never reached the registry succeeded")
	}
	if n := deletes.Load() - before; n != 3 {
		t.Errorf("digest DELETE sent %d times, want 3", n)
	}
}

// A registry whose catalog.maxentries is below the page size asked for
// refuses n=1000 with 400 PAGINATION_NUMBER_INVALID; the catalog is asked
// again without n and followed page by page through the Link header.
func TestCatalogPageSizeRefused(t *testing.T) {
	t.Parallel()
	r := startDistribution(t, testregistry.Options{CatalogEntries: 2})
	addr := r.Addr()
	want := []string{"a", "b", "c", "team/d", "team/e"}
	for i, repo := range want {
		pushImage(t, addr+"/"+repo+":v1", testregistry.ImageSpec{Seed: int64(i + 1)})
	}
	r.ResetRequests()
	repos, err := newBackend(t, addr).Repositories(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff(want, repos, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("Repositories (-want +got):\n%s", diff)
	}
	// The refused n=1000, then 3 pages of 2.
	if n := r.Requests().Of(http.MethodGet, testregistry.ClassCatalog); n != 4 {
		t.Errorf("catalog requests = %d, want 4 (one refused, 3 pages)", n)
	}
}

// TestArtifactAge: an image is dated by its config's created; an artifact,
// a manifest whose config has no created (a Helm chart, an SBOM pushed
// with oras), by its org.opencontainers.image.created annotation (contract
// rule 1). Configs that are no image config are not fetched.
func TestArtifactAge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startDistribution(t, testregistry.Options{DeleteEnabled: true})
	repo := r.Addr() + "/art"
	annotated := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	ann := func(v string) map[string]string { return map[string]string{image.AnnotationCreated: v} }
	// An image config without created, as some builders write it.
	noCreated := func(seed int64, a map[string]string) testregistry.ArtifactSpec {
		return testregistry.ArtifactSpec{ConfigMediaType: image.MediaTypeOCIConfig,
			Config:         []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`),
			LayerMediaType: "application/vnd.oci.image.layer.v1.tar+gzip", Seed: seed, Annotations: a}
	}
	cases := []struct {
		name         string
		push         func(ref string) error
		wantCreated  time.Time
		artifactType string
		configGETs   int // blob GETs of the config
	}{
		{"Helm chart: the annotation", func(ref string) error {
			_, err := testregistry.PushArtifact(ctx, ref, testregistry.HelmChart("web", "1.2.3", annotated))
			return err
		}, annotated, testregistry.MediaTypeHelmConfig, 0},
		{"oras SBOM: the annotation", func(ref string) error {
			_, err := testregistry.PushArtifact(ctx, ref, testregistry.SBOM(annotated, 1))
			return err
		}, annotated, testregistry.MediaTypeSPDXJSON, 0},
		{"artifact without the annotation: unknown", func(ref string) error {
			_, err := testregistry.PushArtifact(ctx, ref, testregistry.SBOM(time.Time{}, 2))
			return err
		}, time.Time{}, testregistry.MediaTypeSPDXJSON, 0},
		{"artifact with an annotation that is no time: unknown", func(ref string) error {
			s := testregistry.SBOM(time.Time{}, 3)
			s.Annotations = ann("yesterday")
			_, err := testregistry.PushArtifact(ctx, ref, s)
			return err
		}, time.Time{}, testregistry.MediaTypeSPDXJSON, 0},
		{"image config without created: the annotation", func(ref string) error {
			_, err := testregistry.PushArtifact(ctx, ref, noCreated(4, ann("2025-03-04T05:06:07Z")))
			return err
		}, annotated, "", 1},
		{"image with created and an annotation: the config", func(ref string) error {
			_, err := testregistry.PushImage(ctx, ref, testregistry.ImageSpec{Created: created, Seed: 5, Annotations: ann("2025-03-04T05:06:07Z")})
			return err
		}, created, "", 1},
	}
	for i, tc := range cases {
		tag := fmt.Sprintf("t%d", i)
		if err := tc.push(repo + ":" + tag); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend(t, r.Addr()) // its own config cache
			r.ResetRequests()
			got, err := b.Manifest(ctx, "art", fmt.Sprintf("t%d", i))
			if err != nil {
				t.Fatal(err)
			}
			if !got.Created.Equal(tc.wantCreated) || got.ArtifactType != tc.artifactType {
				t.Errorf("created %v, artifact type %q; want %v, %q", got.Created, got.ArtifactType, tc.wantCreated, tc.artifactType)
			}
			if n := r.Requests().Of(http.MethodGet, testregistry.ClassBlob); n != tc.configGETs {
				t.Errorf("%d config GETs, want %d", n, tc.configGETs)
			}
		})
	}

	// Two manifests sharing a config without created: each has its own
	// annotation, though the config is read once.
	t.Run("shared config, own annotations", func(t *testing.T) {
		later := annotated.Add(48 * time.Hour)
		for tag, when := range map[string]time.Time{"a": annotated, "b": later} {
			s := noCreated(9, ann(when.Format(time.RFC3339)))
			if _, err := testregistry.PushArtifact(ctx, repo+":"+tag, s); err != nil {
				t.Fatal(err)
			}
		}
		b := newBackend(t, r.Addr())
		r.ResetRequests()
		for tag, want := range map[string]time.Time{"a": annotated, "b": later} {
			got, err := b.Manifest(ctx, "art", tag)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Created.Equal(want) {
				t.Errorf("%s: created %v, want %v", tag, got.Created, want)
			}
		}
		if n := r.Requests().Of(http.MethodGet, testregistry.ClassBlob); n != 1 {
			t.Errorf("%d config GETs, want 1", n)
		}
	})
}

// WithSecrets: the backend's set learns the Basic credentials it sends to
// the token endpoint and the bearer token it receives, before an error that
// echoes them reaches the caller, so the caller can redact that error.
func TestSecretsLearned(t *testing.T) {
	t.Parallel()
	const user, password, token = "ci-bot", "hunter2-very-secret", "bearer-from-token-endpoint-42"
	r := startDistribution(t, testregistry.Options{})
	echo := testregistry.EchoRequests(http.StatusBadRequest, func(req *http.Request) bool { return true })
	var mu sync.Mutex
	var tokenRequest string // what a proxy would echo of the token request
	r.SetHook(func(w http.ResponseWriter, req *http.Request) bool {
		if req.URL.Path == "/token" {
			mu.Lock()
			tokenRequest = testregistry.Echo(req)
			mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"token":%q}`, token)
			return true
		}
		if req.Header.Get("Authorization") != "Bearer "+token {
			w.Header().Set("WWW-Authenticate", `Bearer realm="http://`+req.Host+`/token",service="t"`)
			testregistry.WriteError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
			return true
		}
		return echo(w, req)
	})
	set := redact.NewSet()
	b := newBackend(t, r.Addr(), WithCredentials(Credentials{Username: user, Password: password}), WithSecrets(set))
	_, err := b.TagNames(context.Background(), "app")
	if err == nil {
		t.Fatal("no error from a registry answering 400")
	}
	mu.Lock()
	echoed := err.Error() + "\n" + tokenRequest
	mu.Unlock()
	for _, s := range []string{token, base64.StdEncoding.EncodeToString([]byte(user + ":" + password)), password} {
		if !strings.Contains(echoed, s) {
			t.Errorf("the echoes do not hold %q: the test proves nothing", s)
		}
		if got := set.String(echoed); strings.Contains(got, s) {
			t.Errorf("redacted text still holds %q:\n%s", s, got)
		}
	}
}
