package e2e

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/report"
)

// TestBraceGlobs: a comma inside braces belongs to its glob, so
// exclude-tags "v{1,2}.*, rc" is two globs, given as the runner gives it;
// a brace left open is invalid input naming the whole glob, before any
// request.
func TestBraceGlobs(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	seedAges(t, a, "app", "v1.0", "v2.0", "v3.0", "rc", "latest")
	res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "0", "exclude-tags": "v{1,2}.*, rc", "dry-run": "true"})
	if res.code != 0 {
		t.Fatalf("exit %d", res.code)
	}
	if diff := cmp.Diff([]string{"app:latest", "app:v3.0"}, deletedTagsOutput(t, res)); diff != "" {
		t.Errorf("would delete (-want +got):\n%s", diff)
	}
	if got := byTag(t, res.report, "app")["v2.0"]; got.Action != report.Kept || !strings.Contains(got.Reason, "v{1,2}.*") {
		t.Errorf("v2.0: %s %q, want kept by the glob v{1,2}.*", got.Action, got.Reason)
	}
	if diff := cmp.Diff([]string{"v{1,2}.*", "rc"}, res.report.Policy.ExcludeTags); diff != "" {
		t.Errorf("policy exclude-tags (-want +got):\n%s", diff)
	}

	r.ResetRequests()
	bad := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "0", "exclude-tags": "v{1,2.*, rc"})
	if bad.code != 2 || !strings.Contains(bad.stderr, `exclude-tags: "v{1,2.*, rc" is not a valid glob`) {
		t.Errorf("open brace: exit %d, stderr %q; want 2 naming the glob", bad.code, bad.stderr)
	}
	if n := r.Requests().Total; n != 0 {
		t.Errorf("%d requests after invalid input, want none", n)
	}
}
