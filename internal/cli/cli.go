// Package cli implements the tagsweep commands: the sweep (no
// sub-command), `ls` and `version`. Inputs come from flags, TAGSWEEP_*
// variables and the runner's INPUT_* variables, in that order; results go
// to the injected writers. No HTTP and no deletion decision lives here.
package cli

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tagsweep/tagsweep/internal/action"
	"github.com/tagsweep/tagsweep/internal/config"
	"github.com/tagsweep/tagsweep/internal/engine"
	"github.com/tagsweep/tagsweep/internal/policy"
	"github.com/tagsweep/tagsweep/internal/redact"
	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/cache"
	"github.com/tagsweep/tagsweep/internal/registry/connect"
	"github.com/tagsweep/tagsweep/internal/registry/vendors"
	"github.com/tagsweep/tagsweep/internal/report"
)

// Version is set at build time with -ldflags "-X .../internal/cli.Version=v1.2.3".
var Version = "dev"

// Commit is set at build time with -ldflags "-X .../internal/cli.Commit=<sha>";
// empty means the build info's vcs.revision, if any.
var Commit = ""

// Exit codes.
const (
	ExitOK      = 0
	ExitFailed  = 1
	ExitInvalid = 2
)

// Env is what a command runs against.
type Env struct {
	Getenv func(string) string
	Stdout io.Writer
	Stderr io.Writer
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time

	// secrets redacts Stdout, Stderr, the report, the outputs and the
	// summary; maskTo is Stdout unredacted, for ::add-mask:: only.
	secrets *redact.Set
	maskTo  io.Writer
	// adopted: Main has read and masked the inputs already.
	adopted bool
}

// Registry is what the sweep and ls run against: a backend, and what the
// CLI says about it. Main builds it from the inputs with connect (STYLE
// point 8: the entry point wires real clients); Sweep and List take any,
// so that tests give a fake or a wrapped backend.
type Registry struct {
	// Backend is the registry's backend.
	Backend registry.Backend
	// Who describes the credentials in use, never the secret (the first
	// log line says it). Empty: "anonymous".
	Who string
	// Requests counts the requests sent so far, for the report and the
	// last log line; nil counts none.
	Requests func() int64
	// Secrets are secrets the backend found on its own (GITHUB_TOKEN),
	// redacted and masked like the password.
	Secrets []string
	// Limiter is the bound on requests in flight that the backend's HTTP
	// stacks wait on, which the engine owns from then on. Nil: the engine
	// makes one.
	Limiter *registry.Limiter
	// Pulls counts the requests the registry counts against its pull
	// limit (Docker Hub's manifest GETs), for the report and the summary;
	// nil where the registry has none.
	Pulls func() int64
	// Cache is the cache-dir the backend reads through (nil: none): the
	// sweep prunes it at the end and reports what it saved.
	Cache *cache.Cache
}

// Main runs tagsweep with args (without the program name) and returns the
// exit code. Everything it prints or writes passes through one redactor
// of the run's secrets (see package redact).
func Main(ctx context.Context, args []string, env Env) int {
	env, flush := prepare(env)
	defer flush()
	return run(ctx, args, env)
}

// prepare fills env's defaults and puts the redactor in front of its
// writers; flush writes out what the redactor holds back. An env already
// prepared is returned as it is.
func prepare(env Env) (_ Env, flush func()) {
	if env.secrets != nil {
		return env, func() {}
	}
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	env.secrets = redact.NewSet(redact.WithForms(report.Renderings))
	stdout, stderr := redact.NewWriter(orDiscard(env.Stdout), env.secrets), redact.NewWriter(orDiscard(env.Stderr), env.secrets)
	env.Stdout, env.Stderr, env.maskTo = stdout, stderr, stdout.Raw()
	return env, func() {
		stderr.Flush()
		stdout.Flush()
	}
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

func run(ctx context.Context, args []string, env Env) int {
	if len(args) == 1 && (args[0] == "--version" || args[0] == "-version") {
		args = []string{"version"} // what most CLIs answer to
	}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "version":
			fmt.Fprintf(env.Stdout, "tagsweep %s%s\n", version(), commitSuffix())
			return ExitOK
		case "ls":
			return list(ctx, args[1:], env)
		case "restore":
			return restoreCmd(ctx, args[1:], env)
		case "help":
			usage(env.Stdout, cmdSweep, nil)
			return ExitOK
		default:
			fmt.Fprintf(env.Stderr, "tagsweep: unknown command %q (commands: ls, restore, version; no command applies the policy)\n", args[0])
			return ExitInvalid
		}
	}
	return sweep(ctx, args, env)
}

