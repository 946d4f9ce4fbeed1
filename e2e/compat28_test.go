package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/registry/registrytest"
	"github.com/tagsweep/tagsweep/internal/report"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// registry28 starts a CNCF distribution 2.8 registry (Debian's
// docker-registry) with deletes enabled. Without the binary the test is
// skipped, unless TAGSWEEP_REQUIRE_REGISTRY28=1 (CI) makes that fatal
// (registrytest.Registry28, which the conformance suite uses too).
//
// 2.8 cannot delete single tags (DELETE by tag answers 400 DIGEST_INVALID),
// and its garbage-collect --delete-untagged breaks multi-arch images (a
// registry bug fixed in v3), so GC runs without it here.
func registry28(t *testing.T) *testregistry.Process {
	t.Helper()
	return registrytest.Registry28(t)
}

// digestDeletes returns the digests of the DELETE-by-digest requests and
// the tags of the DELETE-by-tag requests a server received.
func digestDeletes(r testregistry.Server) (digests, tags []string) {
	for _, d := range r.Deletes() {
		ref := d[strings.LastIndex(d, "/")+1:]
		if strings.HasPrefix(ref, "sha256:") {
			digests = append(digests, ref)
		} else {
			tags = append(tags, ref)
		}
	}
	return digests, tags
}

// TestRegistry28KeepNewest: keep-newest by digest deletion on 2.8; the dry
// run plans exactly what the real run does; kept tags pull after GC.
func TestRegistry28KeepNewest(t *testing.T) {
	t.Parallel()
	r := registry28(t)
	a := r.Addr()
	pushImage(t, a, "app:new", daysAgo(1), 1)
	pushImage(t, a, "app:mid", daysAgo(2), 2)
	old := pushImage(t, a, "app:old", daysAgo(40), 3)
	older := pushImage(t, a, "app:older", daysAgo(50), 4)
	in := inputs{"registry": a, "repositories": "app", "keep": "2", "dry-run": "true"}
	dry := runAction(t, in)
	if dry.code != 0 {
		t.Fatalf("dry run exit %d", dry.code)
	}
	in["dry-run"] = "false"
	res := runAction(t, in)
	if res.code != 0 {
		t.Fatalf("exit %d", res.code)
	}
	if diff := cmp.Diff([]string{"app:old", "app:older"}, deletedTagsOutput(t, res)); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(deletedTagsOutput(t, dry), deletedTagsOutput(t, res)); diff != "" {
		t.Errorf("the real run deleted other tags than the dry run planned (-dry +real):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"mid", "new"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	gcAndVerify(t, r, false, "app:new", "app:mid")
	for _, d := range []string{old.String(), older.String()} {
		if exists(t, a+"/app@"+d) {
			t.Errorf("deleted manifest %s still exists", d)
		}
	}
}

// TestRegistry28SharedDigest: 2.8 cannot delete a single tag, so a stale
// tag on the digest of a kept tag is kept with the reason, and the kept tag
// survives; the dry run says the same.
func TestRegistry28SharedDigest(t *testing.T) {
	t.Parallel()
	r := registry28(t)
	a := r.Addr()
	pushImage(t, a, "app:new", daysAgo(1), 1)
	stable := pushImage(t, a, "app:stable", daysAgo(30), 2)
	tag(t, a, "app:dup", "app:stable")
	pushImage(t, a, "app:older", daysAgo(60), 3)
	in := inputs{"registry": a, "repositories": "app", "keep": "1", "exclude-tags": "stable", "dry-run": "true"}
	dry := runAction(t, in)
	in["dry-run"] = "false"
	res := runAction(t, in)
	if dry.code != 0 || res.code != 0 {
		t.Fatalf("exit %d (dry run) / %d", dry.code, res.code)
	}
	for name, run := range map[string]result{"dry run": dry, "real run": res} {
		if diff := cmp.Diff([]string{"app:older"}, deletedTagsOutput(t, run)); diff != "" {
			t.Errorf("%s: deleted (-want +got):\n%s", name, diff)
		}
		// The reason says why it is not deleted by tag (issue 12).
		want := "shares digest with kept tag stable (this registry cannot delete a single tag)"
		if got := byTag(t, run.report, "app")["dup"]; got.Action != report.Kept || got.Reason != want {
			t.Errorf("%s: dup %s %q, want kept %q", name, got.Action, got.Reason, want)
		}
	}
	digests, _ := digestDeletes(r)
	for _, d := range digests {
		if d == stable.String() {
			t.Errorf("deleted the kept tag's manifest %s", d)
		}
	}
	if diff := cmp.Diff([]string{"dup", "new", "stable"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	gcAndVerify(t, r, false, "app:stable", "app:dup", "app:new")
}

// TestRegistry28ChildOfKeptIndex: a stale tag on a platform child of a kept
// index is kept on 2.8 ("child of kept index X (this registry cannot
// delete a single tag)"), and the index pulls.
func TestRegistry28ChildOfKeptIndex(t *testing.T) {
	t.Parallel()
	r := registry28(t)
	a := r.Addr()
	pushImage(t, a, "app:new", daysAgo(1), 1)
	_, kids := multiarch(t, a, "app:stable", daysAgo(50), 2)
	child, _ := kids[0].Digest()
	tag(t, a, "app:plat", "app@"+child.String())
	pushImage(t, a, "app:older", daysAgo(60), 3)
	res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "1", "exclude-tags": "stable"})
	if res.code != 0 {
		t.Fatalf("exit %d", res.code)
	}
	want := "child of kept index stable (this registry cannot delete a single tag)"
	if got := byTag(t, res.report, "app")["plat"]; got.Action != report.Kept || got.Reason != want {
		t.Errorf("plat: %s %q, want kept %q", got.Action, got.Reason, want)
	}
	if diff := cmp.Diff([]string{"app:older"}, deletedTagsOutput(t, res)); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"new", "plat", "stable"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	gcAndVerify(t, r, false, "app:stable", "app:plat", "app:new")
}

// TestRegistry28MultiArch: an old index is deleted with its own children,
// not the child it shares with a kept index; the kept index pulls after GC
// (without --delete-untagged, see registry28).
func TestRegistry28MultiArch(t *testing.T) {
	t.Parallel()
	r := registry28(t)
	a := r.Addr()
	shared := platformChild(t, 40, 77, "s390x")
	sharedDigest, _ := shared.Digest()
	newIdx, _ := multiarch(t, a, "app:new", daysAgo(1), 1, shared)
	oldIdx, oldKids := multiarch(t, a, "app:old", daysAgo(40), 2, shared)
	res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "1"})
	if res.code != 0 {
		t.Fatalf("exit %d", res.code)
	}
	if diff := cmp.Diff([]string{"app:old"}, deletedTagsOutput(t, res)); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
	digests, tags := digestDeletes(r)
	want := []string{oldIdx.String()}
	for _, k := range oldKids[:2] {
		d, _ := k.Digest()
		want = append(want, d.String())
	}
	if len(digests) == 0 || digests[0] != oldIdx.String() {
		t.Errorf("the index is not deleted first: %v", digests)
	}
	if diff := cmp.Diff(want[1:], digests[min(1, len(digests)):], sortStrings); diff != "" {
		t.Errorf("children deleted after the index (-want +got):\n%s", diff)
	}
	if len(tags) != 0 {
		t.Errorf("DELETE by tag sent to 2.8: %v", tags)
	}
	gcAndVerify(t, r, false, "app:new")
	for _, d := range want {
		if exists(t, a+"/app@"+d) {
			t.Errorf("deleted manifest %s still exists", d)
		}
	}
	for _, d := range []string{sharedDigest.String(), newIdx.String()} {
		if !exists(t, a+"/app@"+d) {
			t.Errorf("kept manifest %s is gone", d)
		}
	}
}

