// Package engine runs a retention policy over a registry, one phase per
// file: discover the repositories in scope (discover.go), inspect every tag
// and the graph behind it (inspect.go), plan each repository with the pure
// planner and cap the deletions (plan.go), take a second look just before
// deleting (secondlook.go), delete (execute.go), and turn what happened
// into the report (outcome.go); `tagsweep ls` lists without planning
// (list.go). One repository's failure does not stop the others, and a
// Report is always returned.
//
// The engine owns the run's concurrency (pool.go): one pool of Concurrency
// slots bounds its goroutines and its calls to the backend, and one
// registry.Limiter of the same size, handed to the backends, bounds the
// requests under those calls. It tells an Observer (observe.go) how the
// run goes, and names no CI system and no vendor.
package engine

import (
	"cmp"
	"context"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/tagsweep/tagsweep/internal/policy"
	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/report"
	"github.com/tagsweep/tagsweep/internal/undo"
)

// Options configure a run.
type Options struct {
	// Registry is the registry as the report names it.
	Registry string
	// Repositories are the globs over repository names ("/" separates
	// levels). The default is "**".
	Repositories []string
	// Rules is the retention policy.
	Rules policy.Rules
	// Policy echoes the inputs in the report.
	Policy report.Policy
	// DryRun plans and reports without deleting.
	DryRun bool
	// Concurrency bounds the engine's calls to the backend in flight, over
	// every repository and phase at once. The default is the Limiter's
	// size when Limiter is given, else 8.
	Concurrency int
	// Limiter bounds the requests in flight; the backends' HTTP stacks
	// must wait on it (connect.Settings.Limiter). The default is a new
	// Limiter of Concurrency slots, which Engine.Limiter returns.
	Limiter *registry.Limiter
	// Now is the clock. The default is time.Now.
	Now func() time.Time
	// Observer is told how the run goes. The default is LogTo(Log).
	Observer Observer
	// Log receives the log lines when Observer is nil. The default is
	// io.Discard.
	Log io.Writer
	// MaxDeletions, when positive, caps the tags a run deletes: a plan
	// deleting more (attached tags included) deletes nothing at all.
	MaxDeletions int
	// Grace is how long deletions already sent may finish after the run's
	// context ends (timeout, SIGTERM). The default is 5 seconds, under the
	// 7.5 s a cancelled GitHub Actions job waits before its next signal.
	Grace time.Duration
	// Shard, when Shards > 1, keeps only the repositories whose stable
	// hash falls in shard Shard (0-based; Shard == Shards means 0).
	Shard, Shards int
	// Progress, when positive, tells the Observer the counters this often.
	// The default is 0 (never).
	Progress time.Duration
	// Undo, when set, is given before each deletion of a real run what
	// undoes it (the undo-file input): the manifest as the registry serves
	// it, its tags and its place in the graph. A deletion whose entry it
	// does not take is not sent. A dry run gives it nothing. The default
	// is none.
	Undo Journal
	// Provider names the provider in the undo entries, whose handles
	// (Backend is a registry.Handles) they hold.
	Provider string
	// Protect are the protect-images references to this registry:
	// nothing they reach is deleted. ProtectElsewhere counts those to
	// other registries, ignored. The default is none.
	Protect          []Protect
	ProtectElsewhere int
	// SpillDirs are where the report's entries of finished repositories
	// go (report.Spool: a temporary file in the first that takes one; ""
	// is the system's temporary directory), so that a run holds only the
	// repositories it is working on. The default is {""}; where none takes
	// a file the entries stay in memory.
	SpillDirs []string
	// TagsInFlight bounds the tags of the repositories being inspected,
	// planned and deleted at once (a repository of more tags runs alone),
	// so that memory does not grow with Concurrency × repository size:
	// the pool's slots are shared, so a few large repositories still keep
	// every slot busy. The default is DefaultTagsInFlight.
	TagsInFlight int
}

// Journal takes the undo entries of a run (an *undo.Writer).
type Journal interface {
	// Write records e; once it returns nil, e must survive the process.
	Write(e undo.Entry) error
}

// DefaultTagsInFlight is the default Options.TagsInFlight: about 40 MB of
// snapshots, plans and report entries (bench/memory).
const DefaultTagsInFlight = 16384

// Engine applies a policy through a backend.
type Engine struct {
	o    Options
	work *pool
	obs  Observer
	// handles names the vendor's handle of a manifest for the undo
	// entries, where the backend knows one.
	handles registry.Handles
	// literal are the repositories named without a glob: one missing or
	// without tags is a warning naming it, not a silent "0 tags".
	literal map[string]bool

	// progress counters
	reposDone, tagsRead, tagsDeleted, untaggedDeleted atomic.Int64
	// inexact: an untagged listing failed, so reclaimed-bytes may over-count.
	inexact atomic.Bool
	// prot tracks what protect-images matched; rules what each policy
	// file rule governed.
	prot  protection
	rules ruleCounts
	// inFlight holds the tags of the repositories being worked on
	// (Options.TagsInFlight).
	inFlight *semaphore.Weighted
}

