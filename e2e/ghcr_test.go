package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/tagsweep/tagsweep/internal/registry/ghcr/ghcrtest"
	"github.com/tagsweep/tagsweep/internal/report"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

const ghcrToken = "ghp_e2eTokenValue0123456789abcdef"

// ghcrEnv is a registry that answers like ghcr.io (405 to every DELETE on
// the registry API) and the GitHub Packages REST API over it.
func ghcrEnv(t *testing.T, o ghcrtest.Options) (*testregistry.Registry, *ghcrtest.Server) {
	t.Helper()
	r := newRegistry(t)
	o.Registry = r
	if o.Token == "" {
		o.Token = ghcrToken
	}
	api, err := ghcrtest.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(api.Close)
	return r, api
}

func apiDeletes(api *ghcrtest.Server) []string {
	var out []string
	for _, q := range api.Requests() {
		if q.Method == "DELETE" {
			out = append(out, q.String())
		}
	}
	return out
}

// ghcrSeed fills octo/app the way CI fills a GHCR package: single images
// and multi-arch indexes, pushed on different days (the versions'
// updated_at), and a tag "stable" on the digest of the stale v2.
func ghcrSeed(t *testing.T, r *testregistry.Registry, api *ghcrtest.Server, repo string) (digests map[string]string, oldKids, newKids []string) {
	t.Helper()
	a := r.Addr()
	digests = map[string]string{}
	pushedDaysAgo := map[string]float64{"multi-new": 1, "v5": 2, "v4": 3, "v3": 4, "v2": 5, "v1": 6, "multi-old": 7}
	for i, tg := range []string{"v1", "v2", "v3", "v4", "v5"} {
		digests[tg] = pushImage(t, a, repo+":"+tg, daysAgo(100), int64(i+1)).String()
	}
	tag(t, a, repo+":stable", repo+":v2")
	digests["multi-old"], oldKids = buildx(t, a+"/"+repo+":multi-old", 7)
	digests["multi-new"], newKids = buildx(t, a+"/"+repo+":multi-new", 8)
	for tg, days := range pushedDaysAgo {
		api.SetTimes(repo, digests[tg], daysAgo(days+10), daysAgo(days))
	}
	return digests, oldKids, newKids
}

// buildx pushes what docker buildx pushes for two platforms: an index of
// the two images and an attestation manifest of each (untagged versions
// on GHCR). It returns the index and its four children.
func buildx(t *testing.T, ref string, seed int64) (string, []string) {
	t.Helper()
	var adds []mutate.IndexAddendum
	var kids []string
	for i, arch := range []string{"amd64", "arm64"} {
		p := v1.Platform{OS: "linux", Architecture: arch}
		img, err := testregistry.BuildImage(testregistry.ImageSpec{Created: daysAgo(100), Seed: seed*10 + int64(i), Platform: &p})
		if err != nil {
			t.Fatal(err)
		}
		att, err := testregistry.BuildImage(testregistry.ImageSpec{Seed: seed*10 + 5 + int64(i)})
		if err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		ad, _ := att.Digest()
		kids = append(kids, d.String(), ad.String())
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}},
			mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"},
				Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": d.String()}}})
	}
	h, err := testregistry.PushIndex(context.Background(), ref, testregistry.IndexSpec{Addenda: adds})
	if err != nil {
		t.Fatal(err)
	}
	return h.String(), kids
}

