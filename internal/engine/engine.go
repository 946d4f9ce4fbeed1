// Package engine runs a retention policy over a registry: discover the
// repositories, inspect every tag and the graph behind it with bounded
// concurrency, plan each repository with the pure planner, take a second
// look, delete, and report. One repository's failure does not stop the
// others, and a Report is always returned.
package engine

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/glob"
	"golang.org/x/sync/errgroup"

	"github.com/tagsweep/tagsweep/internal/policy"
	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/image"
	"github.com/tagsweep/tagsweep/internal/report"
)

// Options configure a run.
type Options struct {
	// Registry is the registry as the report names it.
	Registry string
	// Repositories are the globs over repository names ("/" separates
	// levels). The default is "**".
	Repositories []string
	// Rules is the retention policy.
	Rules policy.Rules
	// Policy echoes the inputs in the report.
	Policy report.Policy
	// DryRun plans and reports without deleting.
	DryRun bool
	// Concurrency bounds the parallel work. The default is 8.
	Concurrency int
	// Now is the clock. The default is time.Now.
	Now func() time.Time
	// Log receives progress lines. The default is io.Discard.
	Log io.Writer
	// MaxDeletions, when positive, caps the tags a run deletes: a plan
	// deleting more (attached tags included) deletes nothing at all.
	MaxDeletions int
	// Grace is how long deletions already sent may finish after the run's
	// context ends (timeout, SIGTERM). The default is 5 seconds, under the
	// 7.5 s a cancelled GitHub Actions job waits before its next signal.
	Grace time.Duration
	// Shard, when Shards > 1, keeps only the repositories whose stable
	// hash falls in shard Shard (0-based; Shard == Shards means 0).
	Shard, Shards int
	// Progress, when positive, prints a progress line this often.
	Progress time.Duration
	// Groups prints each repository's lines as one GitHub Actions log
	// group when the repository is done (::group:: / ::endgroup::).
	Groups bool
}

// Engine applies a policy through a backend.
type Engine struct {
	b    registry.Backend
	o    Options
	logm sync.Mutex
	// literal are the repositories named without a glob: one missing or
	// without tags is a warning naming it, not a silent "0 tags".
	literal map[string]bool

	// progress counters
	reposDone, tagsRead, tagsDeleted atomic.Int64
	// inexact: an untagged listing failed, so reclaimed-bytes may over-count.
	inexact atomic.Bool
}

