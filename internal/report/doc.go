package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/tagsweep/tagsweep/internal/policy"
)

// The job summary is built once, as a doc: what it says, in the order it
// says it, without how. Two renderers show it: Summary (markdown, for
// GitHub's job summary and summary-file) and Text (plain text for a log:
// GitLab, Jenkins, a terminal). A new section of the summary is a few
// blocks added in (*Report).doc, and both forms show it.

// doc is the summary as a list of blocks.
type doc []block

// block is one part of a doc: *heading, *para, *list, *note or *table.
type block interface{ isBlock() }

// style says how a span is written.
type style int

const (
	// stPlain is text as it came (a registry's message included): escaped for
	// markdown, shown as it is in text.
	stPlain style = iota
	// stCode is a name shown verbatim: a code span in markdown.
	stCode
	// stStrong is emphasised: bold in markdown, plain in text.
	stStrong
	// stMarkup is markdown written by tagsweep itself (a GC hint with its
	// code spans): as it is in both forms.
	stMarkup
)

// span is a piece of inline text of one style.
type span struct {
	text  string
	style style
}

// line is inline text: spans one after the other.
type line []span

func txt(s string) span            { return span{s, stPlain} }
func verbatim(s string) span       { return span{s, stCode} }
func bold(s string) span           { return span{s, stStrong} }
func txtf(f string, a ...any) span { return txt(fmt.Sprintf(f, a...)) }

// heading is a title: level 2 for the summary's, 3 for a section's.
type heading struct {
	level int
	text  line
}

// para is a paragraph.
type para struct{ text line }

// list is a bulleted list, one line per item.
type list struct{ items []line }

// note is the closing remark (markdown: a block quote).
type note struct{ text line }

// colKind says how a table column is laid out in text.
type colKind int

const (
	// colFixed never wraps: numbers, ages, short labels.
	colFixed colKind = iota
	// colName is a name shown verbatim (a tag): cut into pieces where it
	// is wider than the column.
	colName
	// colDigest is a digest: in full in markdown, short in text.
	colDigest
	// colText is prose (a reason, an error): wrapped at words.
	colText
)

// column is a table column.
type column struct {
	title string
	kind  colKind
	right bool // right-aligned (numbers)
}

// row is a table row, a span per column, with the rows that belong to it
// (the untagged manifests deleted with a tag) right below it.
type row struct {
	cells []span
	sub   [][]span
}

// table is a table, with an optional caption above it (followed by a
// colon unless collapsed, in markdown; always in text).
type table struct {
	caption line
	// collapsed tables are details a reader opens (markdown: <details>
	// titled with the caption); past the size budget they are left out,
	// the caption saying where to look.
	collapsed bool
	cols      []column
	rows      []row
	// omitted rows are left out by maxRows.
	omitted int
}

func (*heading) isBlock() {}
func (*para) isBlock()    {}
func (*list) isBlock()    {}
func (*note) isBlock()    {}
func (*table) isBlock()   {}

// maxRows bounds the rows of one table in the summary, and maxSummary its
// size: GitHub refuses a job summary over 1 MiB (and a log of every tag of
// a large registry helps no one). The JSON report always has every tag.
const (
	maxRows    = 500
	maxSummary = 900 << 10
)

// tagColumns are the columns of a table of tags; last names the last one
// ("reason" or "error").
func tagColumns(last string) []column {
	return []column{{title: "tag", kind: colName}, {title: "digest", kind: colDigest}, {title: "age", kind: colFixed}, {title: last, kind: colText}}
}

// deletedAnything reports whether the run deleted (in a dry run: would
// delete) anything, which is when the garbage collector has work.
func (r *Report) deletedAnything() bool {
	return r.Totals.Deleted > 0 || r.Totals.DeletedUntagged > 0 || r.Totals.ReclaimedBytes > 0
}

// deletesUntagged reports whether delete-untagged is on: the input, or
// any rule of the policy file.
func (p Policy) deletesUntagged() bool {
	if p.DeleteUntagged {
		return true
	}
	for _, r := range p.Rules {
		if r.DeleteUntagged {
			return true
		}
	}
	return false
}

// reclaimable names the space a run frees: after the registry's garbage
// collector, or, where the registry frees it itself, freed by it.
func (r *Report) reclaimable() string {
	if r.FreesSpace {
		return "freed by the registry"
	}
	return "reclaimable after GC"
}

// maxUntaggedOpen is the most untagged manifests a repository's table
// shows open; a longer one is collapsed.
const maxUntaggedOpen = 10

