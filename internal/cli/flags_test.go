package cli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tagsweep/tagsweep/internal/config"
)

// runMain runs Main outside GitHub Actions with getenv answering env.
func runMain(args []string, env map[string]string) (code int, stdout, stderr string) {
	var out, errs strings.Builder
	code = Main(context.Background(), args, Env{Getenv: func(k string) string { return env[k] }, Stdout: &out, Stderr: &errs})
	return code, out.String(), errs.String()
}

// --help shows the inputs the command takes, and only those: ls lists its
// inputs and --format, the sweep its own and says that it deletes.
func TestHelp(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		args    []string
		cmd     command
		want    []string // besides the inputs
		notWant []string
	}{
		{"sweep --help", []string{"--help"}, cmdSweep, []string{"Without --dry-run the run DELETES", "tagsweep ls --help"}, []string{"--format"}},
		{"sweep -h", []string{"-h"}, cmdSweep, []string{"Without --dry-run the run DELETES"}, []string{"--format"}},
		{"help", []string{"help"}, cmdSweep, []string{"Without --dry-run the run DELETES"}, []string{"--format"}},
		{"restore --help", []string{"restore", "--help"}, cmdRestore, []string{"tagsweep restore --undo-file PATH [--only repo:tag,...]", "--only", "a tag that points elsewhere now is left alone"}, []string{"DELETES", "--format"}},
		{"ls --help", []string{"ls", "--help"}, cmdList, []string{"tagsweep ls [--input value ...] [--format text|json]", "--format          text or json (default text)", "it deletes nothing"}, []string{"DELETES"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out, errs := runMain(tc.args, nil)
			if code != ExitOK || errs != "" {
				t.Fatalf("exit %d, stderr %q", code, errs)
			}
			for _, in := range config.Inputs {
				listed := strings.Contains(out, "\n  --"+in.Name+" ")
				if listed != takes(in, tc.cmd) {
					t.Errorf("--%s listed = %v, but the command takes it = %v:\n%s", in.Name, listed, takes(in, tc.cmd), out)
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("help lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(out, w) {
					t.Errorf("help has %q:\n%s", w, out)
				}
			}
		})
	}
}

// A flag the command does not take, a bool with a value that is not one,
// and a flag without its value are invalid input: one stderr line that
// names the flag (and the one meant, or the command that takes it), exit
// 2, and no request to the registry. The control run, with valid flags,
// does reach the registry.
func TestBadFlags(t *testing.T) {
	t.Parallel()
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	reg := "http://" + srv.Listener.Addr().String()
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"typo of a bool", []string{"--dryrun"}, "invalid input: unknown flag --dryrun; did you mean --dry-run?"},
		{"underscore", []string{"--dry_run"}, "did you mean --dry-run?"},
		{"upper case", []string{"--Keep", "3"}, "did you mean --keep?"},
		{"prefix", []string{"--exclude", "latest"}, "did you mean --exclude-tags?"},
		{"nothing near", []string{"--colour", "red"}, "unknown flag --colour (tagsweep --help lists the flags)"},
		{"a value that is no boolean", []string{"--dry-run", "maybe"}, `invalid input: dry-run: "maybe" is not a boolean (true or false)`},
		{"= form", []string{"--dry-run=maybe"}, `dry-run: "maybe" is not a boolean`},
		{"missing value", []string{"--keep"}, "--keep needs a value (--keep VALUE or --keep=VALUE)"},
		{"an ls option to the sweep", []string{"--format", "json"}, "unknown flag --format: it is an option of tagsweep ls"},
		{"a sweep input to ls", []string{"ls", "--keep", "3"}, "unknown flag --keep: tagsweep ls does not take it (it is an input of the sweep"},
		{"a typo in ls", []string{"ls", "--formt", "json"}, "did you mean --format? (tagsweep ls --help lists them)"},
		{"a stray argument", []string{"app"}, `unexpected argument "app"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{}, tc.args...)
			if args[0] == "ls" {
				args = append(args, "--registry", reg, "--repositories", "app")
			} else {
				args = append([]string{"--registry", reg, "--repositories", "app"}, args...)
			}
			before := requests.Load()
			code, out, errs := runMain(args, nil)
			if code != ExitInvalid {
				t.Errorf("exit %d, want %d", code, ExitInvalid)
			}
			if n := strings.Count(errs, "\n"); n != 1 || !strings.HasPrefix(errs, "tagsweep: invalid input: ") || !strings.Contains(errs, tc.want) {
				t.Errorf("stderr %q: want one line containing %q", errs, tc.want)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if n := requests.Load() - before; n != 0 {
				t.Errorf("%d requests sent, want none", n)
			}
		})
	}
	t.Run("control", func(t *testing.T) {
		// The registry answers 404 to everything: the literal repository
		// "app" does not exist, which is a warning (exit 0), not invalid input.
		before := requests.Load()
		code, _, errs := runMain([]string{"--registry", reg, "--repositories", "app", "--dry-run"}, nil)
		if code == ExitInvalid || requests.Load() == before || !strings.Contains(errs, "warning: app: no such repository, or it has no tags") {
			t.Errorf("valid flags: exit %d, %d requests (stderr %q); want the run to reach the registry and warn about app", code, requests.Load()-before, errs)
		}
	})
}

func TestClosest(t *testing.T) {
	t.Parallel()
	known := []string{"keep", "keep-semver", "dry-run", "exclude-tags", "include-tags", "repositories", "format"}
	for name, want := range map[string]string{
		"dryrun": "dry-run", "dry_run": "dry-run", "DRY-RUN": "dry-run", "keeps": "keep", "kep": "keep",
		"keep-semvr": "keep-semver", "exclude": "exclude-tags", "repo": "repositories", "ex": "", "colour": "", "formats": "format",
	} {
		if got := closest(name, known); got != want {
			t.Errorf("closest(%q) = %q, want %q", name, got, want)
		}
	}
}
