package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestNonRootUID: the image runs as root by default, and as any other uid
// where the user says so (docker run --user, Kubernetes runAsUser). As
// root the test runs the binary as uid 1001; otherwise as itself.
//   - The runner's files belong to another user (what a docker action
//     running as uid 1001 met on runners whose user is not 1001): the run
//     stops before its first request, exit 1, naming the uid and the fix.
//   - The destinations belong to the uid: the sweep works.
func TestNonRootUID(t *testing.T) {
	t.Parallel()
	uid := os.Getuid()
	var configure func(*exec.Cmd)
	if uid == 0 {
		uid = 1001
		configure = func(cmd *exec.Cmd) {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 1001, Gid: 1001}}
		}
	}
	t.Run("another user's files", func(t *testing.T) {
		t.Parallel()
		dir := openDir(t)
		reports := filepath.Join(dir, "reports")
		mkdir(t, reports)
		d := destRun{in: inputs{"report-file": filepath.Join(reports, "report.json")}, configure: configure}
		defaultFiles(t, &d, dir)
		if os.Getuid() != 0 { // the test's own files: take its write permission away
			for _, f := range []string{d.output, d.summary} {
				chmod(t, f, 0o444)
			}
			chmod(t, reports, 0o555)
		}
		fix := "is not writable by uid " + strconv.Itoa(uid) + ": run the image as root (the default"
		d.wantStderr = []string{
			"error: report-file " + d.in["report-file"] + " " + fix,
			"error: GITHUB_OUTPUT " + d.output + " " + fix,
			"error: GITHUB_STEP_SUMMARY " + d.summary + " " + fix,
		}
		res, tags := runDest(t, d, dir)
		checkRefused(t, d, res, tags) // outputs and summary on stdout: no file takes them
	})
	t.Run("its own files", func(t *testing.T) {
		t.Parallel()
		dir := openDir(t)
		d := destRun{in: inputs{"report-file": filepath.Join(dir, "out", "report.json")}, configure: configure}
		defaultFiles(t, &d, dir)
		mkdir(t, filepath.Join(dir, "out"))
		for _, f := range []string{d.output, d.summary, filepath.Join(dir, "out")} {
			if err := os.Chown(f, uid, uid); err != nil && os.Getuid() == 0 {
				t.Fatal(err)
			}
		}
		r := newRegistry(t)
		a := r.Addr()
		seedAges(t, a, "app", "new", "old")
		d.in["registry"], d.in["repositories"], d.in["keep"] = a, "app", "1"
		res := runCmd(t, actionEnv(d.in, d.output, d.summary, dir), configure, nil)
		if res.code != 0 {
			t.Fatalf("exit %d, want 0", res.code)
		}
		if diff := cmp.Diff([]string{"new"}, listTags(t, a, "app")); diff != "" {
			t.Errorf("tags left (-want +got):\n%s", diff)
		}
		if got := parseOutputs(t, read(t, d.output)); got["deleted-tags"] != `["app:old"]` {
			t.Errorf("outputs %v", got)
		}
		if rep := readReport(t, d.in["report-file"]); rep == nil || rep.Totals.Deleted != 1 {
			t.Errorf("report-file: %+v", rep)
		}
	})
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}
