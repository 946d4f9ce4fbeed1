package cli_test

// The sweep's and ls's outputs and exit codes, run in process (moved from
// e2e, where they ran the binary; assertions unchanged).

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/tagsweep/tagsweep/internal/report"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// TestInvalidInput: each invalid input exits 2 with exactly one stderr line
// naming the input and the bad value, before any request is sent, and
// nothing is deleted. The other inputs are valid and would delete every tag.
func TestInvalidInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not-a-cert.pem")
	if err := os.WriteFile(notPEM, []byte("this is not a PEM certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const addrVar = "{addr}"
	for _, tc := range []struct {
		name  string
		in    inputs
		input string   // the input the line must start with
		want  []string // what else the line must say (the bad value)
	}{
		{"keep not a number", inputs{"keep": "ten"}, "keep", []string{`"ten"`}},
		{"keep negative", inputs{"keep": "-1"}, "keep", []string{`"-1"`}},
		{"older-than", inputs{"older-than": "30x"}, "older-than", []string{`"30x"`}},
		{"order-by", inputs{"order-by": "name"}, "order-by", []string{`"name"`}},
		{"keep-semver", inputs{"keep-semver": ">=one.two"}, "keep-semver", []string{`>=one.two`}},
		{"dry-run", inputs{"dry-run": "maybe"}, "dry-run", []string{`"maybe"`}},
		{"missing registry", inputs{"registry": ""}, "registry", []string{"required"}},
		{"registry with a path", inputs{"registry": addrVar + "/app"}, "registry", []string{"/app"}},
		{"plain http to a remote host", inputs{"registry": "http://registry.example.com"}, "registry", []string{"http://registry.example.com", "insecure"}},
		{"missing ca-file", inputs{"ca-file": filepath.Join(dir, "missing.pem")}, "ca-file", []string{filepath.Join(dir, "missing.pem")}},
		{"ca-file not PEM", inputs{"ca-file": notPEM}, "ca-file", []string{notPEM}},
		{"concurrency 0", inputs{"concurrency": "0"}, "concurrency", []string{`"0"`}},
		{"username without password", inputs{"username": "bob"}, "password", []string{"username", `"bob"`}},
		{"password without username", inputs{"password": "pw-alone"}, "username", []string{"required"}},
		{"insecure", inputs{"insecure": "maybe"}, "insecure", []string{`"maybe"`}},
		{"bad exclude-tags glob", inputs{"exclude-tags": "ok,[v1"}, "exclude-tags", []string{`[v1`}},
		{"bad repositories glob", inputs{"repositories": "team/[a"}, "repositories", []string{`team/[a`}},
		{"registry with a user", inputs{"registry": "bob@" + addrVar}, "registry", []string{"bob@"}},
		{"registry with an unknown scheme", inputs{"registry": "ftp://" + addrVar}, "registry", []string{"ftp://"}},
		{"unknown provider", inputs{"provider": "nexus"}, "provider", []string{`"nexus"`, "ghcr"}},
		{"age-source unknown", inputs{"age-source": "pulled"}, "age-source", []string{`"pulled"`}},
		{"max-deletions negative", inputs{"max-deletions": "-5"}, "max-deletions", []string{`"-5"`}},
		{"max-deletions not a number", inputs{"max-deletions": "lots"}, "max-deletions", []string{`"lots"`}},
		{"timeout", inputs{"timeout": "soon"}, "timeout", []string{`"soon"`}},
		{"delete-untagged", inputs{"delete-untagged": "sometimes"}, "delete-untagged", []string{`"sometimes"`}},
		{"keep-untagged negative", inputs{"keep-untagged": "-3"}, "keep-untagged", []string{`"-3"`}},
		{"keep-untagged not a number", inputs{"keep-untagged": "few"}, "keep-untagged", []string{`"few"`}},
		{"ghcr with a fine-grained github-token", inputs{"provider": "ghcr", "repositories": "octo/app", "github-token": "github_pat_11AAfinegrained0123456789"}, "github-token", []string{"fine-grained", "classic PAT"}},
		{"ghcr repositories without an owner", inputs{"provider": "ghcr", "password": "tok", "repositories": "*/app"}, "repositories", []string{`"*/app"`, "owner"}},
		{"dockerhub without a username", inputs{"provider": "dockerhub", "repositories": "acme/app"}, "username", []string{"Docker Hub", "Read, Write, Delete"}},
		{"gitlab without its API", inputs{"provider": "gitlab"}, "provider", []string{"CI_API_V4_URL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRegistry(t)
			a := r.Addr()
			seedAges(t, a, "app", "new", "old")
			in := inputs{"registry": a, "repositories": "app", "keep": "0"}
			for k, v := range tc.in {
				in[k] = strings.ReplaceAll(v, addrVar, a)
			}
			res := runInvalid(t, r, in, tc.input, tc.want...)
			if strings.Contains(res.Stderr, "pw-alone") {
				t.Errorf("stderr shows the password: %q", res.Stderr)
			}
		})
	}
}

// TestListInputs: list inputs take newlines and commas, mixed.
func TestListInputs(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	seedAges(t, a, "app", "a", "b", "c", "d", "e")
	seedAges(t, a, "other", "x", "a")
	seedAges(t, a, "third", "z") // not named: untouched
	res := runAction(t, inputs{"registry": a, "repositories": "app,\nother", "keep": "0", "exclude-tags": "a\nb,c", "dry-run": "true"})
	if res.Code != 0 {
		t.Fatalf("exit %d", res.Code)
	}
	if diff := cmp.Diff([]string{"app:d", "app:e", "other:x"}, deletedTagsOutput(t, res)); diff != "" {
		t.Errorf("would delete (-want +got):\n%s", diff)
	}
	var names []string
	for _, repo := range res.Report.Repositories {
		names = append(names, repo.Name)
	}
	if diff := cmp.Diff([]string{"app", "other"}, names); diff != "" {
		t.Errorf("repositories handled (-want +got):\n%s", diff)
	}
	checkCounts(t, res)

	// include-tags: tags outside it are kept and do not count toward keep.
	seedAges(t, a, "inc", "main", "v1", "v2") // main is the newest
	res = runAction(t, inputs{"registry": a, "repositories": "inc", "keep": "1", "include-tags": "v*", "dry-run": "true"})
	if res.Code != 0 {
		t.Fatalf("exit %d", res.Code)
	}
	if diff := cmp.Diff([]string{"inc:v2"}, deletedTagsOutput(t, res)); diff != "" {
		t.Errorf("include-tags v*: would delete (-want +got):\n%s", diff)
	}
	if got := byTag(t, res.Report, "inc")["main"]; got.Action != report.Kept || !strings.Contains(got.Reason, "include-tags") {
		t.Errorf("main: %s %q, want kept for matching no include-tags", got.Action, got.Reason)
	}
}

// TestRepositoryDiscovery: `/`-separated globs over the catalog; literal
// names send no catalog request, globs send one.
func TestRepositoryDiscovery(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	all := []string{"app", "other", "team/a", "team/b/c"}
	for _, repo := range all {
		seedAges(t, a, repo, "new", "old")
	}
	for _, tc := range []struct {
		repositories string
		want         []string
		catalog      int
	}{
		{"team/*", []string{"team/a"}, 1},
		{"team/**", []string{"team/a", "team/b/c"}, 1},
		{"app", []string{"app"}, 0},
		{"app\nteam/b/c", []string{"app", "team/b/c"}, 0},
		{"", all, 1}, // the default, **
	} {
		r.ResetRequests()
		res := runAction(t, inputs{"registry": a, "repositories": tc.repositories, "keep": "1", "dry-run": "true"})
		if res.Code != 0 {
			t.Errorf("repositories %q: exit %d", tc.repositories, res.Code)
			continue
		}
		var got, wantDeleted []string
		for _, repo := range res.Report.Repositories {
			got = append(got, repo.Name)
		}
		for _, repo := range tc.want {
			wantDeleted = append(wantDeleted, repo+":old")
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("repositories %q handled (-want +got):\n%s", tc.repositories, diff)
		}
		if diff := cmp.Diff(wantDeleted, deletedTagsOutput(t, res)); diff != "" {
			t.Errorf("repositories %q would delete (-want +got):\n%s", tc.repositories, diff)
		}
		if n := r.Requests().Of("GET", testregistry.ClassCatalog); n != tc.catalog {
			t.Errorf("repositories %q: %d catalog requests, want %d", tc.repositories, n, tc.catalog)
		}
	}
}

// TestTagPagination: a registry that pages tags 3 at a time; every tag is
// seen, in the planning listing and in the second look.
func TestTagPagination(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, func(o *testregistry.Options) { o.MaxTags = 3 })
	a := r.Addr()
	var tags []string
	for i := 0; i < 10; i++ {
		tags = append(tags, "v"+strconv.Itoa(i))
	}
	seedAges(t, a, "app", tags...) // v0 newest
	r.ResetRequests()
	dry := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "4", "dry-run": "true"})
	if dry.Code != 0 {
		t.Fatalf("dry run exit %d", dry.Code)
	}
	if n := r.Requests().Of("GET", testregistry.ClassTags); n < 4 {
		t.Fatalf("only %d tag-list requests for 10 tags at 3 per page: the registry did not paginate", n)
	}
	checkCounts(t, dry)
	if dry.Outputs["kept-count"] != "4" || dry.Outputs["deleted-count"] != "6" {
		t.Errorf("dry run counts %v, want kept 4 and deleted 6 of 10", dry.Outputs)
	}
	res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "4"})
	if res.Code != 0 {
		t.Fatalf("exit %d", res.Code)
	}
	checkCounts(t, res)
	if res.Outputs["kept-count"] != "4" || res.Outputs["deleted-count"] != "6" {
		t.Errorf("counts %v, want kept 4 and deleted 6 of 10", res.Outputs)
	}
	if diff := cmp.Diff([]string{"v0", "v1", "v2", "v3"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
}

// TestSemver: order-by semver ranks full versions (leading v allowed),
// keeps non-versions as "not semver"; keep-semver protects matching tags
// under order-by created.
func TestSemver(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	// Creation order is the reverse of version order, so ranking by
	// created would keep 1.0.0 and v1.2.0.
	seedAges(t, a, "app", "1.0.0", "v1.2.0", "1.10.0", "2.0.0-rc.1", "latest", "1.2", "v1", "20240101")
	res := runAction(t, inputs{"registry": a, "repositories": "app", "order-by": "semver", "keep": "2"})
	if res.Code != 0 {
		t.Fatalf("exit %d", res.Code)
	}
	if diff := cmp.Diff([]string{"app:1.0.0", "app:v1.2.0"}, deletedTagsOutput(t, res)); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"1.10.0", "1.2", "2.0.0-rc.1", "20240101", "latest", "v1"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	tags := byTag(t, res.Report, "app")
	for _, tg := range []string{"latest", "1.2", "v1", "20240101"} {
		if !strings.Contains(tags[tg].Reason, "not semver") || tags[tg].Action != report.Kept {
			t.Errorf("%s: %s %q, want kept \"not semver\"", tg, tags[tg].Action, tags[tg].Reason)
		}
	}

	// "1.20" and "v2" would satisfy >=1.10.0 if parsed loosely (1.20.0,
	// 2.0.0); the contract's strict parse makes them no versions at all.
	seedAges(t, a, "lib", "dev", "1.9.0", "1.10.0", "2.0.0", "v2.1.0", "1.20", "v2")
	res = runAction(t, inputs{"registry": a, "repositories": "lib", "keep": "0", "keep-semver": ">=1.10.0"})
	if res.Code != 0 {
		t.Fatalf("exit %d", res.Code)
	}
	if diff := cmp.Diff([]string{"lib:1.20", "lib:1.9.0", "lib:dev", "lib:v2"}, deletedTagsOutput(t, res)); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
	tags = byTag(t, res.Report, "lib")
	for _, tg := range []string{"1.10.0", "2.0.0", "v2.1.0"} {
		if tags[tg].Action != report.Kept || !strings.Contains(tags[tg].Reason, "keep-semver") {
			t.Errorf("%s: %s %q, want kept by keep-semver", tg, tags[tg].Action, tags[tg].Reason)
		}
	}
	if diff := cmp.Diff([]string{"1.10.0", "2.0.0", "v2.1.0"}, listTags(t, a, "lib")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}

	// keep-semver is one constraint, not a list: its comma means "and".
	seedAges(t, a, "rng", "1.1.0", "1.5.0", "2.1.0")
	res = runAction(t, inputs{"registry": a, "repositories": "rng", "keep": "0", "keep-semver": ">=1.2.0, <2.0.0", "dry-run": "true"})
	if res.Code != 0 {
		t.Fatalf("keep-semver with a comma: exit %d", res.Code)
	}
	if diff := cmp.Diff([]string{"rng:1.1.0", "rng:2.1.0"}, deletedTagsOutput(t, res)); diff != "" {
		t.Errorf("keep-semver \">=1.2.0, <2.0.0\": would delete (-want +got):\n%s", diff)
	}
}

// TestLs: `tagsweep ls` lists digest, media type, created and size, as a
// table or JSON, honours include/exclude-tags, and deletes nothing.
// `tagsweep version` prints a version; an unknown command exits 2.
func TestLs(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	v1Created := daysAgo(1).UTC().Truncate(time.Second)
	pushImage(t, a, "app:v1", v1Created, 1)
	pushImage(t, a, "app:v2", daysAgo(40), 2)
	pushImage(t, a, "app:repro", time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC), 3)
	multi, _ := multiarch(t, a, "app:multi", daysAgo(2), 4)
	pushImage(t, a, "other:x", daysAgo(1), 5)
	v1Digest := digestOf(t, a+"/app:v1")
	r.ResetRequests()

	res := runCLI(t, nil, "ls", "--registry", a, "--repositories", "app")
	if res.Code != 0 {
		t.Fatalf("ls exit %d", res.Code)
	}
	rows := map[string]string{}
	for _, l := range strings.Split(res.Stdout, "\n") {
		if f := strings.Fields(l); len(f) > 2 && f[0] == "app" {
			rows[f[1]] = l
		}
	}
	if len(rows) != 4 {
		t.Errorf("ls shows %d tags of app, want 4:\n%s", len(rows), res.Stdout)
	}
	for _, w := range []string{v1Digest.String(), "application/vnd.oci.image.manifest.v1+json", v1Created.Format(time.RFC3339)} {
		if !strings.Contains(rows["v1"], w) {
			t.Errorf("ls row of v1 lacks %q: %q", w, rows["v1"])
		}
	}
	if !strings.Contains(rows["multi"], multi.String()) || !strings.Contains(rows["multi"], "application/vnd.oci.image.index.v1+json") {
		t.Errorf("ls row of multi lacks its digest or the index media type: %q", rows["multi"])
	}
	if strings.Contains(res.Stdout, "other") {
		t.Errorf("ls shows a repository not asked for:\n%s", res.Stdout)
	}

	res = runCLI(t, []string{"TAGSWEEP_REGISTRY=" + a}, "ls", "--repositories", "app", "--format", "json", "--include-tags", "v*,repro", "--exclude-tags", "v2")
	if res.Code != 0 {
		t.Fatalf("ls --format json exit %d", res.Code)
	}
	var listed []struct {
		Name string `json:"name"`
		Tags []struct {
			Tag       *string    `json:"tag"`
			Digest    *string    `json:"digest"`
			MediaType *string    `json:"mediaType"`
			Created   *time.Time `json:"created"`
			Size      *int64     `json:"size"`
		} `json:"tags"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &listed); err != nil {
		t.Fatalf("ls --format json is not JSON: %v\n%s", err, res.Stdout)
	}
	if len(listed) != 1 || listed[0].Name != "app" {
		t.Fatalf("ls --format json: %+v", listed)
	}
	var names []string
	for _, tg := range listed[0].Tags {
		if tg.Tag == nil || tg.Digest == nil || tg.MediaType == nil || tg.Size == nil {
			t.Errorf("ls json entry lacks a field: %+v", tg)
			continue
		}
		names = append(names, *tg.Tag)
		switch *tg.Tag {
		case "v1":
			if *tg.Digest != v1Digest.String() || *tg.MediaType != "application/vnd.oci.image.manifest.v1+json" ||
				tg.Created == nil || !tg.Created.Equal(v1Created) || *tg.Size <= 1024 {
				t.Errorf("ls json v1: digest %s type %s created %v size %d", *tg.Digest, *tg.MediaType, tg.Created, *tg.Size)
			}
		case "repro":
			if tg.Created != nil {
				t.Errorf("ls json repro: created %v, want null (unknown age)", tg.Created)
			}
		}
	}
	sort.Strings(names)
	if diff := cmp.Diff([]string{"repro", "v1"}, names); diff != "" {
		t.Errorf("ls with include v*,repro and exclude v2 (-want +got):\n%s", diff)
	}
	if c := r.Requests(); c.ByMethod["DELETE"] != 0 || c.ByMethod["PUT"] != 0 {
		t.Errorf("ls changed the registry: %v", c.ByMethod)
	}

	res = runCLI(t, nil, "ls", "--registry", a, "--format", "xml")
	if res.Code != 2 || !strings.Contains(res.Stderr, "xml") {
		t.Errorf("ls --format xml: exit %d, stderr %q; want 2 naming the value", res.Code, res.Stderr)
	}

	res = runCLI(t, nil, "version")
	if res.Code != 0 || !regexp.MustCompile(`^tagsweep \S+( \(commit [0-9a-f]{40}(, modified)?\))?\n$`).MatchString(res.Stdout) {
		t.Errorf("version: exit %d, stdout %q", res.Code, res.Stdout)
	}
	res = runCLI(t, nil, "frobnicate")
	if res.Code != 2 || !strings.Contains(res.Stderr, "frobnicate") {
		t.Errorf("unknown command: exit %d, stderr %q; want 2 and the command named", res.Code, res.Stderr)
	}
}

// TestRequestCounts measures the requests tagsweep sends per tag (20
// single-platform tags, 5 to delete) and bounds them loosely: one manifest
// and one config per tag to plan, one more resolve per tag and one DELETE
// per deletion for the second look and the deletions.
func TestRequestCounts(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	var tags []string
	for i := 0; i < 20; i++ {
		tags = append(tags, "b"+strconv.Itoa(100+i))
	}
	seedAges(t, a, "app", tags...)
	in := inputs{"registry": a, "repositories": "app", "keep": "15", "dry-run": "true"}
	r.ResetRequests()
	dry := runAction(t, in)
	dc := r.Requests()
	in["dry-run"] = "false"
	r.ResetRequests()
	real := runAction(t, in)
	rc := r.Requests()
	if dry.Code != 0 || real.Code != 0 {
		t.Fatalf("exit %d / %d", dry.Code, real.Code)
	}
	t.Logf("dry run: %d requests for 20 tags (%.2f per tag; report says %d): %v", dc.Total, float64(dc.Total)/20, dry.Report.Requests, dc.ByRoute)
	t.Logf("real run: %d requests for 20 tags, 5 deleted (%.2f per tag; report says %d): %v", rc.Total, float64(rc.Total)/20, real.Report.Requests, rc.ByRoute)
	if dc.Of("GET", testregistry.ClassTags) != 1 || dc.Of("HEAD", testregistry.ClassManifest) != 0 {
		t.Errorf("dry run: a second look (tags listed %d times, %d HEADs); dry runs get none", dc.Of("GET", testregistry.ClassTags), dc.Of("HEAD", testregistry.ClassManifest))
	}
	if rc.Of("GET", testregistry.ClassTags) != 2 {
		t.Errorf("real run: tags listed %d times, want 2 (plan and second look)", rc.Of("GET", testregistry.ClassTags))
	}
	if dc.ByMethod["DELETE"] != 0 || dc.Total > 3*20+10 {
		t.Errorf("dry run: %d requests, %d DELETE; want at most 70 and no DELETE", dc.Total, dc.ByMethod["DELETE"])
	}
	if rc.ByMethod["DELETE"] != 5 || rc.Total > dc.Total+20+5+10 {
		t.Errorf("real run: %d requests, %d DELETE; want 5 DELETE and at most %d", rc.Total, rc.ByMethod["DELETE"], dc.Total+35)
	}
	// Nothing left to delete: no second look either.
	r.ResetRequests()
	if res := runAction(t, in); res.Code != 0 || res.Outputs["deleted-count"] != "0" {
		t.Fatalf("third run: exit %d, outputs %v", res.Code, res.Outputs)
	}
	if n := r.Requests().Of("GET", testregistry.ClassTags); n != 1 {
		t.Errorf("nothing to delete: tags listed %d times, want 1 (no second look)", n)
	}
}

// TestCatalogPagination: the catalog is read to its end when the registry
// pages it (forced to 2 repositories per page).
func TestCatalogPagination(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	all := []string{"a1", "a2", "a3", "a4", "a5"}
	for _, repo := range all {
		seedAges(t, a, repo, "new", "old")
	}
	r.SetHook(func(w http.ResponseWriter, req *http.Request) bool {
		if req.URL.Path == "/v2/_catalog" {
			q := req.URL.Query()
			q.Set("n", "2")
			req.URL.RawQuery = q.Encode()
		}
		return false
	})
	r.ResetRequests()
	res := runAction(t, inputs{"registry": "http://" + a, "keep": "1", "dry-run": "true"})
	r.SetHook(nil)
	if res.Code != 0 {
		t.Fatalf("exit %d", res.Code)
	}
	if n := r.Requests().Of("GET", testregistry.ClassCatalog); n < 3 {
		t.Fatalf("%d catalog requests: the registry did not page", n)
	}
	var got []string
	for _, repo := range res.Report.Repositories {
		got = append(got, repo.Name)
	}
	if diff := cmp.Diff(all, got); diff != "" {
		t.Errorf("repositories handled (-want +got):\n%s", diff)
	}
}

// TestTieBreak: rule 4: equal creation times, and equal versions under
// order-by semver (a leading v), are broken by tag name,
// byte-wise, highest first.
func TestTieBreak(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	same := daysAgo(3)
	for i, tg := range []string{"b", "a", "C", "c"} {
		pushImage(t, a, "app:"+tg, same, int64(10+i))
	}
	for i, tg := range []string{"1.2.0", "v1.2.0", "1.0.0", "0.9.0"} {
		pushImage(t, a, "ver:"+tg, daysAgo(float64(1+i)), int64(20+i))
	}
	res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "2"})
	if res.Code != 0 {
		t.Fatalf("exit %d", res.Code)
	}
	// byte-wise: "c" > "b" > "a" > "C"
	if diff := cmp.Diff([]string{"b", "c"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("equal ages: tags left (-want +got):\n%s", diff)
	}
	res = runAction(t, inputs{"registry": a, "repositories": "ver", "keep": "1", "order-by": "semver"})
	if res.Code != 0 {
		t.Fatalf("exit %d", res.Code)
	}
	// 1.2.0 == v1.2.0 as versions (1.2.0 is the newer image); "v1.2.0" is the higher name.
	if diff := cmp.Diff([]string{"v1.2.0"}, listTags(t, a, "ver")); diff != "" {
		t.Errorf("equal versions: tags left (-want +got):\n%s", diff)
	}
}

// TestBraceGlobs: a comma inside braces belongs to its glob, so
// exclude-tags "v{1,2}.*, rc" is two globs, given as the runner gives it;
// a brace left open is invalid input naming the whole glob, before any
// request.
func TestBraceGlobs(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	seedAges(t, a, "app", "v1.0", "v2.0", "v3.0", "rc", "latest")
	res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "0", "exclude-tags": "v{1,2}.*, rc", "dry-run": "true"})
	if res.Code != 0 {
		t.Fatalf("exit %d", res.Code)
	}
	if diff := cmp.Diff([]string{"app:latest", "app:v3.0"}, deletedTagsOutput(t, res)); diff != "" {
		t.Errorf("would delete (-want +got):\n%s", diff)
	}
	if got := byTag(t, res.Report, "app")["v2.0"]; got.Action != report.Kept || !strings.Contains(got.Reason, "v{1,2}.*") {
		t.Errorf("v2.0: %s %q, want kept by the glob v{1,2}.*", got.Action, got.Reason)
	}
	if diff := cmp.Diff([]string{"v{1,2}.*", "rc"}, res.Report.Policy.ExcludeTags); diff != "" {
		t.Errorf("policy exclude-tags (-want +got):\n%s", diff)
	}

	r.ResetRequests()
	bad := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "0", "exclude-tags": "v{1,2.*, rc"})
	if bad.Code != 2 || !strings.Contains(bad.Stderr, `exclude-tags: "v{1,2.*, rc" is not a valid glob`) {
		t.Errorf("open brace: exit %d, stderr %q; want 2 naming the glob", bad.Code, bad.Stderr)
	}
	if n := r.Requests().Total; n != 0 {
		t.Errorf("%d requests after invalid input, want none", n)
	}
}

// TestMissingRepository: a literal repository that does not exist (404
// NAME_UNKNOWN) or lists no tags (200 {"tags":[]}) is a warning naming it
// in the log and the summary, not an error (the contract: "is a warning"),
// so the run exits 0; the other literal one is still handled, without any
// catalog request.
func TestMissingRepository(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	seedAges(t, a, "app", "new", "old")
	seedAges(t, a, "emptied", "gone")
	gone, err := name.ParseReference(a+"/emptied@"+digestOf(t, a+"/emptied:gone").String(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Delete(gone); err != nil { // distribution now lists emptied with no tags
		t.Fatal(err)
	}
	r.ResetRequests()
	res := runAction(t, inputs{"registry": a, "repositories": "app\nmissing\nemptied", "keep": "1"})
	if res.Code != 0 {
		t.Errorf("exit %d, want 0", res.Code)
	}
	for _, name := range []string{"missing", "emptied"} {
		w := name + ": no such repository, or it has no tags"
		if !strings.Contains(res.Stderr, "warning: "+w) || !strings.Contains(res.Summary, "- "+w) {
			t.Errorf("stderr or summary does not warn %q:\n%s\n%s", w, res.Stderr, res.Summary)
		}
	}
	if diff := cmp.Diff([]string{"new"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("app tags left (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"app:old"}, deletedTagsOutput(t, res)); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
	found := false
	for _, repo := range res.Report.Repositories {
		if repo.Name == "missing" {
			found = true
			if repo.Error != "" || len(repo.Tags) != 0 {
				t.Errorf("repository missing: error %q, %d tags; want no error and no tags", repo.Error, len(repo.Tags))
			}
		}
	}
	if !found {
		t.Errorf("report has no entry for repository missing")
	}
	if n := r.Requests().Of("GET", testregistry.ClassCatalog); n != 0 {
		t.Errorf("%d catalog requests for literal repositories", n)
	}
	checkCounts(t, res)
}

// TestHTTPSNeverFallsBack: `https://` means TLS only: against a plain-HTTP
// registry the run fails and no request reaches the registry's handler.
func TestHTTPSNeverFallsBack(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	seedAges(t, a, "app", "new", "old")
	r.ResetRequests()
	res := runAction(t, inputs{"registry": "https://" + a, "repositories": "app", "keep": "1"})
	if res.Code != 1 {
		t.Errorf("exit %d, want 1", res.Code)
	}
	if n := r.Requests().Total; n != 0 {
		t.Errorf("%d plain-HTTP requests reached the registry: %v", n, r.Requests().ByRoute)
	}
	if diff := cmp.Diff([]string{"new", "old"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	if res.Outputs["deleted-count"] != "0" || res.Outputs["failed-count"] != "0" {
		t.Errorf("outputs %v, want written with deleted-count 0", res.Outputs)
	}
}

// TestUnreachable: a registry nobody listens on: exit 1, the error says so,
// outputs and report are written anyway.
func TestUnreachable(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	r.Close() // the port is free now
	res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "1"})
	if res.Code != 1 {
		t.Errorf("exit %d, want 1", res.Code)
	}
	if res.Outputs["deleted-count"] != "0" || res.Outputs["deleted-tags"] != "[]" {
		t.Errorf("outputs %v, want written with nothing deleted", res.Outputs)
	}
	if res.Report == nil {
		t.Fatal("no report written")
	}
	if !strings.Contains(res.Stderr, a) && !strings.Contains(res.Stderr, "connection refused") {
		t.Errorf("stderr names neither the registry nor the connection failure:\n%s", res.Stderr)
	}
}

// TestInspectFailure: a tag whose manifest cannot be read blocks the
// deletions of its repository (the plan would be built on a partial
// graph), fails the run, and another repository is still handled.
func TestInspectFailure(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	seedAges(t, a, "app", "new", "broken", "old")
	seedAges(t, a, "lib", "new", "old")
	r.SetHook(func(w http.ResponseWriter, req *http.Request) bool {
		if req.URL.Path != "/v2/app/manifests/broken" {
			return false
		}
		testregistry.WriteError(w, http.StatusBadRequest, "MANIFEST_INVALID", "injected")
		return true
	})
	res := runAction(t, inputs{"registry": a, "repositories": "app,lib", "keep": "1"})
	r.SetHook(nil)
	if res.Code != 1 {
		t.Errorf("exit %d, want 1", res.Code)
	}
	if diff := cmp.Diff([]string{"broken", "new", "old"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("app tags left (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"new"}, listTags(t, a, "lib")); diff != "" {
		t.Errorf("lib tags left (-want +got):\n%s", diff)
	}
	if !strings.Contains(res.Stderr, "broken") {
		t.Errorf("stderr does not name the tag that could not be read:\n%s", res.Stderr)
	}
	checkCounts(t, res)
}

// TestRateLimited: 429 answers with Retry-After: 0 on reads and deletes
// are waited out; the run succeeds.
func TestRateLimited(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	seedAges(t, a, "app", "new", "old", "older")
	var n atomic.Int32
	r.SetHook(func(w http.ResponseWriter, req *http.Request) bool {
		c := testregistry.Classify(req.URL.Path)
		if (c == testregistry.ClassManifest || c == testregistry.ClassTags) && n.Add(1)%3 == 1 {
			w.Header().Set("Retry-After", "0")
			testregistry.WriteError(w, http.StatusTooManyRequests, "TOOMANYREQUESTS", "slow down")
			return true
		}
		return false
	})
	res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "1"})
	r.SetHook(nil)
	if res.Code != 0 {
		t.Fatalf("exit %d", res.Code)
	}
	if r.Requests().Hooked == 0 {
		t.Fatal("no 429 was sent")
	}
	if diff := cmp.Diff([]string{"new"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
}

// TestPartialDeleteFailure: one of three deletions is refused: exit 1,
// the outputs count what happened (2 deleted, 1 failed) and list only the
// tags really deleted.
func TestPartialDeleteFailure(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	seedAges(t, a, "app", "new", "o1", "o2", "o3")
	o2 := digestOf(t, a+"/app:o2")
	r.SetHook(denyDeletesOf(o2.String()))
	res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "1"})
	r.SetHook(nil)
	if res.Code != 1 {
		t.Errorf("exit %d, want 1", res.Code)
	}
	if diff := cmp.Diff([]string{"app:o1", "app:o3"}, deletedTagsOutput(t, res)); diff != "" {
		t.Errorf("deleted-tags (-want +got):\n%s", diff)
	}
	if res.Outputs["failed-count"] != "1" || res.Outputs["deleted-count"] != "2" || res.Outputs["kept-count"] != "1" {
		t.Errorf("outputs %v, want deleted 2, failed 1, kept 1", res.Outputs)
	}
	if got := byTag(t, res.Report, "app")["o2"]; got.Action != report.Failed || got.Error == "" {
		t.Errorf("o2: %s %q, want failed with an error", got.Action, got.Error)
	}
	checkCounts(t, res)
	if diff := cmp.Diff([]string{"new", "o2"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
}

// TestDeletesDisabled: a registry with storage.delete.enabled false
// answers 405 UNSUPPORTED; the message names the fix.
func TestDeletesDisabled(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, func(o *testregistry.Options) { o.DeleteEnabled = false })
	a := r.Addr()
	seedAges(t, a, "app", "new", "o1", "o2", "o3", "o4", "o5", "o6")
	res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "1"})
	if res.Code != 1 {
		t.Errorf("exit %d, want 1", res.Code)
	}
	for name, text := range map[string]string{"stderr": res.Stderr, "summary": res.Summary} {
		if !strings.Contains(text, "REGISTRY_STORAGE_DELETE_ENABLED=true") {
			t.Errorf("%s does not name REGISTRY_STORAGE_DELETE_ENABLED=true:\n%s", name, text)
		}
	}
	// The DELETEs go in parallel, so several meet the 405 before it is
	// known; the repository's error and its log group title say it once.
	if n := strings.Count(res.Report.Repositories[0].Error, "REGISTRY_STORAGE_DELETE_ENABLED"); n != 1 {
		t.Errorf("the repository error names the fix %d times, want once:\n%s", n, res.Report.Repositories[0].Error)
	}
	for _, line := range strings.Split(res.Stderr, "\n") {
		if strings.HasPrefix(line, "the registry refuses deletes") {
			t.Errorf("a log line continues a multi-line group title or error: %q", line)
		}
	}
	if res.Outputs["failed-count"] != "6" || res.Outputs["deleted-count"] != "0" {
		t.Errorf("outputs %v, want failed-count 6, deleted-count 0", res.Outputs)
	}
	checkCounts(t, res)
	if diff := cmp.Diff([]string{"new", "o1", "o2", "o3", "o4", "o5", "o6"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
}

// TestDeletesDisabledTagOnly: deletes are disabled and the only stale tag
// shares its digest with a kept tag, so the only DELETE tagsweep sends is
// its tag-delete probe, which the registry answers 405 UNSUPPORTED. Rule 6
// keeps the tag, but the registry refuses deletes, so the user is still
// told how to enable them.
func TestDeletesDisabledTagOnly(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, func(o *testregistry.Options) { o.DeleteEnabled = false })
	a := r.Addr()
	pushImage(t, a, "app:new", daysAgo(1), 1)
	pushImage(t, a, "app:stable", daysAgo(30), 2)
	tag(t, a, "app:dup", "app:stable")
	res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "1", "exclude-tags": "stable"})
	if len(r.Deletes()) == 0 {
		t.Fatal("no DELETE sent at all")
	}
	if res.Code == 2 {
		t.Fatalf("exit 2")
	}
	if got := byTag(t, res.Report, "app")["dup"]; got.Action == report.Deleted {
		t.Errorf("dup reported deleted on a registry that refuses deletes")
	}
	if !strings.Contains(res.Stderr+res.Summary, "REGISTRY_STORAGE_DELETE_ENABLED=true") {
		t.Errorf("the registry refused deletes (405) but neither stderr nor the summary names REGISTRY_STORAGE_DELETE_ENABLED=true:\nstderr:\n%s\nsummary:\n%s", res.Stderr, res.Summary)
	}
	if diff := cmp.Diff([]string{"dup", "new", "stable"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
}

// TestCatalogNotServedSaysListByName: a registry that answers
// /v2/_catalog with 404 (olareg, GHCR) fails a glob with the advice to
// name the repositories, and a literal name still works without it.
func TestCatalogNotServedSaysListByName(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	seedAges(t, a, "team/api", "new", "old")
	r.SetHook(testregistry.FailRequests(http.StatusNotFound, "NOT_FOUND", 0, testregistry.MatchRoute(http.MethodGet, testregistry.ClassCatalog)))
	res := runAction(t, inputs{"registry": a, "repositories": "team/*", "keep": "1"})
	if res.Code != 1 {
		t.Errorf("exit %d, want 1", res.Code)
	}
	for name, text := range map[string]string{"stderr": res.Stderr, "summary": res.Summary} {
		if !strings.Contains(text, "list the repositories by name in `repositories`") {
			t.Errorf("%s does not say to list the repositories by name:\n%s", name, text)
		}
	}
	res = runAction(t, inputs{"registry": a, "repositories": "team/api", "keep": "1"})
	if res.Code != 0 || res.Outputs["deleted-count"] != "1" {
		t.Errorf("a literal name without the catalog: exit %d, outputs %v", res.Code, res.Outputs)
	}
}

// TestPlainHTTPAnswerHint: `https://` in front of a registry that speaks
// plain HTTP fails, saying how to ask for plain HTTP.
func TestPlainHTTPAnswerHint(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	seedAges(t, a, "app", "new", "old")
	res := runAction(t, inputs{"registry": "https://" + a, "repositories": "app", "keep": "1"})
	if res.Code != 1 {
		t.Errorf("exit %d, want 1", res.Code)
	}
	want := "answered plain HTTP to a TLS handshake (http: server gave HTTP response to HTTPS client): https:// means TLS only; " +
		"if plain HTTP is really meant, write `http://" + a + "` in `registry`"
	if !strings.Contains(res.Stderr, want) {
		t.Errorf("stderr does not say\n%s\n%s", want, res.Stderr)
	}
	if diff := cmp.Diff([]string{"new", "old"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
}

// A provider that reports no push times cannot order by them: exit 2
// before any request.
func TestAgeSourcePushedNeedsPushTimes(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	pushImage(t, r.Addr(), "app:v1", daysAgo(1), 1)
	r.ResetRequests()
	res := runAction(t, inputs{"registry": r.Addr(), "repositories": "app", "age-source": "pushed"})
	if res.Code != 2 {
		t.Fatalf("exit %d, want 2", res.Code)
	}
	if want := `age-source: "pushed" needs a provider that reports push times`; !strings.Contains(res.Stderr, want) {
		t.Errorf("stderr %q does not contain %q", res.Stderr, want)
	}
	if n := r.Requests().Total; n != 0 {
		t.Errorf("%d requests were sent", n)
	}
}

// Shards split the registry: run with 0/3, 1/3, 2/3 (a matrix), every
// repository is handled by exactly one run, and 3/3 is 0/3 (1-based).
func TestShards(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	var repos []string
	for i := range 9 {
		repos = append(repos, fmt.Sprintf("team/svc-%d", i))
	}
	stale(t, a, 2, repos...)
	seen := map[string]int{}
	byShard := map[string][]string{}
	for _, s := range []string{"0/3", "1/3", "2/3", "3/3"} {
		res := runAction(t, inputs{"registry": a, "repositories": "team/*", "keep": "1", "shard": s, "dry-run": "true"})
		if res.Code != 0 {
			t.Fatalf("shard %s: exit %d", s, res.Code)
		}
		if res.Report.Policy.Shard != s {
			t.Errorf("report policy shard = %q, want %q", res.Report.Policy.Shard, s)
		}
		for _, rp := range res.Report.Repositories {
			byShard[s] = append(byShard[s], rp.Name)
			if s != "3/3" {
				seen[rp.Name]++
			}
		}
		if !strings.Contains(res.Stderr, fmt.Sprintf("shard %s: %d of the 9 repositories that match", s, len(byShard[s]))) {
			t.Errorf("shard %s: the log does not say which part it handles:\n%s", s, res.Stderr)
		}
	}
	for _, rp := range repos {
		if seen[rp] != 1 {
			t.Errorf("%s handled by %d shards", rp, seen[rp])
		}
	}
	if diff := cmp.Diff(byShard["0/3"], byShard["3/3"]); diff != "" {
		t.Errorf("3/3 differs from 0/3 (-0/3 +3/3):\n%s", diff)
	}
}
