package cli

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/action"
	"github.com/tagsweep/tagsweep/internal/config"
)

// The probe leaves what it checks as it was: an existing report is not
// truncated, a missing one is not left behind (its new parent directories
// stay, as the write at the end needs them); what cannot be written is an
// error.
func TestProbe(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		setup   func(dir string) destination
		wantErr error  // nil: writable
		left    string // the file's content afterwards; "-" for no file, "" unchecked
	}{
		{"an existing report is kept", func(dir string) destination {
			p := filepath.Join(dir, "report.json")
			os.WriteFile(p, []byte(`{"earlier":"run"}`), 0o644)
			return destination{name: "report-file", path: p, mkdir: true}
		}, nil, `{"earlier":"run"}`},
		{"a new report in new directories", func(dir string) destination {
			return destination{name: "report-file", path: filepath.Join(dir, "a", "b", "report.json"), mkdir: true}
		}, nil, "-"},
		{"a runner file in a missing directory", func(dir string) destination {
			return destination{name: action.OutputFile, path: filepath.Join(dir, "gone", "output")}
		}, fs.ErrNotExist, "-"},
		{"a directory", func(dir string) destination {
			p := filepath.Join(dir, "d")
			os.Mkdir(p, 0o755)
			return destination{name: "report-file", path: p, mkdir: true}
		}, syscall.EISDIR, ""},
		{"under a file", func(dir string) destination {
			os.WriteFile(filepath.Join(dir, "f"), nil, 0o644)
			return destination{name: "report-file", path: filepath.Join(dir, "f", "report.json"), mkdir: true}
		}, syscall.ENOTDIR, ""},
		{"a cache directory, created", func(dir string) destination {
			return destination{name: "cache-dir", path: filepath.Join(dir, "cache", "tagsweep"), dir: true}
		}, nil, ""},
		{"a cache directory that is a file", func(dir string) destination {
			p := filepath.Join(dir, "cache")
			os.WriteFile(p, []byte("x"), 0o644)
			return destination{name: "cache-dir", path: p, dir: true}
		}, syscall.ENOTDIR, "x"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := tc.setup(t.TempDir())
			err := probe(d)
			if (tc.wantErr == nil) != (err == nil) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("probe = %v, want %v", err, tc.wantErr)
			}
			if tc.left == "" || d.dir && tc.wantErr == nil {
				return
			}
			b, err := os.ReadFile(d.path)
			switch {
			case tc.left == "-" && !errors.Is(err, fs.ErrNotExist):
				t.Errorf("%s left behind (%v)", d.path, err)
			case tc.left != "-" && string(b) != tc.left:
				t.Errorf("%s holds %q, want %q unchanged", d.path, b, tc.left)
			}
			if tc.wantErr == nil {
				if _, err := os.Stat(filepath.Dir(d.path)); err != nil {
					t.Errorf("parent directory: %v", err)
				}
			}
			if d.dir && tc.wantErr == nil {
				// Created, and the probe file is gone again.
				if es, err := os.ReadDir(d.path); err != nil || len(es) != 0 {
					t.Errorf("cache directory: %v entries, %v; want it empty", len(es), err)
				}
			}
		})
	}
}

// Each way a destination fails says the path and what to do about it.
func TestUnwritable(t *testing.T) {
	t.Parallel()
	d := destination{name: "report-file", path: "/out/report.json"}
	pathErr := func(e syscall.Errno) error { return &fs.PathError{Op: "open", Path: d.path, Err: e} }
	cases := []struct {
		name string
		err  error
		uid  int
		want string
	}{
		{"permission, non-root", pathErr(syscall.EACCES), 1001, "report-file /out/report.json is not writable by uid 1001: run the image as root (the default, as GitHub runs a docker action), or give uid 1001 write access there (docker run --user with a volume it owns, Kubernetes runAsUser with fsGroup)"},
		{"permission, root", pathErr(syscall.EPERM), 0, "report-file /out/report.json is not writable (operation not permitted): check the mount and the security policy that refuse it"},
		{"read-only filesystem", pathErr(syscall.EROFS), 1001, "report-file /out/report.json is on a read-only filesystem: mount a writable volume there (docker run -v, a Kubernetes emptyDir) or name a path on one"},
		{"directory", pathErr(syscall.EISDIR), 0, "report-file /out/report.json is a directory: name a file"},
		{"parent is a file", pathErr(syscall.ENOTDIR), 0, "report-file /out/report.json cannot be created: a parent in its path is a file, not a directory"},
		{"missing directory", pathErr(syscall.ENOENT), 0, "report-file /out/report.json cannot be created: its directory does not exist"},
		{"anything else", pathErr(syscall.ENOSPC), 0, "report-file /out/report.json cannot be written: open /out/report.json: no space left on device"},
	}
	dir := destination{name: "cache-dir", path: "/cache", dir: true}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&fs.PathError{Op: "mkdir", Path: "/cache", Err: syscall.ENOTDIR}, "cache-dir /cache is not a directory (or a parent in its path is a file): name a directory"},
		{&fs.PathError{Op: "open", Path: "/cache/.tagsweep-probe-1", Err: syscall.EROFS}, "cache-dir /cache is on a read-only filesystem: mount a writable volume there (docker run -v, a Kubernetes emptyDir) or name a path on one"},
	} {
		if diff := cmp.Diff(tc.want, unwritable(dir, tc.err, 0).Error()); diff != "" {
			t.Errorf("cache-dir (-want +got):\n%s", diff)
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, unwritable(d, tc.err, tc.uid).Error()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// The run checks the report file, the cache directory and the runner's
// files, those that are set, in that order.
func TestDestinations(t *testing.T) {
	t.Parallel()
	env := map[string]string{action.OutputFile: "/gh/output", action.SummaryFile: "/gh/summary"}
	runner := action.New(func(k string) string { return env[k] }, &strings.Builder{})
	got := destinations(&config.Config{ReportFile: "out/r.json", CacheDir: "/cache"}, runner)
	want := []destination{{name: "report-file", path: "out/r.json", mkdir: true}, {name: "cache-dir", path: "/cache", dir: true},
		{name: action.OutputFile, path: "/gh/output"}, {name: action.SummaryFile, path: "/gh/summary"}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(destination{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := destinations(&config.Config{}, action.New(func(string) string { return "" }, &strings.Builder{})); len(got) != 0 {
		t.Errorf("outside Actions without report-file: %v", got)
	}
}