// TestGHCRSweep: provider ghcr lists the packages of the owner and their
// versions through the GitHub API and deletes through it: stale versions
// (a multi-arch index with its children) by version id, a stale tag on the
// digest of a kept tag by moving it onto a placeholder whose version is
// deleted; the children of the kept index stay; the dry run plans the
// same and deletes nothing.
func TestGHCRSweep(t *testing.T) {
	t.Parallel()
	r, api := ghcrEnv(t, ghcrtest.Options{})
	ctx := context.Background()
	a := r.Addr()
	d, oldKids, newKids := ghcrSeed(t, r, api, "octo/app")
	pushImage(t, a, "octo/tools/builder:b1", daysAgo(100), 20) // a second package, with a '/' in its name
	api.SetTimes("octo/tools/builder", digestOf(t, a+"/octo/tools/builder:b1").String(), daysAgo(1), daysAgo(1))

	in := inputs{"registry": a, "provider": "ghcr", "password": ghcrToken, "repositories": "octo/**", "keep": "2",
		"exclude-tags": "stable", "dry-run": "true"}
	env := []string{"GITHUB_API_URL=" + api.URL()}
	r.ResetRequests()
	api.ResetRequests()
	dry := runActionWith(t, in, env)
	if dry.code != 0 {
		t.Fatalf("dry run exit %d\n%s", dry.code, dry.stderr)
	}
	if del := apiDeletes(api); len(del) != 0 {
		t.Errorf("dry run sent API deletes: %v", del)
	}
	if n := r.Requests().Of("PUT", testregistry.ClassManifest) + r.Requests().ByMethod["DELETE"]; n != 0 {
		t.Errorf("dry run pushed or deleted on the registry (%d requests): %v", n, r.Deletes())
	}
	wantDeleted := []string{"octo/app:multi-old", "octo/app:v1", "octo/app:v2", "octo/app:v3", "octo/app:v4"}
	if diff := cmp.Diff(wantDeleted, deletedTagsOutput(t, dry)); diff != "" {
		t.Errorf("dry-run deleted-tags (-want +got):\n%s", diff)
	}
	var listed []string
	for _, repo := range dry.report.Repositories {
		listed = append(listed, repo.Name)
	}
	if diff := cmp.Diff([]string{"octo/app", "octo/tools/builder"}, listed); diff != "" {
		t.Errorf("repositories (-want +got):\n%s", diff)
	}
	for _, q := range api.Requests() {
		if q.Auth != "Bearer" {
			t.Errorf("%s without a bearer token", q)
		}
	}

	// The real run with the workflow's GITHUB_TOKEN instead of the password.
	in["dry-run"] = "false"
	in["password"] = ""
	api.ResetRequests()
	r.ResetRequests()
	res := runActionWith(t, in, append(env, "GITHUB_TOKEN="+ghcrToken))
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	checkCounts(t, res)
	noSecret(t, res, res.outputs["report-file"], ghcrToken)
	// The token found in the environment is masked like the password: it
	// appears once on stdout, in the ::add-mask:: line, and nowhere else.
	if n := strings.Count(res.stdout, ghcrToken); n != 1 || !strings.Contains(res.stdout, "::add-mask::"+ghcrToken+"\n") {
		t.Errorf("GITHUB_TOKEN on stdout %d times, want once in ::add-mask::\n%s", n, res.stdout)
	}
	if diff := cmp.Diff(deletedTagsOutput(t, dry), deletedTagsOutput(t, res)); diff != "" {
		t.Errorf("real run deleted other tags than the dry run planned (-dry +real):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"multi-new", "stable", "v5"}, listTags(t, a, "octo/app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	// stable kept its image: same digest, pulls completely.
	if got := digestOf(t, a+"/octo/app:stable").String(); got != d["v2"] {
		t.Errorf("stable points at %s, want %s", got, d["v2"])
	}
	for _, ref := range []string{"octo/app:stable", "octo/app:v5", "octo/app:multi-new", "octo/tools/builder:b1"} {
		if err := testregistry.VerifyPull(ctx, a+"/"+ref); err != nil {
			t.Errorf("kept %s does not pull: %v", ref, err)
		}
	}
	for _, k := range newKids {
		if !exists(t, a+"/octo/app@"+k) {
			t.Errorf("child %s of the kept index was deleted", k)
		}
	}
	// Deleted through the API: v1, v3, v4, the old index and its children,
	// and the placeholder that took v2 off the shared digest. Never v2's digest.
	want := map[string]bool{d["v1"]: true, d["v3"]: true, d["v4"]: true, d["multi-old"]: true}
	for _, k := range oldKids {
		want[k] = true
	}
	var placeholder []string
	for _, x := range api.Deleted() {
		dg := strings.TrimPrefix(x, "octo/app@")
		switch {
		case dg == d["v2"] || dg == d["v5"] || dg == d["multi-new"]:
			t.Errorf("deleted the kept digest %s", x)
		case want[dg]:
			delete(want, dg)
		default:
			placeholder = append(placeholder, dg)
		}
	}
	if len(want) != 0 || len(placeholder) != 1 {
		t.Errorf("not deleted: %v; deleted besides them: %v (want only the placeholder)", want, placeholder)
	}
	if n := len(apiDeletes(api)); n != 9 {
		t.Errorf("%d API deletes, want 9: %v", n, apiDeletes(api))
	}
	// The registry saw no DELETE of its own API but the replica's (no 405s).
	if c := r.Requests(); c.Hooked != 0 || c.ByMethod["DELETE"] != 9 {
		t.Errorf("registry: %d DELETEs, %d answered 405: %v", c.ByMethod["DELETE"], c.Hooked, r.Deletes())
	}
	got := actions(t, res.report, "octo/app")
	for tg, act := range map[string]string{"v2": report.Deleted, "stable": report.Kept, "multi-new": report.Kept, "v5": report.Kept, "multi-old": report.Deleted} {
		if got[tg] != act {
			t.Errorf("%s: %s, want %s (%v)", tg, got[tg], act, got)
		}
	}
	if !strings.Contains(res.summary, "GitHub Container Registry") && !strings.Contains(res.summary, "30 days") {
		t.Errorf("summary does not name GHCR's restore window:\n%s", res.summary)
	}
}

// TestGHCRMissingDeletePermission: a token without delete:packages. The
// single-tag delete is refused before the tag moves (its scopes say so);
// GitHub answers 404 to the first version DELETE, which is a failure, not
// success; the other deletes in the package are not tried. The run exits 1
// naming the permission; nothing is deleted or moved.
func TestGHCRMissingDeletePermission(t *testing.T) {
	t.Parallel()
	r, api := ghcrEnv(t, ghcrtest.Options{Orgs: []string{"acme"}})
	a := r.Addr()
	d, _, _ := ghcrSeed(t, r, api, "acme/app")
	before := listTags(t, a, "acme/app")
	api.DenyDeletes("read:packages, write:packages")
	r.ResetRequests()

	res := runActionWith(t, inputs{"registry": a, "provider": "ghcr", "password": ghcrToken, "repositories": "acme/**", "keep": "2", "exclude-tags": "stable"},
		[]string{"GITHUB_API_URL=" + api.URL()})
	if res.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", res.code, res.stderr)
	}
	noSecret(t, res, res.outputs["report-file"], ghcrToken)
	if len(api.Deleted()) != 0 {
		t.Errorf("deleted %v", api.Deleted())
	}
	if diff := cmp.Diff(before, listTags(t, a, "acme/app")); diff != "" {
		t.Errorf("tags changed (-before +after):\n%s", diff)
	}
	for tg, dg := range map[string]string{"v2": d["v2"], "stable": d["v2"], "v1": d["v1"], "multi-old": d["multi-old"]} {
		if got := digestOf(t, a+"/acme/app:"+tg).String(); got != dg {
			t.Errorf("%s moved to %s", tg, got)
		}
	}
	if res.outputs["deleted-count"] != "0" || res.outputs["failed-count"] != "5" {
		t.Errorf("outputs %v: want nothing deleted, 5 failed", res.outputs)
	}
	checkCounts(t, res)
	for _, want := range []string{"delete:packages", "permissions: packages: write", "the password input", "read:packages, write:packages"} {
		if !strings.Contains(res.stderr+res.summary, want) {
			t.Errorf("stderr and summary lack %q:\n%s\n%s", want, res.stderr, res.summary)
		}
	}
	for tg, tr := range byTag(t, res.report, "acme/app") {
		if tr.Action == report.Deleted {
			t.Errorf("%s reported deleted", tg)
		}
	}
	if n := len(apiDeletes(api)); n != 1 {
		t.Errorf("%d API deletes, want 1: %v", n, apiDeletes(api))
	}
	if n := r.Requests().Of("PUT", testregistry.ClassManifest); n != 0 {
		t.Errorf("%d manifest pushes: a tag was moved", n)
	}
}

// TestGHCRGitHubTokenWithoutAdminAccess: a GITHUB_TOKEN (no scopes to
// read) whose repository has no Admin access to the package: the stale tag
// on a kept digest is moved onto a placeholder before GitHub refuses to
// delete it. The run exits 1 naming the fix; no version is deleted and
// every kept tag keeps its image.
func TestGHCRGitHubTokenWithoutAdminAccess(t *testing.T) {
	t.Parallel()
	r, api := ghcrEnv(t, ghcrtest.Options{NoScopes: true})
	a := r.Addr()
	d, _, _ := ghcrSeed(t, r, api, "octo/app")
	api.DenyDeletes("")

	res := runActionWith(t, inputs{"registry": a, "provider": "ghcr", "repositories": "octo/**", "keep": "2", "exclude-tags": "stable"},
		[]string{"GITHUB_API_URL=" + api.URL(), "GITHUB_TOKEN=" + ghcrToken})
	if res.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", res.code, res.stderr)
	}
	noSecret(t, res, res.outputs["report-file"], ghcrToken)
	if len(api.Deleted()) != 0 {
		t.Errorf("deleted %v", api.Deleted())
	}
	for _, want := range []string{"GITHUB_TOKEN", "permissions: packages: write", "Admin access", "v2"} {
		if !strings.Contains(res.stderr+res.summary, want) {
			t.Errorf("stderr and summary lack %q:\n%s\n%s", want, res.stderr, res.summary)
		}
	}
	for tg, dg := range map[string]string{"stable": d["v2"], "v5": d["v5"], "multi-new": d["multi-new"], "v1": d["v1"]} {
		if got := digestOf(t, a+"/octo/app:"+tg).String(); got != dg {
			t.Errorf("%s moved to %s", tg, got)
		}
	}
	// v2 points at its image again where the registry backend can retag,
	// else at the placeholder, which the error names.
	if got := digestOf(t, a+"/octo/app:v2").String(); got != d["v2"] && !strings.Contains(res.stderr+res.summary, "now points at a placeholder image "+got) {
		t.Errorf("v2 points at %s, and the run does not say so:\n%s", got, res.stderr)
	}
	if res.outputs["deleted-count"] != "0" || res.outputs["failed-count"] != "5" {
		t.Errorf("outputs %v: want nothing deleted, 5 failed", res.outputs)
	}
	checkCounts(t, res)
}