func version() string {
	if Version != "dev" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return Version
}

// commitSuffix is " (commit <sha>)" for `tagsweep version`: Commit when
// stamped (the release), else the build info's vcs.revision (a go build in
// a git checkout), else "" (go install …@vX.Y.Z builds from the module zip,
// which carries no revision).
func commitSuffix() string {
	if Commit != "" {
		return " (commit " + Commit + ")"
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		return revision(bi.Settings)
	}
	return ""
}

func revision(settings []debug.BuildSetting) string {
	var rev, modified string
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = ", modified"
			}
		}
	}
	if rev == "" {
		return ""
	}
	return " (commit " + rev + modified + ")"
}

// stringFlag records a flag value; bool inputs accept a bare --name.
type stringFlag struct {
	name   string
	set    map[string]string
	isBool bool
}

func (f *stringFlag) String() string     { return f.set[f.name] }
func (f *stringFlag) Set(v string) error { f.set[f.name] = v; return nil }
func (f *stringFlag) IsBoolFlag() bool   { return f.isBool }

// joinBoolValues turns "--dry-run true" into "--dry-run=true": Go's flag
// package takes a bool flag's value only after "=", and would leave "true"
// as a stray argument. A word right after a bool input that is not itself
// a flag is its value ("--dry-run maybe" is then refused as "maybe", not
// as a stray argument); "--dry-run" alone, or before another flag, still
// means true. tagsweep takes no positional arguments, so no word is lost.
func joinBoolValues(fs *flag.FlagSet, args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || a == "-" {
			return append(out, args[i:]...)
		}
		if f := fs.Lookup(flagName(a)); f != nil && !strings.Contains(a, "=") && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
				out = append(out, a+"="+args[i+1])
				i++
				continue
			}
		}
		out = append(out, a)
	}
	return out
}

// inputs parses the flags of a command and returns the lookup that applies
// the precedence: flag, TAGSWEEP_NAME, INPUT_NAME.
func inputs(cmd command, args []string, env Env, runner *action.Runner, extra func(*flag.FlagSet)) (config.Lookup, error) {
	set := map[string]string{}
	fs := flagSet(cmd, set, extra)
	if err := checkFlags(fs, args, cmd); err != nil {
		return nil, err
	}
	if err := fs.Parse(joinBoolValues(fs, args)); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (inputs are given as --name value)", fs.Arg(0))
	}
	return func(name string) string {
		if v := set[name]; strings.TrimSpace(v) != "" {
			return v
		}
		if v := env.Getenv("TAGSWEEP_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))); strings.TrimSpace(v) != "" {
			return v
		}
		return runner.Input(name)
	}, nil
}

// invalid prints the one line of an invalid-input failure.
func invalid(w io.Writer, err error) int {
	var msgs []string
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		for _, e := range joined.Unwrap() {
			msgs = append(msgs, e.Error())
		}
	} else {
		msgs = append(msgs, err.Error())
	}
	fmt.Fprintf(w, "tagsweep: invalid input: %s\n", strings.Join(msgs, "; "))
	return ExitInvalid
}

func shardText(c *config.Config) string {
	if c.Shards == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d", c.Shard, c.Shards)
}

// withTimeout bounds the run by the timeout input; the cause names it.
func withTimeout(ctx context.Context, c *config.Config) (context.Context, context.CancelFunc) {
	if c.Timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeoutCause(ctx, c.Timeout, fmt.Errorf("timeout %s reached", c.TimeoutText))
}

