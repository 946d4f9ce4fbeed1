package engine

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/image"
)

// gauge is a Backend that counts the calls in flight, by kind and in all,
// and holds every call until the test releases the calls held. Run in a
// synctest bubble, every call the engine can start is started before any
// returns, so the peaks are the most the engine can ever have in flight.
type gauge struct {
	registry.Backend
	mu       sync.Mutex
	release  chan struct{}
	inFlight int
	byKind   map[string]int
	peak     int
	peakKind map[string]int
	// byRepo counts the calls in flight by repository, listings left out
	// (a repository is listed before it takes its share of TagsInFlight);
	// peakRepos is the most repositories with a call in flight at once.
	byRepo    map[string]int
	peakRepos int
}

func newGauge(b registry.Backend) *gauge {
	return &gauge{Backend: b, release: make(chan struct{}), byKind: map[string]int{}, peakKind: map[string]int{}, byRepo: map[string]int{}}
}

// enter counts a call of kind on repo in flight and waits to be
// released; the returned func counts it out.
func (g *gauge) enter(kind, repo string) func() {
	g.mu.Lock()
	g.inFlight++
	g.byKind[kind]++
	g.peak = max(g.peak, g.inFlight)
	g.peakKind[kind] = max(g.peakKind[kind], g.byKind[kind])
	counted := repo != "" && kind != "Tags"
	if counted {
		g.byRepo[repo]++
		g.peakRepos = max(g.peakRepos, len(g.byRepo))
	}
	release := g.release
	g.mu.Unlock()
	<-release
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.inFlight--
		g.byKind[kind]--
		if counted {
			if g.byRepo[repo]--; g.byRepo[repo] == 0 {
				delete(g.byRepo, repo)
			}
		}
	}
}

// releaseAll lets every held call go on; it reports whether any was held.
func (g *gauge) releaseAll() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	held := g.inFlight > 0
	close(g.release)
	g.release = make(chan struct{})
	return held
}

func (g *gauge) Repositories(ctx context.Context) ([]string, error) {
	defer g.enter("Repositories", "")()
	return g.Backend.Repositories(ctx)
}

func (g *gauge) Tags(ctx context.Context, repo string) ([]image.Tag, error) {
	defer g.enter("Tags", repo)()
	return g.Backend.Tags(ctx, repo)
}

func (g *gauge) Manifest(ctx context.Context, repo, ref string) (*image.Manifest, error) {
	defer g.enter("Manifest", repo)()
	return g.Backend.Manifest(ctx, repo, ref)
}

func (g *gauge) Resolve(ctx context.Context, repo, tag string) (string, error) {
	defer g.enter("Resolve", repo)()
	return g.Backend.Resolve(ctx, repo, tag)
}

func (g *gauge) Exists(ctx context.Context, repo, digest string) (bool, error) {
	defer g.enter("Exists", repo)()
	return g.Backend.Exists(ctx, repo, digest)
}

func (g *gauge) Referrers(ctx context.Context, repo, digest string) ([]string, error) {
	defer g.enter("Referrers", repo)()
	return g.Backend.Referrers(ctx, repo, digest)
}

func (g *gauge) TagDeleteSupported(ctx context.Context, repo string) (bool, error) {
	defer g.enter("TagDeleteSupported", repo)()
	return g.Backend.TagDeleteSupported(ctx, repo)
}

func (g *gauge) DeleteTag(ctx context.Context, repo, tag string) error {
	defer g.enter("DeleteTag", repo)()
	return g.Backend.DeleteTag(ctx, repo, tag)
}

func (g *gauge) DeleteDigest(ctx context.Context, repo, digest string, tags []string) error {
	defer g.enter("DeleteDigest", repo)()
	return g.Backend.DeleteDigest(ctx, repo, digest, tags)
}