// New returns an engine. In dry-run the backend is wrapped so that it
// records deletions instead of sending them: the plan is the same plan.
func New(b registry.Backend, o Options) *Engine {
	if o.Concurrency < 1 {
		o.Concurrency = 8
		if o.Limiter != nil {
			o.Concurrency = o.Limiter.Stats().Slots
		}
	}
	if o.Limiter == nil {
		o.Limiter = registry.NewLimiter(o.Concurrency)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Observer == nil {
		o.Observer = LogTo(o.Log)
	}
	if len(o.Repositories) == 0 {
		o.Repositories = []string{"**"}
	}
	if len(o.SpillDirs) == 0 {
		o.SpillDirs = []string{""}
	}
	if o.TagsInFlight <= 0 {
		o.TagsInFlight = DefaultTagsInFlight
	}
	if o.Grace <= 0 {
		o.Grace = 5 * time.Second
	}
	handles, _ := b.(registry.Handles)
	if o.DryRun {
		b = registry.DryRun(b)
		o.Undo = nil // a dry run writes nothing
	}
	literal := map[string]bool{}
	for _, p := range o.Repositories {
		if Literal(p) {
			literal[p] = true
		}
	}
	return &Engine{o: o, work: newPool(b, o.Concurrency), obs: o.Observer, literal: literal, handles: handles,
		prot:     protection{matched: map[string]bool{}, planned: map[string]bool{}},
		inFlight: semaphore.NewWeighted(int64(o.TagsInFlight))}
}

// Limiter is the bound on requests in flight that the backends must share:
// Options.Limiter, or the one New made.
func (e *Engine) Limiter() *registry.Limiter { return e.o.Limiter }

// Run applies the policy and returns what happened.
func (e *Engine) Run(ctx context.Context) *report.Report {
	rep := e.startReport()
	defer e.endReport(rep)
	repos, err := e.scope(ctx, rep)
	if err != nil {
		rep.Errors = append(rep.Errors, err.Error())
		return rep
	}
	if e.o.Progress > 0 {
		defer e.progress(len(repos))()
	}
	xs := make([]*execution, len(repos))
	spool := report.NewSpool(len(repos), e.o.SpillDirs...)
	rep.Spool = spool
	var warns warnings
	// With max-deletions every repository is planned before anything is
	// deleted; without it each repository goes on to delete as soon as
	// it is planned.
	twoPhase := e.o.MaxDeletions > 0
	e.eachRepository(len(repos), func(i int) {
		xs[i] = e.plan(ctx, repos[i], &warns)
		if !twoPhase {
			_ = spool.Put(i, e.finish(ctx, xs[i])) // an entry that cannot be written stays in memory
		}
		// Two-phase, the plans wait for each other: every plan is held
		// until the cap, and only the inspections and the deletions are
		// bounded.
		e.inFlight.Release(xs[i].held)
		if !twoPhase {
			xs[i] = nil // the snapshot is no longer needed
		}
	})
	if twoPhase {
		if c := e.capDeletions(xs); c != nil {
			rep.Cap = c
			rep.Errors = append(rep.Errors, c.Error())
		}
		e.eachRepository(len(repos), func(i int) {
			held := e.hold(ctx, xs[i].listed)
			_ = spool.Put(i, e.finish(ctx, xs[i]))
			e.inFlight.Release(held)
			xs[i] = nil
		})
	}
	if ctx.Err() != nil {
		rep.Errors = append(rep.Errors, "the run stopped early: "+stopped(ctx))
	}
	rep.Protection = e.protectionReport(repos)
	e.rules.into(&rep.Policy)
	rep.Warnings = append(rep.Warnings, warns.list...)
	slices.Sort(rep.Warnings)
	rep.Warnings = slices.Compact(rep.Warnings)
	return rep
}

// eachRepository runs f(0) … f(n-1) on at most Concurrency goroutines of
// their own. They hold no slot of the pool: their calls to the backend and
// their tasks take one each, so this bound is not multiplied by theirs.
func (e *Engine) eachRepository(n int, f func(i int)) {
	var g errgroup.Group
	g.SetLimit(e.o.Concurrency)
	for i := range n {
		g.Go(func() error {
			f(i)
			return nil
		})
	}
	_ = g.Wait()
}

// startReport is the report of a run that has not started.
func (e *Engine) startReport() *report.Report {
	caps := e.work.b.Capabilities()
	rep := &report.Report{Registry: e.o.Registry, DryRun: e.o.DryRun, StartedAt: e.o.Now().UTC(), Policy: e.o.Policy,
		Repositories: []report.Repository{}, GCHint: caps.GCHint, FreesSpace: caps.FreesSpace, ReclaimedAtMost: !caps.ListsUntagged}
	if e.o.Rules.DeletesUntagged() && !caps.ListsUntagged {
		// Said once for the run: this registry's API cannot list them.
		rep.UntaggedHint = cmp.Or(caps.UntaggedHint, "this registry's API lists tags only, so tagsweep cannot see its untagged manifests")
	}
	return rep
}

// endReport closes the report: the end time, the totals, and how the run
// used its concurrency (what the Limiter measured).
func (e *Engine) endReport(rep *report.Report) {
	rep.FinishedAt = e.o.Now().UTC()
	rep.ReclaimedAtMost = rep.ReclaimedAtMost || e.inexact.Load()
	rep.Tally()
	st := e.o.Limiter.Stats()
	rep.Load = report.NewLoad(st.Slots, st.Requests, st.Latency, st.Full, rep.FinishedAt.Sub(rep.StartedAt))
}

// warnings collects the run's warnings from every repository.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) add(ws ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, ws...)
}

// stopped says why ctx ended (the cause: timeout, signal).
func stopped(ctx context.Context) string {
	if c := context.Cause(ctx); c != nil {
		return c.Error()
	}
	return ctx.Err().Error()
}
