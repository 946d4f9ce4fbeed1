package dockerhub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	v1types "github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/dockerhub/hubtest"
	"github.com/tagsweep/tagsweep/internal/registry/image"
	"github.com/tagsweep/tagsweep/internal/registry/oci"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

const (
	secret       = "dckr_pat_acme-s3cret"
	writerSecret = "dckr_pat_writer-s3cret"
)

type env struct {
	reg  *testregistry.Registry
	hub  *hubtest.Server
	addr string
}

func newEnv(t *testing.T, o hubtest.Options) *env {
	t.Helper()
	reg, err := testregistry.New(context.Background(), testregistry.Options{DeleteEnabled: true, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	o.Users = append(o.Users,
		hubtest.User{Name: "acme", Secret: secret, Scope: hubtest.ScopeDelete, Namespaces: []string{"acme", "library"}},
		hubtest.User{Name: "writer", Secret: writerSecret, Scope: hubtest.ScopeWrite, Namespaces: []string{"acme"}})
	hub, err := hubtest.New(reg, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close() })
	return &env{reg: reg, hub: hub, addr: reg.Addr()}
}

func (e *env) backend(t *testing.T, user, pass string, namespaces ...string) *Backend {
	t.Helper()
	reg, err := oci.New(e.addr, oci.WithScheme(oci.SchemeHTTP), oci.WithCredentials(oci.Credentials{Username: user, Password: pass}))
	if err != nil {
		t.Fatal(err)
	}
	api, _ := url.Parse(e.hub.URL())
	b, err := New(Options{Registry: reg, API: api, Username: user, Password: pass, Namespaces: namespaces, UserAgent: "tagsweep/test"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (e *env) push(t *testing.T, ref string, seed int64) string {
	t.Helper()
	h, err := testregistry.PushImage(context.Background(), e.addr+"/"+ref, testregistry.ImageSpec{Created: time.Now().Add(-48 * time.Hour), Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func (e *env) tag(t *testing.T, ref, src string) {
	t.Helper()
	if err := testregistry.Tag(context.Background(), e.addr+"/"+ref, e.addr+"/"+src); err != nil {
		t.Fatal(err)
	}
}

// raw sends one request to the registry; a status other than want is an
// error.
func (e *env) raw(method, path string, header http.Header, body []byte, want int) ([]byte, http.Header, error) {
	req, err := http.NewRequest(method, "http://"+e.addr+path, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return nil, nil, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return b, resp.Header, nil
}

// copies PUTs the manifest of src ("repo:tag") to every dst ("repo:tag"),
// mounting its blobs into other repositories: one to three requests each,
// eight at a time (testregistry.Tag and PushImage cost more, which adds up
// past a hundred).
func (e *env) copies(t *testing.T, src string, dst ...string) {
	t.Helper()
	repo, tag, _ := strings.Cut(src, ":")
	raw, h, err := e.raw(http.MethodGet, "/v2/"+repo+"/manifests/"+tag, http.Header{"Accept": {string(v1types.OCIManifestSchema1), string(v1types.DockerManifestSchema2)}}, nil, http.StatusOK)
	if err != nil {
		t.Fatal(err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var g errgroup.Group
	g.SetLimit(8)
	for _, d := range dst {
		g.Go(func() error {
			r, tg, _ := strings.Cut(d, ":")
			if r != repo {
				for _, b := range append([]v1.Descriptor{m.Config}, m.Layers...) {
					if _, _, err := e.raw(http.MethodPost, fmt.Sprintf("/v2/%s/blobs/uploads/?mount=%s&from=%s", r, b.Digest, repo), http.Header{}, nil, http.StatusCreated); err != nil {
						return err
					}
				}
			}
			_, _, err := e.raw(http.MethodPut, "/v2/"+r+"/manifests/"+tg, http.Header{"Content-Type": {h.Get("Content-Type")}}, raw, http.StatusCreated)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

func (e *env) tags(t *testing.T, repo string) []string {
	t.Helper()
	tags, err := testregistry.ListTags(context.Background(), e.addr+"/"+repo)
	if err != nil {
		t.Fatal(err)
	}
	return tags
}

// requests renders the Hub API requests received: "METHOD path?query auth".
func (e *env) requests() []string {
	var out []string
	for _, r := range e.hub.Requests() {
		s := r.String()
		if r.Auth != "" {
			s += " " + r.Auth
		}
		out = append(out, s)
	}
	return out
}

func same(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n  got  %q\n  want %q", what, got, want)
	}
}

// noSecrets fails when an error message carries the password or an access
// token the replica issued ("hubtest.<n>.<hex>").
func noSecrets(t *testing.T, errs ...error) {
	t.Helper()
	for _, err := range errs {
		if err == nil {
			continue
		}
		if msg := err.Error(); strings.Contains(msg, secret) || strings.Contains(msg, writerSecret) || strings.Contains(msg, "s3cret") || strings.Contains(msg, "hubtest.") {
			t.Errorf("error message carries a secret: %s", msg)
		}
	}
}

// TestLogin: the first request logs in with the documented body, every
// request then carries the access token as a bearer; one login for many
// requests.
func TestLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, hubtest.Options{})
	e.push(t, "acme/app:v1", 1)
	e.push(t, "acme/tool:v1", 2)
	b := e.backend(t, "acme", secret)
	ctx := context.Background()
	repos, err := b.Repositories(ctx)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "repositories", repos, []string{"acme/app", "acme/tool"})
	if _, err := b.Tags(ctx, "acme/app"); err != nil {
		t.Fatal(err)
	}
	same(t, "requests", e.requests(), []string{
		"POST /v2/auth/token",
		"GET /v2/namespaces/acme/repositories?page_size=100 Bearer",
		"GET /v2/namespaces/acme/repositories/app Bearer",
		"GET /v2/namespaces/acme/repositories/app/tags?page_size=100 Bearer",
	})
	var body map[string]string
	if err := json.Unmarshal([]byte(e.hub.Requests()[0].Body), &body); err != nil {
		t.Fatal(err)
	}
	if len(body) != 2 || body["identifier"] != "acme" || body["secret"] != secret {
		t.Errorf("login body %v", body)
	}
	if b.APIRequests() != 4 {
		t.Errorf("APIRequests %d", b.APIRequests())
	}
}

// TestLegacyLogin: a Hub API without the access-token route (404) is
// logged in to through the older POST /v2/users/login, and its token is
// the bearer from then on; a wrong password there is still refused.
func TestLegacyLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, hubtest.Options{LegacyLogin: true})
	e.push(t, "acme/app:v1", 1)
	b := e.backend(t, "acme", secret)
	ctx := context.Background()
	if tags, err := b.Tags(ctx, "acme/app"); err != nil || len(tags) != 1 {
		t.Fatalf("Tags = %v, %v", tags, err)
	}
	same(t, "requests", e.requests(), []string{
		"POST /v2/auth/token",
		"POST /v2/users/login",
		"GET /v2/namespaces/acme/repositories/app Bearer",
		"GET /v2/namespaces/acme/repositories/app/tags?page_size=100 Bearer",
	})
	var body map[string]string
	if err := json.Unmarshal([]byte(e.hub.Requests()[1].Body), &body); err != nil {
		t.Fatal(err)
	}
	if len(body) != 2 || body["username"] != "acme" || body["password"] != secret {
		t.Errorf("login body %v", body)
	}
	if _, err := e.backend(t, "acme", "wrong").Tags(ctx, "acme/app"); !errors.Is(err, registry.ErrUnauthorized) {
		t.Errorf("a wrong password: %v, want ErrUnauthorized", err)
	}
}

// TestTokenRenewal: an expired token (401) is renewed once and the request
// repeated; concurrent callers share one renewal.
func TestTokenRenewal(t *testing.T) {
	t.Parallel()
	e := newEnv(t, hubtest.Options{})
	e.push(t, "acme/app:v1", 1)
	b := e.backend(t, "acme", secret)
	ctx := context.Background()
	if _, err := b.Tags(ctx, "acme/app"); err != nil {
		t.Fatal(err)
	}
	e.hub.ExpireTokens()
	e.hub.ResetRequests()
	tags, err := b.Tags(ctx, "acme/app")
	if err != nil || len(tags) != 1 {
		t.Fatalf("after expiry: %v %v", tags, err)
	}
	same(t, "requests", e.requests(), []string{
		"GET /v2/namespaces/acme/repositories/app Bearer",
		"POST /v2/auth/token",
		"GET /v2/namespaces/acme/repositories/app Bearer",
		"GET /v2/namespaces/acme/repositories/app/tags?page_size=100 Bearer",
	})
	if st := e.hub.Requests()[0].Status; st != http.StatusUnauthorized {
		t.Errorf("first answer %d, want 401", st)
	}

	e.hub.ExpireTokens()
	e.hub.ResetRequests()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = b.Tags(ctx, "acme/app")
		}()
	}
	wg.Wait()
	logins := 0
	for _, r := range e.requests() {
		if r == "POST /v2/auth/token" {
			logins++
		}
	}
	if err := errors.Join(errs...); err != nil || logins != 1 {
		t.Errorf("8 concurrent callers after expiry: %d logins, errors %v", logins, err)
	}
}

// TestTagsPagination: more than 100 tags over three pages, following the
// body's next; every tag with the digest it points at.
func TestTagsPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t, hubtest.Options{})
	d1 := e.push(t, "acme/app:t000", 1)
	d2 := e.push(t, "acme/app:t001", 2)
	want := map[string]string{"t000": d1, "t001": d2}
	var even, odd []string
	for i := 2; i < 250; i++ {
		n := fmt.Sprintf("t%03d", i)
		want[n] = []string{d1, d2}[i%2]
		if i%2 == 0 {
			even = append(even, "acme/app:"+n)
		} else {
			odd = append(odd, "acme/app:"+n)
		}
	}
	e.copies(t, "acme/app:t000", even...)
	e.copies(t, "acme/app:t001", odd...)
	b := e.backend(t, "acme", secret)
	e.hub.ResetRequests()
	tags, err := b.Tags(context.Background(), "acme/app")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, tg := range tags {
		if _, dup := got[tg.Name]; dup {
			t.Errorf("tag %s listed twice", tg.Name)
		}
		got[tg.Name] = tg.Digest
		if tg.Pushed.IsZero() {
			t.Errorf("tag %s has no push time", tg.Name)
		}
	}
	if len(got) != 250 {
		t.Errorf("%d tags, want 250", len(got))
	}
	for n, d := range want {
		if got[n] != d {
			t.Errorf("tag %s: digest %q, want %s", n, got[n], d)
		}
	}
	same(t, "requests", e.requests(), []string{
		"POST /v2/auth/token",
		"GET /v2/namespaces/acme/repositories/app Bearer",
		"GET /v2/namespaces/acme/repositories/app/tags?page_size=100 Bearer",
		"GET /v2/namespaces/acme/repositories/app/tags?page=2&page_size=100 Bearer",
		"GET /v2/namespaces/acme/repositories/app/tags?page=3&page_size=100 Bearer",
	})
}

// TestRepositoriesPagination: the namespaces' repositories, past 100, as
// "ns/name"; other namespaces are not listed.
func TestRepositoriesPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t, hubtest.Options{})
	want := []string{"acme/r000"}
	e.push(t, "acme/r000:v1", 1)
	var dst []string
	for i := 1; i < 102; i++ {
		n := fmt.Sprintf("acme/r%03d", i)
		dst = append(dst, n+":v1")
		want = append(want, n)
	}
	e.copies(t, "acme/r000:v1", append(dst, "other/x:v1", "third/y:v1")...)
	want = append(want, "other/x")
	b := e.backend(t, "acme", secret, "acme", "other")
	e.hub.ResetRequests()
	got, err := b.Repositories(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	same(t, "repositories", got, want)
	same(t, "requests", e.requests(), []string{
		"POST /v2/auth/token",
		"GET /v2/namespaces/acme/repositories?page_size=100 Bearer",
		"GET /v2/namespaces/acme/repositories?page=2&page_size=100 Bearer",
		"GET /v2/namespaces/other/repositories?page_size=100 Bearer",
	})
}

// TestPushTimes: tag_last_pushed is the push time; without it, last_updated.
func TestPushTimes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, hubtest.Options{})
	e.push(t, "acme/app:a", 1)
	e.push(t, "acme/app:b", 2)
	e.tag(t, "acme/app:c", "acme/app:a")
	ta := time.Date(2025, 1, 2, 3, 4, 5, 600_000_000, time.UTC)
	tb := time.Date(2024, 6, 7, 8, 9, 10, 0, time.UTC)
	e.hub.SetPushed("acme/app", "a", ta)
	e.hub.SetPushed("acme/app", "b", tb)
	e.hub.OmitPushed("acme/app", "b") // null tag_last_pushed: last_updated
	b := e.backend(t, "acme", secret)
	tags, err := b.Tags(context.Background(), "acme/app")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]image.Tag{}
	for _, tg := range tags {
		got[tg.Name] = tg
	}
	if !got["a"].Pushed.Equal(ta) || !got["b"].Pushed.Equal(tb) {
		t.Errorf("push times: a %v (want %v), b %v (want %v)", got["a"].Pushed, ta, got["b"].Pushed, tb)
	}
	if c := got["c"].Pushed; c.IsZero() || time.Since(c) > time.Minute {
		t.Errorf("c (first seen now): %v", c)
	}
	if got["a"].Digest != got["c"].Digest || got["a"].Digest == got["b"].Digest {
		t.Errorf("digests: %+v", got)
	}
	if !b.Capabilities().Pushed {
		t.Error("Capabilities().Pushed is false")
	}
}