// ageSource is the age a run uses: the push time where the provider
// reports one (age-source auto or pushed), else the creation time.
func ageSource(c *config.Config) string {
	if c.AgeSource != policy.AgeCreated && c.Caps.PushTime {
		return string(policy.AgePushed)
	}
	return string(policy.AgeCreated)
}

// connectTo builds the registry of the inputs: the one place the CLI
// wires real clients. One Limiter of the concurrency input bounds the
// requests in flight of every HTTP stack of the backend; the engine owns it
// from then on.
//
// created asks for creation times even where the run would age tags by
// push time (ls shows them): a backend that builds the graph from a
// listing without them then reads the manifests (on Docker Hub, pulls).
//
// noDeletes: the run deletes nothing (ls, restore), so tokens are asked
// without the delete scope.
func connectTo(c *config.Config, env Env, userAgent string, created, noDeletes bool) (Registry, error) {
	limiter := registry.NewLimiter(c.Concurrency)
	var ch *cache.Cache
	if c.CacheDir != "" {
		ch = cache.New(c.CacheDir) // no I/O: Sweep checks it before the first request
	}
	b, err := vendors.All.New(connect.Settings{
		Kind: c.Provider, Host: c.Host, Scheme: c.Scheme, Insecure: c.Insecure, Roots: c.Roots,
		Concurrency: c.Concurrency, Limiter: limiter, UserAgent: userAgent, Username: c.Username, Password: c.Password,
		APIToken: c.APIToken, Repositories: c.Repositories, Getenv: env.Getenv, Secrets: env.secrets, Cache: ch, Deletes: !noDeletes && !c.DryRun,
		CreatedAges: created || ageSource(c) == string(policy.AgeCreated),
	})
	if err != nil {
		return Registry{}, err
	}
	return Registry{Backend: b.Backend, Who: b.Who, Requests: b.Requests, Secrets: b.Secrets, Limiter: limiter, Pulls: b.Pulls, Cache: ch}, nil
}

// addSecrets adds the secret inputs to the redactor, from every source
// (the value in use and the ones it overrides), and GITHUB_TOKEN, which a
// run may use on its own.
func addSecrets(env Env, get config.Lookup) {
	for _, in := range config.Inputs {
		if in.Secret {
			if get != nil {
				env.secrets.Add(get(in.Name))
			}
			env.secrets.Add(env.Getenv("TAGSWEEP_"+strings.ToUpper(strings.ReplaceAll(in.Name, "-", "_"))),
				env.Getenv("INPUT_"+strings.ToUpper(in.Name)))
		}
	}
	env.secrets.Add(env.Getenv("GITHUB_TOKEN"))
}

func newRunner(env Env) *action.Runner {
	return action.New(env.Getenv, env.Stdout, action.WithSecrets(env.secrets), action.WithMaskWriter(env.maskTo))
}

// setup reads and validates a command's inputs, masks the secrets and
// builds the backend. A non-negative code means: stop and exit with it.
func setup(cmd command, args []string, env Env, extra func(*flag.FlagSet), check func() error, loaded func(*config.Config) error) (*config.Config, Registry, int) {
	runner := newRunner(env)
	get, err := inputs(cmd, args, env, runner, extra)
	addSecrets(env, get)
	if errors.Is(err, flag.ErrHelp) {
		usage(env.Stdout, cmd, extra)
		return nil, Registry{}, ExitOK
	}
	if err == nil && check != nil {
		err = check()
	}
	if err != nil {
		return nil, Registry{}, invalid(env.Stderr, err)
	}
	// The table with the hosts the environment names (GitHub Enterprise
	// Server's containers.HOSTNAME): provider auto picks their kind.
	kinds := vendors.Table.In(env.Getenv)
	var c *config.Config
	if cmd == cmdRestore {
		c, err = config.LoadRestore(get, kinds)
	} else {
		c, err = config.Load(get, cmd == cmdList, kinds)
	}
	if err == nil && loaded != nil {
		err = loaded(c)
	}
	if err != nil {
		return nil, Registry{}, invalid(env.Stderr, err)
	}
	maskConfig(env, runner, c)
	reg, err := connectTo(c, env, "tagsweep/"+version(), cmd == cmdList, cmd != cmdSweep)
	var pe *connect.Error
	switch {
	case errors.As(err, &pe):
		return nil, Registry{}, invalid(env.Stderr, err)
	case err != nil:
		return nil, Registry{}, invalid(env.Stderr, fmt.Errorf("registry: %w", err))
	}
	return c, reg, -1
}