// New returns an engine. In dry-run the backend is wrapped so that it
// records deletions instead of sending them: the plan is the same plan.
func New(b registry.Backend, o Options) *Engine {
	if o.Concurrency < 1 {
		o.Concurrency = 8
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if len(o.Repositories) == 0 {
		o.Repositories = []string{"**"}
	}
	if o.Grace <= 0 {
		o.Grace = 5 * time.Second
	}
	if o.DryRun {
		b = registry.DryRun(b)
	}
	literal := map[string]bool{}
	for _, p := range o.Repositories {
		if Literal(p) {
			literal[p] = true
		}
	}
	return &Engine{b: b, o: o, literal: literal}
}

// noSuchRepository is the warning for a repository named literally that
// does not exist or lists no tags (registries answer a missing repository
// with 404 NAME_UNKNOWN, or with 200 and no tags).
func noSuchRepository(name string) string {
	return name + ": no such repository, or it has no tags"
}

func (e *Engine) logf(format string, args ...any) {
	e.logm.Lock()
	defer e.logm.Unlock()
	fmt.Fprintf(e.o.Log, format+"\n", args...)
}

// RepoGlob compiles a repository glob: `*` stays within one level, `**`
// crosses levels.
func RepoGlob(p string) (*glob.Pattern, error) {
	c := glob.Compiler{Separators: []rune{'/'}, Globstar: true}
	return c.Compile(p)
}

// Literal reports whether a repository pattern names one repository.
func Literal(p string) bool { return glob.QuoteMeta(p) == p }

// Run applies the policy and returns what happened.
func (e *Engine) Run(ctx context.Context) *report.Report {
	start := e.o.Now()
	caps := e.b.Capabilities()
	rep := &report.Report{Registry: e.o.Registry, DryRun: e.o.DryRun, StartedAt: start.UTC(), Policy: e.o.Policy,
		Repositories: []report.Repository{}, GCHint: caps.GCHint, ReclaimedAtMost: !caps.ListsUntagged}
	defer func() {
		rep.FinishedAt = e.o.Now().UTC()
		rep.ReclaimedAtMost = rep.ReclaimedAtMost || e.inexact.Load()
		rep.Tally()
	}()

	repos, unmatched, err := e.discover(ctx)
	if err != nil {
		rep.Errors = append(rep.Errors, err.Error())
		return rep
	}
	for _, name := range unmatched {
		rep.Warnings = append(rep.Warnings, noSuchRepository(name))
		e.logf("%s (not in the catalog)", noSuchRepository(name))
	}
	e.logf("%s in scope", report.Count(len(repos), "repository"))
	if e.o.Progress > 0 {
		stop := e.progress(len(repos))
		defer stop()
	}
	results := make([]report.Repository, len(repos))
	xs := make([]*execution, len(repos))
	var warnMu sync.Mutex
	warn := func(ws []string) {
		warnMu.Lock()
		rep.Warnings = append(rep.Warnings, ws...)
		warnMu.Unlock()
	}
	// With max-deletions every repository is planned before anything is
	// deleted; without it each repository goes on to delete as soon as
	// it is planned.
	twoPhase := e.o.MaxDeletions > 0
	g := errgroup.Group{}
	g.SetLimit(e.o.Concurrency)
	for i, name := range repos {
		g.Go(func() error {
			x, warns := e.plan(ctx, name)
			warn(warns)
			xs[i] = x
			if !twoPhase {
				results[i] = e.finish(ctx, x)
				xs[i] = nil // the snapshot is no longer needed
			}
			return nil
		})
	}
	_ = g.Wait()
	if twoPhase {
		if c := e.capDeletions(xs); c != nil {
			rep.Cap = c
			rep.Errors = append(rep.Errors, c.Error())
		}
		g := errgroup.Group{}
		g.SetLimit(e.o.Concurrency)
		for i, x := range xs {
			g.Go(func() error {
				results[i] = e.finish(ctx, x)
				return nil
			})
		}
		_ = g.Wait()
	}
	if ctx.Err() != nil {
		rep.Errors = append(rep.Errors, "the run stopped early: "+stopped(ctx))
	}
	rep.Repositories = results
	sort.Strings(rep.Warnings)
	rep.Warnings = compact(rep.Warnings)
	return rep
}

// InShard keeps the repositories whose stable hash (FNV-1a of the name)
// falls in shard i of n. i may be 0..n-1 or 1..n: n is the same shard as
// 0, so 0-based (Kubernetes JOB_COMPLETION_INDEX) and 1-based matrices
// both cover every repository exactly once.
func InShard(repos []string, i, n int) []string {
	if n <= 1 {
		return repos
	}
	var out []string
	for _, r := range repos {
		h := fnv.New64a()
		h.Write([]byte(r))
		if h.Sum64()%uint64(n) == uint64(i%n) {
			out = append(out, r)
		}
	}
	return out
}

// progress prints a line every Progress until stopped.
func (e *Engine) progress(total int) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(e.o.Progress)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				verb := "deleted"
				if e.o.DryRun {
					verb = "to delete"
				}
				e.logf("progress: %d/%d repositories done, %d tags inspected, %d %s", e.reposDone.Load(), total, e.tagsRead.Load(), e.tagsDeleted.Load(), verb)
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// stopped says why ctx ended (the cause: timeout, signal).
func stopped(ctx context.Context) string {
	if c := context.Cause(ctx); c != nil {
		return c.Error()
	}
	return ctx.Err().Error()
}

// capDeletions blocks every repository when the plans delete more tags
// than max-deletions; the refusal names the count and the first few tags.
func (e *Engine) capDeletions(xs []*execution) *report.Cap {
	c := &report.Cap{Max: e.o.MaxDeletions}
	for _, x := range xs {
		if x == nil || x.plan == nil {
			continue
		}
		for _, it := range x.plan.Items {
			if it.Action == policy.Delete {
				c.Planned++
				if len(c.First) < 5 {
					c.First = append(c.First, x.repo+":"+it.Tag)
				}
			}
		}
	}
	if c.Planned <= e.o.MaxDeletions {
		return nil
	}
	for _, x := range xs {
		if x != nil && x.blocked == nil {
			x.blocked = c
			x.capped = c
		}
	}
	return c
}

func compact(s []string) []string {
	var out []string
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// discover lists the repositories in scope: the literal names when every
// pattern is one (no catalog request), else the catalog filtered by the
// globs. unmatched are the literal names the catalog does not list (in
// this shard).
func (e *Engine) discover(ctx context.Context) (repos, unmatched []string, err error) {
	repos, unmatched, err = e.matching(ctx)
	if err != nil || e.o.Shards <= 1 {
		return repos, unmatched, err
	}
	in := InShard(repos, e.o.Shard, e.o.Shards)
	e.logf("shard %d/%d: %d of the %d repositories that match", e.o.Shard, e.o.Shards, len(in), len(repos))
	return in, InShard(unmatched, e.o.Shard, e.o.Shards), nil
}

// matching lists the repositories the globs match, and the literal
// patterns that match no repository of the catalog.
func (e *Engine) matching(ctx context.Context) ([]string, []string, error) {
	allLiteral := true
	for _, p := range e.o.Repositories {
		allLiteral = allLiteral && Literal(p)
	}
	seen := map[string]bool{}
	var out []string
	if allLiteral {
		for _, p := range e.o.Repositories {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
		sort.Strings(out)
		return out, nil, nil
	}
	var gs []*glob.Pattern
	for _, p := range e.o.Repositories {
		g, err := RepoGlob(p)
		if err != nil {
			return nil, nil, fmt.Errorf("repositories: %w", err)
		}
		gs = append(gs, g)
	}
	all, err := e.b.Repositories(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("discover repositories: %w", err)
	}
	for _, r := range all {
		for _, g := range gs {
			if g.Match(r) && !seen[r] {
				seen[r] = true
				out = append(out, r)
			}
		}
	}
	sort.Strings(out)
	var unmatched []string
	for _, p := range e.o.Repositories {
		if e.literal[p] && !seen[p] {
			seen[p] = true
			unmatched = append(unmatched, p)
		}
	}
	sort.Strings(unmatched)
	return out, unmatched, nil
}

// snapshot is what the first look learned about a repository.
type snapshot struct {
	tags      []policy.Tag
	manifests map[string]*image.Manifest
	referrers map[string][]string
	// vanished are tags deleted by someone else between listing and GET,
	// and tags the registry protects, with the reason they are kept.
	vanished map[string]policy.Reason
	// warnings are oddities that did not stop the repository.
	warnings []string
	exists   map[string]bool
	errs     []error
}

func (s *snapshot) input(now time.Time) policy.Input {
	return policy.Input{Tags: s.tags, Manifests: s.manifests, Referrers: s.referrers, Exists: s.exists, Now: now, Forced: s.vanished}
}

// plan lists, inspects and plans one repository. The execution it returns
// carries the plan (or the error that stopped the repository) to finish.
func (e *Engine) plan(ctx context.Context, name string) (*execution, []string) {
	x := &execution{e: e, repo: name}
	listed, err := e.b.Tags(ctx, name)
	if errors.Is(err, registry.ErrNotFound) && e.literal[name] {
		listed, err = nil, nil // said below, as for an empty listing
	}
	if err == nil && len(listed) == 0 && e.literal[name] {
		x.logf("%s", noSuchRepository(name)) // the run's warnings say it again at the end
		x.plan, x.snap, x.in = &policy.Plan{}, &snapshot{}, policy.Input{}
		return x, []string{noSuchRepository(name)}
	}
	if err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			err = fmt.Errorf("repository %q not found: %w", name, err)
		}
		x.listErr = err
		x.logf("%s: %v", name, err)
		return x, nil
	}
	snap := e.inspect(ctx, name, listed)
	e.readUntagged(ctx, name, snap)
	warns := append([]string(nil), snap.warnings...)
	now := e.o.Now()
	in := snap.input(now)

	// Plan as if single tags can be deleted; ask the registry only when
	// the plan needs it, and plan again if it cannot.
	in.TagDelete = true
	plan := policy.Make(e.o.Rules, in)
	asked := plan.NeedsTagDelete()
	if asked {
		ok, err := e.b.TagDeleteSupported(ctx, name)
		switch {
		case errors.Is(err, registry.ErrDeleteDisabled):
			// Nothing can be deleted; what would go by tag is kept, and
			// the user learns why (digest deletes fail with the same).
			warns = append(warns, err.Error())
			in.TagDelete = false
			plan = policy.Make(e.o.Rules, in)
		case err != nil:
			warns = append(warns, fmt.Sprintf("%s: could not tell whether the registry deletes single tags (%v); assuming it does", name, err))
		case !ok:
			in.TagDelete = false
			plan = policy.Make(e.o.Rules, in)
		}
	}
	x.logf("%s: %s, %d to delete", name, report.Count(len(plan.Items), "tag"), plan.Deletes())
	x.plan, x.snap, x.in, x.asked = plan, snap, in, asked
	if len(snap.errs) > 0 {
		x.blocked = fmt.Errorf("not deleted: the repository could not be inspected completely: %w", errors.Join(snap.errs...))
	}
	return x, warns
}

// finish takes the second look, deletes and reports one planned repository.
func (e *Engine) finish(ctx context.Context, x *execution) (out report.Repository) {
	out = report.Repository{Name: x.repo, Tags: []report.Tag{}}
	defer func() { e.done(x, out) }()
	if x.listErr != nil {
		out.Error = x.listErr.Error()
		return out
	}
	switch {
	case x.blocked != nil:
		if x.capped == nil {
			out.Error = x.blocked.Error()
		}
	case !e.o.DryRun && (x.plan.Deletes() > 0 || len(x.plan.Untagged) > 0):
		if ctx.Err() != nil {
			x.blocked = fmt.Errorf("not deleted: the run stopped before the second look: %s", stopped(ctx))
			out.Error = x.blocked.Error()
			break
		}
		if err := x.secondLook(ctx); err != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("%w (%s)", err, stopped(ctx))
			}
			x.blocked = fmt.Errorf("not deleted: second look failed: %w", err)
			out.Error = x.blocked.Error()
		}
	}
	x.execute(ctx)
	out.Tags = x.report()
	out.ReclaimedBytes = x.reclaimed
	if len(x.errs) > 0 && out.Error == "" {
		out.Error = joinErrors(x.errs)
	}
	return out
}

