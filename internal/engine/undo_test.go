package engine

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/report"
	"github.com/tagsweep/tagsweep/internal/undo"
)

// journalOf records the undo entries in the fake's call log, so that the
// order of entries and deletions shows; fail makes Write fail.
type journalOf struct {
	f       *fake
	fail    error
	mu      sync.Mutex
	entries []undo.Entry
}

func (j *journalOf) Write(e undo.Entry) error {
	j.f.mu.Lock()
	j.f.calls = append(j.f.calls, "Journal "+e.Repository+"@"+e.Digest)
	j.f.mu.Unlock()
	if j.fail != nil {
		return j.fail
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.entries = append(j.entries, e)
	return nil
}

// undoFake: a kept image, a stale image with two tags and a signature, a
// stale index with a child, and a stale tag sharing a kept tag's digest
// (deleted by tag).
func undoFake() *fake {
	f := newFake().image(dg("n"), daysAgo(1)).image(dg("a"), daysAgo(30)).image(dg("5"), daysAgo(30)).
		image(dg("c"), daysAgo(20)).index(dg("i"), daysAgo(20), dg("c")).image(dg("s"), daysAgo(25))
	f.tag("app", "new", dg("n")).tag("app", "old", dg("a")).tag("app", "old2", dg("a")).
		tag("app", "sha256-"+strings.Repeat("a", 64)+".sig", dg("5")).tag("app", "multi", dg("i")).
		tag("app", "stale-s", dg("s")).tag("app", "stable", dg("s"))
	f.tagDelete = true
	f.raw[dg("a")] = []byte(`{"served":"a"}`)
	return f
}

// TestUndoEntryBeforeEachDeletion: before each deletion of a real run the
// Journal is given its entry, right after the manifest was read as served:
// the manifest and every tag on it for a digest deletion, the tag alone
// for a tag deletion; a child names its index, a signature its subject.
func TestUndoEntryBeforeEachDeletion(t *testing.T) {
	t.Parallel()
	f := undoFake()
	j := &journalOf{f: f}
	rep := run(t, f, Options{Rules: rules(1, "stable"), Undo: j, Provider: "oci"})
	if rep.Failed() {
		t.Fatalf("run failed: %+v", rep)
	}
	f.mu.Lock()
	calls := slices.Clone(f.calls) // in the order made
	f.mu.Unlock()
	for _, c := range calls {
		var ref string
		switch {
		case strings.HasPrefix(c, "DeleteDigest app@"):
			ref = strings.TrimPrefix(c, "DeleteDigest app@")
		case strings.HasPrefix(c, "DeleteTag app:"):
			ref = dg("s") // the stale tag's digest
		default:
			continue
		}
		i := slices.Index(calls, c)
		if !slices.Contains(calls[:i], "Journal app@"+ref) || !slices.Contains(calls[:i], "RawManifest app "+ref) {
			t.Errorf("%s sent before its manifest was read and its entry written:\n%s", c, strings.Join(calls[:i+1], "\n"))
		}
	}
	got := map[string]undo.Entry{}
	for _, e := range j.entries {
		got[e.Digest+" "+string(e.Deleted)] = e
	}
	sig := "sha256-" + strings.Repeat("a", 64) + ".sig"
	want := map[string][]string{ // digest and kind -> tags, parents, subject
		dg("a") + " manifest": {"old,old2", "", ""},
		dg("5") + " manifest": {sig, "", dg("a")},
		dg("i") + " manifest": {"multi", "", ""},
		dg("c") + " manifest": {"", dg("i"), ""},
		dg("s") + " tag":      {"stale-s", "", ""},
	}
	if len(got) != len(want) {
		t.Errorf("%d entries, want %d: %v", len(got), len(want), slices.Collect(mapKeys(got)))
	}
	for k, w := range want {
		e, ok := got[k]
		if !ok {
			t.Errorf("no entry for %s", k)
			continue
		}
		have := []string{strings.Join(e.Tags, ","), strings.Join(e.Parents, ","), e.Subject}
		if diff := cmp.Diff(w, have); diff != "" || e.Repository != "app" || e.Registry != "fake.test" || e.Provider != "oci" || !e.Time.Equal(now) {
			t.Errorf("entry %s (-want +got tags, parents, subject):\n%s%+v", k, diff, e)
		}
	}
	if a := got[dg("a")+" manifest"]; string(a.Bytes()) != `{"served":"a"}` || a.MediaType == "" {
		t.Errorf("entry of a keeps %q (%s), not the bytes served", a.Bytes(), a.MediaType)
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestUndoWriteFailsNoDeletion: a deletion whose entry the Journal does not
// take is not sent; it is reported failed with why.
func TestUndoWriteFailsNoDeletion(t *testing.T) {
	t.Parallel()
	f := undoFake()
	j := &journalOf{f: f, fail: errors.New("no space left on device")}
	rep := run(t, f, Options{Rules: rules(1, "stable"), Undo: j})
	if d := f.Deletes(); len(d) != 0 {
		t.Errorf("deletions sent without their undo entry: %q", d)
	}
	r := repoOf(t, rep, "app")
	if old := tagOf(t, r, "old"); old.Action != report.Failed || !strings.Contains(old.Error, "the undo file could not take it: no space left on device") {
		t.Errorf("old = %s %q", old.Action, old.Error)
	}
	if !rep.Failed() {
		t.Error("the run did not fail")
	}
}

// TestUndoDryRunWritesNothing: a dry run reads no manifest for the undo
// file and gives the Journal nothing, and plans what the real run does.
func TestUndoDryRunWritesNothing(t *testing.T) {
	t.Parallel()
	f := undoFake()
	j := &journalOf{f: f}
	dry := run(t, f, Options{Rules: rules(1, "stable"), Undo: j, DryRun: true})
	if c := f.Calls("RawManifest ", "Journal "); len(c) != 0 {
		t.Errorf("the dry run wrote to the undo file: %q", c)
	}
	real := run(t, undoFake(), Options{Rules: rules(1, "stable"), Undo: &journalOf{f: newFake()}})
	want := map[string]string{}
	for tag, a := range actions(repoOf(t, real, "app")) {
		if a == report.Deleted {
			a = report.WouldDelete
		}
		want[tag] = a
	}
	if diff := cmp.Diff(want, actions(repoOf(t, dry, "app"))); diff != "" {
		t.Errorf("dry run vs real run (-real +dry):\n%s", diff)
	}
}