func TestParseTime(t *testing.T) {
	t.Parallel()
	s := func(v string) *string { return &v }
	for _, c := range []struct {
		in   *string
		want time.Time
	}{
		{nil, time.Time{}},
		{s(""), time.Time{}},
		{s("0001-01-01T00:00:00Z"), time.Time{}},
		{s("garbage"), time.Time{}},
		{s("2024-09-30T12:03:00.807746Z"), time.Date(2024, 9, 30, 12, 3, 0, 807746000, time.UTC)},
	} {
		if got := registry.ParseTime(deref(c.in)); !got.Equal(c.want) {
			t.Errorf("ParseTime(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// TestDeleteTagSharedDigest: deleting a tag that shares its digest with a
// kept tag removes only that tag; the kept tag still resolves and pulls.
func TestDeleteTagSharedDigest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, hubtest.Options{})
	d := e.push(t, "acme/app:old", 1)
	e.tag(t, "acme/app:stable", "acme/app:old")
	e.push(t, "acme/app:new", 2)
	b := e.backend(t, "acme", secret)
	ctx := context.Background()
	if ok, err := b.TagDeleteSupported(ctx, "acme/app"); !ok || err != nil {
		t.Fatalf("TagDeleteSupported: %v %v", ok, err)
	}
	if len(e.hub.Requests()) != 0 {
		t.Errorf("TagDeleteSupported sent %v", e.requests())
	}
	if err := b.DeleteTag(ctx, "acme/app", "old"); err != nil {
		t.Fatal(err)
	}
	same(t, "requests", e.requests(), []string{"POST /v2/auth/token", "DELETE /v2/repositories/acme/app/tags/old/ Bearer"})
	same(t, "tags left", e.tags(t, "acme/app"), []string{"new", "stable"})
	if got, err := b.Resolve(ctx, "acme/app", "stable"); err != nil || got != d {
		t.Errorf("stable resolves to %s (%v), want %s", got, err, d)
	}
	if err := testregistry.VerifyPull(ctx, e.addr+"/acme/app:stable"); err != nil {
		t.Errorf("stable does not pull: %v", err)
	}
	if r := e.hub.RegistryDeleteRequests(); len(r) != 0 {
		t.Errorf("registry-API DELETEs sent: %v", r)
	}
	// Gone already: ErrNotFound (the engine counts it done).
	if err := b.DeleteTag(ctx, "acme/app", "old"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
}

// TestDeleteDigest: every tag on the digest goes through the Hub API, then
// the untagged manifest through the registry API's DELETE by digest; an
// index's untagged children are deleted by digest after it (and refused
// while it exists); a tag that moved is not deleted and the call fails.
func TestDeleteDigest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, hubtest.Options{})
	d := e.push(t, "acme/app:a", 1)
	e.tag(t, "acme/app:b", "acme/app:a")
	e.tag(t, "acme/app:c", "acme/app:a")
	e.push(t, "acme/app:keep", 2)
	b := e.backend(t, "acme", secret)
	ctx := context.Background()
	if err := b.DeleteDigest(ctx, "acme/app", d, []string{"a", "b", "c"}); err != nil {
		t.Fatal(err)
	}
	same(t, "tags left", e.tags(t, "acme/app"), []string{"keep"})
	same(t, "requests", e.requests(), []string{
		"POST /v2/auth/token",
		"DELETE /v2/repositories/acme/app/tags/a/ Bearer",
		"DELETE /v2/repositories/acme/app/tags/b/ Bearer",
		"DELETE /v2/repositories/acme/app/tags/c/ Bearer",
	})
	same(t, "registry deletes", e.hub.RegistryDeletes(), []string{"acme/app@" + d})
	if ok, _ := b.Exists(ctx, "acme/app", d); ok {
		t.Error("the manifest is still stored after DeleteDigest")
	}

	// An index and its children: children first would be refused (403).
	var kids []v1.Image
	for i, p := range []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}} {
		img, err := testregistry.BuildImage(testregistry.ImageSpec{Seed: int64(20 + i), Platform: &p})
		if err != nil {
			t.Fatal(err)
		}
		kids = append(kids, img)
	}
	idx, err := testregistry.PushIndex(ctx, e.addr+"/acme/app:multi", testregistry.IndexSpec{Children: kids})
	if err != nil {
		t.Fatal(err)
	}
	k0, _ := kids[0].Digest()
	var ue *registry.UntaggedError
	if err := b.DeleteDigest(ctx, "acme/app", k0.String(), nil); !errors.As(err, &ue) || !errors.Is(err, registry.ErrDenied) {
		t.Errorf("a child of a stored index: %v, want an UntaggedError (403)", err)
	}
	e.hub.ResetRequests()
	if err := b.DeleteDigest(ctx, "acme/app", idx.String(), []string{"multi"}); err != nil {
		t.Fatal(err)
	}
	for _, k := range kids {
		kd, _ := k.Digest()
		if err := b.DeleteDigest(ctx, "acme/app", kd.String(), nil); err != nil {
			t.Fatal(err)
		}
		if ok, _ := b.Exists(ctx, "acme/app", kd.String()); ok {
			t.Errorf("child %s still stored", kd)
		}
	}
	same(t, "requests", e.requests(), []string{"DELETE /v2/repositories/acme/app/tags/multi/ Bearer"})

	// A tag that moved off the digest is not deleted.
	d3 := e.push(t, "acme/app:x", 3)
	e.tag(t, "acme/app:y", "acme/app:x")
	e.tag(t, "acme/app:y", "acme/app:keep") // y moves away
	e.hub.ResetRequests()
	err = b.DeleteDigest(ctx, "acme/app", d3, []string{"x", "y"})
	if err == nil || !strings.Contains(err.Error(), "tag y moved") {
		t.Errorf("moved tag: %v", err)
	}
	same(t, "tags left", e.tags(t, "acme/app"), []string{"keep", "y"})
	same(t, "requests", e.requests(), []string{"DELETE /v2/repositories/acme/app/tags/x/ Bearer"})
}

