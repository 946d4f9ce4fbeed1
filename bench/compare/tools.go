package main

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

//go:embed keep-newest.lua
var regbotScript string

//go:embed crane-loop.sh
var craneScript string

// tool is one contender: how to run it against a registry address.
type tool struct {
	Name    string // "tagsweep", "regbot", "crane loop"
	Key     string // flag value: tagsweep, regbot, crane
	Version string
	// command builds the command line for the registry at addr; dir is a
	// scratch directory of this run.
	command func(addr, dir string) ([]string, error)
	// Shown is the command as printed in the results, with REGISTRY for
	// the address.
	Shown string
	// Concurrency is tagsweep's concurrency (8 is its default).
	Concurrency int
	// PathDir is put first on the tool's PATH (the crane loop finds crane
	// there).
	PathDir string
}

// toolRun is what one run of a tool cost.
type toolRun struct {
	Tool     *tool
	Exit     int
	Err      string
	Wall     time.Duration
	MaxRSS   int64 // KiB, the largest VmHWM of one process of the tool's process group
	TreeRSS  int64 // KiB, the largest sum of VmRSS over the group at one instant
	Procs    int   // processes seen in the group
	UserCPU  time.Duration
	SysCPU   time.Duration
	Stats    proxyStats
	BenchCPU time.Duration // this process (registry + proxy) during the run
	Log      string        // path of the tool's stdout+stderr
	Check    checkResult
	LoadAvg  [2]string // at start and end
}

// cleanEnv is the environment the tools run with: no tagsweep or GitHub
// inputs from the calling shell, a private HOME (no docker config, no
// credentials), the C locale.
func cleanEnv(home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "TAGSWEEP_"), strings.HasPrefix(k, "INPUT_"), strings.HasPrefix(k, "GITHUB_"),
			strings.HasPrefix(k, "RUNNER_"), k == "CI", k == "DOCKER_CONFIG", k == "REGISTRY_AUTH_FILE",
			k == "HOME", k == "LC_ALL", k == "LANG", strings.HasPrefix(k, "GODEBUG"), k == "GOMAXPROCS", k == "GOGC":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+home, "LC_ALL=C")
}

// runTool runs argv with env, its output going to logPath, and returns its
// wall time, CPU (from wait4: the process and its waited-for descendants)
// and peak memory (sampled from /proc, see rssSampler).
func runTool(ctx context.Context, argv, env []string, dir, logPath string, timeout time.Duration) (toolRun, error) {
	var tr toolRun
	logf, err := os.Create(logPath)
	if err != nil {
		return tr, err
	}
	defer logf.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr = env, dir, logf, logf
	// Its own process group, so that a timeout ends the whole loop.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return tr, err
	}
	rss := startRSS(cmd.Process.Pid)
	err = cmd.Wait()
	tr.Wall = time.Since(start)
	tr.MaxRSS, tr.TreeRSS, tr.Procs = rss.Stop()
	tr.Log = logPath
	if cmd.ProcessState != nil {
		tr.Exit = cmd.ProcessState.ExitCode()
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			tr.UserCPU = time.Duration(ru.Utime.Nano())
			tr.SysCPU = time.Duration(ru.Stime.Nano())
		}
	}
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return tr, err
		}
		tr.Err = err.Error()
		if ctx.Err() != nil {
			tr.Err = fmt.Sprintf("timed out after %s", timeout)
		}
	}
	return tr, nil
}

// buildTagsweep builds cmd/tagsweep into dir. With fromHead, from the
// committed HEAD of the checkout (git archive), so that half-done edits in
// the shared working tree are not measured; else from the working tree.
// It returns the binary and a description of what was built.
func buildTagsweep(ctx context.Context, root, dir string, fromHead bool) (string, string, error) {
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		return "", "", err
	}
	bin := filepath.Join(dir, "bin", "tagsweep")
	rev := gitOut(root, "rev-parse", "--short=12", "HEAD")
	src := root
	what := "working tree at " + rev
	if fromHead {
		src = filepath.Join(dir, "src")
		if err := os.MkdirAll(src, 0o755); err != nil {
			return "", "", err
		}
		arch := exec.CommandContext(ctx, "sh", "-c", `git archive --format=tar HEAD | tar -x -C "$1"`, "sh", src)
		arch.Dir = root
		if out, err := arch.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("git archive: %v: %s", err, out)
		}
		what = "commit " + rev + " (git archive of HEAD)"
	} else if dirty := gitOut(root, "status", "--porcelain", "--", ".", ":!bench"); dirty != "" {
		what += " with uncommitted changes outside bench/"
	}
	b := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/tagsweep")
	b.Dir = src
	if out, err := b.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("go build ./cmd/tagsweep: %v: %s", err, out)
	}
	return bin, what, nil
}

