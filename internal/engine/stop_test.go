package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/report"
)

// twoRepos: app has 3 stale tags, api 2 (keep 1 each).
func twoRepos() *fake {
	f := newFake()
	for i, repo := range []string{"app", "api"} {
		n := 4 - i
		for j := range n {
			d := dg(string(rune('a'+i*5+j)) + "0")
			f.image(d, daysAgo(10+j)).tag(repo, "t"+string(rune('0'+j)), d)
		}
	}
	return f
}

func TestMaxDeletions(t *testing.T) {
	t.Parallel()
	for _, dry := range []bool{false, true} {
		t.Run(map[bool]string{false: "real", true: "dry run"}[dry], func(t *testing.T) {
			t.Parallel()
			f := twoRepos()
			rep := run(t, f, Options{Rules: rules(1), MaxDeletions: 4, DryRun: dry})
			if got := f.Deletes(); len(got) != 0 {
				t.Errorf("deleted %v despite the cap", got)
			}
			if len(f.Calls("Resolve ")) != 0 {
				t.Error("a capped run took a second look")
			}
			if len(rep.Errors) != 1 || !strings.Contains(rep.Errors[0], "the plan would delete 5 tags, more than max-deletions=4; nothing was deleted (api:t1, api:t2, app:t1, app:t2, app:t3)") {
				t.Errorf("errors = %q", rep.Errors)
			}
			if !rep.Failed() || rep.Totals.Failed != 5 || rep.Totals.Deleted != 0 || rep.Totals.Kept != 2 {
				t.Errorf("totals %+v failed=%v; want 5 failed, 2 kept, 0 deleted", rep.Totals, rep.Failed())
			}
			for _, r := range rep.Repositories {
				if r.Error != "" {
					t.Errorf("%s: the cap is reported per repository too: %q", r.Name, r.Error)
				}
			}
		})
	}
	t.Run("within the cap", func(t *testing.T) {
		t.Parallel()
		f := twoRepos()
		rep := run(t, f, Options{Rules: rules(1), MaxDeletions: 5})
		if rep.Failed() || rep.Totals.Deleted != 5 || len(f.Deletes()) != 5 {
			t.Errorf("totals %+v, deletes %v, errors %v", rep.Totals, f.Deletes(), rep.Errors)
		}
	})
}

// runCtx is run with a context.
func runCtx(t *testing.T, ctx context.Context, f *fake, o Options) *report.Report {
	t.Helper()
	o.Registry = "fake.test"
	o.Now = func() time.Time { return now }
	if o.Concurrency == 0 {
		o.Concurrency = 4
	}
	return loaded(t, New(f, o).Run(ctx))
}

