package report

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// longNames is a run with the longest names a registry allows (a 255-byte
// repository path, 128-byte tags), messages of several hundred bytes and
// a digest-named signature tag.
func longNames() *Report {
	repo := strings.Repeat("platform-team/", 17) + "service"  // 245 bytes, slashes
	tag := strings.Repeat("feature-branch-", 8) + "final-v12" // 129 bytes, no spaces
	long := strings.Repeat("the registry answered 500 Internal Server Error while deleting, retry later; ", 6)
	r := &Report{
		Registry: "registry.example.test:5000", StartedAt: started, FinishedAt: finished,
		Policy: Policy{Repositories: []string{repo}, Keep: 1, IncludeTags: []string{"*"}, ExcludeTags: []string{tag}, OrderBy: "created"},
		Repositories: []Repository{{
			Name:  repo,
			Error: long,
			Tags: []Tag{
				{Tag: tag, Digest: dg("1"), Created: daysAgo(40), Action: Deleted, Reason: long,
					Attached: []Attached{{Digest: dg("a"), Kind: "attestation", Action: Failed, Reason: "x", Error: long}}},
				{Tag: "sha256-" + strings.Repeat("1", 64) + ".sig", Digest: dg("2"), Created: daysAgo(40), Action: Deleted, Reason: "attached to deleted " + tag},
				{Tag: tag + "-kept", Digest: dg("3"), Created: daysAgo(1), Action: Kept, Reason: "rank 1 of 2 by created, within keep=1"},
				{Tag: tag + "-failed", Digest: dg("4"), Created: daysAgo(50), Action: Failed, Reason: "r", Error: long},
			},
			ReclaimedBytes: 1 << 20,
		}},
		Errors:   []string{long},
		Warnings: []string{repo + ": " + long},
		GCHint:   "CNCF distribution registry: `registry garbage-collect --delete-untagged /etc/docker/registry/config.yml`.",
	}
	r.Tally()
	return r
}

// TestTextWidth: no line of the plain-text summary is wider than the page
// (120 columns by default, or as asked), with the longest repository and
// tag names and long messages: prose wraps at words, a name continues on
// the next line, and nothing of a tag name is lost.
func TestTextWidth(t *testing.T) {
	t.Parallel()
	for _, width := range []int{0, 120, 100, 80} {
		t.Run(fmt.Sprint(width), func(t *testing.T) {
			t.Parallel()
			limit := width
			if limit == 0 {
				limit = DefaultWidth
			}
			r := longNames()
			out := r.Text(TextOptions{Width: width})
			for i, l := range strings.Split(out, "\n") {
				if n := utf8.RuneCountInString(l); n > limit {
					t.Errorf("line %d is %d columns wide, more than %d:\n%s", i+1, n, limit, l)
				}
			}
			// The tag column holds each tag in pieces of one width: joined,
			// the pieces in the first column give the names back.
			flat := strings.Join(strings.Fields(out), "")
			for _, tg := range r.Repositories[0].Tags[:1] {
				if !strings.Contains(flat, tg.Tag) {
					t.Errorf("tag %q is not in the text, even joined:\n%s", tg.Tag, out)
				}
			}
			if !strings.Contains(flat, strings.ReplaceAll(r.Repositories[0].Name, " ", "")) {
				t.Errorf("the repository name is lost:\n%s", out)
			}
		})
	}
}

