package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tagsweep/tagsweep/internal/policy"
	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/image"
	"github.com/tagsweep/tagsweep/internal/report"
)

// execution carries one repository's plan through the second look and
// the deletions.
type execution struct {
	e       *Engine
	repo    string
	plan    *policy.Plan
	snap    *snapshot
	in      policy.Input
	blocked error
	// capped: blocked by max-deletions (said once, for the run; each
	// tag it held back keeps its plan's reason).
	capped *report.Cap
	// listErr: the tags could not be listed; nothing else was done.
	listErr error
	// asked: the registry was asked whether it deletes single tags.
	asked bool
	// lines are the repository's log lines, kept for its log group.
	lines []string

	mu        sync.Mutex
	outcome   map[string]outcome       // tag -> outcome of a planned deletion
	digestErr map[string]error         // digest -> why it was not deleted
	protected map[string]policy.Reason // digest -> why the registry kept it
	partial   map[string]bool          // tags removed by a digest deletion that failed later
	gone      map[string]bool          // digests deleted
	errs      []error
	reclaimed int64
}

type outcome struct {
	done   bool
	err    error
	reason policy.Reason // replaces the plan's reason (kept after a refusal)
	kept   bool
}

// secondLook lists and resolves the tags again just before deleting, and
// re-plans with the plan's decisions fixed: a tag to delete that moved is
// skipped, and a digest that a kept tag (or a tag pushed meanwhile) now
// points at is never deleted by digest.
func (x *execution) secondLook(ctx context.Context) error {
	e := x.e
	listed, err := e.b.Tags(ctx, x.repo)
	if err != nil {
		return err
	}
	names := image.Names(listed)
	current := map[string]string{}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(e.o.Concurrency)
	for _, n := range names {
		if policy.SubjectOf(n) != "" {
			continue
		}
		g.Go(func() error {
			d, err := e.b.Resolve(gctx, x.repo, n)
			if errors.Is(err, registry.ErrNotFound) {
				return nil // gone again since the listing
			}
			if err != nil {
				return fmt.Errorf("tag %s: %w", n, err)
			}
			mu.Lock()
			current[n] = d
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}

	in := x.in
	in.Forced = map[string]policy.Reason{}
	for t, why := range x.in.Forced {
		in.Forced[t] = why // registry-protected and vanished tags stay so
	}
	in.Decided = map[string]policy.Decision{}
	in.Manifests = make(map[string]*image.Manifest, len(x.snap.manifests))
	for d, m := range x.snap.manifests {
		in.Manifests[d] = m
	}
	in.Pinned = append([]string(nil), x.plan.Kept...)
	known := map[string]bool{}
	pushed := map[string]time.Time{}
	for _, t := range x.in.Tags {
		pushed[t.Name] = t.Pushed
	}
	in.Tags = nil
	for _, it := range x.plan.Items {
		known[it.Tag] = true
		t := policy.Tag{Name: it.Tag, Digest: it.Digest, Pushed: pushed[it.Tag]}
		if it.Subject == "" {
			// The selection, not the outcome: rule 6 is applied again to
			// what the second look sees, so a stale tag kept for sharing a
			// kept digest is kept for the same reason, named the same way.
			in.Decided[it.Tag] = it.Selection
			cur, still := current[it.Tag]
			switch {
			case !still:
				// Gone: it protects nothing any more.
				if it.Action == policy.Delete {
					in.Forced[it.Tag] = policy.Because(policy.ReasonChanged)
				}
				t.Digest = ""
			case cur != it.Digest:
				if it.Action == policy.Delete {
					in.Forced[it.Tag] = policy.Because(policy.ReasonChanged)
				}
				t.Digest = cur
				in.Pinned = append(in.Pinned, cur)
			}
		}
		in.Tags = append(in.Tags, t)
	}
	for n, d := range current {
		if !known[n] {
			in.Pinned = append(in.Pinned, d) // pushed during the run
		}
	}
	// What the new digests reach must be known before it can be protected.
	if err := x.fetchClosure(ctx, in.Manifests, in.Pinned); err != nil {
		return err
	}

	plan := policy.Make(e.o.Rules, in)
	if plan.NeedsTagDelete() && in.TagDelete && !x.asked {
		// The first plan did not need to ask; this one does.
		x.asked = true
		if ok, err := e.b.TagDeleteSupported(ctx, x.repo); err == nil && !ok {
			in.TagDelete = false
			plan = policy.Make(e.o.Rules, in)
		}
	}
	for i := range plan.Items {
		before, after := x.plan.Items[i], &plan.Items[i]
		if after.Digest == "" {
			after.Digest = before.Digest // report the digest it had
		}
		switch {
		case before.Action == policy.Delete && after.Action == policy.Keep:
			after.Reason = policy.Because(policy.ReasonChanged)
		case before.Action == policy.Keep && after.Action == policy.Delete:
			return fmt.Errorf("internal error: the second look would delete %s, which the plan keeps", after.Tag)
		}
	}
	was := map[string]bool{}
	for _, l := range x.plan.Layers {
		for _, d := range l {
			was[d] = true
		}
	}
	for _, l := range plan.Layers {
		for _, d := range l {
			if !was[d] {
				return fmt.Errorf("internal error: the second look would delete %s, which the plan keeps", d)
			}
		}
	}
	changed := 0
	for _, it := range plan.Items {
		if it.Reason.Kind == policy.ReasonChanged {
			changed++
		}
	}
	if changed > 0 {
		x.logf("%s: second look: %d tags changed during the run", x.repo, changed)
	}
	x.plan, x.in = plan, in
	return nil
}

// fetchClosure fetches the manifests reachable from roots that are not in
// ms yet (index children, any depth).
func (x *execution) fetchClosure(ctx context.Context, ms map[string]*image.Manifest, roots []string) error {
	frontier := roots
	for depth := 0; len(frontier) > 0 && depth < 16; depth++ {
		var next []string
		for _, d := range frontier {
			if d == "" {
				continue
			}
			m, ok := ms[d]
			if !ok {
				var err error
				m, err = x.e.b.Manifest(ctx, x.repo, d)
				if errors.Is(err, registry.ErrNotFound) {
					continue // a missing child: nothing behind it to protect
				}
				if err != nil {
					return fmt.Errorf("manifest %s: %w", d, err)
				}
				ms[d] = m
			}
			for _, c := range m.Children {
				if _, ok := ms[c]; !ok {
					next = append(next, c)
				}
			}
		}
		frontier = next
	}
	return nil
}

// execute carries out the plan: single-tag deletions, then digest
// deletions layer by layer, parents first; a digest whose parent was not
// deleted stays.
func (x *execution) execute(ctx context.Context) {
	x.outcome = map[string]outcome{}
	x.digestErr = map[string]error{}
	x.protected = map[string]policy.Reason{}
	x.partial = map[string]bool{}
	x.gone = map[string]bool{}
	if x.blocked != nil {
		return
	}
	// Deletions already sent finish (within the grace period) when the run
	// stops; no new one starts.
	dctx, done := x.e.deleteContext(ctx)
	defer done()
	tagsOn := map[string][]string{}
	for _, t := range x.in.Tags {
		if t.Digest != "" {
			tagsOn[t.Digest] = append(tagsOn[t.Digest], t.Name)
		}
	}
	e := x.e
	var byTag []policy.Item
	for _, it := range x.plan.Items {
		if it.Action == policy.Delete && it.Method == policy.ByTag {
			byTag = append(byTag, it)
		}
	}
	x.deleteTags(ctx, dctx, byTag)

	for _, layer := range x.plan.Layers {
		g := errgroup.Group{}
		g.SetLimit(e.o.Concurrency)
		for _, d := range layer {
			x.mu.Lock()
			for _, p := range x.plan.Parents[d] {
				if _, ok := x.protected[p]; ok {
					x.protected[d] = policy.Naming(policy.ReasonProtectedParent, p)
					break
				}
				if x.digestErr[p] != nil {
					x.digestErr[d] = fmt.Errorf("not deleted: %s, which references it, was not deleted", p)
					break
				}
			}
			if x.digestErr[d] == nil && ctx.Err() != nil {
				x.digestErr[d] = notStarted(ctx)
			}
			_, kept := x.protected[d]
			skip := x.digestErr[d] != nil || kept
			x.mu.Unlock()
			if skip {
				continue
			}
			g.Go(func() error {
				if ctx.Err() != nil {
					x.mu.Lock()
					x.digestErr[d] = notStarted(ctx)
					x.mu.Unlock()
					return nil
				}
				err := e.b.DeleteDigest(dctx, x.repo, d, tagsOn[d])
				if errors.Is(err, registry.ErrNotFound) {
					err = nil // already gone
				}
				x.mu.Lock()
				defer x.mu.Unlock()
				var pe *registry.PartialError
				if errors.As(err, &pe) {
					// Some of its tags went: those are reported deleted.
					for _, t := range pe.Done {
						x.partial[t] = true
					}
					e.tagsDeleted.Add(int64(len(pe.Done)))
				}
				if errors.Is(err, registry.ErrProtected) {
					// This manifest only: kept with the registry's reason.
					x.protected[d] = policy.ProtectedBy(registry.ProtectedReason(err))
					return nil
				}
				if err != nil {
					x.digestErr[d] = err
					x.errs = append(x.errs, err)
				} else {
					x.gone[d] = true
					e.tagsDeleted.Add(int64(len(tagsOn[d])))
				}
				return nil
			})
		}
		_ = g.Wait()
	}
	x.reclaimed = policy.Reclaimed(x.in.Manifests, x.gone)
}

// deleteTags deletes single tags. The first one whose manifest a kept tag
// shares is checked: if the kept tag went with it, the registry deleted
// the manifest rather than the tag, and no further tag is deleted.
func (x *execution) deleteTags(ctx, dctx context.Context, items []policy.Item) {
	if len(items) == 0 {
		return
	}
	e := x.e
	keptOn := map[string]string{}
	for _, it := range x.plan.Items {
		if it.Action == policy.Keep && it.Subject == "" && it.Reason.Kind != policy.ReasonChanged {
			if _, ok := keptOn[it.Digest]; !ok {
				keptOn[it.Digest] = it.Tag
			}
		}
	}
	one := func(it policy.Item) outcome {
		if ctx.Err() != nil {
			return outcome{err: notStarted(ctx)}
		}
		err := e.b.DeleteTag(dctx, x.repo, it.Tag)
		switch {
		case err == nil, errors.Is(err, registry.ErrNotFound):
			e.tagsDeleted.Add(1)
			return outcome{done: true}
		case errors.Is(err, registry.ErrProtected):
			return outcome{kept: true, reason: policy.ProtectedBy(registry.ProtectedReason(err))}
		case errors.Is(err, registry.ErrTagDeleteUnsupported):
			// The probe said it could; the registry says otherwise now. The
			// reason is the one the planner gives when the probe says so.
			reason := policy.Because(policy.ReasonTagDeleteRefused)
			if k := keptOn[it.Digest]; k != "" {
				reason = policy.Reason{Kind: policy.ReasonSharesDigest, Name: k, NoTagDelete: true}
			}
			return outcome{kept: true, reason: reason}
		default:
			return outcome{err: err}
		}
	}
	// Tags on a digest that must survive (a kept tag shares it, or a kept
	// index lists it) go one at a time until one is deleted and the digest
	// is seen to survive it; only then do the others go in parallel. A
	// failed delete proves nothing either way.
	survive := map[string]bool{}
	for _, d := range x.plan.Kept {
		survive[d] = true
	}
	var rest []policy.Item
	proven := e.o.DryRun
	for i, it := range items {
		if proven || (!survive[it.Digest] && keptOn[it.Digest] == "") {
			rest = append(rest, it)
			continue
		}
		o := one(it)
		x.outcome[it.Tag] = o
		if o.err != nil {
			x.errs = append(x.errs, o.err)
		}
		if !o.done {
			continue
		}
		ok, err := e.b.Exists(dctx, x.repo, it.Digest)
		if ok {
			proven = true
			continue
		}
		what := "manifest " + it.Digest
		if k := keptOn[it.Digest]; k != "" {
			what = "kept tag " + k
		}
		if err == nil {
			err = fmt.Errorf("deleting tag %s also removed %s: this registry deletes the manifest on a tag delete; no further tags were deleted in %s", it.Tag, what, x.repo)
		} else {
			err = fmt.Errorf("could not check that %s survived the deletion of tag %s (%v); no further tags were deleted in %s", what, it.Tag, err, x.repo)
		}
		x.errs = append(x.errs, err)
		for _, r := range append(rest, items[i+1:]...) {
			x.outcome[r.Tag] = outcome{err: err}
		}
		return
	}
	g := errgroup.Group{}
	g.SetLimit(e.o.Concurrency)
	for _, it := range rest {
		g.Go(func() error {
			o := one(it)
			x.mu.Lock()
			x.outcome[it.Tag] = o
			if o.err != nil {
				x.errs = append(x.errs, o.err)
			}
			x.mu.Unlock()
			return nil
		})
	}
	_ = g.Wait()
}

// logf logs a line of the repository: at once, or kept for its log group.
func (x *execution) logf(format string, args ...any) {
	if !x.e.o.Groups {
		x.e.logf(format, args...)
		return
	}
	x.lines = append(x.lines, fmt.Sprintf(format, args...))
}

// notStarted is the error of a deletion the stopped run did not start.
func notStarted(ctx context.Context) error {
	return fmt.Errorf("not deleted: the run stopped before this deletion: %s", stopped(ctx))
}

// deleteContext is the context deletions are sent with: it outlives ctx
// by the grace period, so that a deletion in flight when the run stops
// gets its answer and is reported as what it is.
func (e *Engine) deleteContext(ctx context.Context) (context.Context, context.CancelFunc) {
	d, cancel := context.WithCancel(registry.WithStop(context.WithoutCancel(ctx), ctx))
	var timer *time.Timer
	var mu sync.Mutex
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		timer = time.AfterFunc(e.o.Grace, cancel)
		mu.Unlock()
	})
	return d, func() {
		stop()
		mu.Lock()
		if timer != nil {
			timer.Stop()
		}
		mu.Unlock()
		cancel()
	}
}