// maskConfig adds the credentials of c to the redactor and masks the
// password in Actions.
func maskConfig(env Env, runner *action.Runner, c *config.Config) {
	env.secrets.AddBasic(c.Username, c.Password)
	env.secrets.Add(c.APIToken)
	runner.Mask(c.Password) // also one shorter than redact.MinLen
	runner.Mask(c.APIToken)
}

// adopt prepares env for Sweep or List called on their own (not through
// Main): the redactor, and the secrets of c, the environment and reg.
func adopt(env Env, c *config.Config, reg Registry) (Env, *action.Runner, func()) {
	env, flush := prepare(env)
	runner := newRunner(env)
	if !env.adopted {
		addSecrets(env, nil)
		maskConfig(env, runner, c)
	}
	env.secrets.Add(reg.Secrets...)
	return env, runner, flush
}

func sweep(ctx context.Context, args []string, env Env) int {
	c, reg, code := setup(cmdSweep, args, env, nil, nil, nil)
	if code >= 0 {
		return code
	}
	env.adopted = true
	return Sweep(ctx, c, reg, env)
}

// Sweep applies the retention policy of c (validated inputs, from
// config.Load) to reg, writes what happened (log, report-file, job summary,
// step outputs) to env, and returns the exit code. Main calls it with the
// registry it connects to; tests call it with any backend.
func Sweep(ctx context.Context, c *config.Config, reg Registry, env Env) int {
	env, runner, flush := adopt(env, c, reg)
	defer flush()
	log := env.Stderr
	fmt.Fprintf(log, "tagsweep %s: %s, repositories %s, %s as %s\n", version(), c.Host, strings.Join(c.Repositories, ","), mode(c.DryRun), cmp.Or(reg.Who, "anonymous"))
	if broken, errs := checkDestinations(destinations(c, runner), os.Getuid()); len(errs) > 0 {
		now := time.Now
		if env.Now != nil {
			now = env.Now
		}
		rep := &report.Report{Registry: c.Host, DryRun: c.DryRun, StartedAt: now().UTC(), FinishedAt: now().UTC(),
			Policy: policyOf(c), Repositories: []report.Repository{}}
		for _, err := range errs {
			rep.Errors = append(rep.Errors, err.Error())
		}
		rep.Errors = append(rep.Errors, "nothing was sent to the registry and nothing deleted: every output must be writable before the first request")
		rep.Tally()
		finish(c, env, runner, rep, broken)
		return ExitFailed
	}
	journal, err := openUndo(c, log)
	if err != nil {
		rep := &report.Report{Registry: c.Host, DryRun: c.DryRun, StartedAt: time.Now().UTC(), FinishedAt: time.Now().UTC(),
			Policy: policyOf(c), Repositories: []report.Repository{}}
		rep.Errors = append(rep.Errors, err.Error(), "nothing was sent to the registry and nothing deleted: every output must be writable before the first request")
		rep.Tally()
		finish(c, env, runner, rep, []string{"undo-file"})
		return ExitFailed
	}
	ctx, cancel := withTimeout(ctx, c)
	defer cancel()
	opts := engine.Options{
		Registry: c.Host, Repositories: c.Repositories, Rules: c.Rules, DryRun: c.DryRun,
		Concurrency: c.Concurrency, Limiter: reg.Limiter, Now: env.Now, Log: log, MaxDeletions: c.MaxDeletions,
		Shard: c.Shard, Shards: c.Shards, Progress: 5 * time.Second, Observer: runner.Observer(log),
		Policy: policyOf(c), Provider: string(c.Provider), Protect: protectOf(c), ProtectElsewhere: c.ProtectElsewhere,
		SpillDirs: spillDirs(c),
	}
	if journal != nil {
		opts.Undo = journal
	}
	e := engine.New(reg.Backend, opts)
	rep := e.Run(ctx)
	defer rep.Close()
	if reg.Requests != nil {
		rep.Requests = reg.Requests()
	}
	if journal != nil {
		if err := journal.Close(); err != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("undo-file: %v", err))
		}
		rep.Undo = undoNote(c, journal)
	}
	if reg.Pulls != nil {
		n := reg.Pulls()
		rep.Pulls = &n
	}
	if reg.Cache != nil {
		rep.Cache = cacheReport(reg.Cache)
	}
	if !finish(c, env, runner, rep, nil) || rep.Failed() {
		return ExitFailed
	}
	return ExitOK
}

