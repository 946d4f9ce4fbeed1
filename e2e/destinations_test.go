package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// openDir is a temporary directory every uid may enter and read (a test
// runs the binary as another user).
func openDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tagsweep-dest")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// destRun is one run whose destinations a case arranged.
type destRun struct {
	in               inputs
	output, summary  string
	configure        func(*exec.Cmd) // e.g. run as another uid
	outputsWritable  bool            // GITHUB_OUTPUT can be read back afterwards
	summaryWritable  bool
	wantStderr       []string
	wantReportErrors bool // report-file is writable: it holds the refusal
}

// runDest runs the binary as the runner runs the action, with the
// destinations of d, against a registry holding app:new and app:old with
// keep 0 (a run that got to the registry would delete both).
func runDest(t *testing.T, d destRun, home string) (result, []string) {
	t.Helper()
	r := newRegistry(t)
	a := r.Addr()
	seedAges(t, a, "app", "new", "old")
	in := inputs{"registry": a, "repositories": "app", "keep": "0"}
	for k, v := range d.in {
		in[k] = v
	}
	r.ResetRequests()
	res := runCmd(t, actionEnv(in, d.output, d.summary, home), d.configure, nil)
	if n := r.Requests().Total; n != 0 {
		t.Errorf("the registry received %d requests, want none: %+v", n, r.Requests().ByRoute)
	}
	return res, listTags(t, a, "app")
}

// defaultFiles gives d the runner's empty output and summary files in
// dir where the case left them out.
func defaultFiles(t *testing.T, d *destRun, dir string) {
	t.Helper()
	for _, f := range []struct {
		path *string
		name string
	}{{&d.output, "output"}, {&d.summary, "summary"}} {
		if *f.path == "" {
			*f.path = filepath.Join(dir, f.name)
			write(t, *f.path, "")
		}
	}
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkRefused: exit 1, one error line per unwritable destination naming
// its path and the fix, nothing sent, nothing deleted; the outputs
// (nothing deleted) and the summary in their files where those can be
// written, else on stdout.
func checkRefused(t *testing.T, d destRun, res result, tags []string) {
	t.Helper()
	if res.code != 1 {
		t.Errorf("exit %d, want 1", res.code)
	}
	for _, w := range append(d.wantStderr, "nothing was sent to the registry and nothing deleted") {
		if !strings.Contains(res.stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, res.stderr)
		}
	}
	if diff := cmp.Diff([]string{"new", "old"}, tags); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	outputs := res.stdout
	if d.outputsWritable {
		outputs = read(t, d.output)
	}
	got := parseOutputs(t, outputs)
	if got["deleted-count"] != "0" || got["failed-count"] != "0" || got["deleted-tags"] != "[]" {
		t.Errorf("outputs %v, want 0 deleted and 0 failed (output file: %v)", got, d.outputsWritable)
	}
	summary, form := res.stdout, isTextSummary(res.stdout) // stdout: the plain-text form
	if d.summaryWritable {
		summary = read(t, d.summary)
		form = strings.Contains(summary, "## tagsweep")
	}
	if !form || !strings.Contains(summary, "nothing was sent to the registry") {
		t.Errorf("summary (file: %v) does not say the run stopped:\n%s", d.summaryWritable, summary)
	}
	if d.wantReportErrors {
		rep := readReport(t, d.in["report-file"])
		if rep == nil || len(rep.Repositories) != 0 || len(rep.Errors) == 0 {
			t.Errorf("report-file: %+v, want the refusal and no repositories", rep)
		}
	}
}

