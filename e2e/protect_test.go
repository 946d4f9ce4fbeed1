package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/registry/ghcr/ghcrtest"
	"github.com/tagsweep/tagsweep/internal/report"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// acrLocked is the reason a manifest or tag that ACR refuses to delete
// with 405 REGISTRY_DISALLOWED_OPERATION (a lock) is kept with.
const acrLocked = "locked on the registry (ACR: writeEnabled or deleteEnabled is false)"

// TestLockedManifestKept: one stale digest among ten is locked on the
// registry (ACR's answer, Azure/acr-cli#70): it is kept with the reason,
// the nine others are deleted, and the run exits 0.
func TestLockedManifestKept(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	pushImage(t, a, "app:new", daysAgo(1), 1)
	var locked string
	for i := range 10 {
		d := pushImage(t, a, fmt.Sprintf("app:old%d", i), daysAgo(float64(10+i)), int64(10+i))
		if i == 6 {
			locked = d.String()
		}
	}
	r.SetHook(testregistry.ACRLocked("app/" + locked))
	res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "1"})
	if res.code != 0 {
		t.Fatalf("exit %d, want 0", res.code)
	}
	if got := byTag(t, res.report, "app")["old6"]; got.Action != report.Kept || got.Reason != acrLocked || got.Error != "" {
		t.Errorf("old6 = %s %q %q, want kept %q", got.Action, got.Reason, got.Error, acrLocked)
	}
	if res.outputs["deleted-count"] != "9" || res.outputs["failed-count"] != "0" {
		t.Errorf("outputs %v, want deleted-count 9, failed-count 0", res.outputs)
	}
	checkCounts(t, res)
	if !strings.Contains(res.summary, "| `old6` | `"+locked+"` |") || !strings.Contains(res.summary, acrLocked) {
		t.Errorf("the summary does not list old6 kept with %q:\n%s", acrLocked, res.summary)
	}
	if strings.Contains(res.stderr+res.summary, "REGISTRY_STORAGE_DELETE_ENABLED") {
		t.Errorf("a lock on one manifest is reported as deletes disabled:\n%s", res.stderr)
	}
	if diff := cmp.Diff([]string{"new", "old6"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	r.SetHook(nil)
	gcAndVerify(t, r, true, "app:new", "app:old6")
}

// TestLockedTagKept: stale tags on the digest of an excluded tag go by
// single-tag delete; the one locked on the registry is kept with the
// reason, the others go, tag delete is not switched off, exit 0.
func TestLockedTagKept(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	pushImage(t, a, "app:new", daysAgo(1), 1)
	pushImage(t, a, "app:stable", daysAgo(30), 2)
	for i := range 5 {
		tag(t, a, fmt.Sprintf("app:dup%d", i), "app:stable")
	}
	r.SetHook(testregistry.ACRLocked("app/dup2"))
	res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "1", "exclude-tags": "stable"})
	if res.code != 0 {
		t.Fatalf("exit %d, want 0", res.code)
	}
	want := map[string]string{"new": report.Kept, "stable": report.Kept, "dup2": report.Kept,
		"dup0": report.Deleted, "dup1": report.Deleted, "dup3": report.Deleted, "dup4": report.Deleted}
	if diff := cmp.Diff(want, actions(t, res.report, "app")); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
	if got := byTag(t, res.report, "app")["dup2"].Reason; got != acrLocked {
		t.Errorf("dup2 reason %q, want %q", got, acrLocked)
	}
	checkCounts(t, res)
	if diff := cmp.Diff([]string{"dup2", "new", "stable"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	r.SetHook(nil)
	gcAndVerify(t, r, true, "app:new", "app:stable", "app:dup2")
}

// TestReclaimedAtMost: on the OCI API, a tag overwritten by a new push
// leaves its old manifest untagged and unseen; a deleted image sharing its
// layer is counted as freeing it. The summary and the log say the figure
// is at most what GC frees; with `--delete-untagged` GC frees it all.
func TestReclaimedAtMost(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	pushImage(t, a, "app:old", daysAgo(30), 7)
	pushImage(t, a, "app:latest", daysAgo(20), 7) // the same layer as old, another config
	pushImage(t, a, "app:latest", daysAgo(1), 8)  // overwritten: the image of day 20 is untagged
	pushImage(t, a, "app:new", daysAgo(2), 9)
	res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "2"})
	if res.code != 0 || res.outputs["deleted-count"] != "1" {
		t.Fatalf("exit %d, outputs %v", res.code, res.outputs)
	}
	claimed, _ := strconv.ParseInt(res.outputs["reclaimed-bytes"], 10, 64)
	note := "untagged manifests this registry cannot list may hold some of these layers"
	if !res.report.ReclaimedAtMost || !strings.Contains(res.summary, "at most "+report.Bytes(claimed)) || !strings.Contains(res.summary, note) {
		t.Errorf("the summary does not say the %d bytes are at most what is freed:\n%s", claimed, res.summary)
	}
	if !strings.Contains(res.stderr, "at most "+report.Bytes(claimed)+" reclaimable after GC") || !strings.Contains(res.stderr, note) {
		t.Errorf("the log does not say the figure is at most:\n%s", res.stderr)
	}
	if freed := gcFreed(t, r, "app:latest", "app:new"); freed >= claimed {
		t.Errorf("GC without --delete-untagged freed %d bytes, claimed %d: the untagged image should hold the shared layer", freed, claimed)
	}
}

