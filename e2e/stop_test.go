package e2e

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/cli/clitest"
	"github.com/tagsweep/tagsweep/internal/report"
)

var stale = clitest.Stale

// A plan that deletes more than max-deletions deletes nothing, in a real
// run and in a dry run alike, and says how many and which.
func TestMaxDeletionsRefuses(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	stale(t, a, 4, "team/api", "team/app")
	for _, dry := range []string{"true", "false"} {
		res := runAction(t, inputs{"registry": a, "repositories": "team/*", "keep": "1", "max-deletions": "5", "dry-run": dry})
		if res.code != 1 {
			t.Fatalf("dry-run=%s: exit %d, want 1", dry, res.code)
		}
		want := "max-deletions: the plan would delete 6 tags, more than max-deletions=5; nothing was deleted (team/api:t1, team/api:t2, team/api:t3, team/app:t1, team/app:t2 and 1 more)"
		if !strings.Contains(res.stderr, want) || !strings.Contains(res.summary, "more than max-deletions=5") {
			t.Errorf("dry-run=%s: the refusal is not shown as\n%s\nstderr:\n%s", dry, want, res.stderr)
		}
		// Once, not again for each of the 6 tags it holds back.
		if n := strings.Count(res.stderr, "more than max-deletions"); n != 1 {
			t.Errorf("dry-run=%s: the refusal is on stderr %d times, want once:\n%s", dry, n, res.stderr)
		}
		checkCounts(t, res)
		if res.outputs["deleted-count"] != "0" || res.outputs["failed-count"] != "6" || res.outputs["deleted-tags"] != "[]" {
			t.Errorf("dry-run=%s: outputs %v", dry, res.outputs)
		}
		// The summary shows the plan it refused: one line saying so, then
		// each tag with the plan's reason; the long message is not repeated
		// on every row (issue 12).
		line := "**max-deletions refused this plan**: it would delete 6 tags, more than max-deletions=5, so nothing was deleted."
		if dry == "true" {
			line = "**max-deletions would refuse this plan**: it deletes 6 tags, more than max-deletions=5, so a real run would delete nothing and exit 1."
		}
		if n := strings.Count(res.summary, "more than max-deletions=5"); n != 1 || !strings.Contains(res.summary, line) {
			t.Errorf("dry-run=%s: the summary says the refusal %d times, want once as %q:\n%s", dry, n, line, res.summary)
		}
		for rank, tg := range []string{"t1", "t2", "t3"} {
			reason := fmt.Sprintf("rank %d of 4 by created, beyond keep=1", rank+2) // t0 is the newest
			if !strings.Contains(res.summary, fmt.Sprintf("| `%s` | `%s` |", tg, digestOf(t, a+"/team/api:"+tg))) || !strings.Contains(res.summary, reason+" |") {
				t.Errorf("dry-run=%s: the summary does not show %s with its plan's reason %q:\n%s", dry, tg, reason, res.summary)
			}
			got := byTag(t, res.report, "team/api")[tg]
			if got.Action != report.Failed || !got.Capped || got.Reason != reason || !strings.Contains(got.Error, "held back by max-deletions=5") {
				t.Errorf("dry-run=%s: report %s = %+v, want failed, capped, reason %q", dry, tg, got, reason)
			}
		}
	}
	if d := r.Deletes(); len(d) != 0 {
		t.Errorf("DELETEs sent: %v", d)
	}
	for _, repo := range []string{"team/api", "team/app"} {
		if diff := cmp.Diff([]string{"t0", "t1", "t2", "t3"}, listTags(t, a, repo)); diff != "" {
			t.Errorf("%s tags (-want +got):\n%s", repo, diff)
		}
	}
	// At the cap, the run goes ahead.
	res := runAction(t, inputs{"registry": a, "repositories": "team/*", "keep": "1", "max-deletions": "6"})
	if res.code != 0 || res.outputs["deleted-count"] != "6" {
		t.Fatalf("at the cap: exit %d, outputs %v", res.code, res.outputs)
	}
	gcAndVerify(t, r, true, "team/api:t0", "team/app:t0")
}

// The timeout bounds the whole run: it stops, writes the report and
// outputs, and exits 1; nothing was half-deleted.
func TestTimeout(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	stale(t, a, 8, "app")
	r.SetHook(func(w http.ResponseWriter, req *http.Request) bool {
		if strings.Contains(req.URL.Path, "/manifests/") {
			time.Sleep(250 * time.Millisecond) // a slow registry
		}
		return false
	})
	res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "1", "concurrency": "1", "timeout": "1s"})
	if res.code != 1 {
		t.Fatalf("exit %d, want 1", res.code)
	}
	if !strings.Contains(res.stderr, "timeout 1s reached") || res.report == nil || !strings.Contains(strings.Join(res.report.Errors, "\n"), "the run stopped early: timeout 1s reached") {
		t.Errorf("the timeout is not reported:\n%s", res.stderr)
	}
	checkCounts(t, res)
	if d := r.Deletes(); len(d) != 0 {
		t.Errorf("DELETEs sent by a run stopped while inspecting: %v", d)
	}
	if res.report.Policy.Timeout != "1s" {
		t.Errorf("report policy timeout = %q", res.report.Policy.Timeout)
	}
}

// SIGTERM during the deletions: the DELETE in flight completes, no other
// starts, the report and outputs say exactly what happened, exit 1; a
// second run finishes the job.
func TestSIGTERM(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	stale(t, a, 6, "app")
	var proc atomic.Pointer[os.Process]
	var once sync.Once
	r.SetHook(func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method == http.MethodDelete {
			once.Do(func() {
				if p := proc.Load(); p != nil {
					_ = p.Signal(syscall.SIGTERM)
				}
				time.Sleep(300 * time.Millisecond) // the DELETE is in flight when the signal lands
			})
		}
		return false
	})
	res := runActionStarted(t, inputs{"registry": a, "repositories": "app", "keep": "1", "concurrency": "1"}, nil, func(p *os.Process) { proc.Store(p) })
	if res.code != 1 {
		t.Fatalf("exit %d, want 1", res.code)
	}
	if got := len(r.Deletes()); got != 1 {
		t.Errorf("DELETEs that reached the registry: %v; want the one in flight", r.Deletes())
	}
	checkCounts(t, res)
	if res.outputs["deleted-count"] != "1" || res.outputs["failed-count"] != "4" {
		t.Errorf("outputs %v: want 1 deleted, 4 not started", res.outputs)
	}
	for _, tg := range res.report.Repositories[0].Tags {
		if tg.Action == "failed" && !strings.Contains(tg.Error, "the run stopped before this deletion: interrupted by terminated") {
			t.Errorf("%s: %q", tg.Tag, tg.Error)
		}
	}
	if len(listTags(t, a, "app")) != 5 {
		t.Errorf("tags left %v, want 5", listTags(t, a, "app"))
	}
	again := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "1"})
	if again.code != 0 || again.outputs["deleted-count"] != "4" {
		t.Fatalf("rerun: exit %d, outputs %v", again.code, again.outputs)
	}
	if diff := cmp.Diff([]string{"t0"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("tags after the rerun (-want +got):\n%s", diff)
	}
	gcAndVerify(t, r, true, "app:t0")
}