// TestTextForLogs: the plain-text form of the same content is made for a
// log: the totals first, no HTML (<details>, entities), no markdown
// (tables, bold, escapes), short digests, text as the registry sent it,
// control characters shown escaped.
func TestTextForLogs(t *testing.T) {
	t.Parallel()
	r := sample(false)
	r.Repositories[0].Tags[0].Reason = "moved \x1b[2Jby a terminal escape"
	out := r.Text(TextOptions{})
	lines := strings.Split(out, "\n")
	if lines[0] != "tagsweep" || !strings.HasPrefix(lines[3], "repositories  tags  deleted  kept  failed  reclaimable after GC") {
		t.Errorf("the text does not start with the title and the totals:\n%s", out)
	}
	for _, no := range []string{"<details>", "</details>", "&lt;", "&gt;", "&amp;", "|---", "**Policy", "**Error", `\|`, dg("3"), "\x1b"} {
		if strings.Contains(out, no) {
			t.Errorf("the text has %q:\n%s", no, out)
		}
	}
	for _, want := range []string{
		"sha256:33333333…  40d  rank 3 of 4 by created, beyond keep=2, age 40d is older than 30d",
		"sha256-33333333….sig", "a <b>reason</b> | with a pipe", "weird|tag`x", `moved \x1b[2Jby`,
		"4 kept:", "Failed:", "Error: delete sha256:99…: registry answered 500 | retry later second line",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the text lacks %q:\n%s", want, out)
		}
	}
	// Each table of the markdown is once in the text.
	if md, txt := strings.Count(r.Summary(), "| tag | digest |"), strings.Count(out, "\ntag "); md != txt {
		t.Errorf("markdown has %d tag tables, the text %d", md, txt)
	}
}

// TestTextRedactsBeforeLayout: a secret in a message long enough to wrap
// is replaced before the text is laid out. Without Redact, the same
// message wraps across the secret, which a redactor of the finished text
// could then not find: that is why the option exists.
func TestTextRedactsBeforeLayout(t *testing.T) {
	t.Parallel()
	const secret = "hunter2-hunter2-hunter2"
	r := sample(false)
	msg := strings.Repeat("x", 10) + " " + strings.Repeat("y", 50) + secret + " answered by the proxy" // one word wider than the page
	r.Errors = []string{msg}
	r.Repositories[1].Tags[1].Error = msg
	redact := func(s string) string { return strings.ReplaceAll(s, secret, "***") }
	out := r.Text(TextOptions{Width: 60, Redact: redact})
	if strings.Contains(out, "hunter") || !strings.Contains(out, "***") {
		t.Errorf("the secret is not redacted, or not in one piece before it was:\n%s", out)
	}
	raw := r.Text(TextOptions{Width: 60})
	if strings.Contains(raw, secret) || !strings.Contains(raw, "hunter2") {
		t.Fatalf("the layout no longer cuts this secret; pick a message that shows the hazard:\n%s", raw)
	}
}

// TestTextRowCap: the text form ends a long table as markdown does, with
// the number of rows left out.
func TestTextRowCap(t *testing.T) {
	t.Parallel()
	var tags []Tag
	for i := range maxRows + 7 {
		tags = append(tags, Tag{Tag: fmt.Sprintf("t%04d", i), Digest: dg("1"), Action: Deleted, Reason: "r"})
	}
	r := &Report{Repositories: []Repository{{Name: "app", Tags: tags}}, FinishedAt: finished}
	r.Tally()
	out := r.Text(TextOptions{})
	if !strings.Contains(out, "\n… 7 more rows in the JSON report\n") || strings.Contains(out, fmt.Sprintf("t%04d", maxRows)) {
		t.Errorf("the text of %d deleted tags does not stop at %d rows with the count left out", len(tags), maxRows)
	}
}

// TestGCHintAlwaysCloses: the garbage collector's hint closes the summary
// in both forms (README "Outputs"), after "Nothing was deleted." exactly
// when the run deleted (in a dry run: would delete) nothing.
func TestGCHintAlwaysCloses(t *testing.T) {
	t.Parallel()
	const hint = "Space is freed only when the registry's garbage collector runs."
	nothing := &Report{Registry: "r", FinishedAt: finished, GCHint: "run `gc`.",
		Repositories: []Repository{{Name: "app", Tags: []Tag{{Tag: "v1", Digest: dg("1"), Action: Kept, Reason: "r"}}}}}
	nothing.Tally()
	some := sample(true)
	for _, tc := range []struct {
		name string
		r    *Report
		want bool
	}{{"nothing deleted", nothing, false}, {"a dry run that would delete", some, true}, {"a real run that deleted", sample(false), true}} {
		for form, s := range map[string]string{"markdown": tc.r.Summary(), "text": tc.r.Text(TextOptions{})} {
			flat := strings.Join(strings.Fields(s), " ") // the text wraps it
			if !strings.Contains(flat, hint) || !strings.Contains(flat, tc.r.GCHint) {
				t.Errorf("%s, %s: no GC hint:\n%s", tc.name, form, s)
			}
			if got := !strings.Contains(flat, "Nothing was deleted."); got != tc.want {
				t.Errorf("%s, %s: deleted something = %v, want %v:\n%s", tc.name, form, got, tc.want, s)
			}
		}
	}
}

