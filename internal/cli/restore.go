package cli

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/tagsweep/tagsweep/internal/action"
	"github.com/tagsweep/tagsweep/internal/config"
	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/provider"
	"github.com/tagsweep/tagsweep/internal/registry/vendors"
	"github.com/tagsweep/tagsweep/internal/report"
	"github.com/tagsweep/tagsweep/internal/restore"
	"github.com/tagsweep/tagsweep/internal/undo"
)

// restoreOnly is the option of tagsweep restore that picks a part.
const restoreOnly = "only"

// openUndo opens the undo file of a real run (nil without undo-file, or in
// a dry run, which writes nothing). An incomplete last line a killed run
// left is cut off first, and the log says so.
func openUndo(c *config.Config, log io.Writer) (*undo.Writer, error) {
	if c.UndoFile == "" || c.DryRun {
		return nil, nil
	}
	w, cut, err := undo.Open(c.UndoFile)
	if err != nil {
		return nil, fmt.Errorf("undo-file %s %v", c.UndoFile, err)
	}
	if cut {
		fmt.Fprintf(log, "undo-file %s: cut off an incomplete last line left by a killed run (its deletion had not been sent)\n", c.UndoFile)
	}
	return w, nil
}

// traits are the provider's facts, or the zero Traits.
func traits(c *config.Config) provider.Traits {
	if t := vendors.Table.Lookup(c.Provider); t != nil {
		return *t
	}
	return provider.Traits{}
}

// undoNote is what the summary says of the undo file w: where it is, how
// many deletions it holds from this run, and the command that puts them
// back, while the registry allows.
func undoNote(c *config.Config, w *undo.Writer) *report.Undo {
	tr := traits(c)
	window := cmp.Or(tr.RestoreWindow, provider.DefaultRestoreWindow)
	if tr.RestoreRefused != "" {
		window = "but not on this registry: " + tr.RestoreRefused
	}
	cmd := fmt.Sprintf("tagsweep restore --registry %s --undo-file %s", c.Registry, quote(c.UndoFile))
	if c.Provider != "" && tr.Hosts != nil && !tr.Hosts(provider.Hostname(c.Host)) {
		cmd += " --provider " + string(c.Provider)
	}
	return &report.Undo{File: c.UndoFile, Entries: w.Count(), Restore: cmd, Window: window}
}

// quote quotes a path for a POSIX shell when it needs it.
func quote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/+=:,@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// restoreDestinations are the files tagsweep restore writes.
func restoreDestinations(c *config.Config, files []destination) []destination {
	var ds []destination
	if c.ReportFile != "" {
		ds = append(ds, destination{name: "report-file", path: c.ReportFile, mkdir: true})
	}
	return append(ds, files...)
}

func restoreCmd(ctx context.Context, args []string, env Env) int {
	only := ""
	var plan *restore.Plan
	var refs []restore.Ref
	var warns []string
	c, reg, code := setup(cmdRestore, args, env, func(fs *flag.FlagSet) {
		fs.StringVar(&only, restoreOnly, "", "repository:tag (or repository@digest) list: restore only these, with what they need")
	}, nil, func(c *config.Config) error {
		var err error
		plan, refs, warns, err = readUndo(c, only)
		return err
	})
	if code >= 0 {
		return code
	}
	env.adopted = true
	return Restore(ctx, c, reg, plan, refs, warns, env)
}

// readUndo reads and checks the undo file and --only before any request,
// and names the repositories of the undo file in c (the providers that
// list per owner or namespace build their backend from them).
func readUndo(c *config.Config, only string) (*restore.Plan, []restore.Ref, []string, error) {
	contents, err := undo.ReadFile(c.UndoFile)
	var fe *undo.FormatError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil, nil, &config.InputError{Input: "undo-file", Value: c.UndoFile, Why: "does not exist"}
	case errors.As(err, &fe):
		return nil, nil, nil, &config.InputError{Input: "undo-file", Value: c.UndoFile, Why: fe.Error()}
	case err != nil:
		return nil, nil, nil, &config.InputError{Input: "undo-file", Value: c.UndoFile, Why: "cannot be read: " + errors.Unwrap(err).Error()}
	}
	var refs []restore.Ref
	for _, s := range config.List(only) {
		r, err := restore.ParseRef(s, c.Host)
		if err != nil {
			return nil, nil, nil, &config.InputError{Input: restoreOnly, Value: s, Why: err.Error()}
		}
		refs = append(refs, r)
	}
	plan, err := restore.Select(contents.Entries, refs)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", restoreOnly, err)
	}
	var warns, hosts []string
	if contents.Truncated {
		warns = append(warns, "the undo file ends in an incomplete line (a run killed while writing it): its deletion had not been sent, so nothing is missing")
	}
	c.Repositories = nil
	for _, e := range contents.Entries {
		if e.Registry != "" && e.Registry != c.Host && !slices.Contains(hosts, e.Registry) {
			hosts = append(hosts, e.Registry)
		}
		if !slices.Contains(c.Repositories, e.Repository) {
			c.Repositories = append(c.Repositories, e.Repository)
		}
	}
	if len(hosts) > 0 {
		warns = append(warns, fmt.Sprintf("the undo file records deletions on %s; restoring them into %s", strings.Join(hosts, ", "), c.Host))
	}
	return plan, refs, warns, nil
}

