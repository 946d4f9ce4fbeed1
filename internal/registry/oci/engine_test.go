package oci

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/engine"
	"github.com/tagsweep/tagsweep/internal/policy"
	"github.com/tagsweep/tagsweep/internal/report"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// sweep runs the real engine and planner over the backend: keep the
// newest keep, never delete the tags matching exclude.
func sweep(t *testing.T, addr string, keep int, exclude ...string) *report.Report {
	t.Helper()
	all, _ := policy.CompileGlob("*")
	var ex []policy.Glob
	for _, e := range exclude {
		g, err := policy.CompileGlob(e)
		if err != nil {
			t.Fatal(err)
		}
		ex = append(ex, g)
	}
	e := engine.New(newBackend(t, addr), engine.Options{Registry: addr, Repositories: []string{"app"}, Concurrency: 4,
		Rules: policy.Rules{Keep: keep, Include: []policy.Glob{all}, Exclude: ex, OrderBy: policy.OrderCreated}})
	return e.Run(context.Background())
}

// outcomes maps each tag of the report to "action: reason".
func outcomes(rep *report.Report) map[string]string {
	out := map[string]string{}
	for _, r := range rep.Repositories {
		for _, tg := range r.Tags {
			out[tg.Tag] = tg.Action + ": " + tg.Reason + tg.Error
		}
	}
	return out
}

// TestEngineLockedManifest: one of ten stale digests is locked on the
// registry (ACR's 405 REGISTRY_DISALLOWED_OPERATION): it is kept with the
// registry's reason, the other nine are deleted, and the run succeeds.
func TestEngineLockedManifest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startDistribution(t, testregistry.Options{DeleteEnabled: true})
	base := time.Now().Add(-48 * time.Hour)
	var locked string
	for i := range 11 {
		d := pushImage(t, fmt.Sprintf("%s/app:t%02d", r.Addr(), i), testregistry.ImageSpec{Seed: int64(i + 1), Created: base.Add(time.Duration(i) * time.Minute)})
		if i == 4 {
			locked = d
		}
	}
	r.SetHook(testregistry.ACRLocked("app/" + locked))
	rep := sweep(t, r.Addr(), 1) // t10 is the newest: t00..t09 are stale
	want := map[string]string{"t10": "kept: rank 1 of 11 by created, within keep=1", "t04": "kept: " + acrLockedReason}
	got := outcomes(rep)
	for tg, o := range got {
		if _, ok := want[tg]; !ok {
			if !strings.HasPrefix(o, report.Deleted+": ") {
				t.Errorf("%s: %q, want deleted", tg, o)
			}
			delete(got, tg)
		}
	}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("kept tags (-want +got):\n%s", diff)
	}
	if rep.Failed() || rep.Totals.Deleted != 9 || rep.Totals.Failed != 0 {
		t.Errorf("totals %+v, failed %v, errors %v: want 9 deleted, none failed", rep.Totals, rep.Failed(), rep.Errors)
	}
	if diff := gocmp.Diff([]string{"t04", "t10"}, listTags(t, r.Addr()+"/app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	for _, tg := range []string{"t04", "t10"} {
		if err := testregistry.VerifyPull(ctx, r.Addr()+"/app:"+tg); err != nil {
			t.Error(err)
		}
	}
}

// TestEngineLockedTag: stale tags sharing a kept digest go by single-tag
// delete; the one locked on the registry is kept with its reason, the
// others (deleted in parallel after it) still go, and the run succeeds.
func TestEngineLockedTag(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startDistribution(t, testregistry.Options{DeleteEnabled: true})
	repo := r.Addr() + "/app"
	d := pushImage(t, repo+":stable", testregistry.ImageSpec{Seed: 1, Created: time.Now().Add(-72 * time.Hour)})
	pushImage(t, repo+":new", testregistry.ImageSpec{Seed: 2, Created: time.Now().Add(-time.Hour)})
	var stale []string
	for i := range 6 {
		tg := fmt.Sprintf("s%d", i)
		stale = append(stale, tg)
		tagRef(t, repo+":"+tg, repo+"@"+d)
	}
	r.SetHook(testregistry.ACRLocked("app/s0", "app/s3"))
	rep := sweep(t, r.Addr(), 1, "stable")
	got := outcomes(rep)
	for _, tg := range stale {
		want := report.Deleted + ": "
		if tg == "s0" || tg == "s3" {
			want = "kept: " + acrLockedReason
		}
		if o := got[tg]; !strings.HasPrefix(o, want) {
			t.Errorf("%s: %q, want %q", tg, o, want)
		}
	}
	if rep.Failed() || rep.Totals.Deleted != 4 {
		t.Errorf("totals %+v, errors %v, repository errors %+v: want 4 deleted, no failure", rep.Totals, rep.Errors, rep.Repositories)
	}
	left := listTags(t, repo)
	sort.Strings(left)
	if diff := gocmp.Diff([]string{"new", "s0", "s3", "stable"}, left); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	if err := testregistry.VerifyPull(ctx, repo+":stable"); err != nil {
		t.Error(err)
	}
}
