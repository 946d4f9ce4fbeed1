// Package e2e runs the built tagsweep binary the way the GitHub Actions
// runner runs a container action (INPUT_* variables, GITHUB_OUTPUT and
// GITHUB_STEP_SUMMARY files) against real registries on 127.0.0.1, and
// checks what is left afterwards, after the registry's own garbage
// collector ran.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/cli/clitest"
	"github.com/tagsweep/tagsweep/internal/report"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tagsweep-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Readable by every uid: a test runs the binary as a non-root user.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "tagsweep")
	args := []string{"build", "-o", binary}
	if os.Getenv("TAGSWEEP_E2E_RACE") != "" {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "../cmd/tagsweep")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build tagsweep:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is what one run of the binary left behind.
type result struct {
	code           int
	stdout, stderr string
	outputs        map[string]string
	summary        string
	report         *report.Report
}

// inputs are action inputs by name, as a workflow's `with:` gives them.
type inputs = clitest.Inputs

// runAction runs the binary as the runner runs a docker action: every
// input as INPUT_<NAME>, the outputs and summary files, GITHUB_ACTIONS.
// Inputs left out are set to "", as the runner does.
func runAction(t *testing.T, in inputs) result {
	t.Helper()
	return runActionWith(t, in, nil)
}

// runActionWith is runAction with extra environment variables (e.g.
// TAGSWEEP_KEEP=5, which take precedence over the INPUT_* ones) and
// command-line arguments (flags, which take precedence over both).
func runActionWith(t *testing.T, in inputs, extraEnv []string, args ...string) result {
	t.Helper()
	return runActionStarted(t, in, extraEnv, nil, args...)
}

// runActionStarted is runActionWith that hands the started process to
// started (to signal it).
func runActionStarted(t *testing.T, in inputs, extraEnv []string, started func(*os.Process), args ...string) result {
	t.Helper()
	return fromResult(clitest.Action(t, built(started), in, extraEnv, args...))
}

// built runs the built binary, handing the started process to started.
func built(started func(*os.Process)) clitest.Runner {
	return func(t *testing.T, env []string, args ...string) clitest.Result {
		t.Helper()
		r := runStarted(t, env, started, args...)
		return clitest.Result{Code: r.code, Stdout: r.stdout, Stderr: r.stderr}
	}
}

// fromResult is r as the scenarios read it.
func fromResult(r clitest.Result) result {
	return result{code: r.Code, stdout: r.Stdout, stderr: r.Stderr, outputs: r.Outputs, summary: r.Summary, report: r.Report}
}

// Shared with internal/cli's tests (package clitest).
var (
	actionEnv     = clitest.ActionEnv
	readReport    = clitest.ReadReport
	parseOutputs  = clitest.ParseOutputs
	newRegistry   = clitest.NewRegistry
	now           = clitest.Now
	daysAgo       = clitest.DaysAgo
	pushImage     = clitest.PushImage
	tag           = clitest.Tag
	multiarch     = clitest.Multiarch
	listTags      = clitest.ListTags
	byTag         = clitest.ByTag
	actions       = clitest.Actions
	exists        = clitest.Exists
	digestOf      = clitest.DigestOf
	isTextSummary = clitest.IsTextSummary
)

// runStarted runs the binary with exactly env (plus PATH) and arguments,
// handing the started process to started.
func runStarted(t *testing.T, env []string, started func(*os.Process), args ...string) result {
	t.Helper()
	return runCmd(t, env, nil, started, args...)
}

// runCmd is runStarted with configure applied to the command before it
// starts (to run it as another user, for instance).
func runCmd(t *testing.T, env []string, configure func(*exec.Cmd), started func(*os.Process), args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if configure != nil {
		configure(cmd)
	}
	err := cmd.Start()
	if err == nil {
		if started != nil {
			started(cmd.Process)
		}
		err = cmd.Wait()
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run tagsweep: %v", err)
	}
	r := result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	t.Logf("tagsweep %s exit %d\nstderr:\n%s", strings.Join(args, " "), code, r.stderr)
	return r
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// server is what the scenarios need of a registry.
type server interface {
	testregistry.Server
	GC(ctx context.Context, removeUntagged bool) error
}

// gcAndVerify runs the registry's garbage collector and proves that every
// ref still pulls completely: manifest, config, layers, index children.
func gcAndVerify(t *testing.T, r server, removeUntagged bool, refs ...string) {
	t.Helper()
	ctx := context.Background()
	if err := r.GC(ctx, removeUntagged); err != nil {
		t.Fatalf("garbage collect: %v", err)
	}
	for _, ref := range refs {
		if err := testregistry.VerifyPull(ctx, r.Addr()+"/"+ref); err != nil {
			t.Errorf("kept %s does not pull after GC: %v", ref, err)
		}
	}
}

func deletedTagsOutput(t *testing.T, r result) []string {
	t.Helper()
	return clitest.DeletedTags(t, r.outputs)
}

// runCLI runs the binary outside GitHub Actions: no GITHUB_* and no
// INPUT_* variables, only HOME/DOCKER_CONFIG (an empty docker config),
// the given environment and arguments.
func runCLI(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return fromResult(clitest.CLI(t, built(nil), env, args...))
}

// runReal runs in again for real after the dry run dry: it must exit 0
// and delete exactly the tags the dry run planned.
func runReal(t *testing.T, in inputs, dry result) result {
	t.Helper()
	in["dry-run"] = "false"
	real := runAction(t, in)
	if real.code != 0 {
		t.Fatalf("real run exit %d", real.code)
	}
	if diff := cmp.Diff(deletedTagsOutput(t, dry), deletedTagsOutput(t, real)); diff != "" {
		t.Errorf("the real run deleted other tags than the dry run planned (-dry +real):\n%s", diff)
	}
	return real
}

// checkCounts checks the contract's accounting: kept + deleted + failed
// equals the tags seen (the report's totals), and the outputs agree with
// the report.
func checkCounts(t *testing.T, r result) {
	t.Helper()
	clitest.CheckCounts(t, r.outputs, r.report)
}