// joinErrors is a repository's error: one line per distinct failure. A
// registry that refuses deletes altogether is said once, however many
// DELETEs met the refusal before it was known (they go in parallel); each
// tag's own error still names its digest.
func joinErrors(errs []error) string {
	var lines []string
	seen := map[string]bool{}
	refused := false
	for _, err := range errs {
		msg := err.Error()
		if errors.Is(err, registry.ErrDeleteDisabled) {
			if refused {
				continue
			}
			refused = true
		}
		if !seen[msg] {
			seen[msg] = true
			lines = append(lines, msg)
		}
	}
	return strings.Join(lines, "\n")
}

// done counts a finished repository and prints its lines: as one log
// group in GitHub Actions, with the outcome in the group's title.
func (e *Engine) done(x *execution, out report.Repository) {
	e.reposDone.Add(1)
	var deleted, failed int
	for _, t := range out.Tags {
		switch t.Action {
		case report.Deleted, report.WouldDelete:
			deleted++
		case report.Failed:
			failed++
		}
	}
	verb := "deleted"
	if e.o.DryRun {
		verb = "would be deleted"
	}
	result := fmt.Sprintf("%s: %s, %d %s, %d failed", x.repo, report.Count(len(out.Tags), "tag"), deleted, verb, failed)
	if out.Error != "" {
		// A group title is one line: the first error, and how many more.
		first, _, more := strings.Cut(out.Error, "\n")
		result += ": " + first
		if more {
			result += " (more in the report)"
		}
	}
	if !e.o.Groups {
		return
	}
	e.logm.Lock()
	defer e.logm.Unlock()
	fmt.Fprintf(e.o.Log, "::group::%s\n", result)
	for _, l := range x.lines {
		fmt.Fprintln(e.o.Log, l)
	}
	fmt.Fprintln(e.o.Log, "::endgroup::")
}

