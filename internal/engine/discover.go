package engine

import (
	"context"
	"fmt"
	"hash/fnv"
	"sort"

	"github.com/gobwas/glob"

	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/report"
)

// RepoGlob compiles a repository glob: `*` stays within one level, `**`
// crosses levels.
func RepoGlob(p string) (*glob.Pattern, error) {
	c := glob.Compiler{Separators: []rune{'/'}, Globstar: true}
	return c.Compile(p)
}

// Literal reports whether a repository pattern names one repository.
func Literal(p string) bool { return glob.QuoteMeta(p) == p }

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

// noSuchRepository is the warning for a repository named literally that
// does not exist or lists no tags (registries answer a missing repository
// with 404 NAME_UNKNOWN, or with 200 and no tags).
func noSuchRepository(name string) string {
	return name + ": no such repository, or it has no tags"
}

// scope discovers the repositories of the run, warns in rep of the
// literal names the catalog does not list, and logs how many there are.
func (e *Engine) scope(ctx context.Context, rep *report.Report) ([]string, error) {
	repos, unmatched, err := e.discover(ctx)
	if err != nil {
		return nil, err
	}
	for _, name := range unmatched {
		rep.Warnings = append(rep.Warnings, noSuchRepository(name))
		e.logf("%s (not in the catalog)", noSuchRepository(name))
	}
	e.logf("%s in scope", report.Count(len(repos), "repository"))
	return repos, nil
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
			if !seen[p] && e.byPolicy(p) {
				seen[p] = true
				out = append(out, p)
			}
		}
		sort.Strings(out)
		return out, nil, nil
	}
	if names, ok := e.policyLiterals(); ok {
		// Every rule names its repositories: those within the
		// repositories globs are the scope, and no catalog is read.
		for _, p := range names {
			if !seen[p] && matchesAny(e.o.Repositories, p) {
				seen[p] = true
				e.literal[p] = true
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
	all, err := call(e.work, func(b registry.Backend) ([]string, error) { return b.Repositories(ctx) })
	if err != nil {
		return nil, nil, fmt.Errorf("discover repositories: %w", err)
	}
	for _, r := range all {
		for _, g := range gs {
			if g.Match(r) && !seen[r] && e.byPolicy(r) {
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