// TestBadCredentials: a refused login is a clear error naming the account
// and the scope needed, never the secret; it is not retried, and nothing is
// deleted.
func TestBadCredentials(t *testing.T) {
	t.Parallel()
	e := newEnv(t, hubtest.Options{})
	d := e.push(t, "acme/app:v1", 1)
	e.tag(t, "acme/app:v2", "acme/app:v1")
	b := e.backend(t, "acme", "dckr_pat_wrong-s3cret")
	ctx := context.Background()
	_, errTags := b.Tags(ctx, "acme/app")
	_, errRepos := b.Repositories(ctx)
	errTag := b.DeleteTag(ctx, "acme/app", "v1")
	errDigest := b.DeleteDigest(ctx, "acme/app", d, []string{"v1", "v2"})
	for i, err := range []error{errTags, errRepos, errTag, errDigest} {
		var ae *registry.AuthError
		if !errors.Is(err, registry.ErrUnauthorized) || !errors.As(err, &ae) {
			t.Errorf("call %d: %v, want an AuthError wrapping ErrUnauthorized", i, err)
			continue
		}
		if i == 3 {
			continue // the registry API refused the HEAD of v1 first
		}
		msg := err.Error()
		for _, want := range []string{`Docker Hub account "acme"`, "Read, Write, Delete", "(401)", "log in"} {
			if !strings.Contains(msg, want) {
				t.Errorf("call %d: %q lacks %q", i, msg, want)
			}
		}
	}
	noSecrets(t, errTags, errRepos, errTag, errDigest)
	if strings.Contains(errTags.Error(), "dckr_pat_wrong") {
		t.Errorf("the secret is in %q", errTags)
	}
	same(t, "requests (one login attempt, nothing after)", e.requests(), []string{"POST /v2/auth/token"})
	same(t, "tags left", e.tags(t, "acme/app"), []string{"v1", "v2"})
	if len(e.hub.TagDeletes()) != 0 || len(e.hub.RegistryDeleteRequests()) != 0 {
		t.Errorf("deletes sent: %v %v", e.hub.TagDeletes(), e.hub.RegistryDeleteRequests())
	}

	if _, err := New(Options{Registry: b.Backend, Username: "acme"}); err == nil ||
		!strings.Contains(err.Error(), "username and an access token with delete scope (Read, Write, Delete)") {
		t.Errorf("no password: %v", err)
	}
	if _, err := New(Options{Registry: b.Backend}); err == nil {
		t.Error("no credentials: no error")
	}
}