// spillDirs are where the report's entries of finished repositories may
// go: the system's temporary directory, else the directories the run
// writes anyway (a read-only root filesystem may have no writable TMPDIR).
func spillDirs(c *config.Config) []string {
	dirs := []string{""}
	if c.CacheDir != "" {
		dirs = append(dirs, c.CacheDir)
	}
	if c.ReportFile != "" {
		dirs = append(dirs, filepath.Dir(c.ReportFile))
	}
	return dirs
}

// cacheReport prunes the cache of the entries no run used for 30 days and
// says what it saved in this run and what it holds now.
func cacheReport(ch *cache.Cache) *report.Cache {
	st := ch.Stats()
	rc := &report.Cache{Dir: ch.Dir(), ManifestHits: st.ManifestHits, ManifestMisses: st.ManifestMisses,
		ConfigHits: st.ConfigHits, ConfigMisses: st.ConfigMisses, Dropped: st.Dropped}
	u, err := ch.Prune(cache.Unused)
	if err != nil {
		rc.Error = fmt.Sprintf("could not prune it: %v", err)
	}
	rc.Entries, rc.Bytes, rc.Pruned = u.Entries, u.Bytes, u.Pruned
	return rc
}

// policyOf echoes the inputs that shape the plan, for the report.
func policyOf(c *config.Config) report.Policy {
	return report.Policy{
		Repositories: c.Repositories, Keep: c.Keep, OlderThan: c.OlderThanText, IncludeTags: c.IncludeTags,
		ExcludeTags: c.ExcludeTags, KeepSemver: c.KeepSemver, OrderBy: c.OrderBy, DeleteOrphans: c.DeleteOrphans,
		DeleteUntagged: c.DeleteUntagged, KeepUntagged: c.KeepUntagged,
		Provider: string(c.Provider), AgeSource: ageSource(c), MaxDeletions: c.MaxDeletions, Timeout: c.TimeoutText, Shard: shardText(c),
		PolicyFile: c.PolicyFile, Rules: rulesOf(c), ProtectImages: protectTexts(c),
	}
}

// rulesOf echoes the policy file's rules, as written with their defaults.
func rulesOf(c *config.Config) []report.PolicyRule {
	var out []report.PolicyRule
	for i, r := range c.PolicyRules {
		out = append(out, report.PolicyRule{Rule: i + 1, Repositories: r.Repositories, Tags: r.Tags, ExcludeTags: r.ExcludeTags,
			Keep: r.Keep, OlderThan: r.OlderThan, KeepSemver: r.KeepSemver, OrderBy: r.OrderBy,
			DeleteUntagged: r.DeleteUntagged, KeepUntagged: r.KeepUntagged})
	}
	return out
}

// protectOf hands protect-images to the engine.
func protectOf(c *config.Config) []engine.Protect {
	var out []engine.Protect
	for _, r := range c.Protect {
		out = append(out, engine.Protect{Text: r.Text, Repository: r.Repository, Tag: r.Tag, Digest: r.Digest})
	}
	return out
}

func protectTexts(c *config.Config) []string {
	var out []string
	for _, r := range c.Protect {
		out = append(out, r.Text)
	}
	return out
}