func TestWrap(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		in    string
		width int
		want  []string
	}{
		{name: "fits", in: "a b c", width: 10, want: []string{"a b c"}},
		{name: "at words", in: "aaa bbb ccc", width: 7, want: []string{"aaa bbb", "ccc"}},
		{name: "a word too long is cut", in: "abcdefghij k", width: 4, want: []string{"abcd", "efgh", "ij k"}},
		{name: "empty", in: "", width: 5, want: []string{""}},
		{name: "runes, not bytes", in: "↳ ↳ ↳", width: 3, want: []string{"↳ ↳", "↳"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := wrap(tc.in, tc.width)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("wrap(%q, %d) = %q, want %q", tc.in, tc.width, got, tc.want)
			}
		})
	}
}

// TestUntaggedSummary: under delete-untagged the summary (both forms)
// lists the untagged manifests deleted on their own, collapsed past 10 in
// markdown, and those kept, collapsed; the totals and the outputs count
// them apart from the tags; one deleted with a tag's image is under that
// tag only. A registry that frees the space itself closes the summary with
// its own words, naming no garbage collector; the run's note that the
// registry cannot list untagged manifests is said once.
func TestUntaggedSummary(t *testing.T) {
	t.Parallel()
	pushed := finished.Add(-72 * time.Hour)
	repo := Repository{Name: "octo/app", Tags: []Tag{{Tag: "v1", Digest: dg("1"), Action: Deleted, Reason: "beyond keep",
		Attached: []Attached{{Digest: dg("2"), Kind: "child", Action: Deleted, Reason: "child of deleted index v1"}}}},
		Untagged: []Untagged{{Digest: dg("2"), Pushed: &pushed, Action: Deleted, Reason: "child of deleted index v1"},
			{Digest: dg("3"), Pushed: &pushed, Action: Kept, Reason: "pushed 10m ago: may belong to a push in progress"}}}
	for i := range 11 {
		repo.Untagged = append(repo.Untagged, Untagged{Digest: dg(fmt.Sprintf("a%d", i)), Pushed: &pushed, Action: Deleted, Reason: "untagged, pushed 3d ago"})
	}
	r := &Report{Registry: "ghcr.io", FinishedAt: finished, Policy: Policy{DeleteUntagged: true, Keep: 1},
		GCHint: "GitHub Container Registry frees the space of deleted package versions itself.", FreesSpace: true, Repositories: []Repository{repo}}
	r.Tally()
	if r.Totals.DeletedUntagged != 11 || r.Totals.Deleted != 1 {
		t.Errorf("totals %+v: want 11 untagged deleted and 1 tag", r.Totals)
	}
	outs, _ := r.Outputs("", 0)
	if !slices.Contains(outs, Output{"deleted-untagged-count", "11"}) {
		t.Errorf("outputs %v", outs)
	}
	md := r.Summary()
	for _, want := range []string{"<details><summary>11 untagged manifests deleted", "1 untagged manifest kept", "untagged, pushed 3d ago",
		"| untagged deleted |", "GitHub Container Registry frees the space", "freed by the registry"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "garbage collector runs") {
		t.Errorf("markdown names a garbage collector on a registry that frees space itself:\n%s", md)
	}
	text := strings.Join(strings.Fields(r.Text(TextOptions{})), " ")
	for _, want := range []string{"11 untagged manifests deleted", "untagged, pushed 3d ago", "GitHub Container Registry frees the space"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}

	// The registry cannot list them: said once.
	plain := &Report{Registry: "r", FinishedAt: finished, Policy: Policy{DeleteUntagged: true}, UntaggedHint: "the OCI API lists tags only",
		Repositories: []Repository{{Name: "a"}, {Name: "b"}}}
	plain.Tally()
	if n := strings.Count(plain.Summary(), "the OCI API lists tags only"); n != 1 {
		t.Errorf("the hint is said %d times, want once:\n%s", n, plain.Summary())
	}
}