// A run stopped while deleting lets the deletion in flight finish, starts
// no new one, and reports what happened: deleted, or failed with why.
func TestStopDuringDeletions(t *testing.T) {
	t.Parallel()
	f := newFake()
	for j := range 5 {
		d := dg(string(rune('a'+j)) + "1")
		f.image(d, daysAgo(10+j)).tag("app", "t"+string(rune('0'+j)), d)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	var once sync.Once
	f.onDelete = func(string) {
		once.Do(func() { cancel(errors.New("interrupted by terminated")) })
	}
	rep := runCtx(t, ctx, f, Options{Rules: rules(1), Concurrency: 1})
	r := repoOf(t, rep, "app")
	got := actions(r)
	want := map[string]string{"t0": report.Kept}
	deleted := 0
	for tg, a := range got {
		if a == report.Deleted {
			deleted++
			want[tg] = report.Deleted
		} else if tg != "t0" {
			want[tg] = report.Failed + " (error)"
			if e := tagOf(t, r, tg).Error; !strings.Contains(e, "the run stopped before this deletion: interrupted by terminated") {
				t.Errorf("%s: error %q", tg, e)
			}
		}
	}
	if diff := cmp.Diff(want, got); diff != "" || deleted != 1 {
		t.Errorf("actions (-want +got), want one deletion (the one in flight) and 3 not started:\n%s", diff)
	}
	if n := len(f.Deletes()); n != 1 {
		t.Errorf("deletes that reached the registry: %v", f.Deletes())
	}
	if len(rep.Errors) != 1 || rep.Errors[0] != "the run stopped early: interrupted by terminated" {
		t.Errorf("errors = %q", rep.Errors)
	}
	if rep.Totals.Tags != 5 || rep.Totals.Deleted != 1 || rep.Totals.Failed != 3 || rep.Totals.Kept != 1 {
		t.Errorf("totals %+v", rep.Totals)
	}
}

// A run stopped before a repository's second look deletes nothing there,
// and says why.
func TestStopBeforeSecondLook(t *testing.T) {
	t.Parallel()
	f := twoRepos()
	ctx, cancel := context.WithCancelCause(context.Background())
	f.onTags = func(f *fake, repo string, n int) {
		if repo == "app" {
			cancel(errors.New("timeout 1s reached"))
		}
	}
	rep := runCtx(t, ctx, f, Options{Rules: rules(1), Concurrency: 1})
	if d := f.Calls("DeleteDigest app@"); len(d) != 0 {
		t.Errorf("app deleted after the stop: %v", d)
	}
	if e := repoOf(t, rep, "app").Error; !strings.Contains(e, "timeout 1s reached") {
		t.Errorf("app error = %q", e)
	}
	if !rep.Failed() {
		t.Error("a stopped run did not fail")
	}
}

// Shards partition the repositories: every repository in exactly one
// shard, 0-based and 1-based numbering alike, and the same every time.
func TestInShard(t *testing.T) {
	t.Parallel()
	var repos []string
	for i := range 200 {
		repos = append(repos, fmt.Sprintf("team-%d/app-%d", i%7, i))
	}
	for _, n := range []int{1, 2, 3, 8} {
		seen := map[string]int{}
		for i := range n {
			part := InShard(repos, i, n)
			if n > 2 && (len(part) < 200/n/2 || len(part) > 2*200/n) {
				t.Errorf("shard %d/%d has %d of 200 repositories: unbalanced", i, n, len(part))
			}
			for _, r := range part {
				seen[r]++
			}
			if diff := cmp.Diff(part, InShard(repos, i, n)); diff != "" {
				t.Errorf("shard %d/%d is not stable", i, n)
			}
		}
		for _, r := range repos {
			if seen[r] != 1 {
				t.Errorf("n=%d: %s in %d shards", n, r, seen[r])
			}
		}
		if diff := cmp.Diff(InShard(repos, 0, n), InShard(repos, n, n)); diff != "" {
			t.Errorf("shard %d/%d differs from 0/%d", n, n, n)
		}
	}
}

// syncWriter collects log lines and signals the first line containing want.
type syncWriter struct {
	mu   sync.Mutex
	b    strings.Builder
	want string
	seen chan struct{}
	once sync.Once
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	if strings.Contains(string(p), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// Long runs tell the observer their progress; each repository's lines
// reach it before its outcome, which titles them (internal/action makes
// them one GitHub Actions log group: TestLogGroups there).
func TestProgressAndGroups(t *testing.T) {
	t.Parallel()
	f := twoRepos()
	w := &syncWriter{want: "progress: ", seen: make(chan struct{})}
	holdUntilSeen(f, w)
	rep := run(t, f, Options{Rules: rules(1), Observer: &heldLog{w: w}, Progress: time.Millisecond, Concurrency: 1})
	if rep.Failed() {
		t.Fatalf("run failed: %+v", rep.Errors)
	}
	out := w.String()
	if !regexp.MustCompile(`progress: [0-2]/2 repositories done, [0-7] tags inspected, [0-5] deleted\n`).MatchString(out) {
		t.Errorf("no progress line:\n%s", out)
	}
	for _, want := range []string{
		"[api: 3 tags, 2 deleted, 0 failed]\napi: 3 tags, 2 to delete\n[end]\n",
		"[app: 4 tags, 3 deleted, 0 failed]\napp: 4 tags, 3 to delete\n[end]\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

// heldLog is an Observer that holds each repository's lines until it is
// done, then writes them to w under its title in brackets, as a log group.
type heldLog struct {
	mu   sync.Mutex
	w    io.Writer
	held map[string][]string
}

func (l *heldLog) Log(line string) { l.RepositoryLog("", line) }

func (l *heldLog) Progress(p Progress) { l.RepositoryLog("", p.String()) }

func (l *heldLog) RepositoryLog(repo, line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if repo == "" {
		fmt.Fprintln(l.w, line)
		return
	}
	if l.held == nil {
		l.held = map[string][]string{}
	}
	l.held[repo] = append(l.held[repo], line)
}

func (l *heldLog) RepositoryDone(f Finished) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "[%s]\n", f)
	for _, line := range l.held[f.Repository] {
		fmt.Fprintln(l.w, line)
	}
	fmt.Fprintln(l.w, "[end]")
}

// pacingFake is a fake backend that paces its deletions (registry.Pacer)
// and says so until the progress line has said it.
type pacingFake struct {
	*fake
}

func (pacingFake) Pacing() string { return "pacing deletions at 150 a minute" }

// TestProgressSaysPacing: the progress line says how a backend that paces
// its deletions holds them back (registry.Pacer).
func TestProgressSaysPacing(t *testing.T) {
	t.Parallel()
	f := twoRepos()
	w := &syncWriter{want: "; pacing deletions at 150 a minute\n", seen: make(chan struct{})}
	holdUntilSeen(f, w)
	o := Options{Registry: "fake.test", Now: func() time.Time { return now }, Rules: rules(1), Observer: &heldLog{w: w},
		Progress: time.Millisecond, Concurrency: 1}
	rep := New(pacingFake{f}, o).Run(context.Background())
	if rep.Failed() {
		t.Fatalf("run failed: %+v", rep.Errors)
	}
	if out := w.String(); !regexp.MustCompile(`progress: [0-2]/2 repositories done, [0-7] tags inspected, [0-5] deleted; pacing deletions at 150 a minute\n`).MatchString(out) {
		t.Errorf("no progress line saying the pacing:\n%s", out)
	}
}

// holdUntilSeen holds f's run at its first listing of app until w has
// seen what it waits for (a progress line), at most 10 seconds.
func holdUntilSeen(f *fake, w *syncWriter) {
	f.onTags = func(f *fake, repo string, n int) {
		if repo == "app" && n == 1 {
			select {
			case <-w.seen:
			case <-time.After(10 * time.Second):
			}
		}
	}
}
