package vendors

// The registry-API protections the vendor descriptors declare (ACR's lock,
// Harbor's 412), on the real distribution registry with a hook replaying
// the vendor's answer, through the backend New builds for provider oci:
// every backend knows every vendor's protections. Moved from registry/oci,
// which names no vendor since the protections live in the descriptors.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/engine"
	"github.com/tagsweep/tagsweep/internal/engine/enginetest"
	"github.com/tagsweep/tagsweep/internal/policy"
	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/acr"
	"github.com/tagsweep/tagsweep/internal/registry/connect"
	"github.com/tagsweep/tagsweep/internal/report"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

func startDistribution(t *testing.T, o testregistry.Options) *testregistry.Registry {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	r, err := testregistry.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// newBackend is the backend New builds for addr with provider oci.
func newBackend(t *testing.T, addr string) registry.Backend {
	t.Helper()
	b, err := All.New(connect.Settings{Kind: kOCI, Host: addr, Concurrency: 8, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatalf("New(%q): %v", addr, err)
	}
	return b.Backend
}

func pushImage(t *testing.T, ref string, spec testregistry.ImageSpec) string {
	t.Helper()
	h, err := testregistry.PushImage(context.Background(), ref, spec)
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func tagRef(t *testing.T, ref, src string) {
	t.Helper()
	if err := testregistry.Tag(context.Background(), ref, src); err != nil {
		t.Fatal(err)
	}
}

func listTags(t *testing.T, repo string) []string {
	t.Helper()
	tags, err := testregistry.ListTags(context.Background(), repo)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(tags)
	return tags
}

// TestLockedManifest: an ACR lock on one digest among ten (405
// REGISTRY_DISALLOWED_OPERATION, Azure/acr-cli#70) is a ProtectedError for
// that digest only: the nine others are deleted, before and after it, and
// no DELETE beyond the ten is sent (a protection needs no probe).
func TestLockedManifest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startDistribution(t, testregistry.Options{DeleteEnabled: true})
	var digests []string
	for i := range 10 {
		digests = append(digests, pushImage(t, fmt.Sprintf("%s/app:t%d", r.Addr(), i), testregistry.ImageSpec{Seed: int64(i + 1)}))
	}
	locked := digests[3]
	r.SetHook(testregistry.ACRLocked("app/" + locked))
	b := newBackend(t, r.Addr())
	r.ResetRequests()
	for i, d := range digests {
		err := b.DeleteDigest(ctx, "app", d, nil)
		if d != locked {
			if err != nil {
				t.Errorf("DeleteDigest t%d: %v", i, err)
			}
			continue
		}
		var pe *registry.ProtectedError
		if !errors.As(err, &pe) || !errors.Is(err, registry.ErrProtected) {
			t.Fatalf("DeleteDigest of the locked digest = %v (%T), want a *registry.ProtectedError", err, err)
		}
		if pe.Reason != acr.LockedReason {
			t.Errorf("reason %q, want %q", pe.Reason, acr.LockedReason)
		}
		if errors.Is(err, registry.ErrDeleteDisabled) {
			t.Errorf("a lock on one manifest reads as deletes disabled: %v", err)
		}
	}
	if diff := gocmp.Diff([]string{"t3"}, listTags(t, r.Addr()+"/app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	if n := r.Requests().Of(http.MethodDelete, testregistry.ClassManifest); n != 10 {
		t.Errorf("%d DELETEs, want 10 (one per digest, no probe)", n)
	}
}

// TestLockedTag: an ACR lock on one tag among several single-tag deletes
// is a ProtectedError for that tag; tag delete is not switched off: the
// later tags still go, and TagDeleteSupported still says yes.
func TestLockedTag(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startDistribution(t, testregistry.Options{DeleteEnabled: true})
	repo := r.Addr() + "/app"
	d := pushImage(t, repo+":stable", testregistry.ImageSpec{Seed: 1})
	for _, tg := range []string{"a", "b", "c", "d"} {
		tagRef(t, repo+":"+tg, repo+"@"+d)
	}
	r.SetHook(testregistry.ACRLocked("app/b"))
	b := newBackend(t, r.Addr())
	if ok, err := b.TagDeleteSupported(ctx, "app"); !ok || err != nil {
		t.Fatalf("TagDeleteSupported = %v, %v; want true", ok, err)
	}
	for _, tg := range []string{"a", "b", "c", "d"} {
		err := b.DeleteTag(ctx, "app", tg)
		if tg != "b" {
			if err != nil {
				t.Errorf("DeleteTag %s: %v", tg, err)
			}
			continue
		}
		var pe *registry.ProtectedError
		if !errors.As(err, &pe) || pe.Reason != acr.LockedReason || errors.Is(err, registry.ErrTagDeleteUnsupported) {
			t.Errorf("DeleteTag of the locked tag = %v, want a ProtectedError %q and not ErrTagDeleteUnsupported", err, acr.LockedReason)
		}
	}
	if ok, err := b.TagDeleteSupported(ctx, "app"); !ok || err != nil {
		t.Errorf("TagDeleteSupported after the lock = %v, %v; want still true", ok, err)
	}
	if diff := gocmp.Diff([]string{"b", "stable"}, listTags(t, repo)); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	if err := testregistry.VerifyPull(ctx, repo+":stable"); err != nil {
		t.Error(err)
	}
}

// A 412 on DELETE (Harbor: immutable tag, artifact referenced by another)
// is the registry protecting the manifest, not a failure to retry.
func TestDeletePreconditionIsProtection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startDistribution(t, testregistry.Options{DeleteEnabled: true})
	d := pushImage(t, r.Addr()+"/app:locked", testregistry.ImageSpec{Seed: 1})
	r.SetHook(func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method != http.MethodDelete {
			return false
		}
		testregistry.WriteError(w, http.StatusPreconditionFailed, "PRECONDITION", "the tag locked configured as immutable, cannot be deleted")
		return true
	})
	b := newBackend(t, r.Addr())
	err := b.DeleteDigest(ctx, "app", d, nil)
	if !errors.Is(err, registry.ErrProtected) || !strings.Contains(err.Error(), "configured as immutable") {
		t.Errorf("DeleteDigest = %v, want ErrProtected with the registry's message", err)
	}
	if n := r.Requests().Of(http.MethodDelete, testregistry.ClassManifest); n != 1 {
		t.Errorf("%d DELETEs, want 1 (no retry)", n)
	}
}

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
	return enginetest.Run(t, context.Background(), newBackend(t, addr), engine.Options{Registry: addr, Repositories: []string{"app"}, Concurrency: 4,
		Rules: policy.Rules{Keep: keep, Include: []policy.Glob{all}, Exclude: ex, OrderBy: policy.OrderCreated}})
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
	want := map[string]string{"t10": "kept: rank 1 of 11 by created, within keep=1", "t04": "kept: " + acr.LockedReason}
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
			want = "kept: " + acr.LockedReason
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