// TestDeleteWithoutScope: a token without delete scope gets a clear
// ErrDenied (403) or ErrUnauthorized (401, after one renewal) per tag; the
// immutability settings are read again to tell a protected tag; after
// three unexplained refusals the repository is not asked again.
func TestDeleteWithoutScope(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusForbidden, http.StatusUnauthorized} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			e := newEnv(t, hubtest.Options{DeniedStatus: status})
			for i := 1; i <= 4; i++ {
				e.push(t, fmt.Sprintf("acme/app:v%d", i), int64(i))
			}
			b := e.backend(t, "writer", writerSecret)
			ctx := context.Background()
			if _, err := b.Tags(ctx, "acme/app"); err != nil {
				t.Fatalf("listing with a write token: %v", err)
			}
			e.hub.ResetRequests()
			var errs []error
			for i := 1; i <= 4; i++ {
				errs = append(errs, b.DeleteTag(ctx, "acme/app", fmt.Sprintf("v%d", i)))
			}
			sentinel := registry.ErrDenied
			var want []string
			for i := 1; i <= 3; i++ {
				del := fmt.Sprintf("DELETE /v2/repositories/acme/app/tags/v%d/ Bearer", i)
				if status == http.StatusUnauthorized {
					sentinel = registry.ErrUnauthorized
					want = append(want, del, "POST /v2/auth/token")
				}
				want = append(want, del, "GET /v2/namespaces/acme/repositories/app Bearer")
			}
			for _, err := range errs {
				if !errors.Is(err, sentinel) || errors.Is(err, registry.ErrProtected) {
					t.Errorf("%v, want %v", err, sentinel)
					continue
				}
				for _, s := range []string{`Docker Hub account "writer"`, "an access token with Read, Write, Delete scope", `"acme/app"`} {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("%q lacks %q", err, s)
					}
				}
			}
			if !strings.Contains(errs[3].Error(), "delete tag v4: not sent") {
				t.Errorf("fourth delete: %v", errs[3])
			}
			noSecrets(t, errs...)
			same(t, "requests", e.requests(), want)
			same(t, "tags left", e.tags(t, "acme/app"), []string{"v1", "v2", "v3", "v4"})
		})
	}
}

