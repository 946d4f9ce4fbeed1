package ghcrtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tagsweep/tagsweep/internal/testregistry"
)

const token = "test-token-1234"

func start(t *testing.T, o Options) (*testregistry.Registry, *Server) {
	t.Helper()
	r, err := testregistry.New(context.Background(), testregistry.Options{DeleteEnabled: true, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	o.Registry = r
	if o.Token == "" {
		o.Token = token
	}
	s, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return r, s
}

func push(t *testing.T, ref string, seed int64) string {
	t.Helper()
	h, err := testregistry.PushImage(context.Background(), ref, testregistry.ImageSpec{Seed: seed, Layers: -1,
		Created: time.Date(2024, 1, 1, 0, 0, int(seed), 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func call(t *testing.T, method, u string, auth string) answer {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, b}
}

func get(t *testing.T, u string) answer {
	t.Helper()
	return call(t, http.MethodGet, u, "Bearer "+token)
}

// shape is the field structure of a JSON value: objects by key, arrays by
// their first element, scalars by JSON kind (null counts as any kind).
func shape(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = shape(e)
		}
		return out
	case []any:
		if len(x) == 0 {
			return []any{}
		}
		return []any{shape(x[0])}
	case nil:
		return "any"
	}
	return "scalar"
}

// sameFields compares shapes; "any" (a documented null) matches a scalar.
func sameFields(t *testing.T, what string, doc, got any) {
	t.Helper()
	opt := gocmp.FilterValues(func(a, b any) bool {
		return a == "any" || b == "any"
	}, gocmp.Ignore())
	if diff := gocmp.Diff(shape(doc), shape(got), opt); diff != "" {
		t.Errorf("%s: fields differ from the documented shape (-doc +replica):\n%s", what, diff)
	}
}

func load(t *testing.T, name string) any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

func decode(t *testing.T, a answer) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(a.body, &v); err != nil {
		t.Fatalf("answer is not JSON: %v\n%s", err, a.body)
	}
	return v
}

// TestDocumentedShapes: the replica's bodies have the fields of GitHub's
// documented examples (testdata/README.md names the pages).
func TestDocumentedShapes(t *testing.T) {
	t.Parallel()
	r, s := start(t, Options{Orgs: []string{"acme"}})
	push(t, r.Addr()+"/octo/app:v1", 1)
	push(t, r.Addr()+"/octo/app:v2", 2)
	push(t, r.Addr()+"/acme/api:v1", 3)

	user := get(t, s.URL()+"/users/octo")
	if user.status != 200 {
		t.Fatalf("GET /users/octo: %d %s", user.status, user.body)
	}
	sameFields(t, "GET /users/{username}", load(t, "public-user.json"), decode(t, user))
	if got := decode(t, user).(map[string]any)["type"]; got != "User" {
		t.Errorf("type = %v, want User", got)
	}
	org := get(t, s.URL()+"/users/acme")
	sameFields(t, "GET /users/{org}", load(t, "public-user.json"), decode(t, org))
	if got := decode(t, org).(map[string]any)["type"]; got != "Organization" {
		t.Errorf("type = %v, want Organization", got)
	}

	pk := get(t, s.URL()+"/orgs/acme/packages?package_type=container")
	sameFields(t, "GET /orgs/{org}/packages", load(t, "packages-for-org.json"), decode(t, pk))
	pu := get(t, s.URL()+"/users/octo/packages?package_type=container")
	sameFields(t, "GET /users/{username}/packages", load(t, "packages-for-org.json"), decode(t, pu))

	vs := get(t, s.URL()+"/user/packages/container/app/versions")
	sameFields(t, "GET …/versions", load(t, "package-versions-container.json"), decode(t, vs))
	var versions []struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal(vs.body, &versions); err != nil || len(versions) != 2 {
		t.Fatalf("versions: %v %s", err, vs.body)
	}
	one := get(t, fmt.Sprintf("%s/user/packages/container/app/versions/%d", s.URL(), versions[0].ID))
	sameFields(t, "GET …/versions/{id}", load(t, "package-versions-container.json").([]any)[0], decode(t, one))

	for _, u := range []string{"/users/nobody", "/orgs/octo/packages?package_type=container", "/user/packages/container/nope/versions", "/nothing"} {
		a := get(t, s.URL()+u)
		if a.status != 404 {
			t.Errorf("GET %s: %d, want 404", u, a.status)
		}
		sameFields(t, "404 of "+u, load(t, "basic-error.json"), decode(t, a))
	}
	noAuth := call(t, http.MethodGet, s.URL()+"/users/octo", "")
	if noAuth.status != 401 {
		t.Errorf("no Authorization: %d, want 401", noAuth.status)
	}
	sameFields(t, "401", load(t, "basic-error.json"), decode(t, noAuth))
	for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "X-RateLimit-Used", "X-RateLimit-Resource", "X-OAuth-Scopes"} {
		if user.header.Get(h) == "" {
			t.Errorf("no %s header", h)
		}
	}
}

// TestPagination: per_page/page and GitHub's Link header, and a package
// name with '/' sent as %2F.
func TestPagination(t *testing.T) {
	t.Parallel()
	r, s := start(t, Options{})
	want := map[string]bool{}
	for i := range 5 {
		want[push(t, fmt.Sprintf("%s/octo/tools/builder:t%d", r.Addr(), i), int64(i))] = true
	}
	base := s.URL() + "/user/packages/container/tools%2Fbuilder/versions"
	got := map[string]bool{}
	next, pages := base+"?per_page=2", 0
	for next != "" {
		a := get(t, next)
		if a.status != 200 {
			t.Fatalf("GET %s: %d %s", next, a.status, a.body)
		}
		var vs []struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(a.body, &vs); err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			got[v.Name] = true
		}
		pages++
		next = ""
		for _, part := range strings.Split(a.header.Get("Link"), ",") {
			if strings.Contains(part, `rel="next"`) {
				next = strings.Trim(strings.TrimSpace(strings.Split(part, ";")[0]), "<>")
			}
		}
		if pages == 1 && !strings.Contains(a.header.Get("Link"), `page=3&per_page=2>; rel="last"`) {
			t.Errorf("page 1 Link = %q", a.header.Get("Link"))
		}
		if next != "" && !strings.Contains(next, "tools%2Fbuilder") {
			t.Errorf("next link %q lost the escaped package name", next)
		}
	}
	if pages != 3 || !gocmp.Equal(want, got) {
		t.Errorf("%d pages, versions %v; want 3 pages of %v", pages, got, want)
	}
	// The unescaped name is another path: not found.
	if a := get(t, s.URL()+"/user/packages/container/tools/builder/versions"); a.status != 404 {
		t.Errorf("unescaped package name: %d, want 404", a.status)
	}
	var paths []string
	for _, q := range s.Requests() {
		paths = append(paths, q.String())
	}
	wantPaths := []string{
		"GET /user/packages/container/tools%2Fbuilder/versions?per_page=2",
		"GET /user/packages/container/tools%2Fbuilder/versions?page=2&per_page=2",
		"GET /user/packages/container/tools%2Fbuilder/versions?page=3&per_page=2",
		"GET /user/packages/container/tools/builder/versions",
	}
	if diff := gocmp.Diff(wantPaths, paths); diff != "" {
		t.Errorf("recorded requests (-want +got):\n%s", diff)
	}
}