// doc builds the summary: the title, the totals first, the policy, a
// section per repository (deleted, held back, failed, kept), the errors,
// the warnings, and how the registry frees space (after a line saying
// nothing was deleted, when nothing was).
func (r *Report) doc() doc {
	var d doc
	deleted, title := "deleted", "tagsweep"
	if r.DryRun {
		deleted, title = "would be deleted", "tagsweep (dry run: nothing was deleted)"
	}
	d = append(d, &heading{2, line{txt(title)}})

	t := r.Totals
	totals := &table{
		cols: []column{{title: "repositories", right: true}, {title: "tags", right: true}, {title: deleted, right: true},
			{title: "kept", right: true}, {title: "failed", right: true}},
		rows: []row{{cells: []span{txtf("%d", t.Repositories), txtf("%d", t.Tags), txtf("%d", t.Deleted), txtf("%d", t.Kept),
			txtf("%d", t.Failed)}}},
	}
	if r.Policy.deletesUntagged() {
		totals.cols = append(totals.cols, column{title: "untagged " + deleted, right: true})
		totals.rows[0].cells = append(totals.rows[0].cells, txtf("%d", t.DeletedUntagged))
	}
	totals.cols = append(totals.cols, column{title: r.reclaimable(), right: true})
	totals.rows[0].cells = append(totals.rows[0].cells, txt(r.Reclaimed(t.ReclaimedBytes)))
	d = append(d, totals)
	if r.ReclaimedAtMost && t.ReclaimedBytes > 0 {
		d = append(d, &para{line{txtf("Reclaimable after GC is at most %s: %s.", Bytes(t.ReclaimedBytes), ReclaimedNote)}})
	}
	if r.Cache != nil {
		d = append(d, &para{line{bold("Cache"), txt(" "), verbatim(r.Cache.Dir), txtf(": %s.", r.Cache)}})
	}
	if r.Load != nil && r.Load.Long() {
		d = append(d, &para{line{bold("Requests"), txtf(": %s.", r.Load)}})
	}
	if c := r.Cap; c != nil {
		// One line for the refusal; the plan follows, each tag with its reason.
		if r.DryRun {
			d = append(d, &para{line{bold("max-deletions would refuse this plan"), txtf(": it deletes %s, more than max-deletions=%d, so a real run would delete nothing and exit 1. "+
				"The tags it would delete are listed below with their reasons, under \"held back by max-deletions\".", c.What(), c.Max)}})
		} else {
			d = append(d, &para{line{bold("max-deletions refused this plan"), txtf(": it would delete %s, more than max-deletions=%d, so nothing was deleted. "+
				"The tags it would delete are listed below with their reasons, under \"held back by max-deletions\".", c.What(), c.Max)}})
		}
	}
	d = append(d, &para{line{txt("Registry "), verbatim(r.Registry)}})
	d = append(d, &para{r.policyLine()})
	d = append(d, r.rulesBlocks()...)
	d = append(d, r.protectionBlocks()...)
	if r.UntaggedHint != "" {
		// Said once for the run, not per repository.
		d = append(d, &para{line{bold("delete-untagged"), txt(": "), span{r.UntaggedHint, stMarkup}, txt(".")}})
	}

	// The repositories are shown while the summary has room (maxSummary,
	// measured in markdown); the rest are only counted, those with a
	// failure named (up to maxLate), so that a run over a million tags
	// neither builds nor writes more than GitHub takes.
	size := len(d.markdown())
	var rest Totals
	var late []line
	lateLeft := 0
	stored := 0 // manifests untagged but not deleted, said with the GC note
	if err := r.Each(func(repo *Repository) error {
		stored += len(repo.StillStored)
		if size <= maxSummary {
			blocks := r.repositoryBlocks(*repo, deleted)
			size += len(doc(blocks).markdown())
			d = append(d, blocks...)
			return nil
		}
		var t Totals
		t.add(repo)
		rest.add(repo)
		if repo.Error == "" && t.Failed == 0 {
			return nil
		}
		if len(late) == maxLate {
			lateLeft++
			return nil
		}
		l := line{verbatim(repo.Name), txtf(": %d failed", t.Failed)}
		if repo.Error != "" {
			l = append(l, txt(": "+repo.Error))
		}
		late = append(late, l)
		return nil
	}); err != nil {
		d = append(d, &para{line{bold("Error"), txt(": the report's entries could not be read back: " + err.Error())}})
	}
	if rest.Repositories > 0 {
		d = append(d, &heading{3, line{txtf("%s, in the JSON report only", more(rest.Repositories))}},
			&para{line{txtf("%s: %d %s, %d kept, %d failed; %s reclaimable after GC.",
				Count(rest.Tags, "tag"), rest.Deleted, deleted, rest.Kept, rest.Failed, r.Reclaimed(rest.ReclaimedBytes))}})
		if lateLeft > 0 {
			late = append(late, line{txtf("… %s", more(lateLeft))})
		}
		if len(late) > 0 {
			d = append(d, &para{line{txt("Of those, with failures:")}}, &list{late})
		}
	}
	var errs []line
	for _, e := range r.Errors {
		if r.Cap != nil && e == r.Cap.Error() {
			continue // said at the top, above the plan it refused
		}
		errs = append(errs, line{txt(e)})
	}
	if len(errs) > 0 {
		d = append(d, &heading{3, line{txt("Errors")}}, &list{bounded(errs)})
	}
	if len(r.Warnings) > 0 {
		var ws []line
		for _, w := range r.Warnings {
			ws = append(ws, line{txt(w)})
		}
		d = append(d, &heading{3, line{txt("Warnings")}}, &list{bounded(ws)})
	}
	if u := r.Undo; u != nil {
		l := line{bold("Made a mistake?"), txtf(" This run wrote what undoes its %s to the undo file ", Count(u.Entries, "deletion")), verbatim(u.File),
			txt(". "), verbatim(u.Restore), txt(" puts them back (with the same credentials; add "), verbatim("--dry-run"),
			txt(" to see what it would do, "), verbatim("--only repo:tag,…"), txt(" for a part)")}
		if u.Window != "" {
			l = append(l, txtf(", %s", u.Window))
		}
		d = append(d, &para{append(l, txt("."))})
	}
	if r.Pulls != nil {
		d = append(d, &para{line{txtf("Pulls counted against the registry's pull limit: %d (manifest GETs; HEADs are not pulls).", *r.Pulls)}})
	}
	// The summary always ends with how the registry frees space (README
	// "Outputs"); with nothing deleted it says so first, in one line.
	var gc line
	if stored > 0 {
		gc = append(gc, txtf("%s had their tags deleted but stay stored (the registry refused to delete them; see Warnings); they are not counted as reclaimable. ", Count(stored, "manifest")))
	}
	if !r.deletedAnything() {
		gc = append(gc, txt("Nothing was deleted. "))
	}
	switch {
	case r.FreesSpace && r.GCHint != "":
		// The registry frees the space itself (GHCR): its own words,
		// no garbage collector named first.
		gc = append(gc, span{r.GCHint, stMarkup})
	default:
		gc = append(gc, bold("Space is freed only when the registry's garbage collector runs."))
		if r.GCHint != "" {
			gc = append(gc, span{" " + r.GCHint, stMarkup})
		}
	}
	d = append(d, &note{gc})
	return d
}