// TestRateLimit: 429s with X-Retry-After (a unix time) or Retry-After
// (seconds) are waited out as long as the API asks, then the call
// succeeds; a wait longer than restapi's bound fails with ErrRateLimited.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	for _, seconds := range []bool{false, true} {
		t.Run(fmt.Sprintf("RetryAfterSeconds=%v", seconds), func(t *testing.T) {
			e := newEnv(t, hubtest.Options{RetryAfterSeconds: seconds})
			e.push(t, "acme/app:v1", 1)
			b := e.backend(t, "acme", secret)
			var mu sync.Mutex
			var waits []time.Duration
			b.api.Sleep = func(_ context.Context, d time.Duration) error {
				mu.Lock()
				waits = append(waits, d)
				mu.Unlock()
				return nil
			}
			ctx := context.Background()
			if _, err := b.Tags(ctx, "acme/app"); err != nil {
				t.Fatal(err)
			}
			e.hub.ResetRequests()
			e.hub.RateLimitNext(2, 30*time.Second)
			tags, err := b.Tags(ctx, "acme/app")
			if err != nil || len(tags) != 1 {
				t.Fatalf("after 429s: %v %v", tags, err)
			}
			var statuses []int
			for _, r := range e.hub.Requests() {
				statuses = append(statuses, r.Status)
			}
			if fmt.Sprint(statuses) != "[429 429 200 200]" {
				t.Errorf("statuses %v", statuses)
			}
			longest := slices.Max(waits)
			if longest < 25*time.Second || longest > 31*time.Second {
				t.Errorf("waits %v: the API asked for 30s", waits)
			}

			e.hub.RateLimitNext(1, time.Hour)
			_, err = b.Tags(ctx, "acme/app")
			if !errors.Is(err, registry.ErrRateLimited) {
				t.Errorf("an hour's wait: %v, want ErrRateLimited", err)
			}
			noSecrets(t, err)
		})
	}
}

