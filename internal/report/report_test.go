package report

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var (
	started  = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	finished = started.Add(42 * time.Second)
)

func daysAgo(n int) *time.Time {
	t := finished.Add(-time.Duration(n) * 24 * time.Hour)
	return &t
}

func dg(s string) string { return "sha256:" + strings.Repeat(s, 64/len(s)) }

// sample is a run with every kind of entry: deleted, kept, failed,
// attached (deleted and failed), a repository error, run errors and
// warnings, and text that needs escaping.
func sample(dryRun bool) *Report {
	del := Deleted
	if dryRun {
		del = WouldDelete
	}
	r := &Report{
		Registry:   "registry.example.test:5000",
		DryRun:     dryRun,
		StartedAt:  started,
		FinishedAt: finished,
		Policy: Policy{
			Repositories: []string{"app", "team/**"},
			Keep:         2,
			OlderThan:    "30d",
			IncludeTags:  []string{"*"},
			ExcludeTags:  []string{"latest", "release-*"},
			KeepSemver:   ">=2.0.0",
			OrderBy:      "created",
		},
		Repositories: []Repository{{
			Name: "app",
			Tags: []Tag{
				{Tag: "v5", Digest: dg("5"), Created: daysAgo(1), Action: Kept, Reason: "rank 1 of 4 by created, within keep=2"},
				{Tag: "latest", Digest: dg("5"), Created: daysAgo(1), Action: Kept, Reason: "matches exclude-tags latest"},
				{Tag: "v4", Digest: dg("4"), Created: daysAgo(3), Action: Kept, Reason: "rank 2 of 4 by created, within keep=2"},
				{Tag: "v3", Digest: dg("3"), Created: daysAgo(40), Action: del, Reason: "rank 3 of 4 by created, beyond keep=2, age 40d is older than 30d",
					Attached: []Attached{
						{Digest: dg("a1"), Kind: "child", Action: del, Reason: "child of deleted index v3"},
						{Digest: dg("a2"), Kind: "attestation", Action: del, Reason: "attestation of deleted v3"},
					}},
				{Tag: "v2", Digest: dg("2"), Created: nil, Action: Kept, Reason: "unknown age"},
				{Tag: "sha256-" + strings.Repeat("3", 64) + ".sig", Digest: dg("53"), Created: daysAgo(40), Action: del, Reason: "attached to deleted v3"},
			},
			ReclaimedBytes: 3 * 1024 * 1024,
		}, {
			Name:  "team/api",
			Error: "delete sha256:99…: registry answered 500 | retry later\nsecond line",
			Tags: []Tag{
				{Tag: "main", Digest: dg("8"), Created: daysAgo(2), Action: Kept, Reason: "rank 1 of 2 by created, within keep=2"},
				{Tag: "pr-12", Digest: dg("9"), Created: daysAgo(90), Action: Failed, Reason: "rank 2 of 2 by created, beyond keep=2, age 90d is older than 30d",
					Error: "delete sha256:99…: registry answered 500 | retry later\nsecond line",
					Attached: []Attached{{Digest: dg("b1"), Kind: "child", Action: Failed, Reason: "child of deleted index pr-12",
						Error: "not deleted: " + dg("9") + ", which references it, was not deleted"}}},
				{Tag: "weird|tag`x", Digest: dg("7"), Created: daysAgo(60), Action: del, Reason: "a <b>reason</b> | with a pipe"},
			},
			ReclaimedBytes: 1536,
		}, {
			Name: "team/empty",
			Tags: []Tag{},
		}},
		Errors:   []string{"discover repositories: catalog access refused | 401\nsee the docs"},
		Warnings: []string{"team/api: manifest " + dg("c") + " is referenced but does not exist"},
		Requests: 123,
		GCHint:   "CNCF distribution registry: `registry garbage-collect --delete-untagged /etc/docker/registry/config.yml`.",
	}
	if dryRun {
		// A dry run fails nothing.
		r.Repositories[1].Error = ""
		r.Repositories[1].Tags[1].Action, r.Repositories[1].Tags[1].Error = WouldDelete, ""
		r.Repositories[1].Tags[1].Attached[0].Action, r.Repositories[1].Tags[1].Attached[0].Error = WouldDelete, ""
	}
	r.Tally()
	return r
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got), run go test -update if the change is intended:\n%s", path, diff)
	}
}

