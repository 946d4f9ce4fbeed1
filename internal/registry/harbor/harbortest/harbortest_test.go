package harbortest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tagsweep/tagsweep/internal/testregistry"
)

type fixture struct {
	reg *testregistry.Registry
	srv *Server
	ctx context.Context
}

var t0 = time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)

func start(t *testing.T, o Options) *fixture {
	t.Helper()
	reg, err := testregistry.New(context.Background(), testregistry.Options{DeleteEnabled: true, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	o.Registry = reg
	if o.Users == nil {
		o.Users = map[string]string{"ci": "s3cret"}
	}
	if o.Now == nil {
		o.Now = func() time.Time { return t0 }
	}
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return &fixture{reg: reg, srv: srv, ctx: context.Background()}
}

func (f *fixture) push(t *testing.T, ref string, seed int64) v1.Hash {
	t.Helper()
	h, err := testregistry.PushImage(f.ctx, f.reg.Addr()+"/"+ref, testregistry.ImageSpec{Created: t0, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (f *fixture) tag(t *testing.T, ref, src string) {
	t.Helper()
	if err := testregistry.Tag(f.ctx, f.reg.Addr()+"/"+ref, f.reg.Addr()+"/"+src); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) index(t *testing.T, ref string, seed int64) (v1.Hash, []v1.Hash) {
	t.Helper()
	var kids []v1.Image
	var digests []v1.Hash
	for i, p := range []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}} {
		img, err := testregistry.BuildImage(testregistry.ImageSpec{Created: t0, Seed: seed*10 + int64(i), Platform: &p})
		if err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		kids, digests = append(kids, img), append(digests, d)
	}
	h, err := testregistry.PushIndex(f.ctx, f.reg.Addr()+"/"+ref, testregistry.IndexSpec{Children: kids})
	if err != nil {
		t.Fatal(err)
	}
	return h, digests
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

// call sends method to the replica's API path (as given: already encoded).
func (f *fixture) call(t *testing.T, method, path, user, pass string) answer {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.APIURL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// registryCall sends method straight to the registry API, with Basic
// auth when user is not "".
func (f *fixture) registryCall(t *testing.T, method, path, user, pass string) answer {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+f.reg.Addr()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

func harborErr(t *testing.T, a answer) (string, string) {
	t.Helper()
	var e errorsJSON
	if err := json.Unmarshal(a.body, &e); err != nil || len(e.Errors) != 1 {
		t.Fatalf("not a Harbor error body (%v): %s", err, a.body)
	}
	return e.Errors[0].Code, e.Errors[0].Message
}

func exists(t *testing.T, ref string) bool {
	t.Helper()
	ok, err := testregistry.Exists(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// jsonKind is the JSON type of a decoded value.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// checkShape checks got against the swagger example: only documented
// properties, of the documented JSON type (null stands for an absent
// array or object), and the always-present ones present.
func checkShape(t *testing.T, what string, got map[string]any, example string, always ...string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", example))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", example, err)
	}
	for k, v := range got {
		want, ok := doc[k]
		if !ok {
			t.Errorf("%s: property %q is not in the swagger definition (%s)", what, k, example)
			continue
		}
		gk, wk := jsonKind(v), jsonKind(want)
		if gk != wk && !(gk == "null" && (wk == "array" || wk == "object")) {
			t.Errorf("%s: property %q is a JSON %s, the swagger says %s", what, k, gk, wk)
		}
	}
	for _, k := range always {
		if _, ok := got[k]; !ok {
			t.Errorf("%s: property %q missing", what, k)
		}
	}
}

func decodeList(t *testing.T, a answer) []map[string]any {
	t.Helper()
	if a.status != http.StatusOK {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	var out []map[string]any
	if err := json.Unmarshal(a.body, &out); err != nil {
		t.Fatalf("%v: %s", err, a.body)
	}
	return out
}

// TestBodiesMatchSwagger: every body the replica writes has the
// properties and JSON types of the swagger definitions (testdata).
func TestBodiesMatchSwagger(t *testing.T) {
	f := start(t, Options{})
	f.push(t, "team/app:v1", 1)
	f.index(t, "team/tools/builder:v2", 2)
	f.srv.SetImmutable("team/app", "v1", true)

	projects := decodeList(t, f.call(t, "GET", "/projects", "ci", "s3cret"))
	if len(projects) != 1 || projects[0]["name"] != "team" || projects[0]["repo_count"] != 2.0 {
		t.Fatalf("projects: %v", projects)
	}
	checkShape(t, "Project", projects[0], "project.json", "project_id", "name", "repo_count", "chart_count", "metadata")

	repos := decodeList(t, f.call(t, "GET", "/projects/team/repositories", "ci", "s3cret"))
	var names []string
	for _, r := range repos {
		checkShape(t, "Repository", r, "repository.json", "id", "name", "artifact_count", "pull_count")
		names = append(names, r["name"].(string))
	}
	if strings.Join(names, ",") != "team/app,team/tools/builder" {
		t.Errorf("repositories: %v", names)
	}

	for _, path := range []string{"/projects/team/repositories/app/artifacts?with_immutable_status=true", "/projects/team/repositories/tools%252Fbuilder/artifacts"} {
		arts := decodeList(t, f.call(t, "GET", path, "ci", "s3cret"))
		if len(arts) != 1 {
			t.Fatalf("%s: %d artifacts", path, len(arts))
		}
		checkShape(t, "Artifact", arts[0], "artifact.json", "digest", "tags", "push_time", "manifest_media_type")
		tags := arts[0]["tags"].([]any)
		if len(tags) != 1 {
			t.Fatalf("%s: tags %v", path, tags)
		}
		tg := tags[0].(map[string]any)
		checkShape(t, "Tag", tg, "tag.json", "name", "push_time", "immutable", "signed")
		if want := strings.HasSuffix(path, "with_immutable_status=true"); tg["immutable"] != want {
			t.Errorf("%s: immutable = %v, want %v", path, tg["immutable"], want)
		}
		if tg["push_time"] != "2025-05-01T12:00:00.000Z" {
			t.Errorf("push_time %v", tg["push_time"])
		}
		if refs, _ := arts[0]["references"].([]any); strings.Contains(path, "builder") && len(refs) != 2 {
			t.Errorf("index references: %v", arts[0]["references"])
		}
	}

	a := f.call(t, "DELETE", "/projects/team/repositories/app/artifacts/v1/tags/v1", "ci", "s3cret")
	if a.status != http.StatusPreconditionFailed {
		t.Fatalf("delete immutable tag: %d %s", a.status, a.body)
	}
	var e map[string]any
	if err := json.Unmarshal(a.body, &e); err != nil {
		t.Fatal(err)
	}
	checkShape(t, "Errors", e, "errors.json", "errors")
	if code, msg := harborErr(t, a); code != "PRECONDITION" || msg != "the tag v1 configured as immutable, cannot be deleted" {
		t.Errorf("412 body: %s", a.body)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("error Content-Type %q", ct)
	}
}

// TestPagination: page/page_size, X-Total-Count and Harbor's Link header
// (host-relative, prev and next joined by " , ", query unescaped).
func TestPagination(t *testing.T) {
	f := start(t, Options{})
	for i := range 7 {
		f.push(t, fmt.Sprintf("team/tools/builder:t%d", i), int64(i+1))
	}
	base := "/projects/team/repositories/tools%252Fbuilder/artifacts"
	var all []string
	for p := 1; p <= 3; p++ {
		a := f.call(t, "GET", fmt.Sprintf("%s?q=tags%%3D%%2A&page=%d&page_size=3", base, p), "ci", "s3cret")
		arts := decodeList(t, a)
		for _, x := range arts {
			all = append(all, x["digest"].(string))
		}
		if got := a.header.Get("X-Total-Count"); got != "7" {
			t.Errorf("page %d: X-Total-Count %q", p, got)
		}
		link := func(n int) string {
			return fmt.Sprintf("</api/v2.0%s?page=%d&page_size=3&q=tags=*>", base, n)
		}
		var want string
		switch p {
		case 1:
			want = link(2) + `; rel="next"`
		case 2:
			want = link(1) + `; rel="prev" , ` + link(3) + `; rel="next"`
		case 3:
			want = link(2) + `; rel="prev"`
		}
		if got := a.header.Get("Link"); got != want {
			t.Errorf("page %d Link:\n got %s\nwant %s", p, got, want)
		}
	}
	sort.Strings(all)
	if len(all) != 7 || len(compact(all)) != 7 {
		t.Errorf("pages gave %d artifacts (%d distinct), want 7", len(all), len(compact(all)))
	}
	if a := f.call(t, "GET", base+"?page_size=101", "ci", "s3cret"); a.status != http.StatusUnprocessableEntity {
		t.Errorf("page_size=101: %d", a.status)
	}
	if a := f.call(t, "GET", base, "ci", "s3cret"); len(decodeList(t, a)) != 7 || a.header.Get("Link") != "" {
		t.Errorf("default page size 10: %s / Link %q", a.body, a.header.Get("Link"))
	}
}

func compact(s []string) []string {
	var out []string
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// TestRepositoryNameEncoding: a nested repository name must be encoded
// twice; encoded once, its slash splits the path and nothing matches.
func TestRepositoryNameEncoding(t *testing.T) {
	f := start(t, Options{})
	f.push(t, "team/tools/builder:v1", 1)
	if a := f.call(t, "GET", "/projects/team/repositories/tools%252Fbuilder/artifacts", "ci", "s3cret"); len(decodeList(t, a)) != 1 {
		t.Errorf("double-encoded: %s", a.body)
	}
	a := f.call(t, "GET", "/projects/team/repositories/tools%2Fbuilder/artifacts", "ci", "s3cret")
	if code, _ := harborErr(t, a); a.status != http.StatusNotFound || code != "NOT_FOUND" {
		t.Errorf("single-encoded: %d %s", a.status, a.body)
	}
	if a := f.call(t, "GET", "/projects/team/repositories/tools%252Fnothing", "ci", "s3cret"); a.status != http.StatusNotFound {
		t.Errorf("unknown repository: %d %s", a.status, a.body)
	}
	reqs := f.srv.Requests()
	if reqs[0].Path != "/api/v2.0/projects/team/repositories/tools%252Fbuilder/artifacts" ||
		reqs[0].DecodedPath != "/api/v2.0/projects/team/repositories/tools%2Fbuilder/artifacts" {
		t.Errorf("recorded %+v", reqs[0])
	}
}

// TestAuth: wrong credentials are anonymous (public projects only, 401
// elsewhere), authenticated callers without the role get 403.
func TestAuth(t *testing.T) {
	f := start(t, Options{Users: map[string]string{"ci": "s3cret", "dev": "pw", "robot$sweeper": "tok"}, Public: []string{"pub"}})
	f.push(t, "team/app:v1", 1)
	f.push(t, "pub/app:v1", 2)
	f.srv.SetRole("team", "dev", RoleDeveloper)
	f.srv.SetRole("pub", "dev", RoleNone)

	names := func(a answer) string {
		var n []string
		for _, p := range decodeList(t, a) {
			n = append(n, p["name"].(string))
		}
		return strings.Join(n, ",")
	}
	if got := names(f.call(t, "GET", "/projects", "ci", "wrong")); got != "pub" {
		t.Errorf("wrong password sees %q, want the public project only", got)
	}
	if got := names(f.call(t, "GET", "/projects", "robot$sweeper", "tok")); got != "pub,team" {
		t.Errorf("robot sees %q", got)
	}
	for _, c := range []struct {
		method, path, user, pass string
		status                   int
		code                     string
	}{
		{"GET", "/projects/team/repositories/app/artifacts", "", "", 401, "UNAUTHORIZED"},
		{"GET", "/projects/team/repositories/app/artifacts", "ci", "wrong", 401, "UNAUTHORIZED"},
		{"GET", "/projects/pub/repositories/app/artifacts", "", "", 200, ""},
		{"DELETE", "/projects/pub/repositories/app/artifacts/v1/tags/v1", "", "", 401, "UNAUTHORIZED"},
		{"GET", "/projects/team/repositories/app/artifacts", "dev", "pw", 200, ""},
		{"DELETE", "/projects/team/repositories/app/artifacts/v1/tags/v1", "dev", "pw", 403, "FORBIDDEN"},
		{"GET", "/projects/nope/repositories/app/artifacts", "ci", "s3cret", 403, "FORBIDDEN"},
		{"GET", "/users/current/permissions", "ci", "wrong", 401, "UNAUTHORIZED"},
		{"GET", "/users/current/permissions", "robot$sweeper", "tok", 200, ""},
	} {
		a := f.call(t, c.method, c.path, c.user, c.pass)
		if a.status != c.status {
			t.Errorf("%s %s as %q: %d %s, want %d", c.method, c.path, c.user, a.status, a.body, c.status)
			continue
		}
		if c.code != "" {
			if code, _ := harborErr(t, a); code != c.code {
				t.Errorf("%s %s as %q: code %s, want %s", c.method, c.path, c.user, code, c.code)
			}
		}
	}
	if !exists(t, f.reg.Addr()+"/team/app:v1") || !exists(t, f.reg.Addr()+"/pub/app:v1") {
		t.Error("a refused delete deleted something")
	}
	r := f.srv.Requests()[1]
	if r.Auth != "Basic" || r.User != "robot$sweeper" || r.Status != 200 {
		t.Errorf("recorded %+v", r)
	}
}

// TestDeleteTag: the tag delete removes that tag only; immutable tags and
// tags not on the named artifact are refused.
func TestDeleteTag(t *testing.T) {
	f := start(t, Options{})
	d := f.push(t, "team/app:old", 1)
	f.tag(t, "team/app:stable", "team/app:old")
	f.push(t, "team/app:other", 2)
	f.srv.SetImmutable("team/app", "stable", true)
	a := f.reg.Addr()

	if r := f.call(t, "DELETE", "/projects/team/repositories/app/artifacts/"+d.String()+"/tags/other", "ci", "s3cret"); r.status != 404 {
		t.Errorf("tag on another artifact: %d %s", r.status, r.body)
	} else if _, msg := harborErr(t, r); !strings.HasPrefix(msg, "tag other attached to artifact ") {
		t.Errorf("404 message %q", msg)
	}
	if r := f.call(t, "DELETE", "/projects/team/repositories/app/artifacts/stable/tags/stable", "ci", "s3cret"); r.status != 412 {
		t.Errorf("immutable: %d %s", r.status, r.body)
	}
	if r := f.call(t, "DELETE", "/projects/team/repositories/app/artifacts/"+d.String()+"/tags/old", "ci", "s3cret"); r.status != 200 || len(r.body) != 0 {
		t.Fatalf("delete old: %d %s", r.status, r.body)
	}
	if exists(t, a+"/team/app:old") {
		t.Error("old still there")
	}
	if err := testregistry.VerifyPull(f.ctx, a+"/team/app:stable"); err != nil {
		t.Errorf("stable, on the same digest, no longer pulls: %v", err)
	}
	if r := f.call(t, "DELETE", "/projects/team/repositories/app/artifacts/sha256:"+strings.Repeat("0", 64)+"/tags/x", "ci", "s3cret"); r.status != 404 {
		t.Errorf("unknown artifact: %d %s", r.status, r.body)
	}
	if got := f.srv.Deletes(); len(got) != 4 {
		t.Errorf("Deletes() = %v", got)
	}
}

// TestRegistryAPI: the registry API answers DELETE as Harbor's does: 401
// unless the caller may delete the repository (a robot with artifact and
// tag delete may not), 400 by tag, 412 when protected, else 202.
func TestRegistryAPI(t *testing.T) {
	f := start(t, Options{Users: map[string]string{"ci": "s3cret", "robot$sweeper": "tok"}})
	f.srv.SetPermissions("robot$sweeper", PermArtifactList, PermArtifactDelete, PermTagDelete)
	img := f.push(t, "team/app:v1", 1)
	f.push(t, "team/app:locked", 2)
	locked, _ := testregistry.Digest(f.ctx, f.reg.Addr()+"/team/app:locked")
	f.srv.SetImmutable("team/app", "locked", true)
	idx, kids := f.index(t, "team/app:multi", 3)

	check := func(path string, status int, code, msg string) {
		t.Helper()
		a := f.registryCall(t, "DELETE", path, "ci", "s3cret")
		if a.status != status {
			t.Fatalf("DELETE %s: %d %s, want %d", path, a.status, a.body, status)
		}
		if code != "" {
			if c, m := harborErr(t, a); c != code || m != msg {
				t.Errorf("DELETE %s: %s %q, want %s %q", path, c, m, code, msg)
			}
		}
	}
	unauthorized := "unauthorized to access repository: team/app, action: delete: unauthorized to access repository: team/app, action: delete"
	for _, c := range []struct{ user, pass, challenge string }{
		{"", "", `Bearer realm="http://` + f.reg.Addr() + `/service/token",service="harbor-registry",scope="repository:team/app:delete"`},
		{"robot$sweeper", "tok", `Basic realm="harbor"`},
		{"ci", "wrong", `Basic realm="harbor"`},
	} {
		a := f.registryCall(t, "DELETE", "/v2/team/app/manifests/"+img.String(), c.user, c.pass)
		if code, msg := harborErr(t, a); a.status != 401 || code != "UNAUTHORIZED" || msg != unauthorized {
			t.Errorf("DELETE as %q: %d %s %q", c.user, a.status, code, msg)
		}
		if got := a.header.Get("Www-Authenticate"); got != c.challenge {
			t.Errorf("DELETE as %q: challenge %q, want %q", c.user, got, c.challenge)
		}
	}
	if n := len(f.srv.RegistryDeletes()); n != 3 {
		t.Errorf("RegistryDeletes: %d, want 3", n)
	}
	check("/v2/team/app/manifests/v1", 400, "UNSUPPORTED", "unsupported digest v1: invalid checksum digest format")
	check("/v2/team/app/manifests/"+locked.String(), 412, "PRECONDITION", "the tag locked configured as immutable, cannot be deleted")
	check("/v2/team/app/manifests/"+kids[0].String(), 412, "VIOLATE_FOREIGN_KEY_CONSTRAINT", "the deleting artifact is referenced by others")
	check("/v2/team/app/manifests/"+img.String(), 202, "", "")
	check("/v2/team/app/manifests/"+idx.String(), 202, "", "")
	check("/v2/team/app/manifests/"+kids[0].String(), 202, "", "") // no longer referenced
	if exists(t, f.reg.Addr()+"/team/app:v1") || !exists(t, f.reg.Addr()+"/team/app:locked") {
		t.Error("wrong manifests deleted")
	}

	var calls sync.Map
	f.srv.SetRegistryFault(func(w http.ResponseWriter, r *http.Request) bool {
		calls.Store(r.URL.Path, true)
		if r.Method == http.MethodDelete {
			testregistry.WriteError(w, http.StatusForbidden, "DENIED", "injected")
			return true
		}
		return false
	})
	check("/v2/team/app/manifests/"+kids[1].String(), 403, "DENIED", "injected")
	if _, ok := calls.Load("/v2/team/app/manifests/" + kids[1].String()); !ok {
		t.Error("fault hook not called")
	}
}

// TestPushTimes: first seen by default, settable, renewed when the tag moves.
func TestPushTimes(t *testing.T) {
	now := t0
	var mu sync.Mutex
	f := start(t, Options{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	f.push(t, "team/app:a", 1)
	f.push(t, "team/app:b", 2)
	set := time.Date(2024, 1, 2, 3, 4, 5, 600e6, time.UTC)
	f.srv.SetPushTime("team/app", "b", set)
	times := func() map[string]string {
		out := map[string]string{}
		for _, a := range decodeList(t, f.call(t, "GET", "/projects/team/repositories/app/artifacts", "ci", "s3cret")) {
			tags, _ := a["tags"].([]any) // null: a's old artifact, untagged since a moved
			for _, tg := range tags {
				m := tg.(map[string]any)
				out[m["name"].(string)] = m["push_time"].(string)
			}
		}
		return out
	}
	if got := times(); got["a"] != "2025-05-01T12:00:00.000Z" || got["b"] != "2024-01-02T03:04:05.600Z" {
		t.Errorf("push times %v", got)
	}
	mu.Lock()
	now = t0.Add(time.Hour)
	mu.Unlock()
	f.tag(t, "team/app:a", "team/app:b") // a moves
	if got := times(); got["a"] != "2025-05-01T13:00:00.000Z" || got["b"] != "2024-01-02T03:04:05.600Z" {
		t.Errorf("after moving a: %v", got)
	}
}

// TestRobotPermissions: a robot account may do exactly what its
// permissions say, in every project: listing needs repository and
// artifact list, the REST deletes artifact or tag delete.
func TestRobotPermissions(t *testing.T) {
	f := start(t, Options{Users: map[string]string{"robot$ro": "tok", "robot$rw": "tok"}})
	d := f.push(t, "team/app:v1", 1)
	f.push(t, "team/app:v2", 2)
	f.srv.SetPermissions("robot$ro", PermRepositoryList, PermArtifactList)
	f.srv.SetPermissions("robot$rw", PermArtifactList, PermArtifactDelete, PermTagDelete)
	for _, c := range []struct {
		method, path, user string
		status             int
	}{
		{"GET", "/projects/team/repositories", "robot$ro", 200},
		{"GET", "/projects/team/repositories", "robot$rw", 403},
		{"GET", "/projects/team/repositories/app", "robot$ro", 403},
		{"GET", "/projects/team/repositories/app/artifacts", "robot$ro", 200},
		{"DELETE", "/projects/team/repositories/app/artifacts/v2/tags/v2", "robot$ro", 403},
		{"DELETE", "/projects/team/repositories/app/artifacts/" + d.String(), "robot$ro", 403},
		{"DELETE", "/projects/team/repositories/app/artifacts/v2/tags/v2", "robot$rw", 200},
		{"DELETE", "/projects/team/repositories/app/artifacts/" + d.String(), "robot$rw", 200},
	} {
		if a := f.call(t, c.method, c.path, c.user, "tok"); a.status != c.status {
			t.Errorf("%s %s as %s: %d %s, want %d", c.method, c.path, c.user, a.status, a.body, c.status)
		}
	}
	if exists(t, f.reg.Addr()+"/team/app:v1") || exists(t, f.reg.Addr()+"/team/app:v2") {
		t.Error("the permitted deletes did not delete")
	}
}

// TestUntaggedArtifacts: q=tags=nil lists the artifacts without tags that
// no other references (the previous digest of an overwritten tag, an index
// no tag points at any more, with its children as references), newest
// first, with push_time; q=tags=* leaves them out and no filter lists
// both; a child of the untagged index is refused while the index holds
// it, and deleting the index deletes its untagged children too.
func TestUntaggedArtifacts(t *testing.T) {
	f := start(t, Options{})
	old := f.push(t, "team/app:v1", 1)
	cur := f.push(t, "team/app:v1", 2) // v1 overwritten: old is untagged
	_, keptKids := f.index(t, "team/app:multi", 5)
	loose, looseKids := f.index(t, "team/app:tmp", 6)
	f.tag(t, "team/app:tmp", "team/app:v1") // the index loses its tag
	set := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	f.srv.SetArtifactPushTime("team/app", old.String(), set)

	list := func(q string) []map[string]any {
		return decodeList(t, f.call(t, "GET", "/projects/team/repositories/app/artifacts"+q, "ci", "s3cret"))
	}
	digests := func(arts []map[string]any) []string {
		var out []string
		for _, a := range arts {
			out = append(out, a["digest"].(string))
		}
		return out
	}
	untagged := list("?q=tags%3Dnil")
	if diff := cmp.Diff([]string{loose.String(), old.String()}, digests(untagged)); diff != "" {
		t.Errorf("q=tags=nil (-want +got):\n%s", diff)
	}
	if len(untagged) == 2 {
		var refs []string
		for _, r := range untagged[0]["references"].([]any) {
			refs = append(refs, r.(map[string]any)["child_digest"].(string))
		}
		if diff := cmp.Diff([]string{looseKids[0].String(), looseKids[1].String()}, refs); diff != "" {
			t.Errorf("the untagged index's references (-want +got):\n%s", diff)
		}
		if untagged[0]["tags"] != nil || untagged[1]["push_time"] != "2024-01-02T03:04:05.000Z" || untagged[0]["push_time"] != "2025-05-01T12:00:00.000Z" {
			t.Errorf("untagged artifacts %v", untagged)
		}
	}
	tagged := digests(list("?q=tags%3D%2A"))
	all := digests(list(""))
	for _, d := range []string{old.String(), loose.String(), looseKids[0].String(), keptKids[0].String()} {
		if slices.Contains(tagged, d) {
			t.Errorf("q=tags=* lists %s", d)
		}
	}
	if !slices.Contains(all, old.String()) || !slices.Contains(all, loose.String()) || !slices.Contains(all, cur.String()) || slices.Contains(all, looseKids[0].String()) {
		t.Errorf("no filter lists %v", all)
	}

	if a := f.call(t, "DELETE", "/projects/team/repositories/app/artifacts/"+looseKids[0].String(), "ci", "s3cret"); a.status != 412 || !strings.Contains(string(a.body), "VIOLATE_FOREIGN_KEY_CONSTRAINT") {
		t.Errorf("deleting a child of the untagged index: %d %s", a.status, a.body)
	}
	if a := f.call(t, "DELETE", "/projects/team/repositories/app/artifacts/"+loose.String(), "ci", "s3cret"); a.status != 200 {
		t.Fatalf("deleting the untagged index: %d %s", a.status, a.body)
	}
	for _, k := range looseKids {
		if exists(t, f.reg.Addr()+"/team/app@"+k.String()) {
			t.Errorf("child %s of the deleted index is still there", k)
		}
	}
	for _, k := range keptKids {
		if !exists(t, f.reg.Addr()+"/team/app@"+k.String()) {
			t.Errorf("child %s of the tagged index was deleted", k)
		}
	}
	if diff := cmp.Diff([]string{old.String()}, digests(list("?q=tags%3Dnil"))); diff != "" {
		t.Errorf("q=tags=nil after the delete (-want +got):\n%s", diff)
	}
}
