package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/tagsweep/tagsweep/internal/policy"
	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/report"
)

// finish takes the second look, deletes and reports one planned
// repository. The report keeps strings: this is where the typed plan and
// results become the words of the report.
func (e *Engine) finish(ctx context.Context, x *execution) (out report.Repository) {
	out = report.Repository{Name: x.repo, Tags: []report.Tag{}}
	defer func() { e.done(x, out) }()
	if x.listErr != nil {
		out.Error = x.listErr.Error()
		return out
	}
	switch {
	case x.blocked != nil:
		if x.capped == nil {
			out.Error = x.blocked.Error()
		}
	case !e.o.DryRun && (x.plan.Deletes() > 0 || len(x.plan.Untagged) > 0 || x.plan.LooseDeletes() > 0):
		if ctx.Err() != nil {
			x.blocked = fmt.Errorf("not deleted: the run stopped before the second look: %s", stopped(ctx))
			out.Error = x.blocked.Error()
			break
		}
		if err := x.secondLook(ctx); err != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("%w (%s)", err, stopped(ctx))
			}
			x.blocked = fmt.Errorf("not deleted: second look failed: %w", err)
			out.Error = x.blocked.Error()
		}
	}
	x.execute(ctx)
	e.protected(x.plan)
	e.rules.count(x.plan)
	out.Tags = x.report()
	if x.rules.UntaggedRule().DeleteUntagged {
		out.Untagged = x.untaggedReport()
	}
	out.ReclaimedBytes = x.reclaimed
	out.StillStored = x.stillStored()
	if len(x.errs) > 0 && out.Error == "" {
		out.Error = joinErrors(x.errs)
	}
	return out
}

// joinErrors is a repository's error: one line per distinct failure. A
// registry that refuses deletes altogether is said once, however many
// DELETEs met the refusal before it was known (they go in parallel); each
// tag's own error still names its digest.
func joinErrors(errs []error) string {
	var lines []string
	seen := map[string]bool{}
	refused := false
	for _, err := range errs {
		msg := err.Error()
		if errors.Is(err, registry.ErrDeleteDisabled) {
			if refused {
				continue
			}
			refused = true
		}
		if !seen[msg] {
			seen[msg] = true
			lines = append(lines, msg)
		}
	}
	return strings.Join(lines, "\n")
}

// deletedAction is how the report says a deletion done: deleted, or in a
// dry run would-delete.
func (x *execution) deletedAction() string {
	if x.e.o.DryRun {
		return report.WouldDelete
	}
	return report.Deleted
}

// outcome is the action, reason and error of a planned deletion whose
// result is r and whose plan's reason is reason: failed when
// max-deletions (capped) or an earlier failure (blocked) held it back,
// else what r says.
func (x *execution) outcome(r result, reason string) (action, why, errText string, capped bool) {
	switch {
	case x.capped != nil:
		return report.Failed, reason, x.capped.TagError(), true
	case x.blocked != nil:
		return report.Failed, reason, x.blocked.Error(), false
	}
	action, why, errText = r.entry(x.deletedAction(), reason)
	return action, why, errText, false
}

// report turns the plan and what happened into report entries.
func (x *execution) report() []report.Tag {
	deleted := x.deletedAction()
	out := make([]report.Tag, 0, len(x.plan.Items))
	index := map[string]int{}
	for _, it := range x.plan.Items {
		t := report.Tag{Tag: it.Tag, Digest: it.Digest, Action: report.Kept, Reason: it.Reason.String()}
		if !it.Created.IsZero() {
			c := it.Created.UTC()
			t.Created = &c
		}
		if it.Action == policy.Delete {
			r := x.resultOf(it)
			t.Action, t.Reason, t.Error, t.Capped = x.outcome(r, t.Reason)
			if x.capped == nil && x.blocked == nil {
				t.Stored = r.stored
			}
		}
		index[it.Tag] = len(out)
		out = append(out, t)
	}
	untagged := append([]policy.Untagged(nil), x.plan.Untagged...)
	sort.SliceStable(untagged, func(i, j int) bool { return untagged[i].Digest < untagged[j].Digest })
	for _, u := range untagged {
		a := report.Attached{Digest: u.Digest, Kind: u.Kind(), Action: deleted, Reason: u.Reason.String()}
		a.Action, a.Reason, a.Error, _ = x.outcome(x.digests[u.Digest], a.Reason)
		if i, ok := index[u.Under]; ok {
			out[i].Attached = append(out[i].Attached, a)
		}
	}
	return out
}

// stillStored lists the manifests left untagged but not deleted, by digest.
func (x *execution) stillStored() []report.StillStored {
	var out []report.StillStored
	for d, r := range x.digests {
		if r.status == untagged {
			out = append(out, report.StillStored{Digest: d, Reason: r.stored})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Digest < out[j].Digest })
	return out
}

// untaggedReport is the report's entry for each untagged manifest the
// registry listed (plan.Listed): the plan's decision, and for a deletion
// what became of it.
func (x *execution) untaggedReport() []report.Untagged {
	out := make([]report.Untagged, 0, len(x.plan.Listed))
	for _, u := range x.plan.Listed {
		r := report.Untagged{Digest: u.Digest, Action: report.Kept, Reason: u.Reason.String()}
		if !u.Pushed.IsZero() {
			p := u.Pushed.UTC()
			r.Pushed = &p
		}
		if u.Action == policy.Delete {
			r.Action, r.Reason, r.Error, r.Capped = x.outcome(x.digests[u.Digest], r.Reason)
		}
		out = append(out, r)
	}
	return out
}

// resultOf is what became of a tag to delete: its own result (a tag
// delete, or a digest deletion that removed it before failing), else its
// digest's.
func (x *execution) resultOf(it policy.Item) result {
	if r, ok := x.tags[it.Tag]; ok || it.Method == policy.ByTag {
		return r
	}
	return x.digests[it.Digest]
}

// entry is the action, reason and error a report entry shows for r, given
// the action of a deletion done (deleted, or would-delete) and the plan's
// reason.
func (r result) entry(done, reason string) (action, why, errText string) {
	switch r.status {
	case kept:
		return report.Kept, r.reason.String(), ""
	case failed:
		return report.Failed, reason, r.err.Error()
	case untagged:
		// A manifest without tags (a child, an untagged manifest) that
		// the registry did not delete: it is kept, as it is.
		return report.Kept, "untagged but not deleted: " + r.stored, ""
	case pending, deleted:
		// pending: nothing said otherwise, so as the plan says
	}
	return done, reason, ""
}