// finish writes what the run did: the report file, the log lines, the
// annotations (in GitHub Actions), the job summary, summary-file and the
// step outputs. skip names destinations already known to be unwritable.
// The job summary goes to GITHUB_STEP_SUMMARY in markdown, else to stdout
// as plain text (a summary or outputs that cannot be written go to stdout
// too, so that the log keeps the record of what was deleted);
// summary-file gets the markdown. It reports whether every destination
// was written.
func finish(c *config.Config, env Env, runner *action.Runner, rep *report.Report, skip []string) bool {
	log := env.Stderr
	skipped := func(name string) bool { return slices.Contains(skip, name) }
	ok := true
	written := ""
	if c.ReportFile != "" && !skipped("report-file") {
		if err := writeReport(c.ReportFile, rep, env.secrets); err != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("report-file: %v", err))
			ok = false
		} else {
			written = c.ReportFile
		}
	}
	limit := 0
	if runner.InActions() && env.Getenv(action.OutputFile) != "" {
		limit = report.MaxOutput
	}
	outputs, warning := rep.Outputs(written, limit)
	if warning != "" {
		rep.Warnings = append(rep.Warnings, warning)
	}
	problems := rep.Problems()
	for _, p := range problems {
		level := "error"
		if p.Warning {
			level = "warning"
		}
		fmt.Fprintf(log, "%s: %s\n", level, p)
	}
	t := rep.Totals
	fmt.Fprintf(log, "%s, %s: %d %s, %d kept, %d failed, %s reclaimable after GC, %s\n",
		report.Count(t.Repositories, "repository"), report.Count(t.Tags, "tag"), t.Deleted, deletedWord(c.DryRun), t.Kept, t.Failed, rep.Reclaimed(t.ReclaimedBytes), report.Count(int(rep.Requests), "request"))
	if rep.Pulls != nil {
		fmt.Fprintf(log, "pulls counted against the registry's pull limit: %d (manifest GETs; HEADs are not pulls)\n", *rep.Pulls)
	}
	if rep.ReclaimedAtMost && t.ReclaimedBytes > 0 {
		fmt.Fprintf(log, "note: reclaimable after GC is at most %s: %s\n", report.Bytes(t.ReclaimedBytes), report.ReclaimedNote)
	}
	if rep.Cache != nil {
		fmt.Fprintf(log, "cache-dir %s: %s\n", rep.Cache.Dir, rep.Cache)
	}
	if rep.Load != nil && rep.Load.Long() {
		fmt.Fprintf(log, "requests: %s\n", rep.Load)
	}
	if err := runner.Annotate(problems); err != nil {
		fmt.Fprintf(log, "error: annotations: %v\n", err)
	}

	summary := rep.Summary()
	if c.SummaryFile != "" && !skipped("summary-file") {
		if err := writeRedacted(c.SummaryFile, summary, env.secrets); err != nil {
			fmt.Fprintf(log, "error: summary-file: %v\n", err)
			ok = false
		}
	}
	ok = deliver(log, "job summary", "it follows", skipped(action.SummaryFile),
		func() (bool, error) { return runner.AddSummary(summary) },
		func() { fmt.Fprintln(env.Stdout, rep.Text(report.TextOptions{Redact: env.secrets.String})) }) && ok
	var outs [][2]string
	for _, o := range outputs {
		outs = append(outs, [2]string{o.Name, o.Value})
	}
	ok = deliver(log, "step outputs", "they follow", skipped(action.OutputFile),
		func() (bool, error) { return runner.SetOutputs(outs) },
		func() {
			for _, o := range outs {
				fmt.Fprintf(env.Stdout, "%s=%s\n", o[0], o[1])
			}
		}) && ok
	return ok
}

