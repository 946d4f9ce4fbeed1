package engine

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/report"
)

// A listing that gives digests is read once per digest, not once per tag.
func TestListedDigestsReadOncePerDigest(t *testing.T) {
	t.Parallel()
	f := newFake().image(dg("a"), daysAgo(3)).image(dg("b"), daysAgo(2)).image(dg("c"), daysAgo(1))
	f.tag("app", "a1", dg("a")).tag("app", "a2", dg("a")).tag("app", "a3", dg("a")).tag("app", "b", dg("b")).tag("app", "c", dg("c"))
	f.listDigests = true
	f.tagDelete = true
	rep := run(t, f, Options{Rules: rules(2), DryRun: true})
	want := []string{"Manifest app " + dg("a"), "Manifest app " + dg("b"), "Manifest app " + dg("c")}
	if diff := cmp.Diff(want, f.Calls("Manifest ")); diff != "" {
		t.Errorf("manifest reads (-want +got):\n%s", diff)
	}
	got := actions(repoOf(t, rep, "app"))
	wantActions := map[string]string{"a1": report.WouldDelete, "a2": report.WouldDelete, "a3": report.WouldDelete, "b": report.Kept, "c": report.Kept}
	if diff := cmp.Diff(wantActions, got); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
}

// A stale listing (the digest it names is gone) falls back to reading the
// tags one by one.
func TestStaleListingFallsBackToTags(t *testing.T) {
	t.Parallel()
	f := newFake().image(dg("b"), daysAgo(2)).image(dg("c"), daysAgo(1))
	f.tag("app", "x", dg("b")).tag("app", "y", dg("c"))
	f.listDigests = true
	f.staleList = map[string]string{"x": dg("a")} // a was deleted after the listing was cached
	rep := run(t, f, Options{Rules: rules(5), DryRun: true})
	if rep.Failed() {
		t.Fatalf("report failed: %+v", rep)
	}
	want := []string{"Manifest app " + dg("a"), "Manifest app " + dg("c"), "Manifest app x"}
	if diff := cmp.Diff(want, f.Calls("Manifest ")); diff != "" {
		t.Errorf("manifest reads (-want +got):\n%s", diff)
	}
	if x := tagOf(t, repoOf(t, rep, "app"), "x"); x.Digest != dg("b") || x.Action != report.Kept {
		t.Errorf("x = %s %s, want kept on %s (read by tag)", x.Action, x.Digest, dg("b"))
	}
}

// Tags the registry protects are kept with its reason and do not count
// toward keep; push times are the age under age-source auto.
func TestProtectedAndPushed(t *testing.T) {
	t.Parallel()
	f := newFake().image(dg("a"), daysAgo(30)).image(dg("b"), daysAgo(20)).image(dg("c"), daysAgo(10)).image(dg("d"), daysAgo(5))
	f.tag("app", "a", dg("a")).tag("app", "b", dg("b")).tag("app", "c", dg("c")).tag("app", "d", dg("d"))
	f.listDigests = true
	f.protected["d"] = "immutable tag (Harbor tag immutability rule)"
	// Pushed in the opposite order of creation: a is the newest push.
	f.pushed["a"], f.pushed["b"], f.pushed["c"] = daysAgo(1), daysAgo(2), daysAgo(3)
	rep := run(t, f, Options{Rules: rules(1)})
	r := repoOf(t, rep, "app")
	if d := tagOf(t, r, "d"); d.Action != report.Kept || d.Reason != "immutable tag (Harbor tag immutability rule)" {
		t.Errorf("d = %s %q, want kept as immutable", d.Action, d.Reason)
	}
	if a := tagOf(t, r, "a"); a.Action != report.Kept || !strings.Contains(a.Reason, "by push time, within keep=1") {
		t.Errorf("a = %s %q, want kept as the newest push", a.Action, a.Reason)
	}
	if diff := cmp.Diff([]string{"DeleteDigest app@" + dg("b"), "DeleteDigest app@" + dg("c")}, f.Deletes()); diff != "" {
		t.Errorf("deletions (-want +got):\n%s", diff)
	}
	if c := tagOf(t, r, "c"); c.Created == nil || !c.Created.Equal(daysAgo(3)) {
		t.Errorf("c's reported age = %v, want its push time", c.Created)
	}
}

// DeleteDigest is told the tags on the digest; a digest the registry
// refuses to delete (immutable) is kept with the registry's reason, with
// the children of an index it protects, and the run does not fail.
func TestDeleteDigestTagsAndRefusal(t *testing.T) {
	t.Parallel()
	f := newFake().image(dg("a"), daysAgo(30)).image(dg("c1"), daysAgo(20)).index(dg("i"), daysAgo(20), dg("c1")).image(dg("n"), daysAgo(1))
	f.tag("app", "old", dg("a")).tag("app", "old-too", dg("a")).tag("app", "multi", dg("i")).tag("app", "new", dg("n"))
	f.refuse[dg("i")] = true
	rep := run(t, f, Options{Rules: rules(1)})
	if diff := cmp.Diff([]string{"old", "old-too"}, f.deleteTags[dg("a")]); diff != "" {
		t.Errorf("tags given with the digest (-want +got):\n%s", diff)
	}
	r := repoOf(t, rep, "app")
	m := tagOf(t, r, "multi")
	if m.Action != report.Kept || !strings.Contains(m.Reason, "protects it (immutable tag)") {
		t.Errorf("multi = %s %q, want kept with the registry's reason", m.Action, m.Reason)
	}
	if len(m.Attached) != 1 {
		t.Fatalf("multi lists %d attached manifests, want its child", len(m.Attached))
	}
	for _, a := range m.Attached {
		if a.Action != report.Kept || a.Error != "" {
			t.Errorf("child %s of the protected index = %s %q %q, want kept", a.Digest, a.Action, a.Reason, a.Error)
		}
	}
	if len(f.Calls("DeleteDigest app@"+dg("c1"))) != 0 {
		t.Error("the child of a protected index was deleted")
	}
	if rep.Failed() {
		t.Errorf("a registry protection failed the run: %+v", rep)
	}
	if got := tagOf(t, r, "old"); got.Action != report.Deleted {
		t.Errorf("old = %s, want deleted", got.Action)
	}
}

