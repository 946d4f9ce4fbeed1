package e2e

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tagsweep/tagsweep/internal/registry/harbor/harbortest"
	"github.com/tagsweep/tagsweep/internal/report"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// harborUntaggedSeed fills team/app the way CI does on Harbor: a kept
// multi-arch index (latest, its four children referenced, so not listed
// by q=tags=nil), a tagged image v1, the 11 previous digests of the tag
// rolling (overwritten 11 times, pushed 2 to 12 days ago), a multi-arch
// index that lost its tag (39 days ago, with its four children), and 3
// images pushed
// by digest minutes ago (a push in progress).
func harborUntaggedSeed(t *testing.T, r *testregistry.Registry, srv *harbortest.Server) (stale, recent, keptKids []string, index string, indexKids []string) {
	t.Helper()
	const repo = "team/app"
	a := r.Addr()
	srv.SetPermissions(harborUser, harborRobot...)
	_, keptKids = buildx(t, a+"/"+repo+":latest", 3)
	srv.SetPushTime(repo, "latest", daysAgo(1))
	pushImage(t, a, repo+":v1", daysAgo(100), 4)
	srv.SetPushTime(repo, "v1", daysAgo(2))
	for i := range 12 {
		d := pushImage(t, a, repo+":rolling", daysAgo(300), int64(1000+i)).String()
		if i < 11 {
			stale = append(stale, d)
			srv.SetArtifactPushTime(repo, d, daysAgo(float64(12-i)))
		}
	}
	srv.SetPushTime(repo, "rolling", daysAgo(1))
	index, indexKids = buildx(t, a+"/"+repo+":tmp", 20)
	tag(t, a, repo+":tmp", repo+":v1") // the index loses its only tag
	srv.SetArtifactPushTime(repo, index, daysAgo(39))
	stale = append(stale, index)
	stale = append(stale, indexKids...)
	for i := range 3 {
		spec := testregistry.ImageSpec{Seed: int64(3000 + i), Created: daysAgo(300)}
		img, err := testregistry.BuildImage(spec)
		if err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		if _, err := testregistry.PushImage(context.Background(), a+"/"+repo+"@"+d.String(), spec); err != nil {
			t.Fatal(err)
		}
		srv.SetArtifactPushTime(repo, d.String(), now.Add(-time.Duration(10+i)*time.Minute))
		recent = append(recent, d.String())
	}
	return stale, recent, keptKids, index, indexKids
}