// Restore runs a restore of plan (the undo file's selected entries) on
// reg and writes its report, summary and outputs; it returns the exit
// code. Main calls it from tagsweep restore.
func Restore(ctx context.Context, c *config.Config, reg Registry, plan *restore.Plan, only []restore.Ref, warnings []string, env Env) int {
	env, runner, flush := adopt(env, c, reg)
	defer flush()
	log := env.Stderr
	now := time.Now
	if env.Now != nil {
		now = env.Now
	}
	fmt.Fprintf(log, "tagsweep %s: restore into %s from %s, %s as %s\n", version(), c.Host, c.UndoFile, restoreMode(c.DryRun), cmp.Or(reg.Who, "anonymous"))
	var files []destination
	for _, f := range runner.Files() {
		files = append(files, destination{name: f.Var, path: f.Path})
	}
	broken, errs := checkDestinations(restoreDestinations(c, files), os.Getuid())
	b, ok := reg.Backend.(registry.Restorer)
	if !ok {
		errs = append(errs, fmt.Errorf("the %s provider cannot put manifests back", c.Provider))
	}
	if len(errs) > 0 {
		rep := &report.Restore{Registry: c.Host, UndoFile: c.UndoFile, DryRun: c.DryRun, StartedAt: now().UTC(), FinishedAt: now().UTC(), Repositories: []report.RestoreRepository{}}
		for _, err := range errs {
			rep.Errors = append(rep.Errors, err.Error())
		}
		rep.Errors = append(rep.Errors, "nothing was sent to the registry and nothing written")
		finishRestore(c, env, runner, rep, broken)
		return ExitFailed
	}
	ctx, cancel := withTimeout(ctx, c)
	defer cancel()
	rep := restore.Run(ctx, b, plan, restore.Options{Registry: c.Host, UndoFile: c.UndoFile, Only: only, DryRun: c.DryRun,
		Concurrency: c.Concurrency, Now: now, Log: log, Refused: traits(c).RestoreRefused})
	rep.Warnings = append(rep.Warnings, warnings...)
	if reg.Requests != nil {
		rep.Requests = reg.Requests()
	}
	if !finishRestore(c, env, runner, rep, nil) || rep.Failed() {
		return ExitFailed
	}
	return ExitOK
}

func restoreMode(dry bool) string {
	if dry {
		return "dry run"
	}
	return "writing"
}

// finishRestore writes the restore's report file, log lines, summary and
// outputs, as finish does for a sweep; it reports whether every
// destination was written.
func finishRestore(c *config.Config, env Env, runner interface {
	AddSummary(string) (bool, error)
	SetOutputs([][2]string) (bool, error)
}, rep *report.Restore, skip []string) bool {
	log := env.Stderr
	ok := true
	written := ""
	if c.ReportFile != "" && !slices.Contains(skip, "report-file") {
		if err := writeReport(c.ReportFile, rep, env.secrets); err != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("report-file: %v", err))
			ok = false
		} else {
			written = c.ReportFile
		}
	}
	for _, e := range rep.Errors {
		fmt.Fprintf(log, "error: %s\n", e)
	}
	for _, repo := range rep.Repositories {
		for _, it := range repo.Tags {
			if it.Action == report.NotRestored {
				fmt.Fprintf(log, "not restored: %s:%s: %s\n", repo.Name, it.Tag, it.Why())
			}
		}
	}
	for _, w := range rep.Warnings {
		fmt.Fprintf(log, "warning: %s\n", w)
	}
	t := rep.Totals
	word := "restored"
	if rep.DryRun {
		word = "would be restored"
	}
	fmt.Fprintf(log, "%s: %d %s, %d already there, %d not restored; %s, %d put back; %s\n", report.Count(t.Tags, "tag"), t.Restored, word, t.Present, t.NotRestored,
		report.Count(t.Manifests, "manifest"), t.ManifestsWritten, report.Count(int(rep.Requests), "request"))
	summary := rep.Summary()
	ok = deliver(log, "job summary", "it follows", slices.Contains(skip, action.SummaryFile),
		func() (bool, error) { return runner.AddSummary(summary) },
		func() { fmt.Fprintln(env.Stdout, rep.Text(report.TextOptions{Redact: env.secrets.String})) }) && ok
	var outs [][2]string
	for _, o := range rep.Outputs(written) {
		outs = append(outs, [2]string{o.Name, o.Value})
	}
	ok = deliver(log, "step outputs", "they follow", slices.Contains(skip, action.OutputFile),
		func() (bool, error) { return runner.SetOutputs(outs) },
		func() {
			for _, o := range outs {
				fmt.Fprintf(env.Stdout, "%s=%s\n", o[0], o[1])
			}
		}) && ok
	return ok
}
