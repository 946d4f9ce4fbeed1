package harbor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/harbor/harbortest"
	"github.com/tagsweep/tagsweep/internal/registry/image"
	"github.com/tagsweep/tagsweep/internal/registry/oci"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

const password = "pa55-w0rd-never-shown"

// anonymous is a keychain that finds nothing (the machine's docker config
// stays out of the tests).
type anonymous struct{}

func (anonymous) Resolve(authn.Resource) (authn.Authenticator, error) { return authn.Anonymous, nil }

type fixture struct {
	t    *testing.T
	ctx  context.Context
	reg  *testregistry.Registry
	srv  *harbortest.Server
	addr string
}

var t0 = time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)

func start(t *testing.T, users map[string]string, public ...string) *fixture {
	t.Helper()
	reg, err := testregistry.New(context.Background(), testregistry.Options{DeleteEnabled: true, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	if users == nil {
		users = map[string]string{"robot$sweeper": password}
	}
	srv, err := harbortest.New(harbortest.Options{Registry: reg, Users: users, Public: public, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return &fixture{t: t, ctx: context.Background(), reg: reg, srv: srv, addr: reg.Addr()}
}

// backend is a Harbor backend for user/pass (the registry API gets the
// same credentials, as the CLI passes them).
func (f *fixture) backend(user, pass string) *Backend {
	f.t.Helper()
	opts := []oci.Option{oci.WithKeychain(anonymous{}), oci.WithConcurrency(4)}
	if user != "" {
		opts = append(opts, oci.WithCredentials(oci.Credentials{Username: user, Password: pass}))
	}
	reg, err := oci.New(f.addr, opts...)
	if err != nil {
		f.t.Fatal(err)
	}
	api, _ := url.Parse(f.srv.APIURL())
	b, err := New(Options{Registry: reg, API: api, Username: user, Password: pass, UserAgent: "tagsweep-test"})
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

func (f *fixture) push(ref string, seed int64) string {
	f.t.Helper()
	h, err := testregistry.PushImage(f.ctx, f.addr+"/"+ref, testregistry.ImageSpec{Created: t0, Seed: seed})
	if err != nil {
		f.t.Fatal(err)
	}
	return h.String()
}

// pushSmall pushes images without layers (a config and a manifest),
// distinct per seed: ref(i) for i in [0, n), 16 at a time.
func (f *fixture) pushSmall(n int, ref func(i int) string) {
	f.t.Helper()
	var g errgroup.Group
	g.SetLimit(16)
	for i := range n {
		g.Go(func() error {
			_, err := testregistry.PushImage(f.ctx, f.addr+"/"+ref(i), testregistry.ImageSpec{Created: t0.Add(time.Duration(i) * time.Second), Layers: -1})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) tag(ref, src string) {
	f.t.Helper()
	if err := testregistry.Tag(f.ctx, f.addr+"/"+ref, f.addr+"/"+src); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) exists(ref string) bool {
	f.t.Helper()
	ok, err := testregistry.Exists(f.ctx, f.addr+"/"+ref)
	if err != nil {
		f.t.Fatal(err)
	}
	return ok
}

func (f *fixture) tags(repo string) []string {
	f.t.Helper()
	tags, err := testregistry.ListTags(f.ctx, f.addr+"/"+repo)
	if err != nil {
		f.t.Fatal(err)
	}
	return tags
}

// requests renders the REST requests as "METHOD rawpath?query", with the
// auth scheme and user when not Basic robot$sweeper.
func (f *fixture) requests() []string {
	var out []string
	for _, r := range f.srv.Requests() {
		s := r.String()
		if r.Auth != "Basic" || r.User != "robot$sweeper" {
			s += fmt.Sprintf(" [auth %q user %q]", r.Auth, r.User)
		}
		out = append(out, s)
	}
	return out
}

func noPassword(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), password) {
		t.Errorf("the password is in an error: %v", err)
	}
}

const check = "GET /api/v2.0/users/current/permissions"

func TestNew(t *testing.T) {
	reg, err := oci.New("127.0.0.1:1", oci.WithKeychain(anonymous{}))
	if err != nil {
		t.Fatal(err)
	}
	api, _ := url.Parse("https://harbor.example.com/api/v2.0/")
	for _, c := range []struct {
		name string
		o    Options
	}{
		{"no registry", Options{API: api}},
		{"no API", Options{Registry: reg}},
		{"API not http", Options{Registry: reg, API: &url.URL{Scheme: "ftp", Host: "x"}}},
		{"user without password", Options{Registry: reg, API: api, Username: "ci"}},
	} {
		if _, err := New(c.o); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
	for user, want := range map[string]string{
		"":              `anonymous access (no username input and no docker config entry for 127.0.0.1:1); anonymous for the Harbor API`,
		"ci":            `user "ci" (from the username input)`,
		"robot$sweeper": `robot account "robot$sweeper" (from the username input)`,
	} {
		pass := ""
		if user != "" {
			pass = password
		}
		b, err := New(Options{Registry: reg, API: api, Username: user, Password: pass})
		if err != nil {
			t.Fatal(err)
		}
		if b.Who() != want {
			t.Errorf("Who() = %q, want %q", b.Who(), want)
		}
		if b.api.Base.String() != "https://harbor.example.com/api/v2.0" {
			t.Errorf("base %s", b.api.Base)
		}
	}
	b, _ := New(Options{Registry: reg, API: api})
	if got := b.Capabilities(); !got.Pushed || !strings.Contains(got.GCHint, "Administration > Clean Up") {
		t.Errorf("Capabilities() = %+v", got)
	}
	// No request: the registry at 127.0.0.1:1 does not exist.
	if ok, err := b.TagDeleteSupported(context.Background(), "p/r"); !ok || err != nil {
		t.Errorf("TagDeleteSupported = %v, %v", ok, err)
	}
	if n := b.APIRequests() + b.Stats().Requests; n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

// TestRepositories: every project (paginated), every repository of each
// (paginated past Harbor's page_size maximum of 100), nested names as
// Harbor gives them.
func TestRepositories(t *testing.T) {
	f := start(t, nil)
	var want []string
	f.pushSmall(101, func(i int) string { return fmt.Sprintf("many/r%03d:v1", i) })
	for i := range 101 {
		want = append(want, fmt.Sprintf("many/r%03d", i))
	}
	f.push("team/tools/builder:v1", 2)
	f.push("team/app:v1", 3)
	want = append(want, "team/app", "team/tools/builder")

	b := f.backend("robot$sweeper", password)
	got, err := b.Repositories(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("repositories (-want +got):\n%s", diff)
	}
	wantReqs := []string{
		check,
		"GET /api/v2.0/projects?page_size=100",
		"GET /api/v2.0/projects/many/repositories?page_size=100",
		"GET /api/v2.0/projects/many/repositories?page=2&page_size=100",
		"GET /api/v2.0/projects/team/repositories?page_size=100",
	}
	if diff := gocmp.Diff(wantReqs, f.requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

// TestTags: a nested repository (double-encoded on the wire), all pages
// of its artifacts, each tag with its artifact's digest, its push time,
// and immutable tags protected.
func TestTags(t *testing.T) {
	f := start(t, nil)
	const repo = "team/tools/builder"
	digests := map[string]string{}
	f.pushSmall(101, func(i int) string { return fmt.Sprintf("%s:b%03d", repo, i) })
	digests["v1"] = f.push(repo+":v1", 1)
	f.tag(repo+":stable", repo+":v1")
	pushed := time.Date(2024, 2, 3, 4, 5, 6, 789e6, time.UTC)
	f.srv.SetPushTime(repo, "v1", pushed)
	f.srv.SetImmutable(repo, "stable", true)

	b := f.backend("robot$sweeper", password)
	tags, err := b.Tags(f.ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) != 103 {
		t.Fatalf("%d tags, want 103", len(tags))
	}
	byName := map[string]image.Tag{}
	for _, tg := range tags {
		if _, dup := byName[tg.Name]; dup {
			t.Errorf("tag %s listed twice", tg.Name)
		}
		byName[tg.Name] = tg
	}
	want := map[string]image.Tag{
		"v1":     {Name: "v1", Digest: digests["v1"], Pushed: pushed},
		"stable": {Name: "stable", Digest: digests["v1"], Pushed: t0, Protected: ProtectedImmutable},
	}
	for n, w := range want {
		if diff := gocmp.Diff(w, byName[n]); diff != "" {
			t.Errorf("tag %s (-want +got):\n%s", n, diff)
		}
	}
	b050 := byName["b050"]
	if d, _ := testregistry.Digest(f.ctx, f.addr+"/"+repo+":b050"); b050.Digest != d.String() || !b050.Pushed.Equal(t0) || b050.Protected != "" {
		t.Errorf("b050 = %+v, digest %s", b050, d)
	}
	const path = "/api/v2.0/projects/team/repositories/tools%252Fbuilder/artifacts"
	wantReqs := []string{
		check,
		"GET " + path + "?with_tag=true&with_immutable_status=true&q=tags%3D%2A&page_size=100",
		"GET " + path + "?page=2&page_size=100&q=tags=*&with_immutable_status=true&with_tag=true",
	}
	if diff := gocmp.Diff(wantReqs, f.requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	for _, r := range f.srv.Requests() {
		if r.Status != http.StatusOK {
			t.Errorf("%s answered %d", r, r.Status)
		}
	}
}

func TestTagsEmptyAndUnknown(t *testing.T) {
	f := start(t, nil)
	f.push("team/app:v1", 1)
	b := f.backend("robot$sweeper", password)
	if err := b.DeleteDigest(f.ctx, "team/app", mustDigest(t, f, "team/app:v1"), []string{"v1"}); err != nil {
		t.Fatal(err)
	}
	tags, err := b.Tags(f.ctx, "team/app")
	if err != nil || len(tags) != 0 {
		t.Errorf("emptied repository: %v, %v", tags, err)
	}
	_, err = b.Tags(f.ctx, "team/nothing")
	if !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("unknown repository: %v", err)
	}
	if _, err := b.Tags(f.ctx, "app"); err == nil || !strings.Contains(err.Error(), "project/repository") {
		t.Errorf("repository without a project: %v", err)
	}
}

func mustDigest(t *testing.T, f *fixture, ref string) string {
	t.Helper()
	d, err := testregistry.Digest(f.ctx, f.addr+"/"+ref)
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// TestDeleteTagSharedDigest: a stale tag on the digest of a kept tag goes
// by the REST tag delete; the kept tag still resolves and pulls.
func TestDeleteTagSharedDigest(t *testing.T) {
	f := start(t, nil)
	d := f.push("team/tools/builder:old", 1)
	f.tag("team/tools/builder:stable", "team/tools/builder:old")
	b := f.backend("robot$sweeper", password)
	if _, err := b.Tags(f.ctx, "team/tools/builder"); err != nil {
		t.Fatal(err)
	}
	f.srv.ResetRequests()
	if err := b.DeleteTag(f.ctx, "team/tools/builder", "old"); err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff([]string{"stable"}, f.tags("team/tools/builder")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	if got, err := b.Resolve(f.ctx, "team/tools/builder", "stable"); err != nil || got != d {
		t.Errorf("stable resolves to %s, %v; want %s", got, err, d)
	}
	if err := testregistry.VerifyPull(f.ctx, f.addr+"/team/tools/builder:stable"); err != nil {
		t.Errorf("stable does not pull: %v", err)
	}
	want := []string{"DELETE /api/v2.0/projects/team/repositories/tools%252Fbuilder/artifacts/" + d + "/tags/old"}
	if diff := gocmp.Diff(want, f.requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if del := f.reg.Deletes(); len(del) != 1 || del[0] != "DELETE /v2/team/tools/builder/manifests/old" {
		t.Errorf("registry deletes %v (the replica deletes the tag only)", del)
	}
	// Without a listing, the tag names the artifact.
	f.tag("team/tools/builder:again", "team/tools/builder:stable")
	f.srv.ResetRequests()
	b2 := f.backend("robot$sweeper", password)
	if err := b2.DeleteTag(f.ctx, "team/tools/builder", "again"); err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff([]string{"DELETE /api/v2.0/projects/team/repositories/tools%252Fbuilder/artifacts/again/tags/again"}, f.requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

// TestDeleteTagImmutable: 412 is ErrProtected with Harbor's message.
func TestDeleteTagImmutable(t *testing.T) {
	f := start(t, nil)
	f.push("team/app:v1", 1)
	f.srv.SetImmutable("team/app", "v1", true)
	b := f.backend("robot$sweeper", password)
	err := b.DeleteTag(f.ctx, "team/app", "v1")
	if !errors.Is(err, registry.ErrProtected) {
		t.Fatalf("DeleteTag immutable: %v", err)
	}
	if want := ProtectedImmutable + ": the tag v1 configured as immutable, cannot be deleted"; err.Error() != want {
		t.Errorf("reason %q, want %q", err.Error(), want)
	}
	if !f.exists("team/app:v1") {
		t.Error("immutable tag deleted")
	}
}

// TestDeleteTagMoved: a tag that moved since the listing is not deleted.
func TestDeleteTagMoved(t *testing.T) {
	f := start(t, nil)
	f.push("team/app:a", 1)
	newer := f.push("team/app:b", 2)
	b := f.backend("robot$sweeper", password)
	if _, err := b.Tags(f.ctx, "team/app"); err != nil {
		t.Fatal(err)
	}
	f.tag("team/app:a", "team/app:b") // a moves onto b's image
	err := b.DeleteTag(f.ctx, "team/app", "a")
	if err == nil || errors.Is(err, registry.ErrNotFound) || !strings.Contains(err.Error(), "now points at "+newer) {
		t.Fatalf("DeleteTag of a moved tag: %v", err)
	}
	if !f.exists("team/app:a") {
		t.Error("the moved tag was deleted")
	}
	// A tag deleted meanwhile is ErrNotFound (the engine counts it gone).
	if _, err := b.Tags(f.ctx, "team/app"); err != nil {
		t.Fatal(err)
	}
	other := f.backend("robot$sweeper", password)
	if err := other.DeleteTag(f.ctx, "team/app", "a"); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteTag(f.ctx, "team/app", "a"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("DeleteTag of a deleted tag: %v", err)
	}
}

// TestDeleteDigest: the REST artifact delete (by digest, never a tag)
// deletes the artifact and its tags, for a robot with "delete artifact"
// and no "delete repository" (which the registry API's DELETE needs: the
// replica refuses it that one a 401); Harbor's 412s are ErrProtected with
// the reason; a robot without "delete artifact" is told that is what it
// lacks.
func TestDeleteDigest(t *testing.T) {
	f := start(t, nil)
	old := f.push("team/app:old", 1)
	f.tag("team/app:old-too", "team/app:old")
	locked := f.push("team/app:locked", 2)
	f.srv.SetImmutable("team/app", "locked", true)
	var kids []v1.Image
	for i, p := range []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}} {
		img, err := testregistry.BuildImage(testregistry.ImageSpec{Created: t0, Seed: int64(10 + i), Platform: &p})
		if err != nil {
			t.Fatal(err)
		}
		kids = append(kids, img)
	}
	if _, err := testregistry.PushIndex(f.ctx, f.addr+"/team/app:multi", testregistry.IndexSpec{Children: kids}); err != nil {
		t.Fatal(err)
	}
	child, _ := kids[0].Digest()
	f.srv.SetPermissions("robot$sweeper", harbortest.PermArtifactList, harbortest.PermArtifactDelete, harbortest.PermTagDelete)

	// The registry API refuses this robot, as Harbor does.
	reg := f.backend("robot$sweeper", password).Backend
	if err := reg.DeleteDigest(f.ctx, "team/app", old, nil); !errors.Is(err, registry.ErrUnauthorized) {
		t.Fatalf("registry-API DELETE without repository delete: %v, want 401", err)
	}

	b := f.backend("robot$sweeper", password)
	f.srv.ResetRequests()
	if err := b.DeleteDigest(f.ctx, "team/app", old, []string{"old", "old-too"}); err != nil {
		t.Fatal(err)
	}
	if f.exists("team/app:old") || f.exists("team/app:old-too") || f.exists("team/app@"+old) {
		t.Error("the artifact or its tags are left")
	}
	if diff := gocmp.Diff([]string{"DELETE /api/v2.0/projects/team/repositories/app/artifacts/" + old}, f.requests()); diff != "" {
		t.Errorf("REST requests (-want +got):\n%s", diff)
	}
	if got := f.srv.RegistryDeletes(); len(got) != 0 {
		t.Errorf("registry deletes: %v", got)
	}
	// Already gone: ErrNotFound.
	if err := b.DeleteDigest(f.ctx, "team/app", old, nil); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("DeleteDigest of a deleted artifact: %v", err)
	}

	for _, c := range []struct {
		digest, want string
	}{
		{locked, ProtectedImmutable + ": the tag locked configured as immutable, cannot be deleted"},
		{child.String(), "referenced by another artifact (Harbor keeps what an index references): the deleting artifact is referenced by others"},
	} {
		err := b.DeleteDigest(f.ctx, "team/app", c.digest, nil)
		if !errors.Is(err, registry.ErrProtected) || err.Error() != c.want {
			t.Errorf("DeleteDigest %s: %v, want ErrProtected %q", c.digest, err, c.want)
		}
	}
	if !f.exists("team/app:locked") || !f.exists("team/app@"+child.String()) {
		t.Error("a protected artifact was deleted")
	}

	// Without "delete artifact": denied, naming the robot and the permission.
	f.srv.SetImmutable("team/app", "locked", false)
	f.srv.SetPermissions("robot$sweeper", harbortest.PermArtifactList, harbortest.PermTagDelete)
	err := b.DeleteDigest(f.ctx, "team/app", locked, nil)
	var ae *registry.AuthError
	if !errors.Is(err, registry.ErrDenied) || !errors.As(err, &ae) || !strings.Contains(ae.Need, `the artifact "delete" permission`) ||
		!strings.Contains(err.Error(), `robot account "robot$sweeper"`) {
		t.Errorf("DeleteDigest denied: %v", err)
	}
	noPassword(t, err)
	if !f.exists("team/app:locked") {
		t.Error("deleted though denied")
	}
}

// TestBadCredentials: a wrong password is refused before anything is
// listed (Harbor would list the public projects anonymously), names the
// user and never the password; nothing is deleted.
func TestBadCredentials(t *testing.T) {
	f := start(t, nil, "pub")
	f.push("team/app:v1", 1)
	f.push("pub/app:v1", 2)
	b := f.backend("robot$sweeper", "wrong-"+password)

	_, err := b.Repositories(f.ctx)
	var ae *registry.AuthError
	if !errors.Is(err, registry.ErrUnauthorized) || !errors.As(err, &ae) || !strings.Contains(err.Error(), `robot account "robot$sweeper"`) ||
		!strings.Contains(ae.Need, "valid Harbor credentials") {
		t.Errorf("Repositories: %v", err)
	}
	if _, err2 := b.Tags(f.ctx, "pub/app"); !errors.Is(err2, registry.ErrUnauthorized) {
		t.Errorf("Tags of a public project: %v", err2)
	}
	err3 := b.DeleteTag(f.ctx, "team/app", "v1")
	if !errors.Is(err3, registry.ErrUnauthorized) || !strings.Contains(err3.Error(), "Maintainer") {
		t.Errorf("DeleteTag: %v", err3)
	}
	for _, e := range []error{err, err3} {
		if strings.Contains(fmt.Sprint(e), "wrong-"+password) {
			t.Errorf("the password is in an error: %v", e)
		}
	}
	if !f.exists("team/app:v1") || !f.exists("pub/app:v1") {
		t.Error("something was deleted")
	}
	want := []string{
		check,
		"DELETE /api/v2.0/projects/team/repositories/app/artifacts/v1/tags/v1",
	}
	if diff := gocmp.Diff(want, f.requests()); diff != "" {
		t.Errorf("requests (-want +got): the check is asked once\n%s", diff)
	}
}

// TestDenied: a Developer may list but not delete.
func TestDenied(t *testing.T) {
	f := start(t, map[string]string{"dev": password})
	f.push("team/app:v1", 1)
	f.srv.SetRole("team", "dev", harbortest.RoleDeveloper)
	b := f.backend("dev", password)
	if _, err := b.Tags(f.ctx, "team/app"); err != nil {
		t.Fatal(err)
	}
	err := b.DeleteTag(f.ctx, "team/app", "v1")
	var ae *registry.AuthError
	if !errors.Is(err, registry.ErrDenied) || !errors.As(err, &ae) || ae.Status != 403 {
		t.Fatalf("DeleteTag as developer: %v", err)
	}
	for _, want := range []string{`user "dev"`, `the "delete tag" permission on Harbor project "team"`, "Maintainer or Project Admin", "FORBIDDEN"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	noPassword(t, err)
	if !f.exists("team/app:v1") {
		t.Error("deleted")
	}
	// An unknown project is a 403 too: the message says so.
	if _, err := b.Tags(f.ctx, "nope/app"); !errors.Is(err, registry.ErrDenied) || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("unknown project: %v", err)
	}
}

// TestConcurrent: the backend and the replica under the race detector.
func TestConcurrent(t *testing.T) {
	f := start(t, nil)
	for i := range 6 {
		f.push(fmt.Sprintf("team/app:t%d", i), int64(i+1))
		f.tag(fmt.Sprintf("team/app:s%d", i), fmt.Sprintf("team/app:t%d", i))
	}
	b := f.backend("robot$sweeper", password)
	if _, err := b.Tags(f.ctx, "team/app"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- b.DeleteTag(f.ctx, "team/app", fmt.Sprintf("t%d", i))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := f.tags("team/app"); len(got) != 6 || got[0] != "s0" {
		t.Errorf("tags left %v", got)
	}
}

// TestUntagged: every page of q=tags=nil (102 overwrites of one tag leave
// 101 untagged artifacts), each with its push_time; an index no tag
// points at any more with its children from its references, at the
// index's push time; the children of a tagged index and tagged artifacts
// are not listed.
func TestUntagged(t *testing.T) {
	f := start(t, nil)
	const repo = "team/tools/builder"
	var pushed []string
	for i := range 102 {
		h, err := testregistry.PushImage(f.ctx, f.addr+"/"+repo+":rolling", testregistry.ImageSpec{Created: t0.Add(time.Duration(i) * time.Second), Layers: -1})
		if err != nil {
			t.Fatal(err)
		}
		pushed = append(pushed, h.String())
	}
	var kids [2][]v1.Image
	var kidDigests [2][]string
	for n := range 2 {
		for i, arch := range []string{"amd64", "arm64"} {
			img, err := testregistry.BuildImage(testregistry.ImageSpec{Created: t0, Seed: int64(10*n + i), Platform: &v1.Platform{OS: "linux", Architecture: arch}})
			if err != nil {
				t.Fatal(err)
			}
			d, _ := img.Digest()
			kids[n] = append(kids[n], img)
			kidDigests[n] = append(kidDigests[n], d.String())
		}
	}
	if _, err := testregistry.PushIndex(f.ctx, f.addr+"/"+repo+":multi", testregistry.IndexSpec{Children: kids[0]}); err != nil {
		t.Fatal(err)
	}
	loose, err := testregistry.PushIndex(f.ctx, f.addr+"/"+repo+":tmp", testregistry.IndexSpec{Children: kids[1]})
	if err != nil {
		t.Fatal(err)
	}
	f.tag(repo+":tmp", repo+":rolling")
	at := time.Date(2024, 3, 4, 5, 6, 7, 0, time.UTC)
	f.srv.SetArtifactPushTime(repo, loose.String(), at)
	f.srv.SetArtifactPushTime(repo, pushed[0], at.Add(-time.Hour))
	f.srv.ResetRequests()

	b := f.backend("robot$sweeper", password)
	got, err := b.Untagged(f.ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	byDigest := map[string]time.Time{}
	for _, u := range got {
		if _, dup := byDigest[u.Digest]; dup {
			t.Errorf("%s listed twice", u.Digest)
		}
		byDigest[u.Digest] = u.Pushed
	}
	want := map[string]time.Time{loose.String(): at, kidDigests[1][0]: at, kidDigests[1][1]: at, pushed[0]: at.Add(-time.Hour)}
	for _, d := range pushed[1:101] {
		want[d] = t0
	}
	if diff := gocmp.Diff(want, byDigest); diff != "" {
		t.Errorf("untagged (-want +got):\n%s", diff)
	}
	const path = "/api/v2.0/projects/team/repositories/tools%252Fbuilder/artifacts"
	wantReqs := []string{
		check,
		"GET " + path + "?with_tag=false&q=tags%3Dnil&page_size=100",
		"GET " + path + "?page=2&page_size=100&q=tags=nil&with_tag=false",
	}
	if diff := gocmp.Diff(wantReqs, f.requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if !b.Capabilities().ListsUntagged {
		t.Error("Capabilities().ListsUntagged is false")
	}

	// Refused: the Harbor answer, classified.
	_, err = f.backend("robot$sweeper", "wrong").Untagged(f.ctx, repo)
	if !errors.Is(err, registry.ErrUnauthorized) {
		t.Errorf("wrong password: %v, want ErrUnauthorized", err)
	}
}