// A registry-protected signature tag is kept even when its subject is
// deleted, in the plan, the dry run and the second look alike.
func TestProtectedSignatureTag(t *testing.T) {
	t.Parallel()
	for _, dry := range []bool{true, false} {
		f := newFake().image(dg("a"), daysAgo(30)).image(dg("s"), daysAgo(30)).image(dg("n"), daysAgo(1))
		sig := "sha256-" + dg("a")[7:] + ".sig"
		f.tag("app", "old", dg("a")).tag("app", sig, dg("s")).tag("app", "new", dg("n"))
		f.listDigests = true
		f.protected[sig] = "immutable tag (Harbor tag immutability rule)"
		rep := run(t, f, Options{Rules: rules(1), DryRun: dry})
		r := repoOf(t, rep, "app")
		if s := tagOf(t, r, sig); s.Action != report.Kept || s.Reason != "immutable tag (Harbor tag immutability rule)" {
			t.Errorf("dry=%v: signature = %s %q, want kept as immutable", dry, s.Action, s.Reason)
		}
		if r.Error != "" {
			t.Errorf("dry=%v: repository error %q", dry, r.Error)
		}
		if !dry && len(f.Calls("DeleteDigest app@"+dg("s"))) != 0 {
			t.Error("the protected signature was deleted")
		}
	}
}

// A digest deletion that removed some of its tags before failing reports
// those tags deleted and the others failed.
func TestPartialDigestDeletion(t *testing.T) {
	t.Parallel()
	f := newFake().image(dg("a"), daysAgo(30)).image(dg("n"), daysAgo(1))
	f.tag("app", "old-1", dg("a")).tag("app", "old-2", dg("a")).tag("app", "new", dg("n"))
	f.partly = map[string][]string{dg("a"): {"old-1"}}
	rep := run(t, f, Options{Rules: rules(1)})
	r := repoOf(t, rep, "app")
	want := map[string]string{"new": report.Kept, "old-1": report.Deleted, "old-2": report.Failed + " (error)"}
	if diff := cmp.Diff(want, actions(r)); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
	if rep.Totals.Deleted != 1 || rep.Totals.Failed != 1 || !strings.Contains(r.Error, "429 after retries") {
		t.Errorf("totals %+v, error %q", rep.Totals, r.Error)
	}
}

// TestUntaggedNotDeleted: a digest whose tags the registry removed but
// whose manifest it refused to delete (registry.UntaggedError): its tags
// are deleted (counted, no failure, with the reason the manifest stays),
// the manifest is listed still stored, its children are not sent (their
// parent still references them), and none of it counts as reclaimed.
func TestUntaggedNotDeleted(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.image(dg("c1"), daysAgo(30)).image(dg("c2"), daysAgo(30)).index(dg("1"), daysAgo(30), dg("c1"), dg("c2"))
	f.image(dg("2"), daysAgo(1))
	f.tag("app", "old", dg("1")).tag("app", "old2", dg("1")).tag("app", "new", dg("2"))
	f.untagOnly = map[string]bool{dg("1"): true}
	rep := run(t, f, Options{Rules: rules(1)})
	r := repoOf(t, rep, "app")
	if r.Error != "" {
		t.Errorf("repository error %q: untagged-but-stored is no failure", r.Error)
	}
	for _, tg := range r.Tags {
		switch tg.Tag {
		case "old", "old2":
			if tg.Action != report.Deleted || tg.Stored != "the fake refuses to delete it" {
				t.Errorf("%s: %s stored %q", tg.Tag, tg.Action, tg.Stored)
			}
		case "new":
			if tg.Action != report.Kept {
				t.Errorf("new: %s", tg.Action)
			}
		}
	}
	if len(r.StillStored) != 3 || r.StillStored[0].Digest != dg("1") {
		t.Errorf("still stored %+v, want the index and its two children", r.StillStored)
	}
	if d := f.Calls("DeleteDigest app@" + dg("c")); len(d) != 0 {
		t.Errorf("children sent though their index stays: %v", d)
	}
	if r.ReclaimedBytes != 0 || rep.Totals.Deleted != 2 || rep.Totals.Failed != 0 {
		t.Errorf("reclaimed %d, deleted %d, failed %d", r.ReclaimedBytes, rep.Totals.Deleted, rep.Totals.Failed)
	}
}