func gitOut(dir string, args ...string) string {
	c := exec.Command("git", args...)
	c.Dir = dir
	out, err := c.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// findBinary looks for name on PATH, then in GOBIN and GOPATH/bin.
func findBinary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	var dirs []string // where go install puts binaries: GOBIN, else GOPATH/bin
	if gobin := strings.TrimSpace(string(must(exec.Command("go", "env", "GOBIN").Output()))); gobin != "" {
		dirs = append(dirs, gobin)
	}
	gopath := strings.TrimSpace(string(must(exec.Command("go", "env", "GOPATH").Output())))
	for _, d := range filepath.SplitList(gopath) {
		dirs = append(dirs, filepath.Join(d, "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found on PATH or in GOPATH/bin", name)
}

func must(b []byte, _ error) []byte { return b }

// findOrInstall finds name (findBinary) or, when it is nowhere, installs
// the pinned pkg@version with go install into GOPATH/bin, so the benchmark
// runs from one command on a fresh machine.
func findOrInstall(ctx context.Context, name, pkg string) (string, error) {
	if bin, err := findBinary(name); err == nil {
		return bin, nil
	}
	fmt.Printf("%-10s not found: go install %s\n", name, pkg)
	c := exec.CommandContext(ctx, "go", "install", pkg)
	c.Stdout, c.Stderr = os.Stdout, os.Stderr
	if err := c.Run(); err != nil {
		return "", fmt.Errorf("go install %s: %w", pkg, err)
	}
	return findBinary(name)
}

func versionOf(bin string, args ...string) string {
	out, _ := exec.Command(bin, args...).CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "VCSTag:"); ok {
			return strings.TrimSpace(v)
		}
		if line != "" && !strings.Contains(line, ":") {
			return line
		}
	}
	return strings.TrimSpace(string(out))
}

// newTagsweep runs the binary as a user would: registry and keep, default
// concurrency unless concurrency > 0, no dry run, a JSON report.
// newTagsweep is tagsweep at concurrency (0: its default), with
// --cache-dir cacheDir when that is set (the same directory on both days
// of -nightly).
func newTagsweep(bin, built string, keep, concurrency int, cacheDir string) *tool {
	t := &tool{Name: "tagsweep", Key: "tagsweep", Version: built, Concurrency: 8}
	extra := []string{}
	if concurrency > 0 {
		extra = append(extra, "--concurrency", strconv.Itoa(concurrency))
		t.Name = fmt.Sprintf("tagsweep --concurrency %d", concurrency)
		t.Key = fmt.Sprintf("tagsweep-c%d", concurrency)
		t.Concurrency = concurrency
	}
	shown := extra
	if cacheDir != "" {
		shown = append(slices.Clone(extra), "--cache-dir", "CACHE")
		extra = append(extra, "--cache-dir", cacheDir)
	}
	t.command = func(addr, dir string) ([]string, error) {
		argv := append([]string{bin, "--registry", addr, "--keep", strconv.Itoa(keep)}, extra...)
		return append(argv, "--report-file", filepath.Join(dir, "report.json")), nil
	}
	t.Shown = strings.Join(append([]string{"tagsweep", "--registry", "REGISTRY", "--keep", strconv.Itoa(keep)}, shown...), " ") + " --report-file report.json"
	return t
}

// regbotConfig is the regbot configuration a user writes for a plain-HTTP
// registry: the registry with TLS disabled, the example's defaults, and the
// retention script.
func regbotConfig(addr string, keep int) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "version: 1\ncreds:\n  - registry: %s\n    tls: disabled\ndefaults:\n  parallel: 1\n  timeout: 12h\nscripts:\n  - name: keep %d newest\n    timeout: 12h\n    script: |\n", addr, keep)
	fmt.Fprintf(&b, "      reg = %q\n      keep = %d\n", addr, keep)
	for _, line := range strings.Split(strings.TrimRight(regbotScript, "\n"), "\n") {
		if line == "" {
			b.WriteString("\n")
			continue
		}
		b.WriteString("      " + line + "\n")
	}
	return b.String()
}

func newRegbot(bin string, keep int) *tool {
	t := &tool{Name: "regbot", Key: "regbot", Version: "regbot " + versionOf(bin, "version")}
	t.command = func(addr, dir string) ([]string, error) {
		cfg := filepath.Join(dir, "regbot.yml")
		if err := os.WriteFile(cfg, []byte(regbotConfig(addr, keep)), 0o644); err != nil {
			return nil, err
		}
		return []string{bin, "once", "-c", cfg}, nil
	}
	t.Shown = "regbot once -c regbot.yml (script bench/compare/keep-newest.lua)"
	return t
}

// newCraneLoop runs bench/compare/crane-loop.sh with /bin/sh, crane's
// directory first on PATH.
func newCraneLoop(bin string, keep int) *tool {
	t := &tool{Name: "crane loop", Key: "crane", Version: "crane " + versionOf(bin, "version") + ", jq, /bin/sh", PathDir: filepath.Dir(bin)}
	t.command = func(addr, dir string) ([]string, error) {
		script := filepath.Join(dir, "crane-loop.sh")
		if err := os.WriteFile(script, []byte(craneScript), 0o755); err != nil {
			return nil, err
		}
		return []string{"/bin/sh", script, addr, strconv.Itoa(keep)}, nil
	}
	t.Shown = "sh bench/compare/crane-loop.sh REGISTRY " + strconv.Itoa(keep)
	return t
}
