package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tagsweep/tagsweep/internal/registry/ghcr"
	"github.com/tagsweep/tagsweep/internal/registry/ghcr/ghcrtest"
	"github.com/tagsweep/tagsweep/internal/report"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// workflowToken stands for the workflow's GITHUB_TOKEN (an installation
// token, ghs_…), which the runner puts in INPUT_GITHUB-TOKEN from
// action.yml's default ${{ github.token }}.
const workflowToken = "ghs_e2eWorkflowTokenValue0123456789abcdef"

// seedTags pushes n tags t01…tNN to repo, tNN pushed one day ago and t01
// n days ago (the versions' updated_at), and returns their digests.
func seedTags(t *testing.T, r *testregistry.Registry, api *ghcrtest.Server, repo string, n int, seed int64) map[string]string {
	t.Helper()
	out := map[string]string{}
	for i := 1; i <= n; i++ {
		tg := fmt.Sprintf("t%02d", i)
		d := pushImage(t, r.Addr(), repo+":"+tg, daysAgo(200), seed+int64(i)).String()
		out[tg] = d
		api.SetTimes(repo, d, daysAgo(float64(n-i+1)+30), daysAgo(float64(n-i+1)))
	}
	return out
}

// pushUntagged pushes an image by digest alone (an untagged package
// version), pushed at pushed, and returns its digest.
func pushUntagged(t *testing.T, r *testregistry.Registry, api *ghcrtest.Server, repo string, seed int64, pushed time.Time) string {
	t.Helper()
	spec := testregistry.ImageSpec{Seed: seed, Created: daysAgo(300)}
	img, err := testregistry.BuildImage(spec)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	if _, err := testregistry.PushImage(context.Background(), r.Addr()+"/"+repo+"@"+d.String(), spec); err != nil {
		t.Fatal(err)
	}
	api.SetTimes(repo, d.String(), pushed, pushed)
	return d.String()
}

// pushUntaggedIndex pushes an index of two images by digest alone (the
// three are untagged versions), all pushed at pushed; it returns the
// index and its children.
func pushUntaggedIndex(t *testing.T, r *testregistry.Registry, api *ghcrtest.Server, repo string, seed int64, pushed time.Time) (string, []string) {
	t.Helper()
	var kids []v1.Image
	var digests []string
	for i, arch := range []string{"amd64", "arm64"} {
		img, err := testregistry.BuildImage(testregistry.ImageSpec{Seed: seed + int64(i), Created: daysAgo(300), Platform: &v1.Platform{OS: "linux", Architecture: arch}})
		if err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		kids = append(kids, img)
		digests = append(digests, d.String())
	}
	idx, err := testregistry.BuildIndex(testregistry.IndexSpec{Children: kids})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := idx.Digest()
	if _, err := testregistry.PushIndex(context.Background(), r.Addr()+"/"+repo+"@"+d.String(), testregistry.IndexSpec{Children: kids}); err != nil {
		t.Fatal(err)
	}
	for _, x := range append([]string{d.String()}, digests...) {
		api.SetTimes(repo, x, pushed, pushed)
	}
	return d.String(), digests
}

// untaggedOf is the report's untagged entries of repo, by digest.
func untaggedOf(t *testing.T, rep *report.Report, repo string) map[string]report.Untagged {
	t.Helper()
	if rep == nil {
		t.Fatal("no report")
	}
	out := map[string]report.Untagged{}
	for _, r := range rep.Repositories {
		if r.Name == repo {
			for _, u := range r.Untagged {
				out[u.Digest] = u
			}
		}
	}
	return out
}

// untaggedListed is untaggedOf, checked: want entries, and each of
// recent kept as pushed minutes ago.
func untaggedListed(t *testing.T, rep *report.Report, repo string, want int, recent []string) map[string]report.Untagged {
	t.Helper()
	u := untaggedOf(t, rep, repo)
	if len(u) != want {
		t.Errorf("%s: %d untagged entries, want %d", repo, len(u), want)
	}
	for _, d := range recent {
		if e := u[d]; e.Action != report.Kept || !strings.HasSuffix(e.Reason, "ago: may belong to a push in progress") {
			t.Errorf("recent %s: %s %q", d, e.Action, e.Reason)
		}
	}
	return u
}