// TestRegistry28SecondLook: on 2.8, a kept tag moves onto the stale tag's
// digest during the run. The digest must not be deleted by digest, and 2.8
// cannot delete the single stale tag, so the contract (rule 7) keeps it
// with the reason "changed during run"; the kept tag still pulls.
func TestRegistry28SecondLook(t *testing.T) {
	t.Parallel()
	r := registry28(t)
	a := r.Addr()
	pushImage(t, a, "app:new", daysAgo(1), 1)
	pushImage(t, a, "app:stable", daysAgo(30), 2)
	staleDigest := pushImage(t, a, "app:stale", daysAgo(40), 3)
	seen := duringSecondLook(r, "app", func() error {
		return testregistry.Tag(context.Background(), a+"/app:stable", a+"/app:stale")
	})
	res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "1", "exclude-tags": "stable"})
	secondLookDone(t, r, seen)
	if res.code != 0 {
		t.Errorf("exit %d, want 0", res.code)
	}
	noDigestDelete(t, r, staleDigest, "deleted by digest the manifest kept tag stable moved onto")
	if got := byTag(t, res.report, "app")["stale"]; got.Action != report.Kept || got.Reason != "changed during run" {
		t.Errorf("stale: %s %q, want kept \"changed during run\"", got.Action, got.Reason)
	}
	if diff := cmp.Diff([]string{"new", "stable", "stale"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	gcAndVerify(t, r, false, "app:stable", "app:new")
}

// TestRegistry28SecondLookNewTag: on 2.8, a new tag is pushed onto the
// stale tag's digest during the run: the digest stays, and since 2.8
// cannot delete the single stale tag it is kept, "changed during run"
// (rule 7).
func TestRegistry28SecondLookNewTag(t *testing.T) {
	t.Parallel()
	r := registry28(t)
	a := r.Addr()
	pushImage(t, a, "app:new", daysAgo(1), 1)
	staleDigest := pushImage(t, a, "app:stale", daysAgo(40), 3)
	seen := duringSecondLook(r, "app", func() error {
		return testregistry.Tag(context.Background(), a+"/app:hotfix", a+"/app:stale")
	})
	res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "1"})
	secondLookDone(t, r, seen)
	if res.code != 0 {
		t.Errorf("exit %d, want 0", res.code)
	}
	noDigestDelete(t, r, staleDigest, "deleted by digest the manifest a tag pushed during the run points at")
	if got := byTag(t, res.report, "app")["stale"]; got.Action != report.Kept || got.Reason != "changed during run" {
		t.Errorf("stale: %s %q, want kept \"changed during run\"", got.Action, got.Reason)
	}
	if diff := cmp.Diff([]string{"hotfix", "new", "stale"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	gcAndVerify(t, r, false, "app:hotfix", "app:new")
}