func TestSummaryGolden(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		report *Report
		file   string
	}{
		{name: "real run", report: sample(false), file: "summary-real"},
		{name: "dry run", report: sample(true), file: "summary-dry"},
		{name: "nothing to do", report: func() *Report {
			r := &Report{Registry: "127.0.0.1:5000", StartedAt: started, FinishedAt: finished,
				Policy:       Policy{Repositories: []string{"**"}, Keep: 10, IncludeTags: []string{"*"}, OrderBy: "semver"},
				Repositories: []Repository{{Name: "app", Tags: []Tag{{Tag: "1.0.0", Digest: dg("1"), Created: daysAgo(5), Action: Kept, Reason: "rank 1 of 1 by version, within keep=10"}}}}}
			r.Tally()
			return r
		}(), file: "summary-empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			golden(t, tc.file+".md", tc.report.Summary())
			golden(t, tc.file+".txt", tc.report.Text(TextOptions{}))
		})
	}
}

func TestSummaryStructure(t *testing.T) {
	t.Parallel()
	real, dry := sample(false).Summary(), sample(true).Summary()
	cases := []struct {
		name    string
		summary string
		want    []string
		notWant []string
	}{{
		name:    "real run",
		summary: real,
		want: []string{
			"## tagsweep\n",
			"| repositories | tags | deleted | kept | failed | reclaimable after GC |",
			"| 3 | 9 | 3 | 5 | 1 | 3.0 MiB |",
			"Failed:",
			"> **Space is freed only when the registry's garbage collector runs.**",
			"registry garbage-collect --delete-untagged",
			"### Errors", "### Warnings",
		},
		notWant: []string{"dry run", "would be deleted"},
	}, {
		name:    "dry run",
		summary: dry,
		want: []string{
			"## tagsweep (dry run: nothing was deleted)\n",
			"| repositories | tags | would be deleted | kept | failed | reclaimable after GC |",
			"| 3 | 9 | 4 | 5 | 0 | 3.0 MiB |",
		},
		notWant: []string{"Failed:"},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, w := range tc.want {
				if !strings.Contains(tc.summary, w) {
					t.Errorf("summary lacks %q:\n%s", w, tc.summary)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(tc.summary, w) {
					t.Errorf("summary has %q:\n%s", w, tc.summary)
				}
			}
			for i, line := range strings.Split(tc.summary, "\n") {
				if strings.HasPrefix(line, "|") && strings.Count(unescapedPipes(line), "|") != strings.Count(unescapedPipes(tableHeader(tc.summary, i)), "|") {
					t.Errorf("line %d has a different number of cells than its header: %q", i+1, line)
				}
			}
		})
	}
}

// unescapedPipes drops escaped pipes, leaving the cell separators.
func unescapedPipes(s string) string { return strings.ReplaceAll(s, `\|`, "") }

// tableHeader returns the header line of the table that line i is in.
func tableHeader(s string, i int) string {
	lines := strings.Split(s, "\n")
	for ; i > 0 && strings.HasPrefix(lines[i-1], "|"); i-- {
	}
	return lines[i]
}

func TestCodeSpan(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in, want string
	}{
		{name: "plain", in: "v1.2.3", want: "`v1.2.3`"},
		{name: "empty", in: "", want: ""},
		{name: "star stays literal", in: "team/**", want: "`team/**`"},
		{name: "underscores and html stay literal", in: "a_b_<c>", want: "`a_b_<c>`"},
		{name: "backtick inside", in: "a`b", want: "``a`b``"},
		{name: "two backticks inside", in: "a``b", want: "```a``b```"},
		{name: "leading backtick padded", in: "`x", want: "`` `x ``"},
		{name: "trailing backtick padded", in: "x`", want: "`` x` ``"},
		{name: "pipe escaped for tables", in: "a|b", want: "`a\\|b`"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, codeSpan(tc.in)); diff != "" {
				t.Errorf("codeSpan(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestCell(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in, want string
	}{
		{name: "plain", in: "rank 1 of 3", want: "rank 1 of 3"},
		{name: "pipe", in: "a | b", want: `a \| b`},
		{name: "newline", in: "line1\nline2", want: "line1 line2"},
		{name: "crlf", in: "line1\r\nline2", want: "line1  line2"},
		{name: "html", in: "<script>x</script>", want: "&lt;script&gt;x&lt;/script&gt;"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := cell(tc.in)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("cell(%q) (-want +got):\n%s", tc.in, diff)
			}
			if strings.ContainsAny(got, "\r\n") {
				t.Errorf("cell(%q) = %q keeps a line break", tc.in, got)
			}
		})
	}
}