// deliver writes one destination of the runner (unless skip: it is
// known to be unwritable). Where the runner gives none, or the write
// fails, stdout gets it (fallback): the log keeps the record. It reports
// whether the write did not fail.
func deliver(log io.Writer, what, follows string, skip bool, write func() (bool, error), fallback func()) bool {
	wrote, err := false, error(nil)
	if !skip {
		wrote, err = write()
	}
	if err != nil {
		fmt.Fprintf(log, "error: %s: %v; %s on stdout\n", what, err, follows)
	}
	if !wrote || err != nil {
		fallback()
	}
	return err == nil
}

func mode(dry bool) string {
	if dry {
		return "dry run"
	}
	return "deleting"
}

func deletedWord(dry bool) string {
	if dry {
		return "would be deleted"
	}
	return "deleted"
}

// writeReport writes the JSON report (a sweep's or a restore's) to path,
// redacted.
func writeReport(path string, rep interface{ WriteJSON(io.Writer) error }, secrets *redact.Set) error {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	red := redact.NewWriter(f, secrets)
	w := bufio.NewWriterSize(red, 1<<20)
	err = rep.WriteJSON(w)
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if ferr := red.Flush(); err == nil {
		err = ferr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeRedacted writes text to path (its missing directories created),
// redacted.
func writeRedacted(path, text string, secrets *redact.Set) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(secrets.String(text)), 0o644)
}

// lsFormat is the flag that chooses the output of tagsweep ls.
const lsFormat = "format"

func list(ctx context.Context, args []string, env Env) int {
	format := "text"
	c, reg, code := setup(cmdList, args, env, func(fs *flag.FlagSet) {
		fs.StringVar(&format, lsFormat, "text", "text or json")
	}, func() error {
		if format != "text" && format != "json" {
			return fmt.Errorf("format: %q must be text or json", format)
		}
		return nil
	}, nil)
	if code >= 0 {
		return code
	}
	env.adopted = true
	return List(ctx, c, reg, format, env)
}

// List lists the repositories and tags of c (validated inputs, from
// config.Load with forList) on reg, as a table (format "text") or JSON
// ("json"), to env, and returns the exit code. Main calls it with the
// registry it connects to; tests call it with any backend.
func List(ctx context.Context, c *config.Config, reg Registry, format string, env Env) int {
	env, _, flush := adopt(env, c, reg)
	defer flush()
	ctx, cancel := withTimeout(ctx, c)
	defer cancel()
	e := engine.New(reg.Backend, engine.Options{Registry: c.Host, Repositories: c.Repositories, Concurrency: c.Concurrency, Limiter: reg.Limiter,
		Now: env.Now, Shard: c.Shard, Shards: c.Shards})
	repos, err := e.List(ctx, c.Rules.Include, c.Rules.Exclude)
	code := ExitOK
	if err != nil {
		fmt.Fprintf(env.Stderr, "error: %v\n", err)
		code = ExitFailed
	}
	for _, r := range repos {
		if r.Error != "" {
			fmt.Fprintf(env.Stderr, "error: %s: %s\n", r.Name, r.Error)
			code = ExitFailed
		}
	}
	if format == "json" {
		out, _ := json.MarshalIndent(repos, "", "  ")
		fmt.Fprintln(env.Stdout, string(out))
		return code
	}
	pushed := false // a PUSHED column where the provider reports push times
	for _, r := range repos {
		for _, t := range r.Tags {
			pushed = pushed || t.Pushed != nil
		}
	}
	when := func(t *time.Time) string {
		if t == nil {
			return "unknown"
		}
		return t.UTC().Format(time.RFC3339)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	if pushed {
		fmt.Fprintln(tw, "REPOSITORY\tTAG\tDIGEST\tMEDIA TYPE\tCREATED\tPUSHED\tSIZE")
	} else {
		fmt.Fprintln(tw, "REPOSITORY\tTAG\tDIGEST\tMEDIA TYPE\tCREATED\tSIZE")
	}
	for _, r := range repos {
		for _, t := range r.Tags {
			if pushed {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, t.Tag, t.Digest, t.MediaType, when(t.Created), when(t.Pushed), report.Bytes(t.Size))
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, t.Tag, t.Digest, t.MediaType, when(t.Created), report.Bytes(t.Size))
		}
	}
	tw.Flush()
	return code
}