// inspect resolves every tag with the full Accept set and walks the graph
// behind it: index children (any depth), referrers where the registry has
// the API, and the subjects of sha256-<hex> tags nothing else reaches.
func (e *Engine) inspect(ctx context.Context, repo string, listed []image.Tag) *snapshot {
	s := &snapshot{manifests: map[string]*image.Manifest{}, referrers: map[string][]string{}, exists: map[string]bool{}, vanished: map[string]policy.Reason{}}
	var mu sync.Mutex
	fail := func(err error) {
		mu.Lock()
		s.errs = append(s.errs, err)
		mu.Unlock()
	}
	s.tags = make([]policy.Tag, len(listed))
	// Tags whose digest the listing gives are read once per digest; the
	// others are read by tag.
	byDigest := map[string][]int{}
	var digests []string
	var byTag []int
	for i, t := range listed {
		s.tags[i] = policy.Tag{Name: t.Name, Pushed: t.Pushed}
		if t.Protected != "" {
			s.vanished[t.Name] = policy.ProtectedBy(t.Protected)
		}
		switch {
		case t.Digest == "":
			byTag = append(byTag, i)
		case byDigest[t.Digest] == nil:
			digests = append(digests, t.Digest)
			fallthrough
		default:
			byDigest[t.Digest] = append(byDigest[t.Digest], i)
		}
	}
	got := func(idx []int, m *image.Manifest) {
		e.tagsRead.Add(int64(len(idx)))
		mu.Lock()
		defer mu.Unlock()
		for _, i := range idx {
			s.tags[i].Digest = m.Digest
		}
		if _, ok := s.manifests[m.Digest]; !ok {
			s.manifests[m.Digest] = m
		}
	}
	readTag := func(i int) {
		t := s.tags[i].Name
		m, err := e.b.Manifest(ctx, repo, t)
		switch {
		case errors.Is(err, registry.ErrNotFound):
			mu.Lock()
			s.vanished[t] = policy.Because(policy.ReasonVanished)
			mu.Unlock()
		case err != nil:
			fail(fmt.Errorf("tag %s: %w", t, err))
		default:
			got([]int{i}, m)
		}
	}
	g := errgroup.Group{}
	g.SetLimit(e.o.Concurrency)
	for _, d := range digests {
		g.Go(func() error {
			m, err := e.b.Manifest(ctx, repo, d)
			switch {
			case errors.Is(err, registry.ErrNotFound):
				// The listing is stale: read its tags one by one.
				for _, i := range byDigest[d] {
					readTag(i)
				}
			case err != nil:
				fail(fmt.Errorf("manifest %s: %w", d, err))
			default:
				got(byDigest[d], m)
			}
			return nil
		})
	}
	for _, i := range byTag {
		g.Go(func() error {
			readTag(i)
			return nil
		})
	}
	_ = g.Wait()

	// Walk children and referrers breadth first; each digest once.
	asked := map[string]bool{}
	frontier := make([]string, 0, len(s.manifests))
	for d := range s.manifests {
		frontier = append(frontier, d)
	}
	sort.Strings(frontier)
	referrersAPI := true
	for depth := 0; len(frontier) > 0 && depth < 16; depth++ {
		var next []string
		add := func(d string) {
			mu.Lock()
			defer mu.Unlock()
			if _, ok := s.manifests[d]; !ok && !asked[d] {
				asked[d] = true
				next = append(next, d)
			}
		}
		for _, d := range frontier {
			for _, c := range s.manifests[d].Children {
				add(c)
			}
		}
		if referrersAPI {
			g := errgroup.Group{}
			g.SetLimit(e.o.Concurrency)
			var unsupported bool
			for i, d := range frontier {
				if i == 1 {
					// The first answer tells whether the API exists at all.
					_ = g.Wait()
					if unsupported {
						break
					}
				}
				g.Go(func() error {
					refs, err := e.b.Referrers(ctx, repo, d)
					switch {
					case errors.Is(err, registry.ErrReferrersUnsupported):
						mu.Lock()
						unsupported = true
						mu.Unlock()
					case err != nil:
						fail(fmt.Errorf("referrers of %s: %w", d, err))
					case len(refs) > 0:
						mu.Lock()
						s.referrers[d] = refs
						mu.Unlock()
						for _, r := range refs {
							add(r)
						}
					}
					return nil
				})
			}
			_ = g.Wait()
			referrersAPI = !unsupported
		}
		sort.Strings(next)
		g := errgroup.Group{}
		g.SetLimit(e.o.Concurrency)
		for _, d := range next {
			g.Go(func() error {
				m, err := e.b.Manifest(ctx, repo, d)
				if errors.Is(err, registry.ErrNotFound) {
					// A broken index (a child deleted by hand, or by the GC
					// of registry 2.8) or a stale referrers listing: there is
					// nothing to keep or delete behind it.
					mu.Lock()
					s.warnings = append(s.warnings, fmt.Sprintf("%s: manifest %s is referenced but does not exist", repo, d))
					mu.Unlock()
					return nil
				}
				if err != nil {
					fail(fmt.Errorf("manifest %s: %w", d, err))
					return nil
				}
				mu.Lock()
				s.manifests[d] = m
				mu.Unlock()
				return nil
			})
		}
		_ = g.Wait()
		frontier = nil
		for _, d := range next {
			if _, ok := s.manifests[d]; ok {
				frontier = append(frontier, d)
			}
		}
	}

	// Subjects of sha256-<hex> tags that nothing fetched: gone or untagged?
	var subjects []string
	seen := map[string]bool{}
	for _, t := range s.tags {
		if sub := policy.SubjectOf(t.Name); sub != "" {
			if _, ok := s.manifests[sub]; !ok && !seen[sub] {
				seen[sub] = true
				subjects = append(subjects, sub)
			}
		}
	}
	g = errgroup.Group{}
	g.SetLimit(e.o.Concurrency)
	for _, sub := range subjects {
		g.Go(func() error {
			ok, err := e.b.Exists(ctx, repo, sub)
			if err != nil {
				fail(fmt.Errorf("subject %s: %w", sub, err))
				return nil
			}
			mu.Lock()
			s.exists[sub] = ok
			mu.Unlock()
			return nil
		})
	}
	_ = g.Wait()
	return s
}