// report turns the plan and what happened into report entries.
func (x *execution) report() []report.Tag {
	deleted := report.Deleted
	if x.e.o.DryRun {
		deleted = report.WouldDelete
	}
	out := make([]report.Tag, 0, len(x.plan.Items))
	index := map[string]int{}
	for _, it := range x.plan.Items {
		t := report.Tag{Tag: it.Tag, Digest: it.Digest, Action: report.Kept, Reason: it.Reason.String()}
		if !it.Created.IsZero() {
			c := it.Created.UTC()
			t.Created = &c
		}
		if it.Action == policy.Delete {
			t.Action = deleted
			var err error
			switch {
			case x.capped != nil:
				t.Action, t.Error, t.Capped = report.Failed, x.capped.TagError(), true
			case x.blocked != nil:
				err = x.blocked
			case it.Method == policy.ByTag:
				o := x.outcome[it.Tag]
				switch {
				case o.kept:
					t.Action, t.Reason = report.Kept, o.reason.String()
				case o.err != nil:
					err = o.err
				}
			case x.partial[it.Tag]:
				// removed before its digest's deletion failed (or was refused)
			case x.protected[it.Digest] != policy.Reason{}:
				t.Action, t.Reason = report.Kept, x.protected[it.Digest].String()
			default:
				err = x.digestErr[it.Digest]
			}
			if err != nil {
				t.Action, t.Error = report.Failed, err.Error()
			}
		}
		index[it.Tag] = len(out)
		out = append(out, t)
	}
	untagged := append([]policy.Untagged(nil), x.plan.Untagged...)
	sort.SliceStable(untagged, func(i, j int) bool { return untagged[i].Digest < untagged[j].Digest })
	for _, u := range untagged {
		a := report.Attached{Digest: u.Digest, Kind: u.Kind(), Action: deleted, Reason: u.Reason.String()}
		err := x.digestErr[u.Digest]
		if x.blocked != nil {
			err = x.blocked
		}
		switch {
		case x.capped != nil:
			a.Action, a.Error = report.Failed, x.capped.TagError()
		case err != nil:
			a.Action, a.Error = report.Failed, err.Error()
		case x.protected[u.Digest] != policy.Reason{}:
			a.Action, a.Reason = report.Kept, x.protected[u.Digest].String()
		}
		if i, ok := index[u.Under]; ok {
			out[i].Attached = append(out[i].Attached, a)
		}
	}
	return out
}