// TestHarborDeleteUntagged: delete-untagged on Harbor, through the
// binary: the artifacts q=tags=nil lists (11 previous digests of an
// overwritten tag, an index that lost its tag and its four children from
// its references) go through the REST artifact delete, the index before
// its children; 3 pushed minutes ago and the children of the kept index
// latest stay; dry and real plan alike; deleted-untagged-count, the
// report's untagged list and an exact reclaimed-bytes (no "at most") say
// so. With keep-untagged=5 the 5 most recently pushed stay too.
func TestHarborDeleteUntagged(t *testing.T) {
	t.Parallel()
	r, srv := harbor(t)
	stale, recent, keptKids, index, indexKids := harborUntaggedSeed(t, r, srv)
	in := inputs{"registry": r.Addr(), "provider": "harbor", "username": harborUser, "password": harborPassword,
		"repositories": "team/app", "delete-untagged": "true"}
	dry, real := dryThenReal(t, in, harborEnv(srv))
	if real.outputs["deleted-untagged-count"] != "16" || real.outputs["deleted-count"] != "0" {
		t.Errorf("outputs %v: want 16 untagged deleted, no tag", real.outputs)
	}
	if n, _ := strconv.ParseInt(real.outputs["reclaimed-bytes"], 10, 64); n <= 0 {
		t.Errorf("reclaimed-bytes %q", real.outputs["reclaimed-bytes"])
	}
	if real.report.ReclaimedAtMost || strings.Contains(real.summary, "at most") || strings.Contains(real.stderr, "at most") {
		t.Errorf("reclaimed-bytes is called an upper bound where Harbor lists the untagged artifacts:\n%s", real.summary)
	}
	if d := r.Deletes(); len(d) == 0 {
		t.Error("no manifest was deleted in the registry")
	}
	a := r.Addr()
	held := func(d string) bool {
		ok, err := testregistry.Exists(context.Background(), a+"/team/app@"+d)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	for _, d := range stale {
		if held(d) {
			t.Errorf("stale untagged %s not deleted", d)
		}
	}
	for _, d := range append(append([]string{}, recent...), keptKids...) {
		if !held(d) {
			t.Errorf("%s deleted: it was recent or the child of the kept index", d)
		}
	}
	for _, tg := range []string{"latest", "v1", "rolling"} {
		if err := testregistry.VerifyPull(context.Background(), a+"/team/app:"+tg); err != nil {
			t.Errorf("%s does not pull: %v", tg, err)
		}
	}
	// Through the REST API only (the robot has no repository delete), the
	// index before its children (Harbor refuses a child an index holds).
	rest := srv.Deletes()
	pos := func(d string) int {
		return slices.IndexFunc(rest, func(q string) bool { return strings.HasSuffix(q, "/artifacts/"+d) })
	}
	for _, d := range stale[:11] {
		if pos(d) < 0 {
			t.Errorf("%s not deleted through the REST API: %v", d, rest)
		}
	}
	for _, k := range indexKids {
		if pi, ki := pos(index), pos(k); pi < 0 || (ki >= 0 && ki < pi) {
			t.Errorf("child %s deleted at %d, its index at %d: %v", k, ki, pi, rest)
		}
	}
	if d := srv.RegistryDeletes(); len(d) != 0 {
		t.Errorf("registry API DELETEs sent: %v", d)
	}
	for _, res := range []result{dry, real} {
		u := untaggedListed(t, res.report, "team/app", 19, recent) // 16 + 3
		for _, d := range keptKids {
			if _, listed := u[d]; listed {
				t.Errorf("child %s of the kept index is listed as untagged (Harbor lists it only in latest's references)", d)
			}
		}
		if e := u[stale[10]]; !strings.HasPrefix(e.Reason, "untagged, pushed 2d") || e.Pushed == nil {
			t.Errorf("stale %s: %s %q pushed %v", stale[10], e.Action, e.Reason, e.Pushed)
		}
		if !strings.Contains(res.summary, "16 untagged manifests") {
			t.Errorf("the summary does not name the 16 untagged manifests:\n%s", res.summary)
		}
	}
	if !strings.Contains(real.summary, "Harbor: run a garbage collection job") {
		t.Errorf("the summary's space note on Harbor:\n%s", real.summary)
	}

	// keep-untagged=5: the 5 most recently pushed of the 12 dangling tops
	// (the 5 newest previous digests of rolling) stay.
	r2, srv2 := harbor(t)
	stale2, _, _, _, _ := harborUntaggedSeed(t, r2, srv2)
	in2 := inputs{"registry": r2.Addr(), "provider": "harbor", "username": harborUser, "password": harborPassword,
		"repositories": "team/app", "delete-untagged": "true", "keep-untagged": "5"}
	_, real2 := dryThenReal(t, in2, harborEnv(srv2))
	if real2.outputs["deleted-untagged-count"] != "11" {
		t.Errorf("keep-untagged=5: deleted-untagged-count %q, want 11 (6 images, the index and its 4 children)", real2.outputs["deleted-untagged-count"])
	}
	u := untaggedOf(t, real2.report, "team/app")
	for i, d := range stale2[6:11] { // pushed 2 to 6 days ago: the newest
		ok, err := testregistry.Exists(context.Background(), r2.Addr()+"/team/app@"+d)
		if e := u[d]; err != nil || e.Action != report.Kept || e.Reason != "newest 5 untagged" || !ok {
			t.Errorf("stale #%d %s: %s %q (held %v %v)", i+6, d, e.Action, e.Reason, ok, err)
		}
	}
}