// readUntagged adds the repository's untagged manifests that no tag
// reaches to the snapshot, where the backend lists them: nothing deletes
// them, but the blobs they hold are not freed, so reclaimed-bytes counts
// them as used. Where it cannot, the figure is an upper bound.
func (e *Engine) readUntagged(ctx context.Context, repo string, s *snapshot) {
	l, ok := e.b.(registry.UntaggedLister)
	if !ok || !e.b.Capabilities().ListsUntagged {
		return
	}
	digests, err := l.Untagged(ctx, repo)
	if err != nil {
		e.inexact.Store(true)
		s.warnings = append(s.warnings, fmt.Sprintf("%s: could not list the untagged manifests (%v): reclaimed-bytes is at most the figure shown", repo, err))
		return
	}
	var mu sync.Mutex
	g := errgroup.Group{}
	g.SetLimit(e.o.Concurrency)
	for _, d := range digests {
		if _, ok := s.manifests[d]; ok {
			continue
		}
		g.Go(func() error {
			m, err := e.b.Manifest(ctx, repo, d)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, registry.ErrNotFound):
			case err != nil:
				e.inexact.Store(true)
				s.warnings = append(s.warnings, fmt.Sprintf("%s: could not read untagged manifest %s (%v): reclaimed-bytes is at most the figure shown", repo, d, err))
			default:
				s.manifests[d] = m
				s.exists[d] = true
			}
			return nil
		})
	}
	_ = g.Wait()
}

