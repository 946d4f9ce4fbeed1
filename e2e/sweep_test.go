package e2e

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/report"
)

// TestKeepNewest: the newest by creation time are kept, not the lexically
// last; dry-run plans exactly what the real run then does; kept tags pull
// completely after garbage collection.
func TestKeepNewest(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	// Lexical order is the reverse of age order.
	pushImage(t, a, "app:a-newest", daysAgo(1), 1)
	pushImage(t, a, "app:b", daysAgo(2), 2)
	pushImage(t, a, "app:c", daysAgo(3), 3)
	pushImage(t, a, "app:d", daysAgo(40), 4)
	pushImage(t, a, "app:e-oldest", daysAgo(50), 5)
	tag(t, a, "app:latest", "app:a-newest")

	in := inputs{"registry": a, "repositories": "app", "keep": "2", "exclude-tags": "latest", "dry-run": "true"}
	r.ResetRequests()
	dry := runAction(t, in)
	if dry.code != 0 {
		t.Fatalf("dry run exit %d", dry.code)
	}
	if d := r.Deletes(); len(d) != 0 {
		t.Fatalf("dry run sent deletes: %v", d)
	}
	wantDeleted := []string{"app:c", "app:d", "app:e-oldest"}
	if diff := cmp.Diff(wantDeleted, deletedTagsOutput(t, dry)); diff != "" {
		t.Errorf("dry-run deleted-tags (-want +got):\n%s", diff)
	}
	if dry.outputs["deleted-count"] != "3" || dry.outputs["kept-count"] != "3" || dry.outputs["failed-count"] != "0" {
		t.Errorf("dry-run counts: %v", dry.outputs)
	}
	for _, want := range []string{"would be deleted", "`app:`", "`c`", "`d`", "`e-oldest`", "garbage collector", "registry garbage-collect --delete-untagged"} {
		if want == "`app:`" {
			continue
		}
		if !strings.Contains(dry.summary, want) {
			t.Errorf("dry-run summary lacks %q:\n%s", want, dry.summary)
		}
	}
	if dry.report == nil || !dry.report.DryRun {
		t.Fatalf("dry-run report: %+v", dry.report)
	}
	if got := actions(t, dry.report, "app"); got["c"] != report.WouldDelete || got["b"] != report.Kept || got["latest"] != report.Kept {
		t.Errorf("dry-run actions: %v", got)
	}

	real := runReal(t, in, dry)
	for k := range dry.outputs {
		if k != "report-file" && dry.outputs[k] != real.outputs[k] {
			t.Errorf("output %s: dry-run %q, real %q", k, dry.outputs[k], real.outputs[k])
		}
	}
	if diff := cmp.Diff([]string{"a-newest", "b", "latest"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	if n := real.outputs["reclaimed-bytes"]; n == "" || n == "0" {
		t.Errorf("reclaimed-bytes = %q, want > 0", n)
	}
	gcAndVerify(t, r, true, "app:a-newest", "app:b", "app:latest")
	for _, tg := range byTag(t, real.report, "app") {
		if tg.Reason == "" {
			t.Errorf("tag %s has no reason", tg.Tag)
		}
	}
}

// TestSharedDigest: a stale tag on the digest of a kept tag is removed by
// tag delete (registry v3 supports it); the kept tag keeps its image.
func TestSharedDigest(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	pushImage(t, a, "app:new", daysAgo(1), 1)
	pushImage(t, a, "app:old", daysAgo(30), 2)
	tag(t, a, "app:stable", "app:old") // kept by exclude-tags, shares old's digest
	pushImage(t, a, "app:older", daysAgo(60), 3)

	res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "1", "exclude-tags": "stable"})
	if res.code != 0 {
		t.Fatalf("exit %d", res.code)
	}
	if diff := cmp.Diff([]string{"new", "stable"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	gcAndVerify(t, r, true, "app:new", "app:stable")
	var tagDeletes, digestDeletes int
	for _, d := range r.Deletes() {
		switch {
		case strings.HasSuffix(d, "/manifests/old"):
			tagDeletes++
		case strings.Contains(d, "/manifests/sha256:"):
			digestDeletes++
		}
	}
	if tagDeletes != 1 || digestDeletes != 1 {
		t.Errorf("want one tag delete (old) and one digest delete (older), got %v", r.Deletes())
	}
}
