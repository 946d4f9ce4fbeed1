package report

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tagsweep/tagsweep/internal/policy"
)

// Output is one step output.
type Output struct {
	Name, Value string
}

// MaxOutput is the largest step output GitHub Actions accepts (1 MB).
const MaxOutput = 1_000_000

// Outputs are the step outputs of a run, in the order of README's Outputs.
// reportFile is the path the JSON report was written to, or "". When limit
// is positive, deleted-tags keeps only the entries that fit in it, and
// Outputs says so in a warning.
func (r *Report) Outputs(reportFile string, limit int) ([]Output, string) {
	all := r.DeletedTags()
	tags, _ := json.Marshal(all)
	warning := ""
	if limit > 0 && len(tags) > limit {
		n, size := 0, 2
		for _, t := range all {
			b, _ := json.Marshal(t)
			if size+len(b)+1 > limit {
				break
			}
			size += len(b) + 1
			n++
		}
		tags, _ = json.Marshal(all[:n])
		warning = fmt.Sprintf("deleted-tags lists %d of %d tags: a step output holds at most %d bytes; the report-file has them all", n, len(all), limit)
	}
	return []Output{
		{"deleted-count", strconv.Itoa(r.Totals.Deleted)},
		{"kept-count", strconv.Itoa(r.Totals.Kept)},
		{"failed-count", strconv.Itoa(r.Totals.Failed)},
		{"deleted-tags", string(tags)},
		{"reclaimed-bytes", strconv.FormatInt(r.Totals.ReclaimedBytes, 10)},
		{"report-file", reportFile},
	}, warning
}

// maxRows bounds the rows of one table in the summary, and maxSummary its
// size: GitHub refuses a job summary over 1 MiB. The JSON report always
// has every tag.
const (
	maxRows    = 500
	maxSummary = 900 << 10
)

// Summary renders the job summary in markdown.
func (r *Report) Summary() string {
	var b strings.Builder
	deleted, title := "deleted", "tagsweep"
	if r.DryRun {
		deleted, title = "would be deleted", "tagsweep (dry run: nothing was deleted)"
	}
	fmt.Fprintf(&b, "## %s\n\n", title)
	fmt.Fprintf(&b, "Registry %s\n\n", code(r.Registry))

	p := r.Policy
	b.WriteString("**Policy**: ")
	by := p.OrderBy
	if by == "created" && p.AgeSource == "pushed" {
		by = "push time"
	}
	parts := []string{
		"repositories " + codes(p.Repositories),
		fmt.Sprintf("keep the %d newest candidates per repository by %s", p.Keep, by),
		"include-tags " + codes(p.IncludeTags),
	}
	if len(p.ExcludeTags) > 0 {
		parts = append(parts, "exclude-tags "+codes(p.ExcludeTags))
	}
	if p.OlderThan != "" {
		parts = append(parts, "delete only images older than "+code(p.OlderThan))
	}
	if p.KeepSemver != "" {
		parts = append(parts, "always keep versions "+code(p.KeepSemver))
	}
	if p.DeleteOrphans {
		parts = append(parts, "delete orphaned signatures and referrers")
	}
	b.WriteString(strings.Join(parts, "; ") + ".\n\n")

	t := r.Totals
	b.WriteString("| repositories | tags | " + deleted + " | kept | failed | reclaimable after GC |\n|---:|---:|---:|---:|---:|---:|\n")
	fmt.Fprintf(&b, "| %d | %d | %d | %d | %d | %s |\n\n", t.Repositories, t.Tags, t.Deleted, t.Kept, t.Failed, r.Reclaimed(t.ReclaimedBytes))
	if r.ReclaimedAtMost && t.ReclaimedBytes > 0 {
		fmt.Fprintf(&b, "Reclaimable after GC is at most %s: %s.\n\n", Bytes(t.ReclaimedBytes), ReclaimedNote)
	}
	if c := r.Cap; c != nil {
		// One line for the refusal; the plan follows, each tag with its reason.
		if r.DryRun {
			fmt.Fprintf(&b, "**max-deletions would refuse this plan**: it deletes %d tags, more than max-deletions=%d, so a real run would delete nothing and exit 1. "+
				"The tags it would delete are listed below with their reasons, under \"held back by max-deletions\".\n\n", c.Planned, c.Max)
		} else {
			fmt.Fprintf(&b, "**max-deletions refused this plan**: it would delete %d tags, more than max-deletions=%d, so nothing was deleted. "+
				"The tags it would delete are listed below with their reasons, under \"held back by max-deletions\".\n\n", c.Planned, c.Max)
		}
	}

	now := r.FinishedAt
	for _, repo := range r.Repositories {
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
		fmt.Fprintf(&b, "### %s\n\n", code(repo.Name))
		if repo.Error != "" {
			fmt.Fprintf(&b, "**Error**: %s\n\n", cell(repo.Error))
		}
		switch {
		case len(gone) == 0 && len(failed) == 0 && len(held) == 0:
			fmt.Fprintf(&b, "%s, nothing %s.\n\n", Count(len(repo.Tags), "tag"), deleted)
		case len(held) > 0:
			fmt.Fprintf(&b, "%s: %d held back by max-deletions (reported failed), %d kept, %d failed otherwise.\n\n",
				Count(len(repo.Tags), "tag"), len(held), len(kept), len(failed))
		default:
			fmt.Fprintf(&b, "%s: %d %s, %d kept, %d failed; %s reclaimable after GC.\n\n",
				Count(len(repo.Tags), "tag"), len(gone), deleted, len(kept), len(failed), r.Reclaimed(repo.ReclaimedBytes))
		}
		if len(gone) > 0 {
			b.WriteString("| tag | digest | age | reason |\n|---|---|---|---|\n")
			rows(&b, gone, now, false)
			b.WriteString("\n")
		}
		if len(held) > 0 {
			b.WriteString("Held back by max-deletions (the plan would delete these):\n\n| tag | digest | age | reason |\n|---|---|---|---|\n")
			rows(&b, held, now, false)
			b.WriteString("\n")
		}
		if len(failed) > 0 {
			b.WriteString("Failed:\n\n| tag | digest | age | error |\n|---|---|---|---|\n")
			rows(&b, failed, now, true)
			b.WriteString("\n")
		}
		if len(kept) > 0 && b.Len() > maxSummary {
			fmt.Fprintf(&b, "%d kept: see the JSON report.\n\n", len(kept))
		} else if len(kept) > 0 {
			fmt.Fprintf(&b, "<details><summary>%d kept</summary>\n\n| tag | digest | age | reason |\n|---|---|---|---|\n", len(kept))
			rows(&b, kept, now, false)
			b.WriteString("\n</details>\n\n")
		}
	}
	if len(r.Errors) > 0 && (r.Cap == nil || len(r.Errors) > 1) {
		b.WriteString("### Errors\n\n")
		for _, e := range r.Errors {
			if r.Cap != nil && e == r.Cap.Error() {
				continue // said at the top, above the plan it refused
			}
			fmt.Fprintf(&b, "- %s\n", cell(e))
		}
		b.WriteString("\n")
	}
	if len(r.Warnings) > 0 {
		b.WriteString("### Warnings\n\n")
		for _, w := range r.Warnings {
			fmt.Fprintf(&b, "- %s\n", cell(w))
		}
		b.WriteString("\n")
	}
	if r.GCHint != "" {
		fmt.Fprintf(&b, "> **Space is freed only when the registry's garbage collector runs.** %s\n", r.GCHint)
	} else {
		b.WriteString("> **Space is freed only when the registry's garbage collector runs.**\n")
	}
	return b.String()
}