// TestOfficialImageNames: a name without a namespace is library/name, on
// the Hub API and the registry API alike; a deeper name is refused.
func TestOfficialImageNames(t *testing.T) {
	t.Parallel()
	e := newEnv(t, hubtest.Options{})
	d := e.push(t, "library/busybox:1", 1)
	b := e.backend(t, "acme", secret)
	ctx := context.Background()
	tags, err := b.Tags(ctx, "busybox")
	if err != nil || len(tags) != 1 || tags[0].Digest != d {
		t.Fatalf("Tags(busybox): %v %v", tags, err)
	}
	m, err := b.Manifest(ctx, "busybox", "1")
	if err != nil || m.Digest != d {
		t.Fatalf("Manifest(busybox:1): %v %v", m, err)
	}
	if got, err := b.Resolve(ctx, "busybox", "1"); err != nil || got != d {
		t.Errorf("Resolve: %s %v", got, err)
	}
	if ok, err := b.Exists(ctx, "busybox", d); !ok || err != nil {
		t.Errorf("Exists: %v %v", ok, err)
	}
	same(t, "requests", e.requests(), []string{"POST /v2/auth/token", "GET /v2/namespaces/library/repositories/busybox Bearer", "GET /v2/namespaces/library/repositories/busybox/tags?page_size=100 Bearer"})
	if _, err := b.Tags(ctx, "a/b/c"); err == nil || !strings.Contains(err.Error(), "namespace/name") {
		t.Errorf("a/b/c: %v", err)
	}
	if _, err := b.Tags(ctx, "acme/nope"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("unknown repository: %v, want ErrNotFound", err)
	}
}

func TestCapabilities(t *testing.T) {
	t.Parallel()
	e := newEnv(t, hubtest.Options{})
	c := e.backend(t, "acme", secret).Capabilities()
	if !c.Pushed || strings.Contains(c.GCHint, "retention") || !strings.Contains(c.GCHint, "registry API's DELETE by digest") || !strings.Contains(c.GCHint, "untagged but not deleted") {
		t.Errorf("Capabilities %+v", c)
	}
}
