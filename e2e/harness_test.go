// Package e2e runs the built tagsweep binary the way the GitHub Actions
// runner runs a container action (INPUT_* variables, GITHUB_OUTPUT and
// GITHUB_STEP_SUMMARY files) against real registries on 127.0.0.1, and
// checks what is left afterwards, after the registry's own garbage
// collector ran.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

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
type inputs map[string]string

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
	dir := t.TempDir()
	out, sum, rep := filepath.Join(dir, "output"), filepath.Join(dir, "summary"), filepath.Join(dir, "report.json")
	for _, f := range []string{out, sum} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := in["report-file"]; !ok {
		in["report-file"] = rep
	}
	r := runStarted(t, append(actionEnv(in, out, sum, dir), extraEnv...), started, args...)
	r.outputs = parseOutputs(t, read(t, out))
	r.summary = read(t, sum)
	r.report = readReport(t, in["report-file"])
	return r
}

// actionEnv is the environment the runner gives a docker action: every
// input as INPUT_<NAME> ("" for those left out), the outputs and summary
// files, GITHUB_ACTIONS, and home (also the docker config directory).
func actionEnv(in inputs, output, summary, home string) []string {
	env := []string{"GITHUB_ACTIONS=true", "GITHUB_OUTPUT=" + output, "GITHUB_STEP_SUMMARY=" + summary, "HOME=" + home, "DOCKER_CONFIG=" + home}
	all := []string{"registry", "repositories", "username", "password", "keep", "older-than", "include-tags", "exclude-tags",
		"keep-semver", "order-by", "dry-run", "concurrency", "insecure", "ca-file", "report-file", "delete-orphans", "provider", "age-source", "max-deletions", "timeout"}
	for _, name := range all {
		env = append(env, "INPUT_"+strings.ToUpper(name)+"="+in[name])
	}
	for name, v := range in {
		if !contains(all, name) {
			env = append(env, "INPUT_"+strings.ToUpper(name)+"="+v)
		}
	}
	return env
}

// readReport decodes the JSON report at path, nil when there is none.
func readReport(t *testing.T, path string) *report.Report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	rep := &report.Report{}
	if err := json.Unmarshal(b, rep); err != nil {
		t.Fatalf("report-file is not JSON: %v\n%s", err, b)
	}
	return rep
}

// run runs the binary with exactly env (plus PATH) and arguments.
func run(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return runStarted(t, env, nil, args...)
}

// runStarted is run that hands the started process to started.
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

// parseOutputs reads a GITHUB_OUTPUT file: `name=value` lines and
// `name<<DELIM` … `DELIM` blocks, as the runner does.
func parseOutputs(t *testing.T, s string) map[string]string {
	t.Helper()
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		line := sc.Text()
		if name, delim, ok := strings.Cut(line, "<<"); ok && !strings.Contains(name, "=") {
			var val []string
			for sc.Scan() && sc.Text() != delim {
				val = append(val, sc.Text())
			}
			out[name] = strings.Join(val, "\n")
			continue
		}
		if name, val, ok := strings.Cut(line, "="); ok {
			out[name] = val
		}
	}
	return out
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// server is what the scenarios need of a registry.
type server interface {
	testregistry.Server
	GC(ctx context.Context, removeUntagged bool) error
}