// rulesBlocks are the policy file's rules: a table of rule, repositories,
// tags, keep, older-than, the tags each governed and deleted.
func (r *Report) rulesBlocks() doc {
	p := r.Policy
	if len(p.Rules) == 0 {
		return nil
	}
	deleted := "deleted"
	if r.DryRun {
		deleted = "would delete"
	}
	t := &table{caption: line{txt("Policy file "), verbatim(p.PolicyFile)},
		cols: []column{{title: "rule", right: true}, {title: "repositories", kind: colName}, {title: "tags", kind: colName},
			{title: "keep", right: true}, {title: "older-than", kind: colFixed}, {title: "tags governed", right: true}, {title: deleted, right: true}}}
	for _, ru := range p.Rules {
		tags := strings.Join(ru.Tags, ", ")
		if len(ru.ExcludeTags) > 0 {
			tags += " but " + strings.Join(ru.ExcludeTags, ", ")
		}
		older := ru.OlderThan
		if older == "" {
			older = "-"
		}
		t.rows = append(t.rows, row{cells: []span{txtf("%d", ru.Rule), verbatim(strings.Join(ru.Repositories, ", ")), verbatim(tags),
			txtf("%d", ru.Keep), txt(older), txtf("%d", ru.Governed), txtf("%d", ru.Deleted)}})
	}
	return doc{t}
}

// protectionBlocks say what protect-images protected, and list the
// references that matched nothing.
func (r *Report) protectionBlocks() doc {
	pr := r.Protection
	if pr == nil {
		return nil
	}
	l := line{bold("protect-images"), txtf(": %s matched (of %d), %s kept for them", Count(pr.Matched, "reference"), pr.References, Count(pr.Tags, "tag"))}
	if pr.Elsewhere > 0 {
		l = append(l, txtf("; %s to other registries ignored", Count(pr.Elsewhere, "reference")))
	}
	d := doc{&para{append(l, txt("."))}}
	if len(pr.Unmatched) > 0 {
		var items []line
		for _, u := range pr.Unmatched {
			items = append(items, line{verbatim(u)})
		}
		d = append(d, &para{line{txtf("%s matched nothing:", Count(len(pr.Unmatched), "protected reference"))}}, &list{items})
	}
	return d
}

