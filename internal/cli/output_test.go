package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tagsweep/tagsweep/internal/cli/clitest"
)

// TestOutputInActions: in GitHub Actions a failed deletion is also an
// error annotation titled with its repository, the markdown summary goes
// to GITHUB_STEP_SUMMARY, and stdout carries no summary of its own (the
// step's log has the log lines and the annotations).
func TestOutputInActions(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	seedAges(t, a, "app", "new", "o1", "o2")
	o2 := digestOf(t, a+"/app:o2").String()
	r.SetHook(denyDeletesOf(o2))
	res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "1"})
	r.SetHook(nil)
	if res.Code != 1 {
		t.Errorf("exit %d, want 1", res.Code)
	}
	var errs []string
	for _, l := range strings.Split(res.Stdout, "\n") {
		if strings.HasPrefix(l, "::error") {
			errs = append(errs, l)
		}
	}
	if len(errs) != 1 || !strings.HasPrefix(errs[0], "::error title=app::") || !strings.Contains(errs[0], o2) {
		t.Errorf("error annotations %q, want one titled app about o2 (%s)\nstdout:\n%s", errs, o2, res.Stdout)
	}
	if !strings.Contains(res.Summary, "## tagsweep") || !strings.Contains(res.Summary, "| `o2` |") {
		t.Errorf("GITHUB_STEP_SUMMARY has no markdown summary:\n%s", res.Summary)
	}
	if clitest.IsTextSummary(res.Stdout) || strings.Contains(res.Stdout, "## tagsweep") {
		t.Errorf("stdout repeats the summary in Actions:\n%s", res.Stdout)
	}
}

// TestOutputOutsideActions: in a CI job that is not GitHub Actions (here
// GitLab's variables) stdout has the plain-text summary and the outputs,
// no workflow command, no report-file= line when no report was written,
// and no GC hint when nothing was deleted.
func TestOutputOutsideActions(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	seedAges(t, a, "app", "new", "old")
	gitlab := []string{"CI=true", "GITLAB_CI=true", "CI_PROJECT_DIR=" + t.TempDir()}
	for _, tc := range []struct {
		name   string
		keep   string
		gcHint bool
	}{{"nothing to delete", "5", false}, {"a dry run that would delete", "1", true}} {
		res := runCLI(t, append(gitlab, "TAGSWEEP_REGISTRY="+a), "--repositories", "app", "--keep", tc.keep, "--dry-run")
		if res.Code != 0 {
			t.Fatalf("%s: exit %d", tc.name, res.Code)
		}
		if !clitest.IsTextSummary(res.Stdout) || strings.Contains(res.Stdout, "::") {
			t.Errorf("%s: stdout is not the plain-text summary without workflow commands:\n%s", tc.name, res.Stdout)
		}
		if strings.Contains(res.Stdout, "report-file=") || !strings.Contains(res.Stdout, "\ndeleted-count=") {
			t.Errorf("%s: outputs on stdout, want them without report-file= (no report written):\n%s", tc.name, res.Stdout)
		}
		// The hint always closes the summary; "Nothing was deleted." leads
		// it exactly when there was nothing to delete.
		if !strings.Contains(res.Stdout, "garbage collector") {
			t.Errorf("%s: no GC hint:\n%s", tc.name, res.Stdout)
		}
		if got := !strings.Contains(strings.Join(strings.Fields(res.Stdout), " "), "Nothing was deleted. Space is freed"); got != tc.gcHint {
			t.Errorf("%s: summary says something was deleted = %v, want %v:\n%s", tc.name, got, tc.gcHint, res.Stdout)
		}
	}
}

// TestSummaryFileUnwritable: a summary-file that cannot be written stops
// the run before its first request, like every destination: exit 1, one
// error naming summary-file and its path, nothing deleted.
func TestSummaryFileUnwritable(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	seedAges(t, a, "app", "new", "old")
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(file, "summary.md") // a parent is a file: unwritable even for root
	r.ResetRequests()
	res := runCLI(t, []string{"TAGSWEEP_REGISTRY=" + a, "TAGSWEEP_SUMMARY_FILE=" + bad}, "--repositories", "app", "--keep", "1")
	if res.Code != 1 {
		t.Errorf("exit %d, want 1", res.Code)
	}
	if want := "error: summary-file " + bad + " cannot be created: a parent in its path is a file"; !strings.Contains(res.Stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, res.Stderr)
	}
	if n := r.Requests().Total; n != 0 {
		t.Errorf("%d requests sent before the refusal, want none", n)
	}
	if got := listTags(t, a, "app"); len(got) != 2 {
		t.Errorf("tags left %v, want both", got)
	}
}
