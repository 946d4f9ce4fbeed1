package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/tagsweep/tagsweep/internal/action"
	"github.com/tagsweep/tagsweep/internal/config"
)

// destination is a file the run writes when it ends. Every destination is
// checked before the first registry request, so that no run deletes what
// it then cannot report (a docker action running as a uid that may not
// write the runner's files did exactly that).
type destination struct {
	// name is what the user knows it by: the input or the variable.
	name string
	path string
	// mkdir creates missing parent directories, as the write does.
	mkdir bool
	// dir: the destination is a directory the run writes files in.
	dir bool
}

// destinations lists what this run will write (a directory, cache-dir,
// probes with a file created and removed in it). undo-file is probed in
// dry runs too, which write nothing to it, so that a dry run refuses what
// the real run would.
func destinations(c *config.Config, runner *action.Runner) []destination {
	var ds []destination
	if c.ReportFile != "" {
		ds = append(ds, destination{name: "report-file", path: c.ReportFile, mkdir: true})
	}
	if c.SummaryFile != "" {
		ds = append(ds, destination{name: "summary-file", path: c.SummaryFile, mkdir: true})
	}
	if c.UndoFile != "" {
		ds = append(ds, destination{name: "undo-file", path: c.UndoFile, mkdir: true})
	}
	if c.CacheDir != "" {
		ds = append(ds, destination{name: "cache-dir", path: c.CacheDir, dir: true})
	}
	for _, f := range runner.Files() {
		ds = append(ds, destination{name: f.Var, path: f.Path})
	}
	return ds
}

// checkDestinations probes every destination and returns the errors of
// those that cannot be written, by name, in the list's order.
func checkDestinations(ds []destination, uid int) (names []string, errs []error) {
	for _, d := range ds {
		if err := probe(d); err != nil {
			names = append(names, d.name)
			errs = append(errs, unwritable(d, err, uid))
		}
	}
	return names, errs
}

// probe opens d for writing without changing it: an existing file is
// opened for append (never truncated: a report from an earlier run stays
// until this run writes its own), a missing one is created and removed
// again (its parent directories, with mkdir, are created and stay). A
// directory (created where missing, as the cache creates it) is probed
// with a file created and removed in it.
func probe(d destination) error {
	if d.dir {
		if err := os.MkdirAll(d.path, 0o755); err != nil {
			return err
		}
		f, err := os.CreateTemp(d.path, ".tagsweep-probe-*")
		if err != nil {
			return err
		}
		f.Close()
		return os.Remove(f.Name())
	}
	if d.mkdir {
		if err := os.MkdirAll(filepath.Dir(d.path), 0o755); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(d.path, os.O_WRONLY|os.O_APPEND, 0)
	if errors.Is(err, fs.ErrNotExist) {
		f, err = os.OpenFile(d.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			f.Close()
			return os.Remove(d.path)
		}
	}
	if err != nil {
		return err
	}
	return f.Close()
}

// unwritable says which destination cannot be written, why, and the fix.
func unwritable(d destination, err error, uid int) error {
	what := fmt.Sprintf("%s %s", d.name, d.path)
	var why string
	switch {
	case errors.Is(err, fs.ErrPermission) && uid > 0:
		why = fmt.Sprintf("is not writable by uid %d: run the image as root (the default, as GitHub runs a docker action), "+
			"or give uid %d write access there (docker run --user with a volume it owns, Kubernetes runAsUser with fsGroup)", uid, uid)
	case errors.Is(err, fs.ErrPermission):
		why = fmt.Sprintf("is not writable (%v): check the mount and the security policy that refuse it", errors.Unwrap(err))
	case errors.Is(err, syscall.EROFS):
		why = "is on a read-only filesystem: mount a writable volume there (docker run -v, a Kubernetes emptyDir) or name a path on one"
	case errors.Is(err, syscall.EISDIR):
		why = "is a directory: name a file"
	case d.dir && (errors.Is(err, syscall.ENOTDIR) || errors.Is(err, fs.ErrExist)):
		why = "is not a directory (or a parent in its path is a file): name a directory"
	case errors.Is(err, syscall.ENOTDIR):
		why = "cannot be created: a parent in its path is a file, not a directory"
	case errors.Is(err, fs.ErrNotExist):
		why = "cannot be created: its directory does not exist"
	default:
		why = fmt.Sprintf("cannot be written: %v", err)
	}
	return fmt.Errorf("%s %s", what, why)
}
