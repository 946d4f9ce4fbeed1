package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tagsweep/tagsweep/internal/policy"
	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/undo"
)

// status is what became of one planned deletion.
type status int

const (
	// pending: not carried out, nor known to have failed; the report says
	// what the plan says.
	pending status = iota
	// deleted: the registry deleted it (or it was gone already).
	deleted
	// kept: the registry refused, and the refusal is not a failure (it
	// protects the item, or cannot delete a single tag): kept, with the
	// result's reason.
	kept
	// failed: an error left it undeleted.
	failed
	// untagged: its tags were deleted, but the registry refused to delete
	// the manifest, which stays stored (stored says why).
	untagged
)

// result is what became of one planned deletion, a tag or a digest.
type result struct {
	status status
	err    error         // when failed
	reason policy.Reason // when kept: replaces the plan's reason
	stored string        // when untagged (and on its tags): why the manifest stays stored
}

func failedWith(err error) result { return result{status: failed, err: err} }

func keptFor(r policy.Reason) result { return result{status: kept, reason: r} }

// execute carries out the plan: single-tag deletions, then digest
// deletions layer by layer, parents first; a digest whose parent was not
// deleted stays.
func (x *execution) execute(ctx context.Context) {
	x.tags = map[string]result{}
	x.digests = map[string]result{}
	if x.blocked != nil {
		return
	}
	// Deletions already sent finish (within the grace period) when the run
	// stops; no new one starts.
	dctx, done := x.e.deleteContext(ctx)
	defer done()
	if x.e.o.Undo != nil {
		x.parents = parentsOf(x.in.Manifests)
	}
	var byTag []policy.Item
	for _, it := range x.plan.Items {
		if it.Action == policy.Delete && it.Method == policy.ByTag {
			byTag = append(byTag, it)
		}
	}
	x.deleteTags(ctx, dctx, byTag)
	x.deleteDigests(ctx, dctx)
	gone := map[string]bool{}
	for d, r := range x.digests {
		if r.status == deleted {
			gone[d] = true
		}
	}
	x.reclaimed = policy.Reclaimed(x.in.Manifests, gone)
}

// deleteDigests deletes the plan's digests layer by layer, parents first.
// A digest whose parent the registry protects is kept too; one whose
// parent failed is not deleted.
func (x *execution) deleteDigests(ctx, dctx context.Context) {
	tagsOn := map[string][]string{}
	for _, t := range x.in.Tags {
		if t.Digest != "" {
			tagsOn[t.Digest] = append(tagsOn[t.Digest], t.Name)
		}
	}
	loose := map[string]bool{}
	for _, u := range x.plan.Listed {
		if u.Loose && u.Action == policy.Delete {
			loose[u.Digest] = true
		}
	}
	e := x.e
	for _, layer := range x.plan.Layers {
		g := e.work.tasks()
		for _, d := range layer {
			if r, ok := x.afterParents(ctx, d); ok {
				x.setDigest(d, r)
				continue
			}
			g.Go(func(b registry.Backend) error {
				if ctx.Err() != nil {
					x.setDigest(d, failedWith(notStarted(ctx)))
					return nil
				}
				if err := x.journal(dctx, b, d, undo.Manifest, tagsOn[d]); err != nil {
					x.mu.Lock()
					defer x.mu.Unlock()
					x.digests[d] = failedWith(err)
					x.errs = append(x.errs, err)
					return nil
				}
				err := b.DeleteDigest(dctx, x.repo, d, tagsOn[d])
				if errors.Is(err, registry.ErrNotFound) {
					err = nil // already gone
				}
				x.mu.Lock()
				defer x.mu.Unlock()
				var ue *registry.UntaggedError
				if errors.As(err, &ue) {
					// The tags went; the manifest stays stored, not freed.
					for _, t := range ue.Done {
						x.tags[t] = result{status: deleted, stored: ue.Reason}
					}
					e.tagsDeleted.Add(int64(len(ue.Done)))
					x.digests[d] = result{status: untagged, stored: ue.Reason}
					return nil
				}
				var pe *registry.PartialError
				if errors.As(err, &pe) {
					// Some of its tags went: those are reported deleted.
					for _, t := range pe.Done {
						x.tags[t] = result{status: deleted}
					}
					e.tagsDeleted.Add(int64(len(pe.Done)))
				}
				switch {
				case errors.Is(err, registry.ErrProtected):
					// This manifest only: kept with the registry's reason.
					x.digests[d] = keptFor(policy.ProtectedBy(registry.ProtectedReason(err)))
				case err != nil:
					x.digests[d] = failedWith(err)
					x.errs = append(x.errs, err)
				default:
					x.digests[d] = result{status: deleted}
					e.tagsDeleted.Add(int64(len(tagsOn[d])))
					if loose[d] {
						e.untaggedDeleted.Add(1)
					}
				}
				return nil
			})
		}
		_ = g.Wait()
	}
}