func TestSummaryTagNamesVerbatim(t *testing.T) {
	t.Parallel()
	names := []string{"v1.0.0", "1.0_rc-1", "sha256-" + strings.Repeat("a", 64) + ".att", "UPPER_case.__x"}
	var tags []Tag
	for _, n := range names {
		tags = append(tags, Tag{Tag: n, Digest: dg("1"), Action: Deleted, Reason: "r"})
	}
	r := &Report{Repositories: []Repository{{Name: "app", Tags: tags}}, FinishedAt: finished}
	r.Tally()
	s := r.Summary()
	for _, n := range names {
		if !strings.Contains(s, "| `"+n+"` |") {
			t.Errorf("summary lacks the tag %q verbatim in a code span:\n%s", n, s)
		}
	}
}

func TestSummaryRowCap(t *testing.T) {
	t.Parallel()
	var tags []Tag
	for i := 0; i < maxRows+7; i++ {
		tags = append(tags, Tag{Tag: fmt.Sprintf("t%04d", i), Digest: dg("1"), Action: Deleted, Reason: "r"})
	}
	r := &Report{Repositories: []Repository{{Name: "app", Tags: tags}}, FinishedAt: finished}
	r.Tally()
	s := r.Summary()
	if !strings.Contains(s, "| … | | | 7 more rows in the JSON report |") {
		t.Errorf("summary of %d deleted tags lacks the cap line", len(tags))
	}
	if strings.Contains(s, fmt.Sprintf("`t%04d`", maxRows)) {
		t.Errorf("summary shows row %d, beyond the cap", maxRows+1)
	}
}

func TestTally(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		report *Report
		want   Totals
	}{{
		name:   "empty",
		report: &Report{},
		want:   Totals{},
	}, {
		name:   "real run",
		report: sample(false),
		want:   Totals{Repositories: 3, Tags: 9, Deleted: 3, Kept: 5, Failed: 1, ReclaimedBytes: 3*1024*1024 + 1536},
	}, {
		name:   "dry run counts would-delete as deleted",
		report: sample(true),
		want:   Totals{Repositories: 3, Tags: 9, Deleted: 4, Kept: 5, Failed: 0, ReclaimedBytes: 3*1024*1024 + 1536},
	}, {
		name: "attached entries are not tags",
		report: &Report{Repositories: []Repository{{Name: "a", Tags: []Tag{
			{Tag: "x", Action: Deleted, Attached: []Attached{{Action: Deleted}, {Action: Failed}}},
		}}}},
		want: Totals{Repositories: 1, Tags: 1, Deleted: 1},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.report.Totals = Totals{Tags: 999} // stale totals are recomputed
			tc.report.Tally()
			if diff := cmp.Diff(tc.want, tc.report.Totals); diff != "" {
				t.Errorf("Totals (-want +got):\n%s", diff)
			}
			tt := tc.report.Totals
			if tt.Deleted+tt.Kept+tt.Failed != tt.Tags {
				t.Errorf("deleted + kept + failed = %d, want every tag (%d)", tt.Deleted+tt.Kept+tt.Failed, tt.Tags)
			}
		})
	}
}

