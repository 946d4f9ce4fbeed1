package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tagsweep/tagsweep/internal/policy"
	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/image"
)

// secondLook lists and resolves the tags again just before deleting, and
// re-plans with the plan's decisions fixed (README's rule 7): a tag to
// delete that moved is skipped, and a digest that a kept tag (or a tag
// pushed meanwhile) now points at is never deleted by digest.
func (x *execution) secondLook(ctx context.Context) error {
	e := x.e
	current, err := x.resolveAgain(ctx)
	if err != nil {
		return err
	}
	in := x.againInput(current)
	// What the new digests reach must be known before it can be pinned.
	if err := x.fetchClosure(ctx, in.Manifests, in.Pinned); err != nil {
		return err
	}

	plan := policy.Make(x.rules, in)
	if plan.NeedsTagDelete() && in.TagDelete && !x.asked {
		// The first plan did not need to ask; this one does.
		x.asked = true
		ok, err := call(e.work, func(b registry.Backend) (bool, error) { return b.TagDeleteSupported(ctx, x.repo) })
		if err == nil && !ok {
			in.TagDelete = false
			plan = policy.Make(x.rules, in)
		}
	}
	if err := x.checkAgainst(plan); err != nil {
		return err
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

// resolveAgain lists the tags again and resolves each, but the
// sha256-<hex> tags: the digest each tag points at now.
func (x *execution) resolveAgain(ctx context.Context) (map[string]string, error) {
	listed, err := call(x.e.work, func(b registry.Backend) ([]image.Tag, error) { return b.Tags(ctx, x.repo) })
	if err != nil {
		return nil, err
	}
	current := map[string]string{}
	var mu sync.Mutex
	g, gctx := x.e.work.tasksWithContext(ctx)
	for _, n := range image.Names(listed) {
		if policy.SubjectOf(n) != "" {
			continue
		}
		g.Go(func(b registry.Backend) error {
			d, err := b.Resolve(gctx, x.repo, n)
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
	return current, g.Wait()
}

// againInput is the first plan's input with what the second look saw: its
// decisions fixed, the tags that moved or vanished forced to "changed
// during run", and pinned what the first plan kept and what tags point at
// now.
func (x *execution) againInput(current map[string]string) policy.Input {
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
	// What the first plan kept is pinned, but for the untagged manifests
	// delete-untagged decided (and what they reach): the same rules decide
	// them again from the same listing, and a pin would rename their
	// reasons and free a keep-untagged slot for another.
	loose := map[string]bool{}
	for _, u := range x.plan.Listed {
		if u.Loose {
			loose[u.Digest] = true
		}
	}
	in.Pinned = nil
	for _, d := range x.plan.Kept {
		if !loose[d] {
			in.Pinned = append(in.Pinned, d)
		}
	}
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
				// Gone: it keeps nothing any more.
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
	return in
}

// checkAgainst marks the first plan's deletions that the second plan keeps
// "changed during run", and refuses a second plan that deletes anything
// the first one keeps.
func (x *execution) checkAgainst(plan *policy.Plan) error {
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
	return nil
}

// fetchClosure fetches the manifests reachable from roots that are not in
// ms yet (index children, any depth).
func (x *execution) fetchClosure(ctx context.Context, ms map[string]*image.Manifest, roots []string) error {
	frontier := roots
	for depth := 0; len(frontier) > 0 && depth < maxDepth; depth++ {
		var next []string
		for _, d := range frontier {
			if d == "" {
				continue
			}
			m, ok := ms[d]
			if !ok {
				var err error
				m, err = call(x.e.work, func(b registry.Backend) (*image.Manifest, error) { return b.Manifest(ctx, x.repo, d) })
				if errors.Is(err, registry.ErrNotFound) {
					continue // a missing child: nothing behind it to keep
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