// Listed is one repository as `tagsweep ls` shows it.
type Listed struct {
	Name  string      `json:"name"`
	Tags  []ListedTag `json:"tags"`
	Error string      `json:"error,omitempty"`
}

// ListedTag is one tag as `tagsweep ls` shows it.
type ListedTag struct {
	Tag       string     `json:"tag"`
	Digest    string     `json:"digest"`
	MediaType string     `json:"mediaType"`
	Created   *time.Time `json:"created"`
	// Pushed is the registry's push time, where the provider reports one.
	Pushed *time.Time `json:"pushed,omitempty"`
	// Size is the bytes of the blobs (config and layers) the tag pulls,
	// over every platform of an index.
	Size int64 `json:"size"`
}

// List discovers the repositories and inspects the tags that match
// include and none of exclude, without planning or deleting.
func (e *Engine) List(ctx context.Context, include, exclude []policy.Glob) ([]Listed, error) {
	repos, _, err := e.discover(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Listed, len(repos))
	g := errgroup.Group{}
	g.SetLimit(e.o.Concurrency)
	for i, name := range repos {
		g.Go(func() error {
			out[i] = e.listOne(ctx, name, include, exclude)
			return nil
		})
	}
	_ = g.Wait()
	return out, nil
}

func (e *Engine) listOne(ctx context.Context, name string, include, exclude []policy.Glob) Listed {
	l := Listed{Name: name, Tags: []ListedTag{}}
	all, err := e.b.Tags(ctx, name)
	if err != nil {
		l.Error = err.Error()
		return l
	}
	var tags []image.Tag
	for _, t := range all {
		if matchAny(include, t.Name) && !matchAny(exclude, t.Name) {
			tags = append(tags, t)
		}
	}
	sort.Slice(tags, func(i, j int) bool { return tags[i].Name < tags[j].Name })
	snap := e.inspect(ctx, name, tags)
	if len(snap.errs) > 0 {
		l.Error = errors.Join(snap.errs...).Error()
	}
	now := e.o.Now()
	for _, t := range snap.tags {
		if t.Digest == "" {
			continue
		}
		m := snap.manifests[t.Digest]
		lt := ListedTag{Tag: t.Name, Digest: t.Digest, MediaType: m.MediaType, Size: size(snap.manifests, t.Digest)}
		if c, ok := policy.Age(snap.manifests, t.Digest, now); ok {
			c = c.UTC()
			lt.Created = &c
		}
		if policy.Plausible(t.Pushed, now) {
			p := t.Pushed.UTC()
			lt.Pushed = &p
		}
		l.Tags = append(l.Tags, lt)
	}
	return l
}

func matchAny(gs []policy.Glob, s string) bool {
	for _, g := range gs {
		if g.Match(s) {
			return true
		}
	}
	return false
}

// size sums the distinct blobs a manifest pulls, through index children.
func size(ms map[string]*image.Manifest, d string) int64 {
	seen := map[string]bool{}
	var n int64
	var walk func(d string, depth int)
	walk = func(d string, depth int) {
		m := ms[d]
		if m == nil || depth > 16 {
			return
		}
		for _, b := range m.Blobs {
			if !seen[b.Digest] {
				seen[b.Digest] = true
				n += b.Size
			}
		}
		for _, c := range m.Children {
			walk(c, depth+1)
		}
	}
	walk(d, 0)
	return n
}