// maxLate bounds the repositories named past the summary's room, and
// maxItems the errors and warnings listed: the JSON report has them all.
const (
	maxLate  = 200
	maxItems = 200
)

// bounded is items, those past maxItems counted in one last item.
func bounded(items []line) []line {
	if len(items) <= maxItems {
		return items
	}
	return append(items[:maxItems:maxItems], line{txtf("… %d more in the JSON report", len(items)-maxItems)})
}

// more says "1 more repository", "2 more repositories".
func more(n int) string {
	return strings.Replace(Count(n, "repository"), " ", " more ", 1)
}

// policyLine says the policy in one sentence.
func (r *Report) policyLine() line {
	p := r.Policy
	if len(p.Rules) > 0 {
		out := line{bold("Policy"), txt(": repositories ")}
		for i, s := range p.Repositories {
			if i > 0 {
				out = append(out, txt(", "))
			}
			out = append(out, verbatim(s))
		}
		out = append(out, txtf("; the %s of policy file ", Count(len(p.Rules), "rule")), verbatim(p.PolicyFile), txt(", the first that matches a tag governs it"))
		if len(p.ExcludeTags) > 0 {
			out = append(out, txt("; exclude-tags "), verbatim(strings.Join(p.ExcludeTags, ", ")))
		}
		if p.KeepSemver != "" {
			out = append(out, txt("; always keep versions "), verbatim(p.KeepSemver))
		}
		return append(out, txt("."))
	}
	by := p.OrderBy
	if by == "created" && p.AgeSource == "pushed" {
		by = "push time"
	}
	out := line{bold("Policy"), txt(": repositories ")}
	names := func(ss []string) {
		for i, s := range ss {
			if i > 0 {
				out = append(out, txt(", "))
			}
			out = append(out, verbatim(s))
		}
	}
	names(p.Repositories)
	out = append(out, txtf("; keep the %d newest candidates per repository by %s; include-tags ", p.Keep, by))
	names(p.IncludeTags)
	if len(p.ExcludeTags) > 0 {
		out = append(out, txt("; exclude-tags "))
		names(p.ExcludeTags)
	}
	if p.OlderThan != "" {
		out = append(out, txt("; delete only images older than "), verbatim(p.OlderThan))
	}
	if p.KeepSemver != "" {
		out = append(out, txt("; always keep versions "), verbatim(p.KeepSemver))
	}
	if p.DeleteOrphans {
		out = append(out, txt("; delete orphaned signatures and referrers"))
	}
	if p.DeleteUntagged {
		out = append(out, txt("; delete the untagged manifests nothing kept reaches, pushed more than an hour ago"))
		if p.OlderThan != "" {
			out = append(out, txt(" and older than "), verbatim(p.OlderThan))
		}
		if p.KeepUntagged > 0 {
			out = append(out, txtf(", but the %d newest", p.KeepUntagged))
		}
	}
	return append(out, txt("."))
}

// repositoryBlocks is the section of one repository: its heading, error,
// counts, and the tables of its deleted, held back, failed and kept tags.
func (r *Report) repositoryBlocks(repo Repository, deleted string) []block {
	var gone, held, failed, kept []Tag
	for _, tag := range repo.Tags {
		switch {
		case tag.Action == Deleted, tag.Action == WouldDelete:
			gone = append(gone, tag)
		case tag.Action == Failed && tag.Capped:
			held = append(held, tag)
		case tag.Action == Failed:
			failed = append(failed, tag)
		default:
			kept = append(kept, tag)
		}
	}
	out := []block{&heading{3, line{verbatim(repo.Name)}}}
	if repo.Error != "" {
		out = append(out, &para{line{bold("Error"), txt(": " + repo.Error)}})
	}
	var counts span
	switch {
	case len(gone) == 0 && len(failed) == 0 && len(held) == 0:
		counts = txtf("%s, nothing %s.", Count(len(repo.Tags), "tag"), deleted)
	case len(held) > 0:
		counts = txtf("%s: %d held back by max-deletions (reported failed), %d kept, %d failed otherwise.",
			Count(len(repo.Tags), "tag"), len(held), len(kept), len(failed))
	default:
		counts = txtf("%s: %d %s, %d kept, %d failed; %s %s.",
			Count(len(repo.Tags), "tag"), len(gone), deleted, len(kept), len(failed), r.Reclaimed(repo.ReclaimedBytes), r.reclaimable())
	}
	out = append(out, &para{line{counts}})
	now := r.FinishedAt
	if len(gone) > 0 {
		out = append(out, tagTable(nil, gone, now, false))
	}
	if len(held) > 0 {
		out = append(out, tagTable(line{txt("Held back by max-deletions (the plan would delete these)")}, held, now, false))
	}
	if len(failed) > 0 {
		out = append(out, tagTable(line{txt("Failed")}, failed, now, true))
	}
	if len(kept) > 0 {
		t := tagTable(line{txtf("%d kept", len(kept))}, kept, now, false)
		t.collapsed = true
		out = append(out, t)
	}
	return append(out, untaggedBlocks(repo, deleted, now)...)
}