// newRegistry starts a CNCF distribution v3 registry with deletes enabled.
func newRegistry(t *testing.T, opts ...func(*testregistry.Options)) *testregistry.Registry {
	t.Helper()
	o := testregistry.Options{DeleteEnabled: true, Dir: t.TempDir()}
	for _, f := range opts {
		f(&o)
	}
	r, err := testregistry.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

var now = time.Now()

func daysAgo(n float64) time.Time { return now.Add(-time.Duration(n * 24 * float64(time.Hour))) }

// image pushes an image with a distinct layer and the given age.
func pushImage(t *testing.T, addr, ref string, created time.Time, seed int64) v1.Hash {
	t.Helper()
	h, err := testregistry.PushImage(context.Background(), addr+"/"+ref, testregistry.ImageSpec{Created: created, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func tag(t *testing.T, addr, ref, src string) {
	t.Helper()
	if err := testregistry.Tag(context.Background(), addr+"/"+ref, addr+"/"+src); err != nil {
		t.Fatal(err)
	}
}

// multiarch pushes a two-platform index of images of the given age.
func multiarch(t *testing.T, addr, ref string, created time.Time, seed int64, extra ...v1.Image) (v1.Hash, []v1.Image) {
	t.Helper()
	var kids []v1.Image
	for i, p := range []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}} {
		img, err := testregistry.BuildImage(testregistry.ImageSpec{Created: created, Seed: seed*10 + int64(i), Platform: &p})
		if err != nil {
			t.Fatal(err)
		}
		kids = append(kids, img)
	}
	kids = append(kids, extra...)
	h, err := testregistry.PushIndex(context.Background(), addr+"/"+ref, testregistry.IndexSpec{Children: kids})
	if err != nil {
		t.Fatal(err)
	}
	return h, kids
}

func listTags(t *testing.T, addr, repo string) []string {
	t.Helper()
	tags, err := testregistry.ListTags(context.Background(), addr+"/"+repo)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(tags)
	return tags
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

// byTag indexes the report's entries of one repository.
func byTag(t *testing.T, rep *report.Report, repo string) map[string]report.Tag {
	t.Helper()
	if rep == nil {
		t.Fatal("no report")
	}
	out := map[string]report.Tag{}
	for _, r := range rep.Repositories {
		if r.Name == repo {
			for _, tg := range r.Tags {
				out[tg.Tag] = tg
			}
			return out
		}
	}
	t.Fatalf("report has no repository %q", repo)
	return nil
}

// actions maps tag -> action for one repository of a report.
func actions(t *testing.T, rep *report.Report, repo string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for n, tg := range byTag(t, rep, repo) {
		out[n] = tg.Action
	}
	return out
}

func deletedTagsOutput(t *testing.T, r result) []string {
	t.Helper()
	var got []string
	if err := json.Unmarshal([]byte(r.outputs["deleted-tags"]), &got); err != nil {
		t.Fatalf("deleted-tags %q is not a JSON array: %v", r.outputs["deleted-tags"], err)
	}
	sort.Strings(got)
	return got
}

// runCLI runs the binary outside GitHub Actions: no GITHUB_* and no
// INPUT_* variables, only HOME/DOCKER_CONFIG (an empty docker config),
// the given environment and arguments.
func runCLI(t *testing.T, env []string, args ...string) result {
	t.Helper()
	dir := t.TempDir()
	return run(t, append([]string{"HOME=" + dir, "DOCKER_CONFIG=" + dir}, env...), args...)
}

// exists reports whether ref (tag or digest) resolves to a manifest.
func exists(t *testing.T, ref string) bool {
	t.Helper()
	ok, err := testregistry.Exists(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// digestOf returns the digest ref resolves to.
func digestOf(t *testing.T, ref string) v1.Hash {
	t.Helper()
	h, err := testregistry.Digest(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	return h
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
	if r.report == nil {
		t.Fatal("no report")
	}
	n := func(name string) int {
		v, err := strconv.Atoi(r.outputs[name])
		if err != nil {
			t.Fatalf("output %s = %q is not a number (outputs %v)", name, r.outputs[name], r.outputs)
		}
		return v
	}
	kept, deleted, failed := n("kept-count"), n("deleted-count"), n("failed-count")
	tags := 0
	for _, repo := range r.report.Repositories {
		tags += len(repo.Tags)
	}
	if kept+deleted+failed != tags {
		t.Errorf("kept %d + deleted %d + failed %d != %d tags seen", kept, deleted, failed, tags)
	}
	tot := r.report.Totals
	if tot.Kept != kept || tot.Deleted != deleted || tot.Failed != failed || tot.Tags != tags {
		t.Errorf("report totals %+v disagree with outputs %v (tags seen %d)", tot, r.outputs, tags)
	}
}