// TestReclaimedExactOnGHCR: GHCR lists every package version, tagged or
// not, so the layer an untagged version (a tag moved away) still holds is
// not counted, and reclaimed-bytes is what the garbage collector frees.
func TestReclaimedExactOnGHCR(t *testing.T) {
	t.Parallel()
	r, api := ghcrEnv(t, ghcrtest.Options{})
	a := r.Addr()
	for _, p := range []struct {
		ref  string
		days float64
		seed int64
	}{
		{ref: "octo/app:old", days: 30, seed: 7},
		{ref: "octo/app:latest", days: 20, seed: 7}, // old's layer, another config; overwritten next
		{ref: "octo/app:latest", days: 1, seed: 8},
		{ref: "octo/app:new", days: 2, seed: 9},
	} {
		d := pushImage(t, a, p.ref, daysAgo(p.days), p.seed).String()
		// The replica derives versions from the registry, as GHCR records
		// pushes: it must see the version before its tag moves away.
		if _, err := api.Versions("octo/app"); err != nil {
			t.Fatal(err)
		}
		api.SetTimes("octo/app", d, daysAgo(p.days), daysAgo(p.days))
	}
	res := runActionWith(t, inputs{"registry": a, "provider": "ghcr", "password": ghcrToken, "repositories": "octo/**", "keep": "2"},
		[]string{"GITHUB_API_URL=" + api.URL()})
	if res.code != 0 || res.outputs["deleted-count"] != "1" {
		t.Fatalf("exit %d, outputs %v", res.code, res.outputs)
	}
	if res.report.ReclaimedAtMost || strings.Contains(res.summary, "at most") {
		t.Errorf("the figure is said to be at most on a registry that lists every version:\n%s", res.summary)
	}
	if freed := gcFreed(t, r, "octo/app:latest", "octo/app:new"); res.outputs["reclaimed-bytes"] != strconv.FormatInt(freed, 10) {
		t.Errorf("reclaimed-bytes = %s, the garbage collector freed %d bytes", res.outputs["reclaimed-bytes"], freed)
	}
}

// gcFreed runs the registry's garbage collector (without
// --delete-untagged: untagged manifests stay), checks that refs still
// pull, and returns the bytes of blob storage it freed.
func gcFreed(t *testing.T, r *testregistry.Registry, refs ...string) int64 {
	t.Helper()
	before, err := r.BlobBytes()
	if err != nil {
		t.Fatal(err)
	}
	gcAndVerify(t, r, false, refs...)
	after, err := r.BlobBytes()
	if err != nil {
		t.Fatal(err)
	}
	return before - after
}
