// Package clitest runs tagsweep the way the GitHub Actions runner runs a
// docker action (INPUT_* variables, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY
// files) or the way a CI job calls it, and reads what a run left: the exit
// code, the output, the step outputs, the summary and the JSON report. It
// also seeds the registries the runs sweep.
//
// Two packages run with it: e2e, through the built binary (for what only
// the binary shows: signals, the runner's environment, files and uids,
// registry state after GC, secrets), and internal/cli's tests, through
// cli.Main in this process ([InProcess]) for the outputs and exit codes of
// the sweep and ls.
package clitest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tagsweep/tagsweep/internal/config"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tagsweep/tagsweep/internal/cli"
	"github.com/tagsweep/tagsweep/internal/report"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// Inputs are action inputs by name, as a workflow's `with:` gives them.
type Inputs map[string]string

// Result is what one run of tagsweep left behind.
type Result struct {
	Code           int
	Stdout, Stderr string
	// Outputs, Summary and Report are read from the runner's files and
	// report-file after an Action run (empty after a CLI run).
	Outputs map[string]string
	Summary string
	Report  *report.Report
}

// Runner runs tagsweep with exactly env ("NAME=value") and args and
// returns its exit code, stdout and stderr.
type Runner func(t *testing.T, env []string, args ...string) Result

// InProcess runs cli.Main in this process, reading env only. (The docker
// config comes from the process's own DOCKER_CONFIG; point it at an empty
// directory in TestMain.)
func InProcess(t *testing.T, env []string, args ...string) Result {
	t.Helper()
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	var stdout, stderr strings.Builder
	code := cli.Main(context.Background(), args, cli.Env{Getenv: func(k string) string { return vars[k] }, Stdout: &stdout, Stderr: &stderr})
	t.Logf("tagsweep %s exit %d\nstderr:\n%s", strings.Join(args, " "), code, stderr.String())
	return Result{Code: code, Stdout: stdout.String(), Stderr: stderr.String()}
}

// Action runs tagsweep through run as the runner runs a docker action:
// every input as INPUT_<NAME>, the outputs and summary files,
// GITHUB_ACTIONS, a report-file unless in names one; then extraEnv (e.g.
// TAGSWEEP_KEEP=5, which takes precedence over the INPUT_* ones) and args
// (flags, which take precedence over both). Inputs left out are set to
// "", as the runner does.
func Action(t *testing.T, run Runner, in Inputs, extraEnv []string, args ...string) Result {
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
	r := run(t, append(ActionEnv(in, out, sum, dir), extraEnv...), args...)
	r.Outputs = ParseOutputs(t, read(t, out))
	r.Summary = read(t, sum)
	r.Report = ReadReport(t, in["report-file"])
	return r
}

// CLI runs tagsweep through run outside GitHub Actions: no GITHUB_* and
// no INPUT_* variables, only HOME/DOCKER_CONFIG (an empty docker config),
// env and args.
func CLI(t *testing.T, run Runner, env []string, args ...string) Result {
	t.Helper()
	dir := t.TempDir()
	return run(t, append([]string{"HOME=" + dir, "DOCKER_CONFIG=" + dir}, env...), args...)
}

// actionInputs are the inputs action.yml declares (config's table, which a
// test holds to action.yml), which the runner sets ("" when left out).
var actionInputs = func() []string {
	var names []string
	for _, in := range config.Inputs {
		if in.Sweep {
			names = append(names, in.Name)
		}
	}
	return names
}()

// ActionEnv is the environment the runner gives a docker action: every
// input as INPUT_<NAME> ("" for those left out), the outputs and summary
// files, GITHUB_ACTIONS, and home (also the docker config directory).
func ActionEnv(in Inputs, output, summary, home string) []string {
	env := []string{"GITHUB_ACTIONS=true", "GITHUB_OUTPUT=" + output, "GITHUB_STEP_SUMMARY=" + summary, "HOME=" + home, "DOCKER_CONFIG=" + home}
	for _, name := range actionInputs {
		env = append(env, "INPUT_"+strings.ToUpper(name)+"="+in[name])
	}
	for name, v := range in {
		if !slices.Contains(actionInputs, name) {
			env = append(env, "INPUT_"+strings.ToUpper(name)+"="+v)
		}
	}
	return env
}