// TestVersionsFollowTheRegistry: untagged index children are versions,
// ids are stable, a manifest whose last tag moved away stays a version,
// and deleting a version deletes the manifest (and its tags) in the
// registry, while the registry API itself refuses deletes like ghcr.io.
func TestVersionsFollowTheRegistry(t *testing.T) {
	t.Parallel()
	r, s := start(t, Options{})
	ctx := context.Background()
	a, err := testregistry.BuildImage(testregistry.ImageSpec{Seed: 10, Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := testregistry.BuildImage(testregistry.ImageSpec{Seed: 11, Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}})
	if err != nil {
		t.Fatal(err)
	}
	idx, err := testregistry.PushIndex(ctx, r.Addr()+"/octo/app:multi", testregistry.IndexSpec{Children: []v1.Image{a, b}})
	if err != nil {
		t.Fatal(err)
	}
	ad, _ := a.Digest()
	bd, _ := b.Digest()
	single := push(t, r.Addr()+"/octo/app:single", 3)
	other := push(t, r.Addr()+"/octo/app:other", 4)

	vs, err := s.Versions("octo/app")
	if err != nil {
		t.Fatal(err)
	}
	byDigest := map[string]Version{}
	for _, v := range vs {
		byDigest[v.Digest] = v
	}
	wantTags := map[string][]string{idx.String(): {"multi"}, ad.String(): {}, bd.String(): {}, single: {"single"}, other: {"other"}}
	gotTags := map[string][]string{}
	for d, v := range byDigest {
		gotTags[d] = v.Tags
	}
	if diff := gocmp.Diff(wantTags, gotTags); diff != "" {
		t.Fatalf("versions (-want +got):\n%s", diff)
	}

	// Move "single" away: its manifest stays a version, untagged, same id.
	if err := testregistry.Tag(ctx, r.Addr()+"/octo/app:single", r.Addr()+"/octo/app:other"); err != nil {
		t.Fatal(err)
	}
	vs2, err := s.Versions("octo/app")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs2 {
		if v.ID != byDigest[v.Digest].ID {
			t.Errorf("%s changed id %d -> %d", v.Digest, byDigest[v.Digest].ID, v.ID)
		}
		if v.Digest == single && len(v.Tags) != 0 {
			t.Errorf("moved-away version still has tags %v", v.Tags)
		}
	}
	if len(vs2) != 5 {
		t.Errorf("%d versions after moving a tag, want 5", len(vs2))
	}

	// The registry API refuses deletes like ghcr.io.
	del := call(t, http.MethodDelete, "http://"+r.Addr()+"/v2/octo/app/manifests/"+other, "")
	if del.status != http.StatusMethodNotAllowed || !strings.Contains(string(del.body), `"UNSUPPORTED"`) {
		t.Errorf("registry DELETE: %d %s, want 405 UNSUPPORTED", del.status, del.body)
	}
	// The API deletes: the manifest and both of its tags go.
	id := byDigest[other].ID
	apiDel := call(t, http.MethodDelete, fmt.Sprintf("%s/user/packages/container/app/versions/%d", s.URL(), id), "Bearer "+token)
	if apiDel.status != http.StatusNoContent || len(apiDel.body) != 0 {
		t.Fatalf("API DELETE: %d %s", apiDel.status, apiDel.body)
	}
	tags, err := testregistry.ListTags(ctx, r.Addr()+"/octo/app")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(tags)
	if diff := gocmp.Diff([]string{"multi"}, tags); diff != "" {
		t.Errorf("tags after the delete (-want +got):\n%s", diff)
	}
	if diff := gocmp.Diff([]string{"octo/app@" + other}, s.Deleted()); diff != "" {
		t.Errorf("Deleted (-want +got):\n%s", diff)
	}
	if again := call(t, http.MethodDelete, fmt.Sprintf("%s/user/packages/container/app/versions/%d", s.URL(), id), "Bearer "+token); again.status != 404 {
		t.Errorf("second DELETE: %d, want 404", again.status)
	}
	gone := get(t, s.URL()+"/user/packages/container/app/versions?state=deleted")
	if !strings.Contains(string(gone.body), other) || !strings.Contains(string(gone.body), `"deleted_at"`) {
		t.Errorf("state=deleted: %s", gone.body)
	}
}

// TestFaults: injected rate limits, a token without delete permission,
// the last version and the download limit.
func TestFaults(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r, s := start(t, Options{Now: func() time.Time { return now }})
	d1 := push(t, r.Addr()+"/octo/app:v1", 1)
	push(t, r.Addr()+"/octo/app:v2", 2)
	vs, err := s.Versions("octo/app")
	if err != nil {
		t.Fatal(err)
	}
	id := map[string]int64{}
	for _, v := range vs {
		id[v.Digest] = v.ID
	}
	u := s.URL() + "/user/packages/container/app/versions"

	s.Inject(Fault{Kind: SecondaryRateLimit, RetryAfter: 3 * time.Second})
	a := get(t, u)
	if a.status != 403 || a.header.Get("Retry-After") != "3" || !strings.Contains(string(a.body), "secondary rate limit") {
		t.Errorf("secondary: %d retry-after %q %s", a.status, a.header.Get("Retry-After"), a.body)
	}
	s.Inject(Fault{Kind: PrimaryRateLimit, RetryAfter: time.Minute})
	a = get(t, u)
	if a.status != 403 || a.header.Get("X-RateLimit-Remaining") != "0" || a.header.Get("X-RateLimit-Reset") != fmt.Sprint(now.Add(time.Minute).Unix()) {
		t.Errorf("primary: %d %v", a.status, a.header)
	}
	s.Inject(Fault{Kind: TooManyRequests, Method: http.MethodDelete})
	if a = get(t, u); a.status != 200 {
		t.Errorf("a GET took the DELETE fault: %d", a.status)
	}
	a = call(t, http.MethodDelete, fmt.Sprintf("%s/%d", u, id[d1]), "Bearer "+token)
	if a.status != 429 || a.header.Get("Retry-After") != "1" {
		t.Errorf("429: %d %v", a.status, a.header)
	}

	s.SetPublic("octo/app")
	s.SetDownloads("octo/app", d1, 5001)
	a = call(t, http.MethodDelete, fmt.Sprintf("%s/%d", u, id[d1]), "Bearer "+token)
	if a.status != 400 || !strings.Contains(string(a.body), "5000 downloads") {
		t.Errorf("download limit: %d %s", a.status, a.body)
	}

	s.DenyDeletes("read:packages")
	a = call(t, http.MethodDelete, fmt.Sprintf("%s/%d", u, id[d1]), "Bearer "+token)
	if a.status != 404 || a.header.Get("X-OAuth-Scopes") != "read:packages" || !strings.Contains(string(a.body), "Package not found.") {
		t.Errorf("denied delete: %d %v %s", a.status, a.header, a.body)
	}
	if ok, err := testregistry.Exists(context.Background(), r.Addr()+"/octo/app@"+d1); err != nil || !ok {
		t.Errorf("denied delete deleted the manifest: %v %v", ok, err)
	}
	if len(s.Deleted()) != 0 {
		t.Errorf("deleted: %v", s.Deleted())
	}
}

// TestLastTaggedVersion: GitHub refuses to delete a package's only tagged
// version, in its words; untagged versions never count and always delete;
// the two 404s say what they mean.
func TestLastTaggedVersion(t *testing.T) {
	t.Parallel()
	r, s := start(t, Options{})
	v1 := push(t, r.Addr()+"/octo/app:v1", 1)
	v2 := push(t, r.Addr()+"/octo/app:v2", 2)
	loose := push(t, r.Addr()+"/octo/app:loose", 3)
	// loose loses its tag: an untagged version.
	if err := testregistry.Tag(context.Background(), r.Addr()+"/octo/app:loose", r.Addr()+"/octo/app:v2"); err != nil {
		t.Fatal(err)
	}
	vs, err := s.Versions("octo/app")
	if err != nil {
		t.Fatal(err)
	}
	id := map[string]int64{}
	for _, v := range vs {
		id[v.Digest] = v.ID
	}
	if len(id) != 3 {
		t.Fatalf("versions %v", vs)
	}
	del := func(d string) answer {
		return call(t, http.MethodDelete, fmt.Sprintf("%s/user/packages/container/app/versions/%d", s.URL(), id[d]), "Bearer "+token)
	}
	if a := del(v1); a.status != 204 {
		t.Fatalf("a tagged version with another one tagged: %d %s", a.status, a.body)
	}
	a := del(v2)
	if a.status != 400 || decode(t, a).(map[string]any)["message"] != msgLastTagged {
		t.Errorf("the last tagged version: %d %s", a.status, a.body)
	}
	if a := del(loose); a.status != 204 {
		t.Errorf("an untagged version beside the last tagged one: %d %s", a.status, a.body)
	}
	if a := del(v1); a.status != 404 || decode(t, a).(map[string]any)["message"] != msgVersionNotFound {
		t.Errorf("a deleted version: %d %s, want 404 %q", a.status, a.body, msgVersionNotFound)
	}
	s.DenyDeletes("read:packages")
	if a := del(v2); a.status != 404 || decode(t, a).(map[string]any)["message"] != msgPackageNotFound {
		t.Errorf("without permission: %d %s, want 404 %q", a.status, a.body, msgPackageNotFound)
	}
	if a := del(v1); a.status != 404 || decode(t, a).(map[string]any)["message"] != msgPackageNotFound {
		t.Errorf("a deleted version without permission: %d %s, want the permission's 404 first", a.status, a.body)
	}
}

// TestTokenKinds: what each kind of token is answered, by its prefix.
func TestTokenKinds(t *testing.T) {
	t.Parallel()
	const ghs, pat = "ghs_workflowTokenValue0123", "github_pat_fineGrainedValue0123"
	cases := []struct {
		name, token, method, path string
		status                    int
		message                   string
		scopes                    bool
	}{
		{"classic: GET /user", token, "GET", "/user", 200, "", true},
		{"classic: own private package under /user", token, "GET", "/user/packages/container/app/versions", 200, "", true},
		{"classic: own private package under /users", token, "GET", "/users/octo/packages/container/app/versions", 404, msgPackageNotFound, true},
		{"classic: the owner's packages", token, "GET", "/users/octo/packages?package_type=container", 200, "", true},
		{"package_type missing", token, "GET", "/users/octo/packages", 422, msgTypeRequired, true},
		{"package_type invalid", token, "GET", "/users/octo/packages?package_type=oci", 422, msgTypeInvalid, true},
		{"per_page times page over 10000", token, "GET", "/users/octo/packages?package_type=container&per_page=100&page=101", 400, msgPageLimit, true},
		{"state invalid", token, "GET", "/user/packages/container/app/versions?state=gone", 422, msgStateInvalid, true},
		{"installation: GET /user", ghs, "GET", "/user", 403, msgIntegration, false},
		{"installation: the owner's packages", ghs, "GET", "/users/octo/packages?package_type=container", 400, msgInvalidArgument, false},
		{"installation: /user is the repository owner's", ghs, "GET", "/user/packages/container/app/versions", 200, "", false},
		{"installation: a private package under /users", ghs, "GET", "/users/octo/packages/container/app/versions", 403, msgIntegration, false},
		{"fine-grained: a package", pat, "GET", "/user/packages/container/app/versions", 403, msgFineGrained, false},
		{"fine-grained: GET /users", pat, "GET", "/users/octo", 200, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r, s := start(t, Options{Token: c.token, RepositoryOwner: "octo"})
			push(t, r.Addr()+"/octo/app:v1", 1)
			a := call(t, c.method, s.URL()+c.path, "Bearer "+c.token)
			if a.status != c.status {
				t.Fatalf("%d %s, want %d", a.status, a.body, c.status)
			}
			if c.message != "" {
				if got := decode(t, a).(map[string]any)["message"]; got != c.message {
					t.Errorf("message %q, want %q", got, c.message)
				}
			}
			if _, ok := a.header["X-Oauth-Scopes"]; ok != c.scopes {
				t.Errorf("X-OAuth-Scopes sent: %v, want %v", ok, c.scopes)
			}
			if got, want := a.header.Get("X-RateLimit-Limit"), map[bool]string{true: "1000", false: "5000"}[strings.HasPrefix(c.token, "ghs_")]; got != want {
				t.Errorf("x-ratelimit-limit %s, want %s", got, want)
			}
		})
	}
}

