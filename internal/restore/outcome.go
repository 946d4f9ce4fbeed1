package restore

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tagsweep/tagsweep/internal/report"
)

// report turns what happened into the report's items, per repository:
// every tag (the reason it is back, there already, or not), and every
// manifest.
func (p *Plan) report(nodes []*node, st *state, o Options) []report.RestoreRepository {
	byRepo := map[string]*report.RestoreRepository{}
	var repos []string
	repoOf := func(name string) *report.RestoreRepository {
		r := byRepo[name]
		if r == nil {
			r = &report.RestoreRepository{Name: name, Tags: []report.RestoreItem{}, Manifests: []report.RestoreItem{}}
			byRepo[name] = r
			repos = append(repos, name)
		}
		return r
	}
	written := map[string]*tagWrite{}
	for _, tw := range st.written {
		written[key(tw.n.repo, tw.tag)] = tw
	}
	unchecked := len(st.errs) > 0
	for _, n := range nodes {
		r := repoOf(n.repo)
		r.Manifests = append(r.Manifests, manifestItem(n, unchecked, st, o))
		for _, t := range n.tags {
			r.Tags = append(r.Tags, tagItem(n, t, written[key(n.repo, t)], unchecked, st, o))
		}
	}
	for tk, earlier := range p.s.shadowed {
		repo, t, _ := strings.Cut(tk, "\x00")
		if byRepo[repo] == nil || !p.want0(tk) {
			continue
		}
		later := p.s.nodes[p.s.owner[tk]]
		for _, k := range earlier {
			if n := p.s.nodes[k]; n.selected {
				byRepo[repo].Tags = append(byRepo[repo].Tags, report.RestoreItem{Tag: t, Digest: n.digest, Action: report.Skipped,
					Reason: fmt.Sprintf("a later deletion in the undo file had this tag on %s, which is what it is restored to", later.digest)})
			}
		}
	}
	slices.Sort(repos)
	out := make([]report.RestoreRepository, 0, len(repos))
	for _, name := range repos {
		r := byRepo[name]
		slices.SortStableFunc(r.Tags, func(a, b report.RestoreItem) int { return strings.Compare(a.Tag, b.Tag) })
		out = append(out, *r)
	}
	return out
}

// want0 reports whether the tag key tk is in scope: everything without
// --only, else the tags it asked for.
func (p *Plan) want0(tk string) bool { return !p.narrowed || p.asked[tk] }

func manifestItem(n *node, unchecked bool, st *state, o Options) report.RestoreItem {
	it := report.RestoreItem{Digest: n.digest}
	switch {
	case n.present:
		it.Action, it.Reason = report.Present, "already in the registry"
	case n.why != "":
		it.Action, it.Reason = report.NotRestored, n.why
	case unchecked:
		it.Action, it.Reason = report.NotRestored, "not written: the registry could not be checked completely (see the errors)"
	case !n.write:
		it.Action, it.Reason = report.Skipped, "not needed: no tag goes back on it and nothing put back references it"
	case o.DryRun:
		it.Action, it.Reason = report.WouldRestore, how(n, st, "would be")
	case n.done:
		it.Action, it.Reason = report.Restored, how(n, st, "")+", verified by digest"
	default:
		it.Action, it.Reason, it.Error = report.NotRestored, "not restored", n.failed
	}
	return it
}

// how says how n is (or would be) put back.
func how(n *node, st *state, would string) string {
	verb := "put back"
	if would != "" {
		verb = would + " put back"
	}
	if st.undel != nil && n.handle != "" {
		return fmt.Sprintf("%s by the registry's own restore (handle %s)", verb, n.handle)
	}
	if len(n.blobs) > 0 {
		return verb + " (every blob is still there)"
	}
	return verb
}

func tagItem(n *node, t string, tw *tagWrite, unchecked bool, st *state, o Options) report.RestoreItem {
	it := report.RestoreItem{Tag: t, Digest: n.digest}
	now := st.tags[key(n.repo, t)]
	switch {
	case now == n.digest:
		it.Action, it.Reason = report.Present, "already on its digest"
	case now != "":
		it.Action, it.Reason = report.NotRestored, fmt.Sprintf("points at %s now (pushed since the sweep): left alone, never overwritten", now)
	case n.why != "":
		it.Action, it.Reason = report.NotRestored, n.why
	case unchecked:
		it.Action, it.Reason = report.NotRestored, "not written: the registry could not be checked completely (see the errors)"
	case o.DryRun:
		it.Action, it.Reason = report.WouldRestore, "would be put back on its digest"
	case !n.done && !n.present:
		it.Action, it.Reason, it.Error = report.NotRestored, "its manifest could not be restored", n.failed
	case tw == nil:
		it.Action, it.Reason = report.NotRestored, "not written"
	case tw.now != "":
		it.Action, it.Reason = report.NotRestored, fmt.Sprintf("pushed during the restore (it points at %s): left alone, never overwritten", tw.now)
	case tw.done:
		it.Action, it.Reason = report.Restored, "put back on its digest, verified"
	default:
		it.Action, it.Reason, it.Error = report.NotRestored, "not restored", tw.failed
	}
	return it
}