func TestFailed(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		report *Report
		want   bool
	}{
		{name: "clean", report: &Report{Repositories: []Repository{{Name: "a", Tags: []Tag{{Tag: "x", Action: Deleted}}}}}},
		{name: "dry run", report: sample(true), want: true}, // it has run errors
		{name: "run error", report: &Report{Errors: []string{"catalog"}}, want: true},
		{name: "repository error", report: &Report{Repositories: []Repository{{Name: "a", Error: "listing"}}}, want: true},
		{name: "failed tag", report: &Report{Repositories: []Repository{{Name: "a", Tags: []Tag{{Tag: "x", Action: Failed}}}}}, want: true},
		{name: "warnings only", report: &Report{Warnings: []string{"w"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.report.Tally()
			if got := tc.report.Failed(); got != tc.want {
				t.Errorf("Failed() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestOutputs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		report     *Report
		reportFile string
		want       []Output
		wantTags   []string
	}{{
		name:       "real run",
		report:     sample(false),
		reportFile: "/tmp/report.json",
		want: []Output{
			{"deleted-count", "3"},
			{"kept-count", "5"},
			{"failed-count", "1"},
			{"deleted-tags", `["app:v3","app:sha256-` + strings.Repeat("3", 64) + `.sig","team/api:weird|tag` + "`" + `x"]`},
			{"reclaimed-bytes", "3147264"},
			{"deleted-untagged-count", "0"},
			{"report-file", "/tmp/report.json"},
		},
		wantTags: []string{"app:v3", "app:sha256-" + strings.Repeat("3", 64) + ".sig", "team/api:weird|tag`x"},
	}, {
		name:   "dry run lists would-delete",
		report: sample(true),
		want: []Output{
			{"deleted-count", "4"},
			{"kept-count", "5"},
			{"failed-count", "0"},
			{"deleted-tags", `["app:v3","app:sha256-` + strings.Repeat("3", 64) + `.sig","team/api:pr-12","team/api:weird|tag` + "`" + `x"]`},
			{"reclaimed-bytes", "3147264"},
			{"deleted-untagged-count", "0"},
		}, // no report written: no report-file output
		wantTags: []string{"app:v3", "app:sha256-" + strings.Repeat("3", 64) + ".sig", "team/api:pr-12", "team/api:weird|tag`x"},
	}, {
		name:   "nothing deleted is an empty array, not null",
		report: &Report{Repositories: []Repository{{Name: "a", Tags: []Tag{{Tag: "x", Action: Kept}}}}},
		want: []Output{
			{"deleted-count", "0"}, {"kept-count", "1"}, {"failed-count", "0"},
			{"deleted-tags", "[]"}, {"reclaimed-bytes", "0"}, {"deleted-untagged-count", "0"},
		},
		wantTags: []string{},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.report.Tally()
			got, _ := tc.report.Outputs(tc.reportFile, 0)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Outputs (-want +got):\n%s", diff)
			}
			var tags []string
			for _, o := range got {
				if o.Name == "deleted-tags" {
					if err := json.Unmarshal([]byte(o.Value), &tags); err != nil {
						t.Fatalf("deleted-tags is not a JSON array: %v", err)
					}
				}
			}
			if diff := cmp.Diff(tc.wantTags, tags); diff != "" {
				t.Errorf("deleted-tags parsed (-want +got):\n%s", diff)
			}
		})
	}
}

func TestJSONRoundTrip(t *testing.T) {
	t.Parallel()
	for _, dry := range []bool{false, true} {
		t.Run(fmt.Sprintf("dry run %v", dry), func(t *testing.T) {
			t.Parallel()
			r := sample(dry)
			b, err := r.JSON()
			if err != nil {
				t.Fatal(err)
			}
			var back Report
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("JSON() output does not parse: %v\n%s", err, b)
			}
			if diff := cmp.Diff(r, &back); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}

			// The contract's shape, read generically.
			var raw struct {
				Registry     string                                        `json:"registry"`
				DryRun       *bool                                         `json:"dryRun"`
				StartedAt    string                                        `json:"startedAt"`
				FinishedAt   string                                        `json:"finishedAt"`
				Policy       map[string]any                                `json:"policy"`
				Repositories []struct{ Tags []map[string]json.RawMessage } `json:"repositories"`
				Totals       map[string]any                                `json:"totals"`
			}
			if err := json.Unmarshal(b, &raw); err != nil {
				t.Fatal(err)
			}
			if raw.DryRun == nil || *raw.DryRun != dry || raw.Registry != r.Registry || raw.Policy == nil {
				t.Errorf("registry/dryRun/policy wrong: %s", b)
			}
			for _, s := range []string{raw.StartedAt, raw.FinishedAt} {
				if _, err := time.Parse(time.RFC3339, s); err != nil {
					t.Errorf("time %q is not RFC 3339: %v", s, err)
				}
			}
			for _, k := range []string{"repositories", "tags", "deleted", "kept", "failed", "reclaimedBytes"} {
				if _, ok := raw.Totals[k]; !ok {
					t.Errorf("totals lack %q: %v", k, raw.Totals)
				}
			}
			v2 := raw.Repositories[0].Tags[4] // app:v2, unknown age
			if got := string(v2["created"]); got != "null" {
				t.Errorf("created of a tag of unknown age = %s, want null", got)
			}
			if _, ok := v2["error"]; ok {
				t.Errorf("empty error not omitted: %v", v2)
			}
			v5 := raw.Repositories[0].Tags[0]
			var c string
			if err := json.Unmarshal(v5["created"], &c); err != nil {
				t.Fatalf("created of a known age: %v", err)
			}
			if _, err := time.Parse(time.RFC3339, c); err != nil {
				t.Errorf("created %q is not RFC 3339", c)
			}
			for _, k := range []string{"tag", "digest", "created", "action", "reason"} {
				if _, ok := v5[k]; !ok {
					t.Errorf("tag entry lacks %q: %v", k, v5)
				}
			}
		})
	}
}

