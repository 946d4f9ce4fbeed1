package hubtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tagsweep/tagsweep/internal/testregistry"
)

type fixture struct {
	reg  *testregistry.Registry
	hub  *Server
	addr string
}

func start(t *testing.T, o Options) *fixture {
	t.Helper()
	reg, err := testregistry.New(context.Background(), testregistry.Options{DeleteEnabled: true, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	if o.Users == nil {
		o.Users = []User{{Name: "acme", Secret: "dckr_pat_acme", Scope: ScopeDelete}, {Name: "reader", Secret: "dckr_pat_reader", Scope: ScopeWrite, Namespaces: []string{"acme"}}}
	}
	hub, err := New(reg, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close() })
	return &fixture{reg: reg, hub: hub, addr: reg.Addr()}
}

func (f *fixture) push(t *testing.T, ref string, seed int64) v1.Hash {
	t.Helper()
	h, err := testregistry.PushImage(context.Background(), f.addr+"/"+ref, testregistry.ImageSpec{Created: time.Now().Add(-time.Hour), Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (f *fixture) tag(t *testing.T, ref, src string) {
	t.Helper()
	if err := testregistry.Tag(context.Background(), f.addr+"/"+ref, f.addr+"/"+src); err != nil {
		t.Fatal(err)
	}
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("not JSON (%d): %s", a.status, a.body)
	}
	return m
}

func (f *fixture) call(t *testing.T, method, path, token string, body any) answer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	u := path
	if !strings.HasPrefix(path, "http") {
		u = f.hub.URL() + path
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

func (f *fixture) login(t *testing.T, user, secret string) string {
	t.Helper()
	a := f.call(t, http.MethodPost, "/v2/auth/token", "", map[string]string{"identifier": user, "secret": secret})
	if a.status != http.StatusOK {
		t.Fatalf("login %s: %d %s", user, a.status, a.body)
	}
	return a.json(t)["access_token"].(string)
}

func readExample(t *testing.T, name string) any {
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

// missing lists the fields of the documented example doc that got lacks,
// recursively (array elements are compared with the example's first).
func missing(doc, got any, path string) []string {
	var out []string
	switch d := doc.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{path + " (not an object)"}
		}
		for k, dv := range d {
			gv, ok := g[k]
			if !ok {
				out = append(out, path+"."+k)
				continue
			}
			if dv != nil && gv != nil {
				out = append(out, missing(dv, gv, path+"."+k)...)
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			return []string{path + " (not an array)"}
		}
		if len(d) > 0 {
			for i, gv := range g {
				out = append(out, missing(d[0], gv, fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
	}
	sort.Strings(out)
	return out
}

// TestDocumentedFields: every field of Docker's documented examples (and of
// an observed live tag listing) is in the replica's answer to the same call.
func TestDocumentedFields(t *testing.T) {
	t.Parallel()
	f := start(t, Options{})
	f.push(t, "acme/app:v1", 1)
	f.tag(t, "acme/app:stable", "acme/app:v1")
	kids := []v1.Image{}
	for i, p := range []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}} {
		img, err := testregistry.BuildImage(testregistry.ImageSpec{Seed: int64(10 + i), Platform: &p})
		if err != nil {
			t.Fatal(err)
		}
		kids = append(kids, img)
	}
	if _, err := testregistry.PushIndex(context.Background(), f.addr+"/acme/app:multi", testregistry.IndexSpec{Children: kids}); err != nil {
		t.Fatal(err)
	}
	f.push(t, "acme/tool:v1", 2)

	req := readExample(t, "auth_token_request.json").(map[string]any)
	if len(req) != 2 || req["identifier"] == nil || req["secret"] == nil {
		t.Fatalf("documented login request: %v", req)
	}
	a := f.call(t, http.MethodPost, "/v2/auth/token", "", map[string]string{"identifier": "acme", "secret": "dckr_pat_acme"})
	check := func(what string, example string, a answer, status int) {
		t.Helper()
		if a.status != status {
			t.Fatalf("%s: status %d, want %d: %s", what, a.status, status, a.body)
		}
		if m := missing(readExample(t, example), a.json(t), ""); len(m) > 0 {
			t.Errorf("%s lacks documented fields of %s: %v\n%s", what, example, m, a.body)
		}
	}
	check("login", "auth_token_response.json", a, http.StatusOK)
	tok := a.json(t)["access_token"].(string)

	check("repositories", "list_repositories_response.json", f.call(t, http.MethodGet, "/v2/namespaces/acme/repositories?page_size=1", tok, nil), http.StatusOK)
	tags := f.call(t, http.MethodGet, "/v2/namespaces/acme/repositories/app/tags?page_size=100", tok, nil)
	check("tags", "list_tags_response.json", tags, http.StatusOK)
	check("tags (observed fields)", "list_tags_observed.json", tags, http.StatusOK)
	one := f.call(t, http.MethodGet, "/v2/namespaces/acme/repositories/app/tags/multi", tok, nil)
	if one.status != http.StatusOK {
		t.Fatalf("get tag: %d %s", one.status, one.body)
	}
	if m := missing(readExample(t, "list_tags_observed.json").(map[string]any)["results"].([]any)[0], one.json(t), ""); len(m) > 0 {
		t.Errorf("get tag lacks %v", m)
	}

	check("bad token", "error_unauthorized.json", f.call(t, http.MethodGet, "/v2/namespaces/acme/repositories/app/tags", "nope", nil), http.StatusUnauthorized)
	check("bad login", "error_unauthorized.json", f.call(t, http.MethodPost, "/v2/auth/token", "", map[string]string{"identifier": "acme", "secret": "wrong"}), http.StatusUnauthorized)
	check("unknown repository", "error_not_found.json", f.call(t, http.MethodGet, "/v2/namespaces/acme/repositories/nope/tags", tok, nil), http.StatusNotFound)
	check("unknown tag", "error_not_found.json", f.call(t, http.MethodDelete, "/v2/repositories/acme/app/tags/nope/", tok, nil), http.StatusNotFound)
	reader := f.login(t, "reader", "dckr_pat_reader")
	check("delete without delete scope", "error_forbidden.json", f.call(t, http.MethodDelete, "/v2/repositories/acme/app/tags/v1/", reader, nil), http.StatusForbidden)
	f.hub.RateLimitNext(1, 2*time.Second)
	check("rate limited", "rate_limited_response.json", f.call(t, http.MethodGet, "/v2/namespaces/acme/repositories", tok, nil), http.StatusTooManyRequests)

	// What the listing says is the registry's content.
	var body struct {
		Count   int `json:"count"`
		Results []struct {
			Name      string `json:"name"`
			Digest    string `json:"digest"`
			MediaType string `json:"media_type"`
			Images    []struct {
				Architecture, OS, Digest string
				Variant                  *string
			} `json:"images"`
		} `json:"results"`
	}
	if err := json.Unmarshal(tags.body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Count != 3 || len(body.Results) != 3 {
		t.Fatalf("tags: %s", tags.body)
	}
	for _, r := range body.Results {
		d, err := testregistry.Descriptor(context.Background(), f.addr+"/acme/app:"+r.Name)
		if err != nil {
			t.Fatal(err)
		}
		if r.Digest != d.Digest.String() || r.MediaType != string(d.MediaType) {
			t.Errorf("tag %s: listed %s %s, registry has %s %s", r.Name, r.Digest, r.MediaType, d.Digest, d.MediaType)
		}
		want := 1
		if r.Name == "multi" {
			want = 2
		}
		if len(r.Images) != want {
			t.Errorf("tag %s: images %+v", r.Name, r.Images)
		}
	}
}

// TestPagination: {count,next,previous,results} with page and page_size,
// page_size capped at 100, a page past the end is 404, next/previous are
// absolute links on the replica's host.
func TestPagination(t *testing.T) {
	t.Parallel()
	f := start(t, Options{})
	f.push(t, "acme/app:t0", 1)
	for i := 1; i < 5; i++ {
		f.tag(t, fmt.Sprintf("acme/app:t%d", i), "acme/app:t0")
	}
	tok := f.login(t, "acme", "dckr_pat_acme")
	var names []string
	next := "/v2/namespaces/acme/repositories/app/tags?page_size=2"
	for pages := 0; next != ""; pages++ {
		if pages > 3 {
			t.Fatal("pagination does not end")
		}
		a := f.call(t, http.MethodGet, next, tok, nil)
		m := a.json(t)
		if m["count"].(float64) != 5 {
			t.Errorf("count %v", m["count"])
		}
		for _, r := range m["results"].([]any) {
			names = append(names, r.(map[string]any)["name"].(string))
		}
		if pages == 0 && m["previous"] != nil || pages > 0 && !strings.HasPrefix(m["previous"].(string), f.hub.URL()+"/") {
			t.Errorf("page %d previous %v", pages+1, m["previous"])
		}
		next = ""
		if n, ok := m["next"].(string); ok {
			if !strings.HasPrefix(n, f.hub.URL()+"/v2/namespaces/acme/repositories/app/tags?") || !strings.Contains(n, "page_size=2") {
				t.Errorf("next %q", n)
			}
			next = n
		}
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "t0,t1,t2,t3,t4" {
		t.Errorf("pages listed %v", names)
	}
	if a := f.call(t, http.MethodGet, "/v2/namespaces/acme/repositories/app/tags?page=4&page_size=2", tok, nil); a.status != http.StatusNotFound {
		t.Errorf("page past the end: %d", a.status)
	}
	if a := f.call(t, http.MethodGet, "/v2/namespaces/acme/repositories/app/tags", tok, nil); len(a.json(t)["results"].([]any)) != 5 {
		t.Errorf("default page_size 10: %s", a.body)
	}
	if a := f.call(t, http.MethodGet, "/v2/namespaces/acme/repositories/app/tags?page_size=0", tok, nil); a.status != http.StatusBadRequest {
		t.Errorf("page_size=0: %d", a.status)
	}
}

// TestPageSizeCap: more than 100 tags come in pages of at most 100.
func TestPageSizeCap(t *testing.T) {
	t.Parallel()
	f := start(t, Options{})
	f.push(t, "acme/app:t000", 1)
	// One manifest PUT per tag (testregistry.Tag costs three requests).
	req, _ := http.NewRequest(http.MethodGet, "http://"+f.addr+"/v2/acme/app/manifests/t000", nil)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	manifest, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for i := 1; i < 103; i++ {
		req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("http://%s/v2/acme/app/manifests/t%03d", f.addr, i), bytes.NewReader(manifest))
		req.Header.Set("Content-Type", resp.Header.Get("Content-Type"))
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusCreated {
			t.Fatalf("PUT t%03d: %d", i, r.StatusCode)
		}
	}
	a := f.call(t, http.MethodGet, "/v2/namespaces/acme/repositories/app/tags?page_size=500", "", nil)
	m := a.json(t)
	if len(m["results"].([]any)) != 100 || m["count"].(float64) != 103 || m["next"] == nil {
		t.Errorf("page_size=500: %d results, count %v, next %v", len(m["results"].([]any)), m["count"], m["next"])
	}
}

// TestRateLimitHeaders: every answer carries X-RateLimit-*; past the budget
// the answer is 429 with X-Retry-After, a unix time, or Retry-After in
// seconds with RetryAfterSeconds.
func TestRateLimitHeaders(t *testing.T) {
	t.Parallel()
	for _, seconds := range []bool{false, true} {
		t.Run(fmt.Sprintf("RetryAfterSeconds=%v", seconds), func(t *testing.T) {
			f := start(t, Options{RateLimit: 3, RetryAfterSeconds: seconds})
			var got []int
			for i := 0; i < 4; i++ {
				a := f.call(t, http.MethodGet, "/v2/namespaces/acme/repositories", "", nil)
				got = append(got, a.status)
				if a.header.Get("X-RateLimit-Limit") != "3" || a.header.Get("X-RateLimit-Remaining") != strconv.Itoa(max(2-i, 0)) {
					t.Errorf("answer %d: X-RateLimit-Limit %q Remaining %q", i+1, a.header.Get("X-RateLimit-Limit"), a.header.Get("X-RateLimit-Remaining"))
				}
				reset, err := strconv.ParseInt(a.header.Get("X-RateLimit-Reset"), 10, 64)
				if err != nil || reset < time.Now().Unix() {
					t.Errorf("answer %d: X-RateLimit-Reset %q", i+1, a.header.Get("X-RateLimit-Reset"))
				}
				if i == 3 {
					if seconds {
						n, err := strconv.Atoi(a.header.Get("Retry-After"))
						if err != nil || n < 1 || n > 60 || a.header.Get("X-Retry-After") != "" {
							t.Errorf("Retry-After %q, X-Retry-After %q", a.header.Get("Retry-After"), a.header.Get("X-Retry-After"))
						}
					} else {
						at, err := strconv.ParseInt(a.header.Get("X-Retry-After"), 10, 64)
						if err != nil || at != reset || a.header.Get("Retry-After") != "" {
							t.Errorf("X-Retry-After %q (reset %d), Retry-After %q", a.header.Get("X-Retry-After"), reset, a.header.Get("Retry-After"))
						}
					}
				}
			}
			if fmt.Sprint(got) != "[200 200 200 429]" {
				t.Errorf("statuses %v", got)
			}
		})
	}
}

// TestDeletes: the Hub tag delete removes exactly that tag in the registry;
// the registry API refuses DELETE with 405 like Docker Hub's; requests are
// recorded with their auth scheme.
func TestDeletes(t *testing.T) {
	t.Parallel()
	f := start(t, Options{})
	d := f.push(t, "acme/app:old", 1)
	f.tag(t, "acme/app:stable", "acme/app:old")
	tok := f.login(t, "acme", "dckr_pat_acme")
	f.hub.ResetRequests()

	if a := f.call(t, http.MethodDelete, "/v2/repositories/acme/app/tags/old", tok, nil); a.status != http.StatusNotFound {
		t.Errorf("DELETE without the trailing slash: %d", a.status)
	}
	if a := f.call(t, http.MethodDelete, "/v2/repositories/acme/app/tags/old/", "", nil); a.status != http.StatusUnauthorized {
		t.Errorf("anonymous DELETE: %d", a.status)
	}
	if a := f.call(t, http.MethodDelete, "/v2/repositories/acme/app/tags/old/", tok, nil); a.status != http.StatusNoContent || len(a.body) != 0 {
		t.Fatalf("DELETE: %d %s", a.status, a.body)
	}
	ctx := context.Background()
	if ok, _ := testregistry.Exists(ctx, f.addr+"/acme/app:old"); ok {
		t.Error("old still resolves")
	}
	if err := testregistry.VerifyPull(ctx, f.addr+"/acme/app:stable"); err != nil {
		t.Errorf("stable: %v", err)
	}
	if ok, _ := testregistry.Exists(ctx, f.addr+"/acme/app@"+d.String()); !ok {
		t.Error("the manifest went with the tag")
	}
	if got := f.hub.TagDeletes(); fmt.Sprint(got) != "[acme/app:old]" {
		t.Errorf("TagDeletes %v", got)
	}

	// The registry API without credentials: 401, nothing deleted.
	if st, _ := regDelete(t, f.addr, "acme/app", d.String(), ""); st != http.StatusUnauthorized {
		t.Errorf("anonymous registry DELETE: %d", st)
	}
	if ok, _ := testregistry.Exists(ctx, f.addr+"/acme/app:stable"); !ok {
		t.Error("registry DELETE deleted")
	}
	if got := f.hub.RegistryDeleteRequests(); len(got) != 1 || got[0] != "DELETE /v2/acme/app/manifests/"+d.String() {
		t.Errorf("RegistryDeleteRequests %v", got)
	}

	var log []string
	for _, r := range f.hub.Requests() {
		log = append(log, fmt.Sprintf("%s %d %s", r, r.Status, r.Auth))
	}
	want := []string{
		"DELETE /v2/repositories/acme/app/tags/old 404 Bearer",
		"DELETE /v2/repositories/acme/app/tags/old/ 401 ",
		"DELETE /v2/repositories/acme/app/tags/old/ 204 Bearer",
	}
	if strings.Join(log, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(log, "\n"), strings.Join(want, "\n"))
	}

	// DeniedStatus 401, expired tokens.
	g := start(t, Options{DeniedStatus: http.StatusUnauthorized})
	g.push(t, "acme/app:v1", 1)
	reader := g.login(t, "reader", "dckr_pat_reader")
	if a := g.call(t, http.MethodDelete, "/v2/repositories/acme/app/tags/v1/", reader, nil); a.status != http.StatusUnauthorized {
		t.Errorf("delete without scope, DeniedStatus 401: %d", a.status)
	}
	g.hub.ExpireTokens()
	if a := g.call(t, http.MethodGet, "/v2/namespaces/acme/repositories", reader, nil); a.status != http.StatusUnauthorized {
		t.Errorf("expired token: %d", a.status)
	}
}

// TestPushTimes: first seen on a digest, stable across listings, new when
// the tag moves; SetPushed and OmitPushed override.
func TestPushTimes(t *testing.T) {
	t.Parallel()
	f := start(t, Options{})
	f.push(t, "acme/app:a", 1)
	f.push(t, "acme/app:b", 2)
	f.push(t, "acme/app:c", 3)
	at := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	f.hub.SetPushed("acme/app", "b", at)
	f.hub.OmitPushed("acme/app", "c")
	list := func() map[string][2]any {
		out := map[string][2]any{}
		for _, r := range f.call(t, http.MethodGet, "/v2/namespaces/acme/repositories/app/tags", "", nil).json(t)["results"].([]any) {
			m := r.(map[string]any)
			out[m["name"].(string)] = [2]any{m["tag_last_pushed"], m["last_updated"]}
		}
		return out
	}
	first := list()
	if first["b"][0] != at.Format(time.RFC3339Nano) || first["b"][1] != at.Format(time.RFC3339Nano) {
		t.Errorf("b: %v", first["b"])
	}
	if first["c"][0] != nil || first["c"][1] == nil {
		t.Errorf("c: %v", first["c"])
	}
	time.Sleep(5 * time.Millisecond)
	if again := list(); again["a"] != first["a"] {
		t.Errorf("a's push time changed without a push: %v then %v", first["a"], again["a"])
	}
	f.tag(t, "acme/app:a", "acme/app:b") // a moves
	if moved := list(); moved["a"][0] == first["a"][0] {
		t.Errorf("a moved but keeps its push time %v", moved["a"])
	}
}

// regDelete sends a registry-API DELETE of repo@ref with Basic user:secret
// ("" for none) and returns the status and body.
func regDelete(t *testing.T, addr, repo, ref, auth string) (int, string) {
	t.Helper()
	a := regGet(t, addr, http.MethodDelete, repo, ref, auth)
	return a.status, string(a.body)
}

// regGet sends a manifest request (GET, HEAD, DELETE) of repo:ref as
// user:secret and returns the answer.
func regGet(t *testing.T, addr, method, repo, ref, auth string) answer {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+addr+"/v2/"+repo+"/manifests/"+ref, nil)
	req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json")
	if u, p, ok := strings.Cut(auth, ":"); ok {
		req.SetBasicAuth(u, p)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// TestRegistryDeletes: Docker Hub's registry API deletes by digest only
// (a tag: 405), refuses a digest a tag or an index still references (403),
// deletes an unreferenced one (202) without its children, and needs a user
// with delete scope (401 otherwise); LegacyDeletes answers 405 UNSUPPORTED.
func TestRegistryDeletes(t *testing.T) {
	t.Parallel()
	f := start(t, Options{})
	ctx := context.Background()
	idx, children := pushMultiArch(t, f.addr+"/acme/multi:v1", 7)
	d := f.push(t, "acme/app:v1", 1)
	const acme, reader = "acme:dckr_pat_acme", "reader:dckr_pat_reader"

	if st, _ := regDelete(t, f.addr, "acme/app", "v1", acme); st != http.StatusMethodNotAllowed {
		t.Errorf("DELETE by tag: %d, want 405", st)
	}
	if st, body := regDelete(t, f.addr, "acme/app", d.String(), acme); st != http.StatusForbidden || !strings.Contains(body, "DENIED") {
		t.Errorf("DELETE of a tagged digest: %d %s, want 403 DENIED", st, body)
	}
	tok := f.login(t, "acme", "dckr_pat_acme")
	if a := f.call(t, http.MethodDelete, "/v2/repositories/acme/app/tags/v1/", tok, nil); a.status != http.StatusNoContent {
		t.Fatalf("untag: %d", a.status)
	}
	if st, _ := regDelete(t, f.addr, "acme/app", d.String(), reader); st != http.StatusUnauthorized {
		t.Errorf("DELETE without delete scope: %d, want 401", st)
	}
	if st, body := regDelete(t, f.addr, "acme/app", d.String(), acme); st != http.StatusAccepted {
		t.Errorf("DELETE of an untagged digest: %d %s, want 202", st, body)
	}
	if ok, _ := testregistry.Exists(ctx, f.addr+"/acme/app@"+d.String()); ok {
		t.Error("the untagged manifest is still there")
	}

	// An index: its children are referenced while it exists.
	if a := f.call(t, http.MethodDelete, "/v2/repositories/acme/multi/tags/v1/", tok, nil); a.status != http.StatusNoContent {
		t.Fatalf("untag index: %d", a.status)
	}
	if st, _ := regDelete(t, f.addr, "acme/multi", children[0].String(), acme); st != http.StatusForbidden {
		t.Errorf("DELETE of a child of a stored index: %d, want 403", st)
	}
	if st, _ := regDelete(t, f.addr, "acme/multi", idx.String(), acme); st != http.StatusAccepted {
		t.Errorf("DELETE of the untagged index: %d, want 202", st)
	}
	for _, c := range children {
		if ok, _ := testregistry.Exists(ctx, f.addr+"/acme/multi@"+c.String()); !ok {
			t.Errorf("child %s went with its index", c)
		}
		if st, _ := regDelete(t, f.addr, "acme/multi", c.String(), acme); st != http.StatusAccepted {
			t.Errorf("DELETE of child %s after its index: %d, want 202", c, st)
		}
	}
	if got := len(f.hub.RegistryDeletes()); got != 4 {
		t.Errorf("RegistryDeletes %v", f.hub.RegistryDeletes())
	}

	g := start(t, Options{LegacyDeletes: true})
	d2 := g.push(t, "acme/app:v1", 1)
	tok2 := g.login(t, "acme", "dckr_pat_acme")
	g.call(t, http.MethodDelete, "/v2/repositories/acme/app/tags/v1/", tok2, nil)
	if st, body := regDelete(t, g.addr, "acme/app", d2.String(), acme); st != http.StatusMethodNotAllowed || !strings.Contains(body, "UNSUPPORTED") {
		t.Errorf("LegacyDeletes: %d %s", st, body)
	}
}

// TestPullLimit: manifest GETs count (per caller), HEADs do not; the
// headers say the limit and what remains; past it a GET answers 429
// TOOMANYREQUESTS without Retry-After, and HEAD still works.
func TestPullLimit(t *testing.T) {
	t.Parallel()
	f := start(t, Options{PullLimit: 2, PullWindow: time.Hour})
	f.push(t, "acme/app:v1", 1)
	const acme = "acme:dckr_pat_acme"
	for i := range 3 {
		a := regGet(t, f.addr, http.MethodHead, "acme/app", "v1", acme)
		if a.status != http.StatusOK || a.header.Get("ratelimit-remaining") != "2;w=3600" {
			t.Fatalf("HEAD %d: %d remaining %q", i, a.status, a.header.Get("ratelimit-remaining"))
		}
	}
	for i, want := range []string{"1;w=3600", "0;w=3600"} {
		a := regGet(t, f.addr, http.MethodGet, "acme/app", "v1", acme)
		if a.status != http.StatusOK || a.header.Get("ratelimit-remaining") != want || a.header.Get("ratelimit-limit") != "2;w=3600" || a.header.Get("docker-ratelimit-source") != "acme" {
			t.Fatalf("GET %d: %d %v", i, a.status, a.header)
		}
	}
	a := regGet(t, f.addr, http.MethodGet, "acme/app", "v1", acme)
	if a.status != http.StatusTooManyRequests || !strings.Contains(string(a.body), "TOOMANYREQUESTS") || a.header.Get("Retry-After") != "" {
		t.Errorf("GET past the limit: %d %v %s", a.status, a.header, a.body)
	}
	if a := regGet(t, f.addr, http.MethodHead, "acme/app", "v1", acme); a.status != http.StatusOK {
		t.Errorf("HEAD past the limit: %d", a.status)
	}
	// Another caller has its own quota; the replica's listing spends none.
	if a := regGet(t, f.addr, http.MethodGet, "acme/app", "v1", "reader:dckr_pat_reader"); a.status != http.StatusOK {
		t.Errorf("another caller: %d", a.status)
	}
	tok := f.login(t, "acme", "dckr_pat_acme")
	if a := f.call(t, http.MethodGet, "/v2/namespaces/acme/repositories/app/tags?page_size=100", tok, nil); a.status != http.StatusOK {
		t.Errorf("listing: %d", a.status)
	}
	if p, r := f.hub.Pulls("acme"), f.hub.RefusedPulls("acme"); p != 2 || r != 1 {
		t.Errorf("pulls %d refused %d, want 2 and 1", p, r)
	}
	if p := f.hub.Pulls("127.0.0.1"); p != 0 {
		t.Errorf("anonymous pulls %d (the replica's own reads must not count)", p)
	}
}

// TestImmutableTags: the repository's immutable_tags_settings, and a Hub
// API DELETE of a tag a rule matches refused with 403 while the others go.
func TestImmutableTags(t *testing.T) {
	t.Parallel()
	f := start(t, Options{})
	f.push(t, "acme/app:v1.0", 1)
	f.push(t, "acme/app:main", 2)
	tok := f.login(t, "acme", "dckr_pat_acme")
	a := f.call(t, http.MethodGet, "/v2/namespaces/acme/repositories/app", tok, nil)
	if a.status != http.StatusOK || fmt.Sprint(a.json(t)["immutable_tags_settings"]) != "map[enabled:false rules:[]]" {
		t.Fatalf("repository: %d %s", a.status, a.body)
	}
	f.hub.SetImmutable("acme/app", true, `v.*`)
	a = f.call(t, http.MethodGet, "/v2/namespaces/acme/repositories/app", tok, nil)
	if fmt.Sprint(a.json(t)["immutable_tags_settings"]) != "map[enabled:true rules:[v.*]]" {
		t.Errorf("repository: %s", a.body)
	}
	if a := f.call(t, http.MethodDelete, "/v2/repositories/acme/app/tags/v1.0/", tok, nil); a.status != http.StatusForbidden {
		t.Errorf("DELETE of an immutable tag: %d", a.status)
	}
	if a := f.call(t, http.MethodDelete, "/v2/repositories/acme/app/tags/main/", tok, nil); a.status != http.StatusNoContent {
		t.Errorf("DELETE of a mutable tag: %d", a.status)
	}
	f.hub.SetImmutable("acme/app", false, `.*`)
	if a := f.call(t, http.MethodDelete, "/v2/repositories/acme/app/tags/v1.0/", tok, nil); a.status != http.StatusNoContent {
		t.Errorf("rules without enabled: %d", a.status)
	}
}

// pushMultiArch pushes an index of a linux/amd64 and a linux/arm64 image
// to ref and returns its digest and its children's.
func pushMultiArch(t *testing.T, ref string, seed int64) (v1.Hash, []v1.Hash) {
	t.Helper()
	var imgs []v1.Image
	var children []v1.Hash
	for i, arch := range []string{"amd64", "arm64"} {
		img, err := testregistry.BuildImage(testregistry.ImageSpec{Created: time.Now().Add(-time.Hour), Seed: seed*10 + int64(i), Platform: &v1.Platform{OS: "linux", Architecture: arch}})
		if err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		imgs, children = append(imgs, img), append(children, d)
	}
	idx, err := testregistry.PushIndex(context.Background(), ref, testregistry.IndexSpec{Children: imgs})
	if err != nil {
		t.Fatal(err)
	}
	return idx, children
}