// ReadReport decodes the JSON report at path, nil when there is none.
func ReadReport(t *testing.T, path string) *report.Report {
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

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ParseOutputs reads a GITHUB_OUTPUT file: `name=value` lines and
// `name<<DELIM` … `DELIM` blocks, as the runner does.
func ParseOutputs(t *testing.T, s string) map[string]string {
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

// ByTag indexes the report's entries of one repository.
func ByTag(t *testing.T, rep *report.Report, repo string) map[string]report.Tag {
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

// Actions maps tag -> action for one repository of a report.
func Actions(t *testing.T, rep *report.Report, repo string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for n, tg := range ByTag(t, rep, repo) {
		out[n] = tg.Action
	}
	return out
}

// DeletedTags decodes the deleted-tags output, sorted.
func DeletedTags(t *testing.T, outputs map[string]string) []string {
	t.Helper()
	var got []string
	if err := json.Unmarshal([]byte(outputs["deleted-tags"]), &got); err != nil {
		t.Fatalf("deleted-tags %q is not a JSON array: %v", outputs["deleted-tags"], err)
	}
	sort.Strings(got)
	return got
}

// CheckCounts checks the contract's accounting: kept + deleted + failed
// equals the tags seen (the report's totals), and the outputs agree with
// the report.
func CheckCounts(t *testing.T, outputs map[string]string, rep *report.Report) {
	t.Helper()
	if rep == nil {
		t.Fatal("no report")
	}
	n := func(name string) int {
		v, err := strconv.Atoi(outputs[name])
		if err != nil {
			t.Fatalf("output %s = %q is not a number (outputs %v)", name, outputs[name], outputs)
		}
		return v
	}
	kept, deleted, failed := n("kept-count"), n("deleted-count"), n("failed-count")
	tags := 0
	for _, repo := range rep.Repositories {
		tags += len(repo.Tags)
	}
	if kept+deleted+failed != tags {
		t.Errorf("kept %d + deleted %d + failed %d != %d tags seen", kept, deleted, failed, tags)
	}
	tot := rep.Totals
	if tot.Kept != kept || tot.Deleted != deleted || tot.Failed != failed || tot.Tags != tags {
		t.Errorf("report totals %+v disagree with outputs %v (tags seen %d)", tot, outputs, tags)
	}
}

// NewRegistry starts a CNCF distribution v3 registry with deletes
// enabled, closed with t; opts change its options.
func NewRegistry(t *testing.T, opts ...func(*testregistry.Options)) *testregistry.Registry {
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

// Now is the time the seeded ages count from.
var Now = time.Now()

// DaysAgo is n days before Now.
func DaysAgo(n float64) time.Time { return Now.Add(-time.Duration(n * 24 * float64(time.Hour))) }

// PushImage pushes an image with a distinct layer (by seed) and the given
// creation time to addr/ref.
func PushImage(t *testing.T, addr, ref string, created time.Time, seed int64) v1.Hash {
	t.Helper()
	h, err := testregistry.PushImage(context.Background(), addr+"/"+ref, testregistry.ImageSpec{Created: created, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// SeedAges pushes one image per tag into repo, tag i being i+1 days old
// (the first tag is the newest), with distinct layers.
func SeedAges(t *testing.T, addr, repo string, tags ...string) {
	t.Helper()
	for i, tg := range tags {
		PushImage(t, addr, repo+":"+tg, DaysAgo(float64(i+1)), int64(1000+i))
	}
}

// Tag points addr/ref at what addr/src points at.
func Tag(t *testing.T, addr, ref, src string) {
	t.Helper()
	if err := testregistry.Tag(context.Background(), addr+"/"+ref, addr+"/"+src); err != nil {
		t.Fatal(err)
	}
}

// Multiarch pushes a two-platform index of images of the given age (and
// extra children) to addr/ref.
func Multiarch(t *testing.T, addr, ref string, created time.Time, seed int64, extra ...v1.Image) (v1.Hash, []v1.Image) {
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

// ListTags returns the tags of addr/repo, sorted.
func ListTags(t *testing.T, addr, repo string) []string {
	t.Helper()
	tags, err := testregistry.ListTags(context.Background(), addr+"/"+repo)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(tags)
	return tags
}

// Exists reports whether ref (tag or digest) resolves to a manifest.
func Exists(t *testing.T, ref string) bool {
	t.Helper()
	ok, err := testregistry.Exists(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// DigestOf returns the digest ref resolves to.
func DigestOf(t *testing.T, ref string) v1.Hash {
	t.Helper()
	h, err := testregistry.Digest(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// DenyDeletesOf is a hook that answers 403 DENIED to DELETEs of the given
// references (digests or tags) and passes everything else through.
func DenyDeletesOf(refs ...string) testregistry.Hook {
	return func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method != http.MethodDelete {
			return false
		}
		for _, ref := range refs {
			if strings.HasSuffix(req.URL.Path, "/manifests/"+ref) {
				testregistry.WriteError(w, http.StatusForbidden, "DENIED", "requires delete")
				return true
			}
		}
		return false
	}
}

// Stale seeds repos with n tags each, one day apart (tag t0 newest).
func Stale(t *testing.T, addr string, n int, repos ...string) {
	t.Helper()
	for ri, repo := range repos {
		for i := range n {
			PushImage(t, addr, fmt.Sprintf("%s:t%d", repo, i), DaysAgo(float64(i+1)), int64(100*ri+i))
		}
	}
}

// IsTextSummary reports whether s holds the plain-text job summary, the
// form stdout gets outside GitHub Actions: the totals' header, and no
// markdown heading, table or HTML.
func IsTextSummary(s string) bool {
	return strings.Contains(s, "\nrepositories  tags  ") && !strings.Contains(s, "## tagsweep") &&
		!strings.Contains(s, "|---") && !strings.Contains(s, "<details>")
}

// CheckInvalid checks the contract's answer to invalid input: exit 2 and
// exactly one stderr line, "tagsweep: invalid input: INPUT: …", that says
// each of want.
func CheckInvalid(t *testing.T, r Result, input string, want ...string) {
	t.Helper()
	if r.Code != 2 {
		t.Errorf("exit %d, want 2", r.Code)
	}
	lines := strings.Split(strings.TrimSuffix(r.Stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasSuffix(r.Stderr, "\n") {
		t.Errorf("stderr has %d lines, want exactly one:\n%s", len(lines), r.Stderr)
	}
	if prefix := "tagsweep: invalid input: " + input + ":"; !strings.HasPrefix(lines[0], prefix) {
		t.Errorf("stderr line %q does not start with %q", lines[0], prefix)
	}
	for _, w := range want {
		if !strings.Contains(lines[0], w) {
			t.Errorf("stderr line %q does not contain %q", lines[0], w)
		}
	}
}