// planOf is what a run decided, tag by tag and untagged manifest by
// manifest, with the deleted action of both runs written the same way:
// dry == real compares these.
func planOf(t *testing.T, rep *report.Report) []string {
	t.Helper()
	var out []string
	for _, r := range rep.Repositories {
		for _, tg := range r.Tags {
			out = append(out, fmt.Sprintf("%s:%s %s %s", r.Name, tg.Tag, strings.Replace(tg.Action, report.WouldDelete, report.Deleted, 1), tg.Reason))
		}
		for _, u := range r.Untagged {
			out = append(out, fmt.Sprintf("%s@%s %s %s", r.Name, u.Digest, strings.Replace(u.Action, report.WouldDelete, report.Deleted, 1), u.Reason))
		}
	}
	return out
}

// dryThenReal runs in as a dry run and then for real, checks that both
// exit 0 and planned the same, and returns both.
func dryThenReal(t *testing.T, in inputs, env []string) (dry, real result) {
	t.Helper()
	in["dry-run"] = "true"
	dry = runActionWith(t, in, env)
	if dry.code != 0 {
		t.Fatalf("dry run exit %d\n%s", dry.code, dry.stderr)
	}
	in["dry-run"] = "false"
	real = runActionWith(t, in, env)
	if real.code != 0 {
		t.Fatalf("real run exit %d\n%s", real.code, real.stderr)
	}
	if diff := cmp.Diff(planOf(t, dry.report), planOf(t, real.report)); diff != "" {
		t.Errorf("the real run did other than the dry run planned (-dry +real):\n%s", diff)
	}
	for _, o := range []string{"deleted-count", "deleted-untagged-count", "reclaimed-bytes", "deleted-tags"} {
		if dry.outputs[o] != real.outputs[o] {
			t.Errorf("output %s: dry %q, real %q", o, dry.outputs[o], real.outputs[o])
		}
	}
	checkCounts(t, dry)
	checkCounts(t, real)
	return dry, real
}

// TestGHCRThreeLineStep: README's first GHCR example, a step after the
// build with only `repositories: ${{ github.repository }}`: the runner
// passes the workflow's token as github-token (action.yml's default), and
// nothing else. tagsweep reaches the package of the repository's owner
// through /user (the installation acts on the owner's account), plans
// the same dry and real, deletes beyond keep=10, and never prints the
// token but in the ::add-mask:: line.
func TestGHCRThreeLineStep(t *testing.T) {
	t.Parallel()
	r, api := ghcrEnv(t, ghcrtest.Options{Token: workflowToken, RepositoryOwner: "octo"})
	d := seedTags(t, r, api, "octo/app", 12, 100)
	// Only what the runner sets: the inputs from action.yml's defaults
	// (github-token is ${{ github.token }}) and the job's environment.
	in := inputs{"registry": r.Addr(), "provider": "ghcr", "repositories": "octo/app", "github-token": workflowToken}
	env := []string{"GITHUB_API_URL=" + api.URL(), "GITHUB_REPOSITORY_OWNER=octo", "GITHUB_REPOSITORY=octo/app", "GITHUB_ACTOR=octocat"}
	dry, real := dryThenReal(t, in, env)
	if diff := cmp.Diff([]string{"octo/app:t01", "octo/app:t02"}, deletedTagsOutput(t, real)); diff != "" {
		t.Errorf("deleted-tags (-want +got):\n%s", diff)
	}
	left := versionDigests(t, api, "octo/app")
	for tg, dg := range d {
		gone := !slices.Contains(left, dg)
		if gone != (tg == "t01" || tg == "t02") {
			t.Errorf("%s (%s): gone %v", tg, dg, gone)
		}
	}
	for _, res := range []result{dry, real} {
		noSecret(t, res, res.outputs["report-file"], workflowToken)
		if n := strings.Count(res.stdout, workflowToken); n != 1 || !strings.Contains(res.stdout, "::add-mask::"+workflowToken+"\n") {
			t.Errorf("the token on stdout %d times, want once in ::add-mask::", n)
		}
	}
	for _, q := range api.Requests() {
		if q.Auth != "Bearer" {
			t.Errorf("%s without the token", q)
		}
		if strings.HasPrefix(q.Path, "/users/octo/packages") {
			t.Errorf("%s: the owner's packages go through /user", q)
		}
	}
}

