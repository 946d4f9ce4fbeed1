package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestSummaryFileInGitLab: tagsweep run as a GitLab CI job runs it (the
// job's variables, no GITHUB_*): --summary-file writes the markdown summary
// where the job keeps its artifacts (its missing directory created), while
// the job log (stdout) gets the plain-text form of the same content, lines
// within 120 columns, then the outputs, report-file= among them because a
// report was written, and no workflow command.
func TestSummaryFileInGitLab(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	seedAges(t, a, "group/project", "new", "old", "older")
	project := t.TempDir()
	sum, rep := filepath.Join(project, "tagsweep", "summary.md"), filepath.Join(project, "report.json")
	gitlab := []string{"CI=true", "GITLAB_CI=true", "CI_PROJECT_DIR=" + project, "CI_JOB_ID=4242", "CI_REGISTRY=" + a,
		"TAGSWEEP_REGISTRY=" + a, "TAGSWEEP_REPOSITORIES=group/project", "TAGSWEEP_SUMMARY_FILE=" + sum}
	res := runCLI(t, gitlab, "--keep", "1", "--report-file", rep)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	md := read(t, sum)
	for _, want := range []string{"## tagsweep\n", "| `old` |", "| `older` |", "<details><summary>1 kept</summary>", "> **Space is freed only when"} {
		if !strings.Contains(md, want) {
			t.Errorf("summary-file lacks %q:\n%s", want, md)
		}
	}
	if !isTextSummary(res.stdout) || strings.Contains(res.stdout, "::") {
		t.Errorf("stdout is not the plain-text summary, or has a workflow command:\n%s", res.stdout)
	}
	outputs := 0
	for _, l := range strings.Split(res.stdout, "\n") {
		if outputLine.MatchString(l) {
			outputs++
			continue
		}
		if n := utf8.RuneCountInString(l); n > 120 {
			t.Errorf("a summary line of %d columns: %q", n, l)
		}
	}
	if outputs != 7 || !strings.Contains(res.stdout, "\nreport-file="+rep+"\n") {
		t.Errorf("stdout has %d output lines, want 7 with report-file=%s:\n%s", outputs, rep, res.stdout)
	}
	if got := listTags(t, a, "group/project"); len(got) != 1 || got[0] != "new" {
		t.Errorf("tags left %v, want [new]", got)
	}
}
