package ghcr

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/ghcr/ghcrtest"
	"github.com/tagsweep/tagsweep/internal/registry/image"
	"github.com/tagsweep/tagsweep/internal/registry/oci"
	"github.com/tagsweep/tagsweep/internal/registry/restapi"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

const token = "ghp_s3cr3tTok3nValue0123456789"

type anonymous struct{}

func (anonymous) Resolve(authn.Resource) (authn.Authenticator, error) { return authn.Anonymous, nil }

// clock is a fake clock that sleeping advances; the backend's REST client
// and the replica share it, so rate-limit waits are recorded, not waited.
type clock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.t = c.t.Add(d)
	return ctx.Err()
}

func (c *clock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

type env struct {
	reg   *testregistry.Registry
	api   *ghcrtest.Server
	b     *Backend
	clock *clock
}

type setup struct {
	replica      ghcrtest.Options
	owners       []string
	token        string
	actionsOwner string
}

func start(t *testing.T, s setup) *env {
	t.Helper()
	r, err := testregistry.New(context.Background(), testregistry.Options{DeleteEnabled: true, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	c := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	tok := s.token
	if tok == "" {
		tok = token
	}
	o := s.replica
	// The replica accepts the token given to it, else the one the
	// backend sends (TestUnauthorized sends another).
	o.Registry, o.Now = r, c.Now
	if o.Token == "" {
		o.Token = tok
	}
	api, err := ghcrtest.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(api.Close)
	ob, err := oci.New(r.Addr(), oci.WithKeychain(anonymous{}))
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Options{Registry: ob, API: api.APIURL(), Token: tok, Owners: s.owners, UserAgent: "tagsweep-test", TokenSource: "the password input",
		ActionsOwner: s.actionsOwner})
	if err != nil {
		t.Fatal(err)
	}
	b.api.Sleep, b.api.Now = c.Sleep, c.Now
	b.sleep = c.Sleep
	return &env{reg: r, api: api, b: b, clock: c}
}

func (e *env) push(t *testing.T, ref string, seed int64) string {
	t.Helper()
	h, err := testregistry.PushImage(context.Background(), e.reg.Addr()+"/"+ref, testregistry.ImageSpec{Seed: seed, Layers: -1,
		Created: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(seed) * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func (e *env) tag(t *testing.T, ref, src string) {
	t.Helper()
	if err := testregistry.Tag(context.Background(), e.reg.Addr()+"/"+ref, e.reg.Addr()+"/"+src); err != nil {
		t.Fatal(err)
	}
}

// variant PUTs a copy of the image manifest base with an annotation under
// tag (a distinct digest, no new blob) and returns its digest.
func (e *env) variant(t *testing.T, repo, base, tag string) string {
	t.Helper()
	get := func(method, ref string, body []byte) *http.Response {
		req, err := http.NewRequest(method, "http://"+e.reg.Addr()+"/v2/"+repo+"/manifests/"+ref, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", image.MediaTypeOCIManifest)
		req.Header.Set("Content-Type", image.MediaTypeOCIManifest)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := get(http.MethodGet, base, nil)
	var m map[string]any
	err := json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	m["annotations"] = map[string]string{"variant": tag}
	raw, _ := json.Marshal(m)
	resp = get(http.MethodPut, tag, raw)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT %s:%s: %s", repo, tag, resp.Status)
	}
	sum := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// multiarch pushes a two-platform index with a buildx-style attestation
// manifest of its amd64 image; children are the three digests it lists.
func (e *env) multiarch(t *testing.T, ref string, seed int64) (index string, children []string) {
	t.Helper()
	var adds []mutate.IndexAddendum
	for i, p := range []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}} {
		img, err := testregistry.BuildImage(testregistry.ImageSpec{Seed: seed*10 + int64(i), Platform: &p})
		if err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		children = append(children, d.String())
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	att, err := testregistry.BuildImage(testregistry.ImageSpec{Seed: seed*10 + 9})
	if err != nil {
		t.Fatal(err)
	}
	ad, _ := att.Digest()
	children = append(children, ad.String())
	adds = append(adds, mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"},
		Annotations: map[string]string{image.AnnotationReferenceType: image.ReferenceTypeAttestation, image.AnnotationReferenceDigest: children[0]}}})
	h, err := testregistry.PushIndex(context.Background(), e.reg.Addr()+"/"+ref, testregistry.IndexSpec{Addenda: adds})
	if err != nil {
		t.Fatal(err)
	}
	return h.String(), children
}

func (e *env) requests() []string {
	var out []string
	for _, r := range e.api.Requests() {
		out = append(out, fmt.Sprintf("%s %d", r, r.Status))
	}
	return out
}

// checkAuth: every API request carried the bearer token.
func (e *env) checkAuth(t *testing.T) {
	t.Helper()
	for _, r := range e.api.Requests() {
		if r.Auth != "Bearer" {
			t.Errorf("%s: Authorization scheme %q, want Bearer", r, r.Auth)
		}
	}
}

func (e *env) ids(t *testing.T, repo string) map[string]int64 {
	t.Helper()
	vs, err := e.api.Versions(repo)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, v := range vs {
		out[v.Digest] = v.ID
	}
	return out
}

func noToken(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), token) {
		t.Errorf("the error shows the token: %v", err)
	}
}

func listTags(t *testing.T, e *env, repo string) []string {
	t.Helper()
	tags, err := testregistry.ListTags(context.Background(), e.reg.Addr()+"/"+repo)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(tags)
	return tags
}

// TestRepositories: user and organization owners are told apart once, the
// packages of each are listed from the right endpoint, names lower-cased
// and with '/' kept.
func TestRepositories(t *testing.T) {
	t.Parallel()
	e := start(t, setup{replica: ghcrtest.Options{Orgs: []string{"acme"}}, owners: []string{"Octo", "acme", "octo"}})
	e.push(t, "octo/app:v1", 1)
	e.push(t, "octo/tools/builder:v1", 2)
	e.push(t, "acme/api:v1", 3)
	e.push(t, "acme/web:v1", 4)
	e.push(t, "stranger/x:v1", 5)
	ctx := context.Background()
	got, err := e.b.Repositories(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff([]string{"acme/api", "acme/web", "octo/app", "octo/tools/builder"}, got); diff != "" {
		t.Errorf("Repositories (-want +got):\n%s", diff)
	}
	if _, err := e.b.Repositories(ctx); err != nil { // the kinds are known now
		t.Fatal(err)
	}
	// octo is the token's own user: its packages go through /user, which
	// serves private ones too.
	want := []string{
		"GET /users/octo 200",
		"GET /user 200",
		"GET /user/packages?package_type=container&per_page=100 200",
		"GET /users/acme 200",
		"GET /orgs/acme/packages?package_type=container&per_page=100 200",
		"GET /user/packages?package_type=container&per_page=100 200",
		"GET /orgs/acme/packages?package_type=container&per_page=100 200",
	}
	if diff := gocmp.Diff(want, e.requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	e.checkAuth(t)

	// Tags of an org package go to /orgs/, of a nested package of the token's user to /user/ with %2F.
	e.api.ResetRequests()
	if _, err := e.b.Tags(ctx, "acme/api"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.b.Tags(ctx, "octo/tools/builder"); err != nil {
		t.Fatal(err)
	}
	want = []string{
		"GET /orgs/acme/packages/container/api/versions?per_page=100&state=active 200",
		"GET /user/packages/container/tools%2Fbuilder/versions?per_page=100&state=active 200",
	}
	if diff := gocmp.Diff(want, e.requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}

	b2, err := New(Options{Registry: e.b.Backend, API: e.api.APIURL(), Token: token})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b2.Repositories(ctx); err == nil || !strings.Contains(err.Error(), "OWNER/") {
		t.Errorf("no owners: %v", err)
	}
}

// TestOwnerLookupNotServed: where GET /users/{owner} is not served (a
// replica of the packages API alone, a proxy), the packages are found by
// trying /orgs, /user (the token's own user) and /users in turn, once per
// owner: an organization's, the token's user's private ones and another
// user's public ones are listed, tagged and deleted.
func TestOwnerLookupNotServed(t *testing.T) {
	t.Parallel()
	e := start(t, setup{replica: ghcrtest.Options{Orgs: []string{"acme"}, NoUsersEndpoint: true}, owners: []string{"acme", "octo"}})
	e.push(t, "octo/app:v1", 1)
	e.push(t, "acme/api:v1", 2)
	e.push(t, "acme/api:v2", 3)
	ctx := context.Background()
	got, err := e.b.Repositories(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff([]string{"acme/api", "octo/app"}, got); diff != "" {
		t.Errorf("Repositories (-want +got):\n%s", diff)
	}
	tags, err := e.b.Tags(ctx, "acme/api")
	if err != nil || len(tags) != 2 {
		t.Fatalf("Tags(acme/api) = %v, %v", tags, err)
	}
	if tags, err := e.b.Tags(ctx, "octo/app"); err != nil || len(tags) != 1 {
		t.Fatalf("Tags(octo/app) = %v, %v", tags, err)
	}
	if err := e.b.DeleteTag(ctx, "acme/api", "v1"); err != nil {
		t.Fatal(err)
	}
	if got := listTags(t, e, "acme/api"); !gocmp.Equal(got, []string{"v2"}) {
		t.Errorf("acme/api tags after the delete: %v", got)
	}
	probes := 0
	for _, r := range e.requests() {
		if strings.Contains(r, "per_page=1 ") {
			probes++
		}
	}
	// acme: /orgs answers; octo: /orgs 404, /user answers. Once per owner.
	if probes != 3 {
		t.Errorf("%d probes, want 3 (one owner lookup each, remembered):\n%s", probes, strings.Join(e.requests(), "\n"))
	}
}

// TestTags: more than 100 versions over two pages of a package whose name
// has a '/', one tag per version tag, digests and push times from the
// listing; untagged versions give no tag.
func TestTags(t *testing.T) {
	t.Parallel()
	e := start(t, setup{})
	ctx := context.Background()
	want := map[string]image.Tag{}
	pushed := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	// 105 images sharing one config, made distinct by an annotation: one PUT each.
	base := e.push(t, "octo/tools/builder:base", 1)
	digests := make([]string, 105)
	for i := range digests {
		digests[i] = e.variant(t, "octo/tools/builder", base, fmt.Sprintf("build-%03d", i))
	}
	e.api.SetTimes("octo/tools/builder", base, pushed.Add(-time.Hour), pushed.Add(-time.Hour))
	want["base"] = image.Tag{Name: "base", Digest: base, Pushed: pushed.Add(-time.Hour)}
	for i, d := range digests {
		tag := fmt.Sprintf("build-%03d", i)
		created, updated := pushed.Add(time.Duration(i)*time.Hour), pushed.Add(time.Duration(i)*time.Hour+time.Minute)
		e.api.SetTimes("octo/tools/builder", d, created, updated)
		want[tag] = image.Tag{Name: tag, Digest: d, Pushed: updated}
	}
	e.tag(t, "octo/tools/builder:latest", "octo/tools/builder:build-104")
	want["latest"] = image.Tag{Name: "latest", Digest: want["build-104"].Digest, Pushed: want["build-104"].Pushed}
	idx, kids := e.multiarch(t, "octo/tools/builder:multi", 500)
	e.api.SetTimes("octo/tools/builder", idx, pushed, time.Time{}) // updated_at "0001-01-01": not a time → created_at
	want["multi"] = image.Tag{Name: "multi", Digest: idx, Pushed: pushed}

	got, err := e.b.Tags(ctx, "octo/tools/builder")
	if err != nil {
		t.Fatal(err)
	}
	gotMap := map[string]image.Tag{}
	for _, tg := range got {
		if _, dup := gotMap[tg.Name]; dup {
			t.Errorf("tag %s listed twice", tg.Name)
		}
		gotMap[tg.Name] = tg
	}
	if diff := gocmp.Diff(want, gotMap); diff != "" {
		t.Errorf("Tags (-want +got):\n%s", diff)
	}
	reqs := e.requests()
	wantReqs := []string{
		"GET /users/octo 200",
		"GET /user 200",
		"GET /user/packages/container/tools%2Fbuilder/versions?per_page=100&state=active 200",
		"GET /user/packages/container/tools%2Fbuilder/versions?page=2&per_page=100&state=active 200",
	}
	if diff := gocmp.Diff(wantReqs, reqs); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	// The untagged children are known versions: deleting one needs no listing.
	ids := e.ids(t, "octo/tools/builder")
	e.api.ResetRequests()
	if err := e.b.DeleteDigest(ctx, "octo/tools/builder", kids[1], nil); err != nil {
		t.Fatal(err)
	}
	wantReqs = []string{fmt.Sprintf("DELETE /user/packages/container/tools%%2Fbuilder/versions/%d 204", ids[kids[1]])}
	if diff := gocmp.Diff(wantReqs, e.requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	e.checkAuth(t)
}

// TestPushedFallsBackToCreated: a version without updated_at is pushed at created_at.
func TestPushedFallsBackToCreated(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/users/o":
			fmt.Fprint(w, `{"login":"o","type":"User"}`)
		case "/users/o/packages/container/p/versions":
			fmt.Fprint(w, `[{"id":1,"name":"sha256:aa","created_at":"2025-01-02T03:04:05Z","metadata":{"package_type":"container","container":{"tags":["a","b"]}}},
			{"id":2,"name":"sha256:bb","created_at":"2025-01-01T00:00:00Z","updated_at":"2025-02-01T00:00:00Z","metadata":{"package_type":"container","container":{"tags":["c"]}}}]`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	ob, err := oci.New("127.0.0.1:1", oci.WithKeychain(anonymous{}))
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Options{Registry: ob, API: u, Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.Tags(context.Background(), "o/p")
	if err != nil {
		t.Fatal(err)
	}
	c, up := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
	want := []image.Tag{{Name: "a", Digest: "sha256:aa", Pushed: c}, {Name: "b", Digest: "sha256:aa", Pushed: c}, {Name: "c", Digest: "sha256:bb", Pushed: up}}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("Tags (-want +got):\n%s", diff)
	}
}

// TestDeleteDigestIndexAndChildren: an index version and then its
// children's versions are deleted through the API, each once; the
// registry loses exactly those manifests and the kept image still pulls.
func TestDeleteDigestIndexAndChildren(t *testing.T) {
	t.Parallel()
	e := start(t, setup{replica: ghcrtest.Options{Orgs: []string{"acme"}}})
	ctx := context.Background()
	idx, kids := e.multiarch(t, "acme/app:old", 1)
	keep := e.push(t, "acme/app:new", 2)
	if _, err := e.b.Tags(ctx, "acme/app"); err != nil {
		t.Fatal(err)
	}
	ids := e.ids(t, "acme/app")
	if len(ids) != 5 {
		t.Fatalf("versions %v, want the index, 2 platform images, the attestation and new", ids)
	}
	e.api.ResetRequests()
	for _, d := range append([]string{idx}, kids...) {
		if err := e.b.DeleteDigest(ctx, "acme/app", d, nil); err != nil {
			t.Fatalf("DeleteDigest %s: %v", d, err)
		}
	}
	var want []string
	for _, d := range append([]string{idx}, kids...) {
		want = append(want, fmt.Sprintf("DELETE /orgs/acme/packages/container/app/versions/%d 204", ids[d]))
	}
	if diff := gocmp.Diff(want, e.requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	var deleted []string
	for _, d := range append([]string{idx}, kids...) {
		deleted = append(deleted, "acme/app@"+d)
		if ok, err := testregistry.Exists(ctx, e.reg.Addr()+"/acme/app@"+d); err != nil || ok {
			t.Errorf("%s still in the registry (%v)", d, err)
		}
	}
	if diff := gocmp.Diff(deleted, e.api.Deleted()); diff != "" {
		t.Errorf("deleted versions (-want +got):\n%s", diff)
	}
	if diff := gocmp.Diff([]string{"new"}, listTags(t, e, "acme/app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	if err := testregistry.VerifyPull(ctx, e.reg.Addr()+"/acme/app:new"); err != nil {
		t.Errorf("kept image does not pull: %v", err)
	}
	if d, _ := e.b.Resolve(ctx, "acme/app", "new"); d != keep {
		t.Errorf("new resolves to %s, want %s", d, keep)
	}

	// A digest that is no version (any more): one listing, no DELETE, ErrNotFound.
	e.api.ResetRequests()
	err := e.b.DeleteDigest(ctx, "acme/app", idx, nil)
	if !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("deleting a gone digest: %v, want ErrNotFound", err)
	}
	want = []string{"GET /orgs/acme/packages/container/app/versions?per_page=100&state=active 200"}
	if diff := gocmp.Diff(want, e.requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	e.checkAuth(t)
}

// TestDeleteDigestAlreadyGone: a version another client deleted after our
// listing answers 404 "Package version not found.": gone (ErrNotFound),
// without another request. "Package not found." to a version still listed
// is the missing permission (TestDeletePermissionMissing).
func TestDeleteDigestAlreadyGone(t *testing.T) {
	t.Parallel()
	e := start(t, setup{})
	ctx := context.Background()
	d := e.push(t, "octo/app:old", 1)
	e.push(t, "octo/app:new", 2)
	if _, err := e.b.Tags(ctx, "octo/app"); err != nil {
		t.Fatal(err)
	}
	id := e.ids(t, "octo/app")[d]
	req, _ := http.NewRequest(http.MethodDelete, fmt.Sprintf("%s/user/packages/container/app/versions/%d", e.api.URL(), id), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("the other client's delete: %v %v", resp, err)
	}
	resp.Body.Close()
	e.api.ResetRequests()
	err = e.b.DeleteDigest(ctx, "octo/app", d, []string{"old"})
	if !errors.Is(err, registry.ErrNotFound) || errors.Is(err, registry.ErrDenied) || !strings.Contains(err.Error(), "Package version not found.") {
		t.Errorf("DeleteDigest of a gone version: %v, want ErrNotFound naming GitHub's answer", err)
	}
	want := []string{fmt.Sprintf("DELETE /user/packages/container/app/versions/%d 404", id)}
	if diff := gocmp.Diff(want, e.requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

// TestDeleteTagSharedDigest: a stale tag sharing its digest with a kept
// tag is moved onto a placeholder whose version is then deleted: the kept
// tag still resolves to the same digest and pulls, the stale tag and the
// placeholder are gone, and the shared version was never deleted.
func TestDeleteTagSharedDigest(t *testing.T) {
	t.Parallel()
	e := start(t, setup{})
	ctx := context.Background()
	shared := e.push(t, "octo/app:stable", 1)
	e.tag(t, "octo/app:old", "octo/app:stable")
	e.push(t, "octo/app:new", 2)
	if _, err := e.b.Tags(ctx, "octo/app"); err != nil {
		t.Fatal(err)
	}
	before := e.ids(t, "octo/app")
	e.api.ResetRequests()
	e.reg.ResetRequests()

	if ok, err := e.b.TagDeleteSupported(ctx, "octo/app"); !ok || err != nil {
		t.Fatalf("TagDeleteSupported = %v, %v", ok, err)
	}
	if n := len(e.api.Requests()) + e.reg.Requests().Total; n != 0 {
		t.Errorf("TagDeleteSupported sent %d requests", n)
	}
	if err := e.b.DeleteTag(ctx, "octo/app", "old"); err != nil {
		t.Fatalf("DeleteTag: %v", err)
	}
	if diff := gocmp.Diff([]string{"new", "stable"}, listTags(t, e, "octo/app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	if d, err := e.b.Resolve(ctx, "octo/app", "stable"); err != nil || d != shared {
		t.Errorf("stable resolves to %s (%v), want %s", d, err, shared)
	}
	if err := testregistry.VerifyPull(ctx, e.reg.Addr()+"/octo/app:stable"); err != nil {
		t.Errorf("stable does not pull: %v", err)
	}
	deleted := e.api.Deleted()
	if len(deleted) != 1 || deleted[0] == "octo/app@"+shared {
		t.Fatalf("deleted versions %v, want only the placeholder", deleted)
	}
	placeholder := strings.TrimPrefix(deleted[0], "octo/app@")
	if ok, _ := testregistry.Exists(ctx, e.reg.Addr()+"/octo/app@"+placeholder); ok {
		t.Errorf("the placeholder %s is still in the registry", placeholder)
	}
	after := e.ids(t, "octo/app")
	if diff := gocmp.Diff(before, after); diff != "" {
		t.Errorf("versions changed (-before +after):\n%s", diff)
	}
	// Exactly: one listing that finds the placeholder, one DELETE of its version.
	reqs := e.requests()
	if len(reqs) != 2 || reqs[0] != "GET /user/packages/container/app/versions?per_page=100&state=active 200" ||
		!strings.HasPrefix(reqs[1], "DELETE /user/packages/container/app/versions/") || !strings.HasSuffix(reqs[1], " 204") {
		t.Errorf("requests %v", reqs)
	}
	// The registry saw only the placeholder push and the replica's delete of it.
	if got := e.reg.Deletes(); len(got) != 1 || !strings.HasSuffix(got[0], placeholder) {
		t.Errorf("registry deletes %v", got)
	}
	e.checkAuth(t)
}

// TestDeleteTagListingLags: the placeholder shows up in the listing late;
// DeleteTag lists again until it does.
func TestDeleteTagListingLags(t *testing.T) {
	t.Parallel()
	e := start(t, setup{})
	ctx := context.Background()
	e.push(t, "octo/app:stable", 1)
	e.tag(t, "octo/app:old", "octo/app:stable")
	e.api.DelayNewVersions(2)
	if err := e.b.DeleteTag(ctx, "octo/app", "old"); err != nil {
		t.Fatalf("DeleteTag: %v", err)
	}
	if diff := gocmp.Diff([]string{"stable"}, listTags(t, e, "octo/app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	var gets int
	for _, r := range e.api.Requests() {
		if r.Method == http.MethodGet && strings.HasSuffix(r.Path, "/versions") {
			gets++
		}
	}
	if gets != 3 || len(e.clock.Sleeps()) != 2 {
		t.Errorf("%d listings and sleeps %v; want 3 listings, 2 waits", gets, e.clock.Sleeps())
	}

	// A listing that never shows it: an error naming the placeholder, not ErrNotFound.
	e.tag(t, "octo/app:old2", "octo/app:stable")
	e.api.DelayNewVersions(100)
	err := e.b.DeleteTag(ctx, "octo/app", "old2")
	if err == nil || errors.Is(err, registry.ErrNotFound) || !strings.Contains(err.Error(), "placeholder") {
		t.Errorf("DeleteTag with a listing that never catches up: %v", err)
	}
}

// TestDeletePermissionMissing: a token without delete permission gets 404
// on DELETE. That is an error naming the permission (and the scopes the
// token has), never success; nothing is deleted, and the next deletes in
// the package fail without a request.
func TestDeletePermissionMissing(t *testing.T) {
	t.Parallel()
	e := start(t, setup{replica: ghcrtest.Options{Orgs: []string{"acme"}}})
	ctx := context.Background()
	old := e.push(t, "acme/app:old", 1)
	e.push(t, "acme/app:new", 2)
	e.tag(t, "acme/app:stale", "acme/app:new")
	if _, err := e.b.Tags(ctx, "acme/app"); err != nil {
		t.Fatal(err)
	}
	id := e.ids(t, "acme/app")[old]
	e.api.DenyDeletes("read:packages, write:packages")
	e.api.ResetRequests()

	err := e.b.DeleteDigest(ctx, "acme/app", old, []string{"old"})
	if err == nil || errors.Is(err, registry.ErrNotFound) || !errors.Is(err, registry.ErrDenied) {
		t.Fatalf("DeleteDigest without permission: %v; want ErrDenied, not ErrNotFound", err)
	}
	for _, want := range []string{"delete:packages", "read:packages, write:packages", "permissions: packages: write", "Admin access", "the password input", "404"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	noToken(t, err)
	want := []string{
		fmt.Sprintf("DELETE /orgs/acme/packages/container/app/versions/%d 404", id),
		"GET /orgs/acme/packages/container/app/versions?per_page=100&state=active 200",
	}
	if diff := gocmp.Diff(want, e.requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	e.api.ResetRequests()
	e.reg.ResetRequests()
	if err2 := e.b.DeleteDigest(ctx, "acme/app", old, nil); !errors.Is(err2, registry.ErrDenied) {
		t.Errorf("second delete: %v", err2)
	}
	if err2 := e.b.DeleteTag(ctx, "acme/app", "stale"); !errors.Is(err2, registry.ErrDenied) {
		t.Errorf("tag delete after the refusal: %v", err2)
	}
	if n := len(e.api.Requests()) + e.reg.Requests().Total; n != 0 {
		t.Errorf("%d requests after the refusal was known: %v", n, e.requests())
	}
	if len(e.api.Deleted()) != 0 {
		t.Errorf("deleted %v", e.api.Deleted())
	}
	if diff := gocmp.Diff([]string{"new", "old", "stale"}, listTags(t, e, "acme/app")); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}

	// Without X-OAuth-Scopes (a GITHUB_TOKEN), the message says so.
	pe := &permissionError{op: "delete", who: "the GitHub token (from GITHUB_TOKEN)", status: 404, message: "Package not found."}
	if !strings.Contains(pe.Error(), "did not list its scopes") || !strings.Contains(pe.Error(), "GITHUB_TOKEN") {
		t.Errorf("message without scopes: %v", pe)
	}
}

// TestDeleteTagScopesLackDelete: a classic token whose scopes lack
// delete:packages is refused before the tag is moved: no push, no DELETE.
func TestDeleteTagScopesLackDelete(t *testing.T) {
	t.Parallel()
	e := start(t, setup{replica: ghcrtest.Options{Scopes: "read:packages, write:packages"}})
	ctx := context.Background()
	shared := e.push(t, "octo/app:stable", 1)
	e.tag(t, "octo/app:old", "octo/app:stable")
	if _, err := e.b.Tags(ctx, "octo/app"); err != nil {
		t.Fatal(err)
	}
	e.reg.ResetRequests()
	e.api.ResetRequests()
	err := e.b.DeleteTag(ctx, "octo/app", "old")
	if !errors.Is(err, registry.ErrDenied) || errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("DeleteTag: %v; want ErrDenied", err)
	}
	for _, want := range []string{"lacks the delete:packages scope", "read:packages, write:packages", "not moved"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	noToken(t, err)
	if n := e.reg.Requests().Total + len(e.api.Requests()); n != 0 {
		t.Errorf("%d requests: %v", n, e.requests())
	}
	if d, _ := e.b.Resolve(ctx, "octo/app", "old"); d != shared {
		t.Errorf("old moved to %s", d)
	}
}

// TestDeleteTagRestoredAfterRefusal: without scopes to tell (a
// GITHUB_TOKEN), the tag is moved before GitHub refuses the delete (404);
// DeleteTag then points it back at its image where the registry backend
// can, and says where it points where it cannot. Never success.
func TestDeleteTagRestoredAfterRefusal(t *testing.T) {
	t.Parallel()
	e := start(t, setup{replica: ghcrtest.Options{NoScopes: true}})
	ctx := context.Background()
	shared := e.push(t, "octo/app:stable", 1)
	e.tag(t, "octo/app:old", "octo/app:stable")
	e.tag(t, "octo/app:old2", "octo/app:stable")
	e.push(t, "octo/app:new", 2)
	e.api.DenyDeletes("")
	var retagged []string
	e.b.retag = func(ctx context.Context, repo, tag, digest string) error {
		retagged = append(retagged, repo+":"+tag+"->"+digest)
		return testregistry.Tag(ctx, e.reg.Addr()+"/"+repo+":"+tag, e.reg.Addr()+"/"+repo+"@"+digest)
	}
	err := e.b.DeleteTag(ctx, "octo/app", "old")
	if !errors.Is(err, registry.ErrDenied) || errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("DeleteTag: %v; want ErrDenied", err)
	}
	for _, want := range []string{"points at " + shared + " again", "untagged package version", "did not list its scopes", "delete:packages"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if d, _ := e.b.Resolve(ctx, "octo/app", "old"); d != shared {
		t.Errorf("old points at %s, want %s again", d, shared)
	}
	if diff := gocmp.Diff([]string{"octo/app:old->" + shared}, retagged); diff != "" {
		t.Errorf("retag calls (-want +got):\n%s", diff)
	}
	if len(e.api.Deleted()) != 0 {
		t.Errorf("deleted %v", e.api.Deleted())
	}

	// The real registry backend puts the tag back itself (oci TagDigest).
	b2, err := New(Options{Registry: e.b.Backend, API: e.api.APIURL(), Token: token, TokenSource: "GITHUB_TOKEN"})
	if err != nil {
		t.Fatal(err)
	}
	err = b2.DeleteTag(ctx, "octo/app", "old2")
	if !errors.Is(err, registry.ErrDenied) || !strings.Contains(err.Error(), "points at "+shared+" again") {
		t.Errorf("DeleteTag with the registry's TagDigest: %v", err)
	}
	if d, _ := e.b.Resolve(ctx, "octo/app", "old2"); d != shared {
		t.Errorf("old2 points at %s, want %s again", d, shared)
	}
	if !strings.Contains(err.Error(), "from GITHUB_TOKEN") {
		t.Errorf("error does not name the token source: %v", err)
	}
	noToken(t, err)
}

// TestConcurrentDeletes: while no delete in a package has succeeded,
// concurrent deletes go one at a time, so a token that may not delete (here
// a classic token with delete:packages but without admin access to the
// package) gets one refusal, not one per worker; once one succeeded, the
// rest proceed.
func TestConcurrentDeletes(t *testing.T) {
	t.Parallel()
	e := start(t, setup{replica: ghcrtest.Options{Orgs: []string{"acme"}}})
	ctx := context.Background()
	var denied, allowed []string
	for i := range 6 {
		denied = append(denied, e.push(t, fmt.Sprintf("acme/locked:t%d", i), int64(i)))
		allowed = append(allowed, e.push(t, fmt.Sprintf("acme/open:t%d", i), int64(10+i)))
	}
	e.push(t, "acme/open:keep", 99)
	for _, repo := range []string{"acme/locked", "acme/open"} {
		if _, err := e.b.Tags(ctx, repo); err != nil {
			t.Fatal(err)
		}
	}
	run := func(repo string, digests []string) []error {
		errs := make([]error, len(digests))
		var wg sync.WaitGroup
		for i, d := range digests {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = e.b.DeleteDigest(ctx, repo, d, nil)
			}()
		}
		wg.Wait()
		return errs
	}
	for i, err := range run("acme/open", allowed) {
		if err != nil {
			t.Errorf("allowed delete %d: %v", i, err)
		}
	}
	if got := len(e.api.Deleted()); got != len(allowed) {
		t.Errorf("%d versions deleted, want %d", got, len(allowed))
	}
	e.api.DenyDeletes(ghcrtest.DefaultScopes)
	e.api.ResetRequests()
	for i, err := range run("acme/locked", denied) {
		if !errors.Is(err, registry.ErrDenied) || !strings.Contains(err.Error(), "it has the scopes: delete:packages") {
			t.Errorf("delete %d: %v", i, err)
		}
	}
	var dels int
	for _, r := range e.api.Requests() {
		if r.Method == http.MethodDelete {
			dels++
		}
	}
	if dels != 1 {
		t.Errorf("%d DELETEs for a token that may not delete, want 1: %v", dels, e.requests())
	}
}

// TestDeleteTagPushDenied: the placeholder push refused (403) names write:packages.
func TestDeleteTagPushDenied(t *testing.T) {
	t.Parallel()
	e := start(t, setup{})
	ctx := context.Background()
	e.push(t, "octo/app:stable", 1)
	e.tag(t, "octo/app:old", "octo/app:stable")
	e.reg.SetHook(testregistry.FailRequests(http.StatusForbidden, "DENIED", 0, testregistry.MatchRoute(http.MethodPut, testregistry.ClassManifest)))
	err := e.b.DeleteTag(ctx, "octo/app", "old")
	if !errors.Is(err, registry.ErrDenied) || !strings.Contains(err.Error(), "write:packages") {
		t.Errorf("DeleteTag with the push refused: %v", err)
	}
	if len(e.api.Requests()) != 0 {
		t.Errorf("API requests after a failed push: %v", e.requests())
	}
}

// TestRateLimits: secondary limits (retry-after, or a minute without it),
// an exhausted primary limit (reset), 429 are waited out through the
// REST client's clock; a reset beyond the client's patience fails with
// ErrRateLimited.
func TestRateLimits(t *testing.T) {
	t.Parallel()
	e := start(t, setup{})
	ctx := context.Background()
	old := e.push(t, "octo/app:old", 1)
	e.push(t, "octo/app:new", 2)

	e.api.Inject(ghcrtest.Fault{Kind: ghcrtest.SecondaryRateLimit, PathContains: "/versions", RetryAfter: 7 * time.Second})
	e.api.Inject(ghcrtest.Fault{Kind: ghcrtest.SecondaryRateLimit, PathContains: "/versions", RetryAfter: -1})
	tags, err := e.b.Tags(ctx, "octo/app")
	if err != nil || len(tags) != 2 {
		t.Fatalf("Tags after secondary limits: %v %v", tags, err)
	}
	if s := e.clock.Sleeps(); len(s) < 2 || s[0] != 7*time.Second || s[1] != time.Minute {
		t.Errorf("waits %v; want 7s (retry-after) then 1m (no retry-after)", s)
	}

	e.api.Inject(ghcrtest.Fault{Kind: ghcrtest.TooManyRequests, Method: http.MethodDelete, RetryAfter: 3 * time.Second})
	if err := e.b.DeleteDigest(ctx, "octo/app", old, nil); err != nil {
		t.Fatalf("DeleteDigest after a 429: %v", err)
	}
	if s := e.clock.Sleeps(); s[len(s)-1] != 3*time.Second {
		t.Errorf("waits %v; want 3s last", s)
	}

	// The last request of the hour: the next one waits for the reset.
	n := len(e.clock.Sleeps())
	e.api.Inject(ghcrtest.Fault{Kind: ghcrtest.LastRequest, RetryAfter: 40 * time.Second})
	if _, err := e.b.Tags(ctx, "octo/app"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.b.Tags(ctx, "octo/app"); err != nil {
		t.Fatal(err)
	}
	if s := e.clock.Sleeps()[n:]; len(s) != 1 || s[0] != 40*time.Second {
		t.Errorf("waits after an exhausted limit %v; want 40s", s)
	}

	// An exhausted primary limit answered with 403 and a reset in 20s.
	n = len(e.clock.Sleeps())
	e.api.Inject(ghcrtest.Fault{Kind: ghcrtest.PrimaryRateLimit, RetryAfter: 20 * time.Second})
	if _, err := e.b.Tags(ctx, "octo/app"); err != nil {
		t.Fatal(err)
	}
	if s := e.clock.Sleeps()[n:]; len(s) < 1 || s[0] != 20*time.Second {
		t.Errorf("waits after a 403 primary limit %v; want 20s", s)
	}

	// A reset in two hours is more than the client waits: ErrRateLimited.
	e.api.Inject(ghcrtest.Fault{Kind: ghcrtest.PrimaryRateLimit, RetryAfter: 2 * time.Hour})
	_, err = e.b.Tags(ctx, "octo/app")
	if !errors.Is(err, registry.ErrRateLimited) || !errors.Is(err, restapi.ErrRateLimited) {
		t.Errorf("a 2h reset: %v; want ErrRateLimited", err)
	}
	noToken(t, err)
	e.checkAuth(t)
}

// TestUnauthorized: a token the API refuses is named by its source, never shown.
func TestUnauthorized(t *testing.T) {
	t.Parallel()
	e := start(t, setup{token: "ghp_wrongTokenValue987654321", replica: ghcrtest.Options{Token: token}})
	e.push(t, "octo/app:v1", 1)
	ctx := context.Background()
	_, err := e.b.Tags(ctx, "octo/app")
	var ae *registry.AuthError
	if !errors.Is(err, registry.ErrUnauthorized) || !errors.As(err, &ae) || ae.Status != 401 {
		t.Fatalf("Tags with a bad token: %v", err)
	}
	for _, want := range []string{"the GitHub token from the password input", "read:packages", "Bad credentials"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "ghp_wrongTokenValue987654321") {
		t.Errorf("the error shows the token: %v", err)
	}
	// The lookup is asked again next time (a 401 is no answer about the owner).
	e.api.ResetRequests()
	_, err = e.b.Repositories(ctx)
	if err == nil {
		t.Fatal("Repositories with no owners succeeded")
	}
	_, _ = e.b.Tags(ctx, "octo/app")
	if got := e.requests(); len(got) != 1 || got[0] != "GET /users/octo 401" {
		t.Errorf("requests %v", got)
	}
}

// TestNotFound: an unknown owner or package is ErrNotFound.
func TestNotFound(t *testing.T) {
	t.Parallel()
	e := start(t, setup{})
	e.push(t, "octo/app:v1", 1)
	ctx := context.Background()
	for _, repo := range []string{"ghost/app", "octo/nope"} {
		_, err := e.b.Tags(ctx, repo)
		if !errors.Is(err, registry.ErrNotFound) {
			t.Errorf("Tags(%s): %v, want ErrNotFound", repo, err)
		}
		noToken(t, err)
	}
	if _, err := e.b.Tags(ctx, "app"); err == nil || !strings.Contains(err.Error(), "OWNER/PACKAGE") {
		t.Errorf("Tags(app): %v", err)
	}
}

// TestRefusals: GitHub's own refusals are surfaced with its message: the
// download limit keeps the version (ErrProtected); the last tagged version
// of a package, which the planner keeps ahead (Capabilities.LastTagged),
// is kept with the rule's reason if GitHub refuses one it did not see
// coming, never reported deleted; an untagged version beside it deletes.
func TestRefusals(t *testing.T) {
	t.Parallel()
	e := start(t, setup{})
	ctx := context.Background()
	popular := e.push(t, "octo/app:popular", 1)
	last := e.push(t, "octo/app:other", 2)
	loose := e.push(t, "octo/app:loose", 3)
	e.tag(t, "octo/app:loose", "octo/app:other") // loose's version is untagged now
	e.api.SetPublic("octo/app")
	e.api.SetDownloads("octo/app", popular, 9000)
	err := e.b.DeleteDigest(ctx, "octo/app", popular, nil)
	if !errors.Is(err, registry.ErrProtected) || !strings.Contains(err.Error(), "5000 downloads") {
		t.Errorf("download limit: %v; want ErrProtected with GitHub's message", err)
	}
	e.api.SetDownloads("octo/app", popular, 0)
	if err := e.b.DeleteDigest(ctx, "octo/app", popular, nil); err != nil {
		t.Fatal(err)
	}
	err = e.b.DeleteDigest(ctx, "octo/app", last, nil)
	if !errors.Is(err, registry.ErrProtected) || registry.ProtectedReason(err) != Descriptor.LastTagged ||
		!strings.Contains(err.Error(), "You cannot delete the last tagged version of a package") {
		t.Errorf("last tagged version: %v; want ErrProtected, %q, with GitHub's message", err, Descriptor.LastTagged)
	}
	if ok, _ := testregistry.Exists(ctx, e.reg.Addr()+"/octo/app@"+last); !ok {
		t.Error("the last tagged version's manifest is gone")
	}
	if c := e.b.Capabilities(); c.LastTagged != "GitHub keeps the last tagged version of a package" {
		t.Errorf("Capabilities().LastTagged = %q", c.LastTagged)
	}
	if err := e.b.DeleteDigest(ctx, "octo/app", loose, nil); err != nil {
		t.Errorf("an untagged version beside the last tagged one: %v", err)
	}
}

// TestEnterpriseServer: an API base with a path prefix (GHES /api/v3).
func TestEnterpriseServer(t *testing.T) {
	t.Parallel()
	e := start(t, setup{replica: ghcrtest.Options{PathPrefix: "/api/v3", Orgs: []string{"acme"}}, owners: []string{"acme"}})
	ctx := context.Background()
	old := e.push(t, "acme/tools/ci:old", 1)
	e.push(t, "acme/tools/ci:new", 2)
	repos, err := e.b.Repositories(ctx)
	if err != nil || !gocmp.Equal(repos, []string{"acme/tools/ci"}) {
		t.Fatalf("Repositories = %v, %v", repos, err)
	}
	if _, err := e.b.Tags(ctx, "acme/tools/ci"); err != nil {
		t.Fatal(err)
	}
	if err := e.b.DeleteDigest(ctx, "acme/tools/ci", old, nil); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"GET /api/v3/users/acme 200",
		"GET /api/v3/orgs/acme/packages?package_type=container&per_page=100 200",
		"GET /api/v3/orgs/acme/packages/container/tools%2Fci/versions?per_page=100&state=active 200",
	}
	got := e.requests()
	if len(got) != 4 || !gocmp.Equal(want, got[:3]) || !strings.HasPrefix(got[3], "DELETE /api/v3/orgs/acme/packages/container/tools%2Fci/versions/") {
		t.Errorf("requests %v", got)
	}
}

// TestNewAndCapabilities: constructor checks; what GHCR is.
func TestNewAndCapabilities(t *testing.T) {
	t.Parallel()
	ob, err := oci.New("127.0.0.1:1", oci.WithKeychain(anonymous{}))
	if err != nil {
		t.Fatal(err)
	}
	api, _ := url.Parse("https://api.github.com")
	for name, o := range map[string]Options{
		"no registry": {API: api, Token: "t"},
		"no API":      {Registry: ob, Token: "t"},
		"relative":    {Registry: ob, API: &url.URL{Path: "/api"}, Token: "t"},
		"no token":    {Registry: ob, API: api},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	b, err := New(Options{Registry: ob, API: api, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	c := b.Capabilities()
	if !c.Pushed || !c.ListsUntagged || !strings.Contains(c.GCHint, "30 days") {
		t.Errorf("Capabilities = %+v", c)
	}
	if strings.Contains(b.Who(), token) || !strings.Contains(b.Who(), "password input or GITHUB_TOKEN") {
		t.Errorf("Who = %q", b.Who())
	}
	var _ registry.Backend = b
}