// TestGHCRLastTaggedVersion: every tag of the package is stale. GitHub
// refuses to delete the last tagged version; the plan keeps the newest,
// saying why, in the dry run too; both runs exit 0, and so does the next
// scheduled run, which deletes nothing and keeps it for the same reason.
func TestGHCRLastTaggedVersion(t *testing.T) {
	t.Parallel()
	r, api := ghcrEnv(t, ghcrtest.Options{})
	d := seedTags(t, r, api, "octo/app", 3, 10)
	in := inputs{"registry": r.Addr(), "provider": "ghcr", "password": ghcrToken, "repositories": "octo/app", "keep": "0", "older-than": "1h"}
	env := []string{"GITHUB_API_URL=" + api.URL()}
	_, real := dryThenReal(t, in, env)
	if diff := cmp.Diff([]string{"octo/app:t01", "octo/app:t02"}, deletedTagsOutput(t, real)); diff != "" {
		t.Errorf("deleted-tags (-want +got):\n%s", diff)
	}
	kept := byTag(t, real.report, "octo/app")["t03"]
	if kept.Action != report.Kept || kept.Reason != ghcr.Descriptor.LastTagged {
		t.Errorf("t03: %s %q, want kept %q", kept.Action, kept.Reason, ghcr.Descriptor.LastTagged)
	}
	for _, q := range api.Requests() {
		if q.Method == http.MethodDelete && q.Status != http.StatusNoContent {
			t.Errorf("%s answered %d: GitHub refused a DELETE", q, q.Status)
		}
	}
	// The next scheduled run.
	again := runActionWith(t, in, env)
	if again.code != 0 {
		t.Fatalf("second run exit %d\n%s", again.code, again.stderr)
	}
	if got := byTag(t, again.report, "octo/app")["t03"]; got.Action != report.Kept || got.Reason != ghcr.Descriptor.LastTagged {
		t.Errorf("second run, t03: %s %q", got.Action, got.Reason)
	}
	if again.outputs["deleted-count"] != "0" || !slices.Contains(versionDigests(t, api, "octo/app"), d["t03"]) {
		t.Errorf("second run: outputs %v, versions %v", again.outputs, versionDigests(t, api, "octo/app"))
	}
}

// TestGHCRWorkflowTokenCannotList: the workflow's token with a glob that
// needs the packages listing (the default `**`, or `octo/*`): GitHub
// answers 400 "Invalid argument."; the run says how to fix it, exits 1,
// and sends no DELETE.
func TestGHCRWorkflowTokenCannotList(t *testing.T) {
	t.Parallel()
	r, api := ghcrEnv(t, ghcrtest.Options{Token: workflowToken, RepositoryOwner: "octo"})
	seedTags(t, r, api, "octo/app", 3, 20)
	for _, repos := range []string{"", "octo/*"} {
		api.ResetRequests()
		res := runActionWith(t, inputs{"registry": r.Addr(), "provider": "ghcr", "github-token": workflowToken, "repositories": repos, "keep": "0"},
			[]string{"GITHUB_API_URL=" + api.URL(), "GITHUB_REPOSITORY_OWNER=octo"})
		if res.code != 1 {
			t.Fatalf("repositories %q: exit %d, want 1\n%s", repos, res.code, res.stderr)
		}
		if !strings.Contains(res.stderr, ghcr.ListFix) || !strings.Contains(res.summary, "name them in") {
			t.Errorf("repositories %q: stderr and summary do not name the fix %q:\n%s\n%s", repos, ghcr.ListFix, res.stderr, res.summary)
		}
		if del := apiDeletes(api); len(del) != 0 {
			t.Errorf("repositories %q: deletes sent: %v", repos, del)
		}
		noSecret(t, res, res.outputs["report-file"], workflowToken)
	}
	if n := len(versionDigests(t, api, "octo/app")); n != 3 {
		t.Errorf("%d versions left, want 3", n)
	}
}