func TestBytes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   int64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"},
		{3 * 1024 * 1024, "3.0 MiB"}, {5 << 30, "5.0 GiB"}, {1 << 40, "1.0 TiB"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.in), func(t *testing.T) {
			t.Parallel()
			if got := Bytes(tc.in); got != tc.want {
				t.Errorf("Bytes(%d) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestSummaryStaysUnderGitHubLimit(t *testing.T) {
	t.Parallel()
	r := &Report{FinishedAt: finished}
	for i := range 100 {
		repo := Repository{Name: fmt.Sprintf("repo%03d", i)}
		for j := range 1000 {
			action := Deleted
			if j%2 == 0 {
				action = Kept
			}
			repo.Tags = append(repo.Tags, Tag{Tag: fmt.Sprintf("sha-%08d", j), Digest: dg("1"), Action: action, Reason: "rank 12 of 40 by created, beyond keep=10, age 45d is older than 30d"})
		}
		r.Repositories = append(r.Repositories, repo)
	}
	r.GCHint = "run the GC"
	r.Tally()
	s := r.Summary()
	if len(s) > 1<<20 {
		t.Errorf("summary of 100k tags is %d bytes, over GitHub's 1 MiB", len(s))
	}
	if !strings.HasSuffix(s, "run the GC\n") || !strings.Contains(s, "more rows in the JSON report") {
		t.Errorf("a capped summary still ends with the GC note and says where the rest is")
	}
}

// 200,000 tags in 10,000 repositories, spooled as a run spools them:
// the summary stays under GitHub's 1 MiB, counts the repositories it
// could not show with their totals, still names one that failed near the
// end with its error, and keeps its warnings and GC note; the totals at
// the top are the run's. The plain-text form is bounded too.
func TestSummaryManyRepositories(t *testing.T) {
	t.Parallel()
	const repos, perRepo = 10000, 20
	r := &Report{FinishedAt: finished, GCHint: "run the GC", Warnings: []string{"a warning"}, Spool: NewSpool(repos, t.TempDir())}
	t.Cleanup(func() { r.Close() })
	for i := range repos {
		repo := Repository{Name: fmt.Sprintf("team/repo%05d", i)}
		for j := range perRepo {
			action := Deleted
			if j%4 == 0 {
				action = Kept
			}
			repo.Tags = append(repo.Tags, Tag{Tag: fmt.Sprintf("sha-%08d", j), Digest: dg("1"), Action: action, Reason: "rank 12 of 40 by created, beyond keep=10"})
		}
		if i == repos-3 {
			repo.Error = "manifest sha256:0123: unauthorized"
		}
		if err := r.Spool.Put(i, repo); err != nil {
			t.Fatal(err)
		}
	}
	r.Tally()
	s := r.Summary()
	if len(s) > 1<<20 {
		t.Errorf("summary of %d repositories is %d bytes, over GitHub's 1 MiB", repos, len(s))
	}
	if !strings.Contains(s, "| 10000 | 200000 | 150000 | 50000 | 0 |") {
		t.Errorf("summary lacks the run's totals")
	}
	m := regexp.MustCompile("### ([0-9]+) more repositories, in the JSON report only\n\n([0-9]+) tags: ([0-9]+) deleted, ([0-9]+) kept, 0 failed").FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("summary does not count the repositories it leaves out:\n%s", s[len(s)-2000:])
	}
	shown := strings.Count(s, "\n### `team/repo")
	if n, _ := strconv.Atoi(m[1]); n+shown != repos || n == 0 {
		t.Errorf("%d repositories shown and %d counted, want %d in all", shown, n, repos)
	}
	if tags, _ := strconv.Atoi(m[2]); tags != (repos-shown)*perRepo {
		t.Errorf("%d tags counted in the rest, want %d", tags, (repos-shown)*perRepo)
	}
	if !strings.Contains(s, "- `team/repo09997`: 0 failed: manifest sha256:0123: unauthorized\n") {
		t.Errorf("summary does not name the failed repository past the cut")
	}
	if !strings.Contains(s, "### Warnings\n\n- a warning\n") || !strings.HasSuffix(s, "run the GC\n") {
		t.Errorf("summary lost its warnings or GC note")
	}
	// The plain-text form (stdout outside Actions) is bounded the same way.
	if txt := r.Text(TextOptions{}); len(txt) > 1<<20 || !strings.Contains(txt, "more repositories, in the JSON report only") || !strings.Contains(txt, "team/repo09997") {
		t.Errorf("text summary: %d bytes, the rest counted: %v", len(txt), strings.Contains(txt, "more repositories"))
	}
}

func TestOutputsCapDeletedTags(t *testing.T) {
	t.Parallel()
	r := &Report{Repositories: []Repository{{Name: "app"}}}
	for j := range 100000 {
		r.Repositories[0].Tags = append(r.Repositories[0].Tags, Tag{Tag: fmt.Sprintf("sha-%08d", j), Action: Deleted})
	}
	r.Tally()
	outs, warning := r.Outputs("", MaxOutput)
	var tags []string
	for _, o := range outs {
		if o.Name == "deleted-tags" {
			if len(o.Value) > MaxOutput {
				t.Errorf("deleted-tags is %d bytes", len(o.Value))
			}
			if err := json.Unmarshal([]byte(o.Value), &tags); err != nil {
				t.Fatalf("capped deleted-tags is not JSON: %v", err)
			}
		}
		if o.Name == "deleted-count" && o.Value != "100000" {
			t.Errorf("deleted-count = %s, want the full count", o.Value)
		}
	}
	if len(tags) == 0 || len(tags) >= 100000 || !strings.Contains(warning, fmt.Sprintf("lists %d of 100000", len(tags))) {
		t.Errorf("cap: %d tags, warning %q", len(tags), warning)
	}
	if _, w := r.Outputs("", 0); w != "" {
		t.Errorf("no limit, yet warning %q", w)
	}
}

// With push times as the age, the policy line says so.
func TestSummaryPushTime(t *testing.T) {
	t.Parallel()
	r := sample(false)
	if s := r.Summary(); !strings.Contains(s, "newest candidates per repository by created") {
		t.Errorf("summary without push times:\n%s", s)
	}
	r.Policy.Provider, r.Policy.AgeSource = "ghcr", "pushed"
	if s := r.Summary(); !strings.Contains(s, "newest candidates per repository by push time") {
		t.Errorf("summary with push times:\n%s", s)
	}
}

func TestCount(t *testing.T) {
	for n, want := range map[int]string{0: "0 repositories", 1: "1 repository", 2: "2 repositories"} {
		if got := Count(n, "repository"); got != want {
			t.Errorf("Count(%d, repository) = %q, want %q", n, got, want)
		}
	}
	if got := Count(1, "tag") + ", " + Count(3, "tag"); got != "1 tag, 3 tags" {
		t.Errorf("tags: %q", got)
	}
}

// capped is a run whose plan max-deletions refused: the tags it would
// delete are failed, capped, with the plan's reasons.
func capped(dryRun bool) *Report {
	c := &Cap{Max: 2, Planned: 3, First: []string{"app:v1", "app:v2", "app:v3"}}
	held := func(tg, d string, days int, reason string, attached ...Attached) Tag {
		return Tag{Tag: tg, Digest: dg(d), Created: daysAgo(days), Action: Failed, Reason: reason, Error: c.TagError(), Capped: true, Attached: attached}
	}
	r := &Report{
		Registry: "registry.example.test", DryRun: dryRun, StartedAt: started, FinishedAt: finished,
		Policy: Policy{Repositories: []string{"app"}, Keep: 1, IncludeTags: []string{"*"}, OrderBy: "created", MaxDeletions: 2},
		Repositories: []Repository{{Name: "app", Tags: []Tag{
			{Tag: "v4", Digest: dg("4"), Created: daysAgo(1), Action: Kept, Reason: "rank 1 of 4 by created, within keep=1"},
			held("v3", "3", 2, "rank 2 of 4 by created, beyond keep=1",
				Attached{Digest: dg("a3"), Kind: "child", Action: Failed, Reason: "child of deleted index v3", Error: c.TagError()}),
			held("v2", "2", 3, "rank 3 of 4 by created, beyond keep=1"),
			held("v1", "1", 4, "rank 4 of 4 by created, beyond keep=1"),
		}}},
		Errors: []string{c.Error()},
		Cap:    c,
	}
	r.Tally()
	return r
}

// TestSummaryMaxDeletions: a plan that max-deletions refused is shown
// under one line saying so (would refuse, in a dry run), each tag with
// the plan's reason, and the cap's message is not repeated on the rows.
func TestSummaryMaxDeletions(t *testing.T) {
	t.Parallel()
	for _, dry := range []bool{false, true} {
		name := "summary-capped-real"
		if dry {
			name = "summary-capped-dry"
		}
		s := capped(dry).Summary()
		golden(t, name+".md", s)
		golden(t, name+".txt", capped(dry).Text(TextOptions{}))
		if n := strings.Count(s, "more than max-deletions=2"); n != 1 {
			t.Errorf("%s: the refusal is said %d times, want once", name, n)
		}
		if strings.Contains(s, "held back by max-deletions=2 (the plan") || strings.Contains(s, "failed: ") {
			t.Errorf("%s: a row repeats the cap's error instead of the plan's reason:\n%s", name, s)
		}
		for _, reason := range []string{"rank 2 of 4 by created, beyond keep=1 |", "rank 4 of 4 by created, beyond keep=1 |", "child of deleted index v3 |"} {
			if !strings.Contains(s, reason) {
				t.Errorf("%s: no row with the plan's reason %q:\n%s", name, reason, s)
			}
		}
	}
}

// TestSummaryReclaimedAtMost: where the registry cannot list untagged
// manifests, the figure is "at most", in the totals and per repository,
// with the reason; where it can, it is plain.
func TestSummaryReclaimedAtMost(t *testing.T) {
	t.Parallel()
	r := sample(false)
	r.ReclaimedAtMost = true
	s := r.Summary()
	for _, w := range []string{"| 3 | 9 | 3 | 5 | 1 | at most 3.0 MiB |",
		"Reclaimable after GC is at most 3.0 MiB: untagged manifests this registry cannot list may hold some of these layers.",
		"; at most 3.0 MiB reclaimable after GC."} {
		if !strings.Contains(s, w) {
			t.Errorf("summary lacks %q:\n%s", w, s)
		}
	}
	if s := sample(false).Summary(); strings.Contains(s, "at most") {
		t.Errorf("an exact figure is said to be at most:\n%s", s)
	}
	if got := r.Reclaimed(0); got != "0 B" {
		t.Errorf("Reclaimed(0) = %q, want 0 B (nothing to bound)", got)
	}
}