func rows(b *strings.Builder, tags []Tag, now time.Time, errs bool) {
	n := 0
	for _, t := range tags {
		if n == maxRows || b.Len() > maxSummary {
			fmt.Fprintf(b, "| … | | | %d more rows in the JSON report |\n", len(tags)-n)
			return
		}
		last := t.Reason
		if errs {
			last = t.Error
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", code(t.Tag), code(t.Digest), age(t.Created, now), cell(last))
		n++
		for _, a := range t.Attached {
			last := a.Reason
			if a.Action == Failed && !t.Capped {
				last = "failed: " + a.Error
			}
			fmt.Fprintf(b, "| ↳ %s | %s | | %s |\n", a.Kind, code(a.Digest), cell(last))
		}
	}
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

// code puts s verbatim in a code span, with enough backticks to hold any
// backtick inside it.
func code(s string) string {
	if s == "" {
		return ""
	}
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	pad := ""
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		pad = " "
	}
	return fence + pad + codeEscape(s) + pad + fence
}

func codeEscape(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

// Renderings returns the forms s takes in the summary, escaped for a
// table cell and for a code span, so that a redactor finds a secret
// however the summary printed it.
func Renderings(s string) []string { return []string{cell(s), codeEscape(s)} }

func codes(ss []string) string {
	var out []string
	for _, s := range ss {
		out = append(out, code(s))
	}
	return strings.Join(out, ", ")
}

// cell escapes text for a table cell or a list item: no line breaks, no
// pipes, no HTML.
func cell(s string) string { return cellEscaper.Replace(s) }

var cellEscaper = strings.NewReplacer("\r", " ", "\n", " ", "|", "\\|", "<", "&lt;", ">", "&gt;")

// count renders "1 tag", "2 tags".
// Count says "1 tag", "2 tags".
func Count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if stem, ok := strings.CutSuffix(noun, "y"); ok {
		return fmt.Sprintf("%d %sies", n, stem)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// Bytes renders a byte count for people: "1.5 MiB".
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