// TestGHCRFineGrainedToken: GitHub Packages does not accept fine-grained
// tokens. Given as github-token or password, one is invalid input (exit 2,
// one stderr line naming the input and the fix) and no request is sent;
// GitHub's 403 "Resource not accessible by personal access token" to a
// token without the prefix names the same fix, and the repository's log
// group says it failed.
func TestGHCRFineGrainedToken(t *testing.T) {
	t.Parallel()
	const fine = "github_pat_11AAE2EFINEGRAINED0123456789abcdef"
	r, api := ghcrEnv(t, ghcrtest.Options{Token: fine})
	seedTags(t, r, api, "octo/app", 2, 30)
	r.ResetRequests()
	api.ResetRequests()
	for _, input := range []string{"github-token", "password"} {
		res := runActionWith(t, inputs{"registry": r.Addr(), "provider": "ghcr", input: fine, "repositories": "octo/app"},
			[]string{"GITHUB_API_URL=" + api.URL()})
		lines := strings.Split(strings.TrimSpace(res.stderr), "\n")
		if res.code != 2 || len(lines) != 1 || !strings.Contains(lines[0], input) || !strings.Contains(lines[0], ghcr.FineGrainedFix) {
			t.Errorf("%s: exit %d, stderr %q; want 2 and one line naming %s and %q", input, res.code, res.stderr, input, ghcr.FineGrainedFix)
		}
		if strings.Contains(strings.ReplaceAll(res.stdout, "::add-mask::"+fine+"\n", "")+res.stderr+res.summary, fine) {
			t.Errorf("%s: the token is printed", input)
		}
	}
	if n := len(api.Requests()) + r.Requests().Total; n != 0 {
		t.Errorf("%d requests sent: %v", n, api.Requests())
	}

	// A fine-grained token without the prefix (GitHub's 403 says so).
	const plain = "0123456789abcdef0123456789abcdef01234567"
	r2, api2 := ghcrEnv(t, ghcrtest.Options{Token: plain})
	seedTags(t, r2, api2, "octo/app", 2, 30)
	api2.SetHook(func(w http.ResponseWriter, req *http.Request) bool {
		if !strings.Contains(req.URL.Path, "/packages/") {
			return false
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"message":"Resource not accessible by personal access token","documentation_url":"https://docs.github.com/rest/packages/packages","status":"403"}`)
		return true
	})
	res := runActionWith(t, inputs{"registry": r2.Addr(), "provider": "ghcr", "password": plain, "repositories": "octo/app"},
		[]string{"GITHUB_API_URL=" + api2.URL()})
	if res.code != 1 || !strings.Contains(res.stderr, ghcr.FineGrainedFix) {
		t.Errorf("403: exit %d, want 1 naming %q:\n%s", res.code, ghcr.FineGrainedFix, res.stderr)
	}
	if !strings.Contains(res.stderr, "::group::octo/app: failed: ") {
		t.Errorf("the log group of the failed repository does not say it failed:\n%s", res.stderr)
	}
	noSecret(t, res, res.outputs["report-file"], plain)
}

// untaggedSeed fills octo/app the way CI does after months of pushes of
// latest: a kept multi-arch index (latest) whose four children are
// untagged versions, a tagged image, 40 dangling untagged versions pushed
// 2 to 39 days ago (37 images and an index with its two children), and 3
// pushed minutes ago (a push in progress).
func untaggedSeed(t *testing.T, r *testregistry.Registry, api *ghcrtest.Server) (stale, recent, kids []string, index string, indexKids []string) {
	t.Helper()
	repo := "octo/app"
	latest, kids := buildx(t, r.Addr()+"/"+repo+":latest", 3)
	api.SetTimes(repo, latest, daysAgo(1), daysAgo(1))
	for _, k := range kids {
		api.SetTimes(repo, k, daysAgo(1), daysAgo(1))
	}
	v1d := pushImage(t, r.Addr(), repo+":v1", daysAgo(100), 4).String()
	api.SetTimes(repo, v1d, daysAgo(2), daysAgo(2))
	for i := range 37 {
		stale = append(stale, pushUntagged(t, r, api, repo, int64(1000+i), daysAgo(float64(2+i))))
	}
	index, indexKids = pushUntaggedIndex(t, r, api, repo, 2000, daysAgo(39))
	stale = append(stale, index)
	stale = append(stale, indexKids...)
	for i := range 3 {
		recent = append(recent, pushUntagged(t, r, api, repo, int64(3000+i), now.Add(-time.Duration(10+i)*time.Minute)))
	}
	return stale, recent, kids, index, indexKids
}

// TestGHCRDeleteUntagged: delete-untagged on 40 dangling untagged
// versions, 3 pushed minutes ago and the four children of a kept index:
// the 40 go (the dangling index before its children), the rest stay with
// their reasons, dry and real alike; deleted-untagged-count, the report's
// untagged list, reclaimed-bytes and the summary (collapsed past 10) say
// so; max-deletions counts them. With keep-untagged=5 the 5 most recently
// pushed of the 40 stay too.
func TestGHCRDeleteUntagged(t *testing.T) {
	t.Parallel()
	// No rate-limit headers (as GHES): 40 DELETEs are not paced, so the
	// test does not wait (pacing: TestPacing, bench/RESULTS.md).
	r, api := ghcrEnv(t, ghcrtest.Options{NoRateLimits: true})
	stale, recent, kids, index, indexKids := untaggedSeed(t, r, api)
	in := inputs{"registry": r.Addr(), "provider": "ghcr", "password": ghcrToken, "repositories": "octo/app", "delete-untagged": "true"}
	env := []string{"GITHUB_API_URL=" + api.URL()}

	// max-deletions counts the untagged manifests.
	capped := runActionWith(t, inputs{"registry": r.Addr(), "provider": "ghcr", "password": ghcrToken, "repositories": "octo/app",
		"delete-untagged": "true", "max-deletions": "39", "dry-run": "true"}, env)
	if capped.code != 1 || !strings.Contains(capped.stderr+capped.summary, "40 untagged manifests") {
		t.Errorf("max-deletions=39: exit %d, want 1 naming the 40 untagged manifests:\n%s", capped.code, capped.stderr)
	}

	ids := map[string]int64{}
	vs, err := api.Versions("octo/app")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		ids[v.Digest] = v.ID
	}
	api.ResetRequests()
	dry, real := dryThenReal(t, in, env)
	if real.outputs["deleted-untagged-count"] != "40" || real.outputs["deleted-count"] != "0" {
		t.Errorf("outputs %v: want 40 untagged deleted, no tag", real.outputs)
	}
	if n, _ := strconv.ParseInt(real.outputs["reclaimed-bytes"], 10, 64); n <= 0 {
		t.Errorf("reclaimed-bytes %q", real.outputs["reclaimed-bytes"])
	}
	left := versionDigests(t, api, "octo/app")
	for _, d := range stale {
		if slices.Contains(left, d) {
			t.Errorf("stale untagged %s not deleted", d)
		}
	}
	for _, d := range append(append([]string{}, recent...), kids...) {
		if !slices.Contains(left, d) {
			t.Errorf("%s deleted: it was recent or the child of a kept index", d)
		}
	}
	if err := testregistry.VerifyPull(context.Background(), r.Addr()+"/octo/app:latest"); err != nil {
		t.Errorf("latest does not pull: %v", err)
	}
	// Parents first: the dangling index before its children.
	order := apiDeletes(api)
	pos := func(d string) int {
		id := ids[d]
		for i, q := range order {
			if strings.HasSuffix(q, "/versions/"+strconv.FormatInt(id, 10)) {
				return i
			}
		}
		return -1
	}
	for _, k := range indexKids {
		if pi, ki := pos(index), pos(k); pi < 0 || ki < pi {
			t.Errorf("child %s deleted at %d, its index at %d: %v", k, ki, pi, order)
		}
	}
	for _, res := range []result{dry, real} {
		u := untaggedListed(t, res.report, "octo/app", 47, recent) // 40 + 3 + 4
		for _, d := range kids {
			if e := u[d]; e.Action != report.Kept || e.Reason != "child of kept index latest" {
				t.Errorf("child %s: %s %q", d, e.Action, e.Reason)
			}
		}
		if e := u[stale[0]]; !strings.HasPrefix(e.Reason, "untagged, pushed 2d") || e.Pushed == nil {
			t.Errorf("stale %s: %s %q pushed %v", stale[0], e.Action, e.Reason, e.Pushed)
		}
		if !strings.Contains(res.summary, "<details><summary>40 untagged manifests") {
			t.Errorf("the summary does not list the 40 untagged manifests collapsed:\n%s", res.summary)
		}
	}
	if !strings.Contains(real.summary, "GitHub Container Registry frees the space") || strings.Contains(real.summary, "garbage collector runs") {
		t.Errorf("the summary's space note on GHCR:\n%s", real.summary)
	}

	// keep-untagged=5: the 5 most recently pushed of the 40 stay.
	r2, api2 := ghcrEnv(t, ghcrtest.Options{NoRateLimits: true})
	stale2, _, _, _, _ := untaggedSeed(t, r2, api2)
	in2 := inputs{"registry": r2.Addr(), "provider": "ghcr", "password": ghcrToken, "repositories": "octo/app", "delete-untagged": "true", "keep-untagged": "5"}
	_, real2 := dryThenReal(t, in2, []string{"GITHUB_API_URL=" + api2.URL()})
	if real2.outputs["deleted-untagged-count"] != "35" {
		t.Errorf("keep-untagged=5: deleted-untagged-count %q, want 35", real2.outputs["deleted-untagged-count"])
	}
	u := untaggedOf(t, real2.report, "octo/app")
	left2 := versionDigests(t, api2, "octo/app")
	for i, d := range stale2[:5] { // pushed 2 to 6 days ago: the newest
		if e := u[d]; e.Action != report.Kept || e.Reason != "newest 5 untagged" || !slices.Contains(left2, d) {
			t.Errorf("stale #%d %s: %s %q", i, d, e.Action, e.Reason)
		}
	}
}

// TestGHCRVersionDeletedMeanwhile: someone else deletes a version between
// tagsweep's listing and its DELETE, which GitHub answers 404 "Package
// version not found.": that version is gone (reported deleted), the other
// deletions go on, and the run exits 0.
func TestGHCRVersionDeletedMeanwhile(t *testing.T) {
	t.Parallel()
	r, api := ghcrEnv(t, ghcrtest.Options{})
	seedTags(t, r, api, "octo/app", 4, 40)
	var once atomic.Bool
	var stolen atomic.Value
	api.SetHook(func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method != http.MethodDelete || !once.CompareAndSwap(false, true) {
			return false
		}
		// The other client's DELETE, then ours, which finds it gone.
		other := httptest.NewRecorder()
		api.ServeHTTP(other, req)
		stolen.Store(req.URL.Path)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"message":"Package version not found.","documentation_url":"https://docs.github.com/rest/packages/packages","status":"404"}`)
		return true
	})
	res := runActionWith(t, inputs{"registry": r.Addr(), "provider": "ghcr", "password": ghcrToken, "repositories": "octo/app", "keep": "1"},
		[]string{"GITHUB_API_URL=" + api.URL()})
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	if stolen.Load() == nil {
		t.Fatal("no DELETE was sent")
	}
	if res.outputs["deleted-count"] != "3" || res.outputs["failed-count"] != "0" {
		t.Errorf("outputs %v: want 3 deleted (one by someone else), none failed", res.outputs)
	}
	if n := len(versionDigests(t, api, "octo/app")); n != 1 {
		t.Errorf("%d versions left, want 1", n)
	}
	checkCounts(t, res)
}

