package report

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Actions of a restore, as its JSON report spells them.
const (
	// Restored: put back and verified by digest.
	Restored = "restored"
	// WouldRestore: a dry run would put it back.
	WouldRestore = "would-restore"
	// Present: already there, on its digest; nothing to do.
	Present = "present"
	// NotRestored: it could not or may not be put back; Reason says why.
	NotRestored = "not-restored"
	// Skipped: not put back, and not asked for (a manifest nothing restored
	// needs, a tag a later deletion in the undo file had elsewhere).
	Skipped = "skipped"
)

// Restore is the report of one `tagsweep restore`.
type Restore struct {
	Registry   string    `json:"registry"`
	UndoFile   string    `json:"undoFile"`
	DryRun     bool      `json:"dryRun"`
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt"`
	// Only echoes --only ("repository:tag"); empty: everything.
	Only         []string            `json:"only,omitempty"`
	Repositories []RestoreRepository `json:"repositories"`
	Totals       RestoreTotals       `json:"totals"`
	Errors       []string            `json:"errors,omitempty"`
	Warnings     []string            `json:"warnings,omitempty"`
	// Requests counts the HTTP requests sent.
	Requests int64 `json:"requests"`
}

// RestoreRepository is what became of one repository's entries.
type RestoreRepository struct {
	Name string `json:"name"`
	// Tags has one item per tag the undo file names (in scope of --only).
	Tags []RestoreItem `json:"tags"`
	// Manifests has one item per manifest, tagged or not.
	Manifests []RestoreItem `json:"manifests"`
}

// RestoreItem is one tag or manifest.
type RestoreItem struct {
	Tag    string `json:"tag,omitempty"`
	Digest string `json:"digest"`
	Action string `json:"action"`
	Reason string `json:"reason"`
	Error  string `json:"error,omitempty"`
}

// RestoreTotals count the tags and manifests by action.
type RestoreTotals struct {
	Repositories int `json:"repositories"`
	Tags         int `json:"tags"`
	// Restored counts restored tags (in a dry run: would-restore).
	Restored    int `json:"restored"`
	Present     int `json:"present"`
	NotRestored int `json:"notRestored"`
	Skipped     int `json:"skipped"`
	// Manifests counts the manifests; ManifestsWritten those put back (in
	// a dry run: that would be), ManifestsNotRestored those that could not.
	Manifests            int `json:"manifests"`
	ManifestsWritten     int `json:"manifestsWritten"`
	ManifestsNotRestored int `json:"manifestsNotRestored"`
}

// Tally fills the totals from the repositories.
func (r *Restore) Tally() {
	t := RestoreTotals{Repositories: len(r.Repositories)}
	for _, repo := range r.Repositories {
		for _, it := range repo.Tags {
			t.Tags++
			switch it.Action {
			case Restored, WouldRestore:
				t.Restored++
			case Present:
				t.Present++
			case NotRestored:
				t.NotRestored++
			case Skipped:
				t.Skipped++
			}
		}
		for _, it := range repo.Manifests {
			t.Manifests++
			switch it.Action {
			case Restored, WouldRestore:
				t.ManifestsWritten++
			case NotRestored:
				t.ManifestsNotRestored++
			}
		}
	}
	r.Totals = t
}

// Failed reports whether something asked for was not restored, or the
// restore met an error.
func (r *Restore) Failed() bool {
	return r.Totals.NotRestored > 0 || r.Totals.ManifestsNotRestored > 0 || len(r.Errors) > 0
}

// WriteJSON writes the report as indented JSON.
func (r *Restore) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Outputs are the restore's step outputs: restored-count, present-count,
// not-restored-count, restored-tags (JSON "repository:tag") and
// report-file.
func (r *Restore) Outputs(reportFile string) []Output {
	tags := []string{}
	for _, repo := range r.Repositories {
		for _, it := range repo.Tags {
			if it.Action == Restored || it.Action == WouldRestore {
				tags = append(tags, repo.Name+":"+it.Tag)
			}
		}
	}
	sort.Strings(tags)
	js, _ := json.Marshal(tags)
	out := []Output{
		{Name: "restored-count", Value: fmt.Sprint(r.Totals.Restored)},
		{Name: "present-count", Value: fmt.Sprint(r.Totals.Present)},
		{Name: "not-restored-count", Value: fmt.Sprint(r.Totals.NotRestored)},
		{Name: "restored-tags", Value: string(js)},
	}
	if reportFile != "" {
		out = append(out, Output{Name: "report-file", Value: reportFile})
	}
	return out
}

