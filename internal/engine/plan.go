package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/tagsweep/tagsweep/internal/policy"
	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/image"
	"github.com/tagsweep/tagsweep/internal/report"
)

// execution carries one repository from its plan through the second look
// and the deletions to its report entries. Only the repository's own
// goroutine touches it, but for the results its tasks write under mu.
type execution struct {
	e    *Engine
	repo string
	// rules are the policy for this repository (Engine.rulesFor).
	rules policy.Rules
	plan  *policy.Plan
	snap  *snapshot
	in    policy.Input
	// blocked: nothing is deleted, for this reason.
	blocked error
	// capped: blocked by max-deletions (said once, for the run; each
	// tag it held back keeps its plan's reason).
	capped *report.Cap
	// listErr: the tags could not be listed; nothing else was done.
	listErr error
	// asked: the registry was asked whether it deletes single tags.
	asked bool
	// held is this repository's share of Options.TagsInFlight, released
	// when its report entries are out of memory; listed its tags.
	held   int64
	listed int

	mu sync.Mutex
	// tags are the results of single-tag deletions, and of the tags a
	// digest deletion removed before it failed; digests those of the
	// digest deletions.
	tags, digests map[string]result
	errs          []error
	reclaimed     int64
	// parents maps a digest to the indexes of the repository that list
	// it, for the undo entries (set when there is a Journal).
	parents map[string][]string
}

// plan lists, inspects and plans one repository. The execution it returns
// carries the plan (or the error that stopped the repository) to finish.
func (e *Engine) plan(ctx context.Context, name string, warns *warnings) *execution {
	x := &execution{e: e, repo: name, rules: e.rulesFor(name)}
	listed, err := call(e.work, func(b registry.Backend) ([]image.Tag, error) { return b.Tags(ctx, name) })
	if errors.Is(err, registry.ErrNotFound) && e.literal[name] {
		listed, err = nil, nil // said below, as for an empty listing
	}
	if err == nil && len(listed) == 0 && e.literal[name] {
		x.logf("%s", noSuchRepository(name)) // the run's warnings say it again at the end
		x.plan, x.snap, x.in = &policy.Plan{}, &snapshot{}, policy.Input{}
		warns.add(noSuchRepository(name))
		return x
	}
	if err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			err = fmt.Errorf("repository %q not found: %w", name, err)
		}
		x.listErr = err
		x.logf("%s: %v", name, err)
		return x
	}
	x.listed = len(listed)
	x.held = e.hold(ctx, x.listed)
	snap := e.inspect(ctx, name, listed)
	e.readUntagged(ctx, name, snap)
	warns.add(snap.warnings...)
	in := snap.input(e.o.Now())
	e.protect(name, &in, snap.manifests)
	// The registry's own rule on the last tagged manifest (GHCR), planned
	// so that the dry run predicts it.
	in.LastTagged = e.work.b.Capabilities().LastTagged

	// Plan as if single tags can be deleted; ask the registry only when
	// the plan needs it, and plan again if it cannot.
	in.TagDelete = true
	plan := policy.Make(x.rules, in)
	asked := plan.NeedsTagDelete()
	if asked {
		ok, err := call(e.work, func(b registry.Backend) (bool, error) { return b.TagDeleteSupported(ctx, name) })
		switch {
		case errors.Is(err, registry.ErrDeleteDisabled):
			// Nothing can be deleted; what would go by tag is kept, and
			// the user learns why (digest deletes fail with the same).
			warns.add(err.Error())
			in.TagDelete = false
			plan = policy.Make(x.rules, in)
		case err != nil:
			warns.add(fmt.Sprintf("%s: could not tell whether the registry deletes single tags (%v); assuming it does", name, err))
		case !ok:
			in.TagDelete = false
			plan = policy.Make(x.rules, in)
		}
	}
	if n := plan.LooseDeletes(); n > 0 {
		x.logf("%s: %s, %d to delete; %s to delete", name, report.Count(len(plan.Items), "tag"), plan.Deletes(), report.Count(n, "untagged manifest"))
	} else {
		x.logf("%s: %s, %d to delete", name, report.Count(len(plan.Items), "tag"), plan.Deletes())
	}
	x.plan, x.snap, x.in, x.asked = plan, snap, in, asked
	if len(snap.errs) > 0 {
		x.blocked = fmt.Errorf("not deleted: the repository could not be inspected completely: %w", errors.Join(snap.errs...))
	}
	return x
}

// hold waits until tags more tags may be worked on (all of
// Options.TagsInFlight for a repository of more) and returns the weight
// held. A run that has stopped does not wait: its calls fail at once.
func (e *Engine) hold(ctx context.Context, tags int) int64 {
	w := int64(min(max(tags, 1), e.o.TagsInFlight))
	if e.inFlight.Acquire(ctx, w) != nil {
		return 0
	}
	return w
}

// capDeletions blocks every repository when the plans delete more tags
// than max-deletions; the refusal names the count and the first few tags.
func (e *Engine) capDeletions(xs []*execution) *report.Cap {
	c := &report.Cap{Max: e.o.MaxDeletions}
	for _, x := range xs {
		if x == nil || x.plan == nil {
			continue
		}
		// Untagged manifests delete-untagged deletes count too (the
		// contract's max-deletions); those a deleted tag's image takes
		// along do not, as before.
		c.Untagged += x.plan.LooseDeletes()
		for _, it := range x.plan.Items {
			if it.Action == policy.Delete {
				c.Planned++
				if len(c.First) < 5 {
					c.First = append(c.First, x.repo+":"+it.Tag)
				}
			}
		}
		for _, u := range x.plan.Listed {
			if u.Loose && u.Action == policy.Delete && len(c.First) < 5 {
				c.First = append(c.First, x.repo+"@"+u.Digest)
			}
		}
	}
	if c.Planned+c.Untagged <= e.o.MaxDeletions {
		return nil
	}
	for _, x := range xs {
		if x != nil && x.blocked == nil {
			x.blocked = c
			x.capped = c
		}
	}
	return c
}