// TestGHCRPrivateUserPackage: a classic token's own user's private
// package: listed and deleted through /user/packages (GitHub documents
// /users/{username}/… for public packages; the replica refuses a private
// package there).
func TestGHCRPrivateUserPackage(t *testing.T) {
	t.Parallel()
	r, api := ghcrEnv(t, ghcrtest.Options{Login: "octo"})
	seedTags(t, r, api, "octo/secret", 3, 50)
	in := inputs{"registry": r.Addr(), "provider": "ghcr", "password": ghcrToken, "repositories": "octo/**", "keep": "1"}
	api.ResetRequests()
	_, real := dryThenReal(t, in, []string{"GITHUB_API_URL=" + api.URL()})
	if diff := cmp.Diff([]string{"octo/secret:t01", "octo/secret:t02"}, deletedTagsOutput(t, real)); diff != "" {
		t.Errorf("deleted-tags (-want +got):\n%s", diff)
	}
	var user int
	for _, q := range api.Requests() {
		switch {
		case strings.HasPrefix(q.Path, "/users/octo/"):
			t.Errorf("%s: the token's own packages go through /user", q)
		case strings.HasPrefix(q.Path, "/user/packages"):
			user++
		}
	}
	if user == 0 || len(apiDeletes(api)) != 2 {
		t.Errorf("%d requests to /user/packages, deletes %v", user, apiDeletes(api))
	}
}