// Summary renders the restore as the markdown job summary: the totals,
// per repository a table of its tags (tag, digest, what became of it and
// why) and, collapsed, its manifests; the errors.
func (r *Restore) Summary() string { return r.doc().markdown() }

// Text renders the same summary as plain text for a log or a terminal.
func (r *Restore) Text(o TextOptions) string { return r.doc().text(o) }

// doc is the restore's summary, for both renderers.
func (r *Restore) doc() doc {
	title := "tagsweep restore"
	if r.DryRun {
		title += " (dry run: nothing was written)"
	}
	d := doc{&heading{2, line{txt(title)}}}
	head := line{txt("Registry "), verbatim(r.Registry), txt(", undo file "), verbatim(r.UndoFile)}
	if len(r.Only) > 0 {
		head = append(head, txt(", only "), verbatim(strings.Join(r.Only, ",")))
	}
	d = append(d, &para{append(head, txt("."))})
	t := r.Totals
	restored := "restored"
	if r.DryRun {
		restored = "would be restored"
	}
	totals := fmt.Sprintf("%s: %d %s, %d already there, %d not restored", Count(t.Tags, "tag"), t.Restored, restored, t.Present, t.NotRestored)
	if t.Skipped > 0 {
		totals += fmt.Sprintf(", %d skipped", t.Skipped)
	}
	totals += fmt.Sprintf("; %s, %d to put back, %d that cannot be.", Count(t.Manifests, "manifest"), t.ManifestsWritten, t.ManifestsNotRestored)
	d = append(d, &para{line{txt(totals)}})
	for _, repo := range r.Repositories {
		d = append(d, &heading{3, line{verbatim(repo.Name)}})
		if len(repo.Tags) > 0 {
			tb := &table{cols: []column{{title: "tag", kind: colName}, {title: "digest", kind: colDigest}, {title: "action", kind: colFixed}, {title: "reason", kind: colText}}}
			for i, it := range repo.Tags {
				if i == maxRows {
					tb.omitted = len(repo.Tags) - i
					break
				}
				tb.rows = append(tb.rows, row{cells: []span{verbatim(it.Tag), verbatim(it.Digest), txt(string(it.Action)), txt(it.Why())}})
			}
			d = append(d, tb)
		}
		if len(repo.Manifests) > 0 {
			tb := &table{caption: line{txt(Count(len(repo.Manifests), "manifest"))}, collapsed: true,
				cols: []column{{title: "digest", kind: colDigest}, {title: "action", kind: colFixed}, {title: "reason", kind: colText}}}
			for i, it := range repo.Manifests {
				if i == maxRows {
					tb.omitted = len(repo.Manifests) - i
					break
				}
				tb.rows = append(tb.rows, row{cells: []span{verbatim(it.Digest), txt(string(it.Action)), txt(it.Why())}})
			}
			d = append(d, tb)
		}
	}
	for _, sec := range []struct {
		title string
		items []string
	}{{"Errors", r.Errors}, {"Warnings", r.Warnings}} {
		if len(sec.items) == 0 {
			continue
		}
		var ls []line
		for _, e := range sec.items {
			ls = append(ls, line{txt(e)})
		}
		d = append(d, &heading{3, line{txt(sec.title)}}, &list{ls})
	}
	return d
}

// Why is the item's reason, followed by its error where that says more.
func (it RestoreItem) Why() string {
	if it.Error != "" && it.Error != it.Reason {
		return it.Reason + ": " + it.Error
	}
	return it.Reason
}