// TestPushedUntagged: a manifest pushed by digest alone is a version
// without tags, pushed when it was; a public package is served under
// /users/ too.
func TestPushedUntagged(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	clock := at
	r, s := start(t, Options{Now: func() time.Time { return clock }})
	push(t, r.Addr()+"/octo/app:v1", 1)
	img, err := testregistry.BuildImage(testregistry.ImageSpec{Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	if _, err := testregistry.PushImage(context.Background(), r.Addr()+"/octo/app@"+d.String(), testregistry.ImageSpec{Seed: 9}); err != nil {
		t.Fatal(err)
	}
	clock = at.Add(time.Hour)
	vs, err := s.Versions("octo/app")
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, v := range vs {
		if v.Digest == d.String() {
			found = true
			if len(v.Tags) != 0 || !v.Created.Equal(at) {
				t.Errorf("pushed by digest: tags %v, created %s; want none, %s", v.Tags, v.Created, at)
			}
		}
	}
	if !found || len(vs) != 2 {
		t.Errorf("versions %v: want v1 and the digest pushed alone", vs)
	}
	s.SetPublic("octo/app")
	if a := get(t, s.URL()+"/users/octo/packages/container/app/versions"); a.status != 200 {
		t.Errorf("a public package under /users: %d %s", a.status, a.body)
	}
}

// TestSecondaryLimit: 900 points a minute per route, a DELETE costing 5:
// the 181st DELETE within a minute is refused with the secondary limit's
// answer, and a minute later they go again.
func TestSecondaryLimit(t *testing.T) {
	t.Parallel()
	clock := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	_, s := start(t, Options{Now: func() time.Time { return clock }})
	del := func() answer {
		return call(t, http.MethodDelete, s.URL()+"/user/packages/container/app/versions/1", "Bearer "+token)
	}
	for i := range SecondaryPoints / 5 {
		if a := del(); a.status == 403 {
			t.Fatalf("DELETE %d refused: %s", i+1, a.body)
		}
	}
	a := del()
	if a.status != 403 || a.header.Get("Retry-After") != "60" || !strings.Contains(string(a.body), "secondary rate limit") {
		t.Errorf("DELETE 181: %d %v %s", a.status, a.header, a.body)
	}
	if g := get(t, s.URL()+"/user"); g.status != 200 {
		t.Errorf("another route is not limited: %d", g.status)
	}
	clock = clock.Add(time.Minute)
	if a := del(); a.status == 403 {
		t.Errorf("a minute later: %d %s", a.status, a.body)
	}
}

// TestPathPrefix: GitHub Enterprise Server serves the API under /api/v3.
func TestPathPrefix(t *testing.T) {
	t.Parallel()
	r, s := start(t, Options{PathPrefix: "/api/v3"})
	push(t, r.Addr()+"/octo/app:v1", 1)
	if !strings.HasSuffix(s.URL(), "/api/v3") {
		t.Fatalf("URL %s", s.URL())
	}
	a := get(t, s.URL()+"/user/packages/container/app/versions?per_page=1")
	if a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	if !strings.Contains(string(a.body), "/api/v3/users/octo/packages/container/app/versions/") {
		t.Errorf("url fields lack the prefix: %s", a.body)
	}
	if b := get(t, strings.TrimSuffix(s.URL(), "/api/v3")+"/users/octo"); b.status != 404 {
		t.Errorf("without the prefix: %d, want 404", b.status)
	}
}

// TestHook: a hook sees a request before the replica; one it answers is
// neither carried out nor recorded, and it may call Versions (it runs
// before the replica's lock). Without it the same DELETE goes through.
func TestHook(t *testing.T) {
	t.Parallel()
	r, s := start(t, Options{})
	push(t, r.Addr()+"/octo/app:v1", 1)
	d2 := push(t, r.Addr()+"/octo/app:v2", 2)
	vs, err := s.Versions("octo/app")
	if err != nil {
		t.Fatal(err)
	}
	var id int64
	for _, v := range vs {
		if v.Digest == d2 {
			id = v.ID
		}
	}
	var seen []string
	s.SetHook(func(w http.ResponseWriter, req *http.Request) bool {
		if _, err := s.Versions("octo/app"); err != nil {
			t.Error(err)
		}
		seen = append(seen, req.Method)
		w.WriteHeader(http.StatusTeapot)
		return true
	})
	u := fmt.Sprintf("%s/user/packages/container/app/versions/%d", s.URL(), id)
	if a := call(t, http.MethodDelete, u, "Bearer "+token); a.status != http.StatusTeapot {
		t.Errorf("hooked DELETE answered %d", a.status)
	}
	if ok, _ := testregistry.Exists(context.Background(), r.Addr()+"/octo/app@"+d2); !ok || len(s.Deleted()) != 0 || len(s.Requests()) != 0 {
		t.Errorf("the hooked DELETE was carried out or recorded: exists %v, deleted %v, requests %v", ok, s.Deleted(), s.Requests())
	}
	if gocmp.Diff([]string{http.MethodDelete}, seen) != "" {
		t.Errorf("the hook saw %v", seen)
	}
	s.SetHook(nil)
	if a := call(t, http.MethodDelete, u, "Bearer "+token); a.status != http.StatusNoContent {
		t.Errorf("DELETE without the hook answered %d %s", a.status, a.body)
	}
	if ok, _ := testregistry.Exists(context.Background(), r.Addr()+"/octo/app@"+d2); ok {
		t.Errorf("the DELETE without the hook left the manifest")
	}
}