// TestGHCRGitHubEnterpriseServer: on GitHub Enterprise Server the registry
// is containers.HOSTNAME and the API https://HOSTNAME/api/v3; provider
// auto picks ghcr from GITHUB_SERVER_URL, as the runner sets it. (The
// registry host is reached through an HTTP proxy that forwards to the
// in-process registry.)
func TestGHCRGitHubEnterpriseServer(t *testing.T) {
	t.Parallel()
	r, api := ghcrEnv(t, ghcrtest.Options{PathPrefix: "/api/v3", NoRateLimits: true})
	seedTags(t, r, api, "octo/app", 3, 60)
	target, _ := url.Parse("http://" + r.Addr())
	var mu sync.Mutex
	var proxied []string
	proxy := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		mu.Lock()
		proxied = append(proxied, pr.In.Host)
		mu.Unlock()
		pr.SetURL(target)
	}})
	t.Cleanup(proxy.Close)
	in := inputs{"registry": "http://containers.ghe.example.test", "insecure": "true", "password": ghcrToken, "repositories": "octo/app", "keep": "1"}
	env := []string{"GITHUB_SERVER_URL=https://ghe.example.test", "GITHUB_API_URL=" + api.URL(), "HTTP_PROXY=" + proxy.URL}
	_, real := dryThenReal(t, in, env)
	if real.report.Policy.Provider != "ghcr" {
		t.Errorf("provider %q, want ghcr", real.report.Policy.Provider)
	}
	if diff := cmp.Diff([]string{"octo/app:t01", "octo/app:t02"}, deletedTagsOutput(t, real)); diff != "" {
		t.Errorf("deleted-tags (-want +got):\n%s", diff)
	}
	if len(apiDeletes(api)) != 2 {
		t.Errorf("API deletes %v", apiDeletes(api))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(proxied) == 0 || slices.ContainsFunc(proxied, func(h string) bool { return h != "containers.ghe.example.test" }) {
		t.Errorf("registry requests through the proxy for %v", proxied)
	}
}