// afterParents is what becomes of digest d before it is sent, if it is not
// sent: kept when a parent is protected by the registry, failed when a
// parent was not deleted or the run has stopped.
func (x *execution) afterParents(ctx context.Context, d string) (result, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, p := range x.plan.Parents[d] {
		switch r := x.digests[p]; r.status {
		case kept:
			return keptFor(policy.Naming(policy.ReasonProtectedParent, p)), true
		case untagged:
			// Its parent still references it: the registry would refuse.
			return result{status: untagged, stored: "referenced by " + p + ", which stays stored"}, true
		case failed:
			return failedWith(fmt.Errorf("not deleted: %s, which references it, was not deleted", p)), true
		}
	}
	if ctx.Err() != nil {
		return failedWith(notStarted(ctx)), true
	}
	return result{}, false
}

func (x *execution) setDigest(d string, r result) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.digests[d] = r
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
	one := func(b registry.Backend, it policy.Item) result {
		if ctx.Err() != nil {
			return failedWith(notStarted(ctx))
		}
		if err := x.journal(dctx, b, it.Digest, undo.Tag, []string{it.Tag}); err != nil {
			return failedWith(err)
		}
		err := b.DeleteTag(dctx, x.repo, it.Tag)
		switch {
		case err == nil, errors.Is(err, registry.ErrNotFound):
			e.tagsDeleted.Add(1)
			return result{status: deleted}
		case errors.Is(err, registry.ErrProtected):
			return keptFor(policy.ProtectedBy(registry.ProtectedReason(err)))
		case errors.Is(err, registry.ErrTagDeleteUnsupported):
			// The probe said it could; the registry says otherwise now. The
			// reason is the one the planner gives when the probe says so.
			if k := keptOn[it.Digest]; k != "" {
				return keptFor(policy.Reason{Kind: policy.ReasonSharesDigest, Name: k, NoTagDelete: true})
			}
			return keptFor(policy.Because(policy.ReasonTagDeleteRefused))
		default:
			return failedWith(err)
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
		var r result
		e.work.do(func(b registry.Backend) { r = one(b, it) })
		x.tags[it.Tag] = r
		if r.err != nil {
			x.errs = append(x.errs, r.err)
		}
		if r.status != deleted {
			continue
		}
		ok, err := call(e.work, func(b registry.Backend) (bool, error) { return b.Exists(dctx, x.repo, it.Digest) })
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
			x.tags[r.Tag] = failedWith(err)
		}
		return
	}
	g := e.work.tasks()
	for _, it := range rest {
		g.Go(func(b registry.Backend) error {
			r := one(b, it)
			x.mu.Lock()
			defer x.mu.Unlock()
			x.tags[it.Tag] = r
			if r.err != nil {
				x.errs = append(x.errs, r.err)
			}
			return nil
		})
	}
	_ = g.Wait()
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