// untaggedBlocks are the tables of a repository's untagged manifests
// under delete-untagged: those deleted (in a dry run: that would be) on
// their own, collapsed when long; those that failed; and those kept,
// collapsed. The ones deleted with a tag's image are under that tag.
func untaggedBlocks(repo Repository, deleted string, now time.Time) []block {
	withTag := map[string]bool{}
	for _, t := range repo.Tags {
		for _, a := range t.Attached {
			withTag[a.Digest] = true
		}
	}
	var gone, failed, kept []Untagged
	for _, u := range repo.Untagged {
		switch {
		case withTag[u.Digest]:
		case u.Action == Deleted || u.Action == WouldDelete:
			gone = append(gone, u)
		case u.Action == Failed:
			failed = append(failed, u)
		default:
			kept = append(kept, u)
		}
	}
	var out []block
	if len(gone) > 0 {
		t := untaggedTable(line{txtf("%s %s", Count(len(gone), "untagged manifest"), deleted)}, gone, now, false)
		t.collapsed = len(gone) > maxUntaggedOpen
		out = append(out, t)
	}
	if len(failed) > 0 {
		out = append(out, untaggedTable(line{txtf("%s failed", Count(len(failed), "untagged manifest"))}, failed, now, true))
	}
	if len(kept) > 0 {
		t := untaggedTable(line{txtf("%s kept", Count(len(kept), "untagged manifest"))}, kept, now, false)
		t.collapsed = true
		out = append(out, t)
	}
	return out
}

// untaggedTable is a table of untagged manifests (at most maxRows): digest,
// push age and reason (or error).
func untaggedTable(caption line, us []Untagged, now time.Time, errs bool) *table {
	last := "reason"
	if errs {
		last = "error"
	}
	t := &table{caption: caption, cols: []column{{title: "digest", kind: colDigest}, {title: "pushed", kind: colFixed}, {title: last, kind: colText}}}
	for i, u := range us {
		if i == maxRows {
			t.omitted = len(us) - i
			break
		}
		text := u.Reason
		if errs {
			text = u.Error
		}
		t.rows = append(t.rows, row{cells: []span{verbatim(u.Digest), txt(age(u.Pushed, now)), txt(text)}})
	}
	return t
}

// tagTable is a table of tags (at most maxRows), each with the untagged
// manifests deleted with it; errs shows each tag's error instead of its
// reason.
func tagTable(caption line, tags []Tag, now time.Time, errs bool) *table {
	last := "reason"
	if errs {
		last = "error"
	}
	t := &table{caption: caption, cols: tagColumns(last)}
	for i, tg := range tags {
		if i == maxRows {
			t.omitted = len(tags) - i
			break
		}
		text := tg.Reason
		if errs {
			text = tg.Error
		}
		rw := row{cells: []span{verbatim(tg.Tag), verbatim(tg.Digest), txt(age(tg.Created, now)), txt(text)}}
		for _, a := range tg.Attached {
			text := a.Reason
			if a.Action == Failed && !tg.Capped {
				text = "failed: " + a.Error
			}
			rw.sub = append(rw.sub, []span{txt("↳ " + a.Kind), verbatim(a.Digest), txt(""), txt(text)})
		}
		t.rows = append(t.rows, rw)
	}
	return t
}

func age(c *time.Time, now time.Time) string {
	if c == nil {
		return "unknown"
	}
	d := now.Sub(*c)
	if d < 0 {
		d = 0
	}
	return policy.FormatAge(d)
}

// moreRows is the line that ends a table whose rows were left out.
func moreRows(n int) string { return fmt.Sprintf("%d more rows in the JSON report", n) }

// joinLine concatenates the text of l's spans, each through f.
func joinLine(l line, f func(span) string) string {
	var b strings.Builder
	for _, s := range l {
		b.WriteString(f(s))
	}
	return b.String()
}