// TestGitHubTokenStaysOnGitHub: github-token (and GITHUB_TOKEN) are never
// sent to a registry that is not GHCR: a registry asking for Basic auth
// gets no credentials from them, the run fails for the credentials it
// lacks, and the token is printed nowhere.
func TestGitHubTokenStaysOnGitHub(t *testing.T) {
	t.Parallel()
	const tok = "ghp_e2eMustNotLeaveGitHub0123456789abcd"
	r := newRegistry(t)
	pushImage(t, r.Addr(), "app:v1", daysAgo(10), 1)
	var mu sync.Mutex
	var auths []string
	r.SetHook(func(w http.ResponseWriter, req *http.Request) bool {
		mu.Lock()
		auths = append(auths, req.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
		w.WriteHeader(http.StatusUnauthorized)
		return true
	})
	res := runActionWith(t, inputs{"registry": r.Addr(), "repositories": "app", "github-token": tok, "keep": "0"}, []string{"GITHUB_TOKEN=" + tok})
	if res.code != 1 {
		t.Errorf("exit %d, want 1 (the registry refused)\n%s", res.code, res.stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(auths) == 0 {
		t.Fatal("no request reached the registry")
	}
	for _, a := range auths {
		raw := a
		if b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(a, "Basic ")); err == nil {
			raw = string(b)
		}
		if strings.Contains(a, tok) || strings.Contains(raw, tok) {
			t.Errorf("the registry was sent the GitHub token: %q", a)
		}
	}
	noSecret(t, res, res.outputs["report-file"], tok)
}

// TestDeleteUntaggedWhereRegistryCannotList: on a registry whose API lists
// tags only (the CNCF registry, provider oci), delete-untagged deletes no
// untagged manifest, and the summary says so once for the run, naming the
// registry's own way.
func TestDeleteUntaggedWhereRegistryCannotList(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	for i, repo := range []string{"app", "api"} {
		pushImage(t, r.Addr(), repo+":v1", daysAgo(10), int64(i+1))
	}
	res := runAction(t, inputs{"registry": r.Addr(), "repositories": "app,api", "delete-untagged": "true"})
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	if n := strings.Count(res.summary, "lists tags only"); n != 1 || !strings.Contains(res.summary, "garbage-collect --delete-untagged") {
		t.Errorf("the summary says %d times that the registry cannot list untagged manifests, want once naming garbage-collect:\n%s", n, res.summary)
	}
	if res.outputs["deleted-untagged-count"] != "0" || res.report.UntaggedHint == "" {
		t.Errorf("outputs %v, untaggedHint %q", res.outputs, res.report.UntaggedHint)
	}
}

// TestGHCRRequestsPerTag measures the requests a run sends per tag on a
// 100-tag GHCR package (90 beyond keep=10), dry and real, as tagsweep
// counts them (the report's requests: registry API and GitHub API) and as
// the replica saw its own; bench/RESULTS.md has the figures. The bounds
// catch a regression that multiplies them.
func TestGHCRRequestsPerTag(t *testing.T) {
	t.Parallel()
	r, api := ghcrEnv(t, ghcrtest.Options{NoRateLimits: true})
	seedTags(t, r, api, "octo/app", 100, 5000)
	in := inputs{"registry": r.Addr(), "provider": "ghcr", "password": ghcrToken, "repositories": "octo/app"}
	env := []string{"GITHUB_API_URL=" + api.URL()}
	for _, dry := range []string{"true", "false"} {
		api.ResetRequests()
		in["dry-run"] = dry
		res := runActionWith(t, in, env)
		if res.code != 0 || res.outputs["deleted-count"] != "90" {
			t.Fatalf("dry-run %s: exit %d, outputs %v\n%s", dry, res.code, res.outputs, res.stderr)
		}
		total, apiN := res.report.Requests, int64(len(api.Requests()))
		per := float64(total) / 100
		t.Logf("dry-run=%s: %d requests for 100 tags (%.2f per tag): %d to the GitHub API, %d to the registry API",
			dry, total, per, apiN, total-apiN)
		if limit := map[string]float64{"true": 2.2, "false": 4.2}[dry]; per > limit {
			t.Errorf("dry-run=%s: %.2f requests per tag, more than %.1f", dry, per, limit)
		}
	}
}
