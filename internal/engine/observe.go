package engine

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/report"
)

// Observer is told how a run goes: the lines of its log, each repository's
// outcome, and its progress. The engine says what happened; the Observer
// decides where and how it is shown (internal/action groups each
// repository's lines into one GitHub Actions log group). The engine calls
// it from many goroutines at once; the calls about one repository come
// from one goroutine, in order, RepositoryDone last.
type Observer interface {
	// Log is a line about the run as a whole: the scope, the shard, a
	// repository named but not found.
	Log(line string)
	// RepositoryLog is a line about one repository, as it happens.
	RepositoryLog(repo, line string)
	// RepositoryDone says that a repository is finished, and how.
	RepositoryDone(f Finished)
	// Progress gives the run's counters, every Options.Progress.
	Progress(p Progress)
}

// Finished is a repository's outcome, as the title of its log group says
// it.
type Finished struct {
	// Repository is the repository's name.
	Repository string
	// Tags counts its tags; Deleted those deleted (in dry-run: that would
	// be); Failed those an error left undeleted.
	Tags, Deleted, Failed int
	// Untagged counts the untagged manifests delete-untagged deleted (in
	// dry-run: would delete).
	Untagged int
	// DryRun: nothing was deleted.
	DryRun bool
	// Error is the repository's error, one line per failure ("" if none).
	Error string
}

// String is "app: 4 tags, 3 deleted, 0 failed" (and ", 5 untagged
// deleted" when some were); a repository with an error says "failed"
// first, then its first error and whether more are in the report (a group
// title is one line): "app: failed: 0 tags, 0 deleted, 0 failed: …".
func (f Finished) String() string {
	verb := "deleted"
	if f.DryRun {
		verb = "would be deleted"
	}
	name := f.Repository
	if f.Error != "" {
		name += ": failed"
	}
	s := fmt.Sprintf("%s: %s, %d %s, %d failed", name, report.Count(f.Tags, "tag"), f.Deleted, verb, f.Failed)
	if f.Untagged > 0 {
		s += fmt.Sprintf(", %d untagged %s", f.Untagged, verb)
	}
	if f.Error != "" {
		first, _, more := strings.Cut(f.Error, "\n")
		s += ": " + first
		if more {
			s += " (more in the report)"
		}
	}
	return s
}

// Progress is how far a run is.
type Progress struct {
	// Repositories counts the repositories in scope; Done those finished.
	Repositories, Done int64
	// Inspected counts the tags read; Deleted the tags deleted (in dry-run:
	// to delete).
	Inspected, Deleted int64
	// Untagged counts the untagged manifests deleted under delete-untagged.
	Untagged int64
	// DryRun: nothing is deleted.
	DryRun bool
	// Pacing says how the backend held deletions back since the last
	// progress line (registry.Pacer), "" when it did not.
	Pacing string
}

// String is the progress line of the log.
func (p Progress) String() string {
	verb := "deleted"
	if p.DryRun {
		verb = "to delete"
	}
	s := fmt.Sprintf("progress: %d/%d repositories done, %d tags inspected, %d %s", p.Done, p.Repositories, p.Inspected, p.Deleted, verb)
	if p.Untagged > 0 {
		s += fmt.Sprintf(", %d untagged %s", p.Untagged, verb)
	}
	if p.Pacing != "" {
		s += "; " + p.Pacing
	}
	return s
}

// LogTo is the Observer that writes every line to w as it comes, one line
// per write: the run's lines, each repository's, and the progress lines. A
// repository's outcome adds no line (the report and the summary have it).
func LogTo(w io.Writer) Observer { return &lineLog{w: w} }

type lineLog struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineLog) line(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintln(l.w, s)
}

func (l *lineLog) Log(line string)              { l.line(line) }
func (l *lineLog) RepositoryLog(_, line string) { l.line(line) }
func (l *lineLog) RepositoryDone(Finished)      {}
func (l *lineLog) Progress(p Progress)          { l.line(p.String()) }

// logf is a line about the run.
func (e *Engine) logf(format string, args ...any) { e.obs.Log(fmt.Sprintf(format, args...)) }

// logf is a line about the repository.
func (x *execution) logf(format string, args ...any) {
	x.e.obs.RepositoryLog(x.repo, fmt.Sprintf(format, args...))
}

// progress tells the observer the counters every Progress until stopped.
func (e *Engine) progress(total int) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(e.o.Progress)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				p := Progress{Repositories: int64(total), Done: e.reposDone.Load(),
					Inspected: e.tagsRead.Load(), Deleted: e.tagsDeleted.Load(), Untagged: e.untaggedDeleted.Load(), DryRun: e.o.DryRun}
				if pc, ok := e.work.b.(registry.Pacer); ok {
					p.Pacing = pc.Pacing()
				}
				e.obs.Progress(p)
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// done counts a finished repository and tells the observer.
func (e *Engine) done(x *execution, out report.Repository) {
	e.reposDone.Add(1)
	f := Finished{Repository: x.repo, Tags: len(out.Tags), DryRun: e.o.DryRun, Error: out.Error, Untagged: out.DeletedUntagged()}
	for _, t := range out.Tags {
		switch t.Action {
		case report.Deleted, report.WouldDelete:
			f.Deleted++
		case report.Failed:
			f.Failed++
		}
	}
	e.obs.RepositoryDone(f)
}