// The engine never has more than Concurrency calls to the backend in
// flight, over all repositories at once, on every path: discovery, the
// listings and the probe, inspection (manifests, referrers, subjects), the
// second look, tag deletes and digest deletes, and ls. With many
// repositories at once the bound is reached (repositories that each open
// their own Concurrency-wide groups reach Concurrency² here); with one,
// each path that fans out reaches it on its own, so the bound, not the
// shape of the work, is what holds the calls back. (Referrers are asked
// one at a time until the first answer says whether the API exists; the
// fake's does not.)
func TestConcurrencyBound(t *testing.T) {
	t.Parallel()
	const c = 3
	every := []string{"Repositories", "Tags", "TagDeleteSupported", "Manifest", "Referrers", "Exists", "Resolve", "DeleteTag", "DeleteDigest"}
	fanning := []string{"Manifest", "Exists", "Resolve", "DeleteTag", "DeleteDigest"}
	cases := []struct {
		name  string
		repos int
		max   int // max-deletions: every repository planned before any deletes
		ls    bool
		// seen are the kinds of call that must be made; saturated those
		// that must reach the bound on their own.
		seen, saturated []string
	}{
		{name: "repositories at once", repos: 2 * c, seen: every},
		{name: "max-deletions: plan all, then delete", repos: 2 * c, max: 1000, seen: every},
		{name: "one repository", repos: 1, seen: every, saturated: fanning},
		{name: "ls", repos: 2 * c, ls: true, seen: []string{"Repositories", "Tags", "Manifest", "Exists"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				g := newGauge(boundedRepos(tc.repos))
				e := New(g, Options{Registry: "fake.test", Repositories: []string{"team/*"}, Rules: rules(1), Concurrency: c,
					MaxDeletions: tc.max, Now: func() time.Time { return now }})
				done := make(chan struct{})
				go func() {
					defer close(done)
					if tc.ls {
						ls, err := e.List(context.Background(), globs("*"), nil)
						if err != nil || len(ls) != tc.repos {
							t.Errorf("ls: %d repositories, %v", len(ls), err)
						}
						return
					}
					rep := e.Run(context.Background())
					if rep.Failed() {
						t.Errorf("run failed: %v", rep.Errors)
					}
					if want := tc.repos * (5 + 8); rep.Totals.Deleted != want {
						t.Errorf("deleted %d tags, want %d", rep.Totals.Deleted, want)
					}
				}()
				for {
					synctest.Wait()
					select {
					case <-done:
						if g.peak != c {
							t.Errorf("at most %d calls in flight at once, want concurrency=%d (by kind: %v)", g.peak, c, g.peakKind)
						}
						for _, kind := range tc.seen {
							if g.peakKind[kind] == 0 {
								t.Errorf("no %s call (by kind: %v)", kind, g.peakKind)
							}
						}
						for _, kind := range tc.saturated {
							if g.peakKind[kind] != c {
								t.Errorf("at most %d %s calls in flight at once, want the bound %d (by kind: %v)", g.peakKind[kind], kind, c, g.peakKind)
							}
						}
						return
					default:
					}
					if !g.releaseAll() {
						t.Fatal("the run is stuck with no call in flight")
					}
				}
			})
		})
	}
}

// boundedRepos is n repositories team/app0… of 14 tags each, where keep=1
// deletes 5 tags by tag and 8 by digest: z is kept; a1..a5 share its
// digest; t1..t8 are stale images of their own, each with a signature
// whose subject is gone (kept: delete-orphans is off).
func boundedRepos(n int) *fake {
	f := newFake()
	f.tagDelete = true
	for r := range n {
		repo := fmt.Sprintf("team/app%d", r)
		kept := dg(fmt.Sprintf("%x0", r))
		f.image(kept, daysAgo(1)).tag(repo, "z", kept)
		for i := 1; i <= 5; i++ {
			f.tag(repo, fmt.Sprintf("a%d", i), kept)
		}
		for i := 1; i <= 8; i++ {
			d := dg(fmt.Sprintf("%x%x", r, i))
			f.image(d, daysAgo(10+i)).tag(repo, fmt.Sprintf("t%d", i), d)
			sig := dg(fmt.Sprintf("%x%xf0", r, i))
			f.image(sig, daysAgo(10+i)).tag(repo, fmt.Sprintf("sha256-%s.sig", dg(fmt.Sprintf("%x%xe0", r, i))[7:]), sig)
		}
	}
	return f
}

// Memory does not grow with Concurrency × repository size: the
// repositories worked on at once hold at most TagsInFlight tags between
// them, so with room for two of these 22-tag repositories, no more than
// two have a call in flight at once (listings aside), however many slots
// are free; each still reaches all of them, and the run deletes what it
// would without the bound. A repository larger than the bound runs alone.
// Without the bound all six would be inspected at once.
func TestTagsInFlight(t *testing.T) {
	t.Parallel()
	const c, repos, perRepo = 8, 6, 22
	for _, tc := range []struct {
		name          string
		inFlight, max int // TagsInFlight, max-deletions
		want          int
	}{
		{name: "two at once", inFlight: 2 * perRepo, want: 2},
		{name: "larger than the bound: alone", inFlight: perRepo / 2, want: 1},
		{name: "max-deletions: the inspections bounded", inFlight: 2 * perRepo, max: 1000, want: 2},
		{name: "the default: all at once", want: repos},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				g := newGauge(boundedRepos(repos))
				e := New(g, Options{Registry: "fake.test", Repositories: []string{"team/*"}, Rules: rules(1), Concurrency: c,
					TagsInFlight: tc.inFlight, MaxDeletions: tc.max, Now: func() time.Time { return now }})
				done := make(chan struct{})
				go func() {
					defer close(done)
					rep := e.Run(context.Background())
					if rep.Failed() {
						t.Errorf("run failed: %v", rep.Errors)
					}
					if want := repos * (5 + 8); rep.Totals.Deleted != want || rep.Totals.Tags != repos*perRepo {
						t.Errorf("deleted %d of %d tags, want %d of %d", rep.Totals.Deleted, rep.Totals.Tags, want, repos*perRepo)
					}
				}()
				for {
					synctest.Wait()
					select {
					case <-done:
						if g.peakRepos != tc.want {
							t.Errorf("at most %d repositories worked on at once, want %d", g.peakRepos, tc.want)
						}
						if g.peak != c {
							t.Errorf("at most %d calls in flight at once, want concurrency=%d (by kind: %v)", g.peak, c, g.peakKind)
						}
						return
					default:
					}
					if !g.releaseAll() {
						t.Fatal("the run is stuck with no call in flight")
					}
				}
			})
		})
	}
}
