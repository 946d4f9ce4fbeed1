package engine

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/report"
)

// A manifest the registry protects is kept with the ProtectedError's
// reason (not the whole error chain), the other deletions go on, and the
// run does not fail; a digest deletion that removed some tags before the
// registry refused the manifest reports those tags deleted and the rest
// kept.
func TestProtectedReasonAndPartial(t *testing.T) {
	t.Parallel()
	f := newFake().image(dg("a"), daysAgo(30)).image(dg("b"), daysAgo(20)).image(dg("c"), daysAgo(10)).image(dg("n"), daysAgo(1))
	f.tag("app", "a", dg("a")).tag("app", "b1", dg("b")).tag("app", "b2", dg("b")).tag("app", "c", dg("c")).tag("app", "new", dg("n"))
	locked := &registry.ProtectedError{Reason: "locked on the registry (ACR: writeEnabled or deleteEnabled is false)",
		Err: errors.New("DELETE …: REGISTRY_DISALLOWED_OPERATION: The operation is disallowed")}
	f.fail("DeleteDigest app@"+dg("a"), fmt.Errorf("delete %s: %w", dg("a"), locked))
	// Untag first (Artifact Registry): b1 went, then the manifest was refused.
	f.fail("DeleteDigest app@"+dg("b"), &registry.PartialError{Done: []string{"b1"}, Err: fmt.Errorf("untag before deleting %s: %w", dg("b"), locked)})
	rep := run(t, f, Options{Rules: rules(1)})
	r := repoOf(t, rep, "app")
	got := map[string]string{}
	for _, tg := range r.Tags {
		got[tg.Tag] = tg.Action + ": " + tg.Reason
		if tg.Action == report.Deleted {
			got[tg.Tag] = tg.Action
		}
	}
	want := map[string]string{
		"a":   "kept: " + locked.Reason,
		"b1":  report.Deleted,
		"b2":  "kept: " + locked.Reason,
		"c":   report.Deleted,
		"new": "kept: rank 1 of 5 by created, within keep=1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	if rep.Failed() || r.Error != "" {
		t.Errorf("a protection failed the run: %+v", rep)
	}
}