// TestDestinationsCheckedFirst: a report-file, GITHUB_OUTPUT or
// GITHUB_STEP_SUMMARY that cannot be written stops the run before its
// first registry request, with exit 1 and the path and the fix, instead of
// deleting and then failing to say what it deleted.
func TestDestinationsCheckedFirst(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		setup func(t *testing.T, dir string) destRun
	}{
		{"report-file is a directory", func(t *testing.T, dir string) destRun {
			rep := filepath.Join(dir, "reports")
			mkdir(t, rep)
			return destRun{in: inputs{"report-file": rep}, outputsWritable: true, summaryWritable: true,
				wantStderr: []string{"error: report-file " + rep + " is a directory: name a file"}}
		}},
		{"report-file under a file", func(t *testing.T, dir string) destRun {
			file := filepath.Join(dir, "file")
			write(t, file, "x")
			rep := filepath.Join(file, "report.json")
			return destRun{in: inputs{"report-file": rep}, outputsWritable: true, summaryWritable: true,
				wantStderr: []string{"error: report-file " + rep + " cannot be created: a parent in its path is a file"}}
		}},
		{"GITHUB_OUTPUT is a directory", func(t *testing.T, dir string) destRun {
			out := filepath.Join(dir, "outputs")
			mkdir(t, out)
			rep := filepath.Join(dir, "new", "report.json")
			return destRun{in: inputs{"report-file": rep}, output: out, summaryWritable: true, wantReportErrors: true,
				wantStderr: []string{"error: GITHUB_OUTPUT " + out + " is a directory"}}
		}},
		{"GITHUB_STEP_SUMMARY in a missing directory", func(t *testing.T, dir string) destRun {
			sum := filepath.Join(dir, "gone", "summary")
			return destRun{in: inputs{"report-file": filepath.Join(dir, "report.json")}, summary: sum, outputsWritable: true, wantReportErrors: true,
				wantStderr: []string{"error: GITHUB_STEP_SUMMARY " + sum + " cannot be created: its directory does not exist"}}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			d := tc.setup(t, dir)
			defaultFiles(t, &d, dir)
			res, tags := runDest(t, d, dir)
			checkRefused(t, d, res, tags)
		})
	}
}

// TestOutputsFallBackToStdout: GITHUB_OUTPUT and GITHUB_STEP_SUMMARY pass
// the check, then become unwritable while the run deletes (each replaced
// by a directory at the first registry request, which stops root as well
// as any other uid). The outputs and the summary then go to stdout, so
// the log keeps the record of what was deleted, and the exit code is 1.
func TestOutputsFallBackToStdout(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	seedAges(t, a, "app", "new", "old")
	dir := t.TempDir()
	d := destRun{}
	defaultFiles(t, &d, dir)
	var once sync.Once
	r.SetHook(func(http.ResponseWriter, *http.Request) bool {
		once.Do(func() {
			for _, f := range []string{d.output, d.summary} {
				if err := os.Remove(f); err != nil {
					t.Error(err)
				}
				if err := os.Mkdir(f, 0o755); err != nil {
					t.Error(err)
				}
			}
		})
		return false
	})
	rep := filepath.Join(dir, "report.json")
	res := runCmd(t, actionEnv(inputs{"registry": a, "repositories": "app", "keep": "1", "report-file": rep}, d.output, d.summary, dir), nil, nil)
	if res.code != 1 {
		t.Errorf("exit %d, want 1", res.code)
	}
	if diff := cmp.Diff([]string{"new"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	for _, w := range []string{"error: job summary: ", "; it follows on stdout", "error: step outputs: ", "; they follow on stdout"} {
		if !strings.Contains(res.stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, res.stderr)
		}
	}
	got := parseOutputs(t, res.stdout)
	want := map[string]string{"deleted-count": "1", "kept-count": "1", "failed-count": "0", "deleted-tags": `["app:old"]`, "report-file": rep}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("output %s on stdout = %q, want %q\nstdout:\n%s", k, got[k], v, res.stdout)
		}
	}
	if !isTextSummary(res.stdout) {
		t.Errorf("stdout has no plain-text summary:\n%s", res.stdout)
	}
	for _, w := range []string{"\nold ", "garbage collector"} {
		if !strings.Contains(res.stdout, w) {
			t.Errorf("summary on stdout lacks %q:\n%s", w, res.stdout)
		}
	}
	if rr := readReport(t, rep); rr == nil || rr.Totals.Deleted != 1 {
		t.Errorf("report-file: %+v, want the run with 1 deleted", rr)
	}
}
