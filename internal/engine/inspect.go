package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/tagsweep/tagsweep/internal/policy"
	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/image"
)

// maxDepth bounds every walk of the graph (nested indexes, referrers of
// referrers): a registry that serves a cycle does not hold the run.
const maxDepth = 16

// snapshot is what the first look learned about a repository. Its tasks
// write it under mu.
type snapshot struct {
	mu        sync.Mutex
	tags      []policy.Tag
	manifests map[string]*image.Manifest
	referrers map[string][]string
	// forced are the tags kept whatever the rules say: deleted by someone
	// else between listing and GET, or protected by the registry.
	forced map[string]policy.Reason
	// warnings are oddities that did not stop the repository.
	warnings []string
	exists   map[string]bool
	errs     []error
	quota    bool // a spent quota is in errs
	// untagged are the untagged manifests the registry lists (nil where
	// it cannot list them), each one read into manifests.
	untagged []image.Untagged
}

func newSnapshot(listed []image.Tag) *snapshot {
	s := &snapshot{tags: make([]policy.Tag, len(listed)), manifests: map[string]*image.Manifest{},
		referrers: map[string][]string{}, exists: map[string]bool{}, forced: map[string]policy.Reason{}}
	for i, t := range listed {
		s.tags[i] = policy.Tag{Name: t.Name, Pushed: t.Pushed}
		if t.Protected != "" {
			s.forced[t.Name] = policy.ProtectedBy(t.Protected)
		}
	}
	return s
}

func (s *snapshot) input(now time.Time) policy.Input {
	return policy.Input{Tags: s.tags, Manifests: s.manifests, Referrers: s.referrers, Exists: s.exists, Now: now, Forced: s.forced,
		Untagged: s.untagged}
}

// fail records an error of the inspection. A spent quota (a pull limit)
// is said once: every later read it covers fails the same way, unsent.
func (s *snapshot) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if errors.Is(err, registry.ErrQuota) {
		if s.quota {
			return
		}
		s.quota = true
	}
	s.errs = append(s.errs, err)
}

func (s *snapshot) warn(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.warnings = append(s.warnings, fmt.Sprintf(format, args...))
}

// inspect resolves every tag with the full Accept set and walks the graph
// behind it: index children (any depth), referrers where the registry has
// the API, and the subjects of sha256-<hex> tags nothing else reaches.
func (e *Engine) inspect(ctx context.Context, repo string, listed []image.Tag) *snapshot {
	s := newSnapshot(listed)
	e.readTags(ctx, repo, s, listed)
	e.walk(ctx, repo, s, e.protectDigests(repo))
	e.checkSubjects(ctx, repo, s)
	return s
}

// readTags reads the manifest of every tag: once per digest where the
// listing gives it, else by tag.
func (e *Engine) readTags(ctx context.Context, repo string, s *snapshot, listed []image.Tag) {
	byDigest := map[string][]int{}
	var digests []string
	var byTag []int
	for i, t := range listed {
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
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, i := range idx {
			s.tags[i].Digest = m.Digest
		}
		if _, ok := s.manifests[m.Digest]; !ok {
			s.manifests[m.Digest] = m
		}
	}
	readTag := func(b registry.Backend, i int) {
		t := s.tags[i].Name
		m, err := b.Manifest(ctx, repo, t)
		switch {
		case errors.Is(err, registry.ErrNotFound):
			s.mu.Lock()
			s.forced[t] = policy.Because(policy.ReasonVanished)
			s.mu.Unlock()
		case err != nil:
			s.fail(fmt.Errorf("tag %s: %w", t, err))
		default:
			got([]int{i}, m)
		}
	}
	g := e.work.tasks()
	for _, d := range digests {
		g.Go(func(b registry.Backend) error {
			m, err := b.Manifest(ctx, repo, d)
			switch {
			case errors.Is(err, registry.ErrNotFound):
				// The listing is stale: read its tags one by one.
				for _, i := range byDigest[d] {
					readTag(b, i)
				}
			case err != nil:
				s.fail(fmt.Errorf("manifest %s: %w", d, err))
			default:
				got(byDigest[d], m)
			}
			return nil
		})
	}
	for _, i := range byTag {
		g.Go(func(b registry.Backend) error {
			readTag(b, i)
			return nil
		})
	}
	_ = g.Wait()
}

// walk fetches the children and referrers of what readTags read, breadth
// first, each digest once, and of the digests protect-images names there
// (protected: fetched with the first children; one that does not exist is
// no warning, the summary lists it as matching nothing).
func (e *Engine) walk(ctx context.Context, repo string, s *snapshot, protected []string) {
	quiet := map[string]bool{}
	asked := map[string]bool{}
	frontier := make([]string, 0, len(s.manifests))
	for d := range s.manifests {
		frontier = append(frontier, d)
	}
	sort.Strings(frontier)
	referrersAPI := true
	for depth := 0; (len(frontier) > 0 || (depth == 0 && len(protected) > 0)) && depth < maxDepth; depth++ {
		var next []string
		add := func(d string) {
			s.mu.Lock()
			defer s.mu.Unlock()
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
		if depth == 0 {
			for _, d := range protected {
				if _, ok := s.manifests[d]; !ok && !asked[d] {
					quiet[d] = true
				}
				add(d)
			}
		}
		if referrersAPI {
			referrersAPI = e.readReferrers(ctx, repo, s, frontier, add)
		}
		sort.Strings(next)
		g := e.work.tasks()
		for _, d := range next {
			g.Go(func(b registry.Backend) error {
				m, err := b.Manifest(ctx, repo, d)
				switch {
				case errors.Is(err, registry.ErrNotFound) && quiet[d]:
				case errors.Is(err, registry.ErrNotFound):
					// A broken index (a child deleted by hand, or by the GC
					// of registry 2.8) or a stale referrers listing: there is
					// nothing to keep or delete behind it.
					s.warn("%s: manifest %s is referenced but does not exist", repo, d)
				case err != nil:
					s.fail(fmt.Errorf("manifest %s: %w", d, err))
				default:
					s.mu.Lock()
					s.manifests[d] = m
					s.mu.Unlock()
				}
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
}

// readReferrers lists the referrers of each digest of frontier and adds
// them. It reports whether the registry has the referrers API: the first
// answer tells, and where it has none nothing more is asked.
func (e *Engine) readReferrers(ctx context.Context, repo string, s *snapshot, frontier []string, add func(string)) bool {
	g := e.work.tasks()
	var unsupported bool
	for i, d := range frontier {
		if i == 1 {
			_ = g.Wait()
			if unsupported {
				break
			}
		}
		g.Go(func(b registry.Backend) error {
			refs, err := b.Referrers(ctx, repo, d)
			switch {
			case errors.Is(err, registry.ErrReferrersUnsupported):
				s.mu.Lock()
				unsupported = true
				s.mu.Unlock()
			case err != nil:
				s.fail(fmt.Errorf("referrers of %s: %w", d, err))
			case len(refs) > 0:
				s.mu.Lock()
				s.referrers[d] = refs
				s.mu.Unlock()
				for _, r := range refs {
					add(r)
				}
			}
			return nil
		})
	}
	_ = g.Wait()
	return !unsupported
}

// checkSubjects asks, for the subjects of sha256-<hex> tags that nothing
// fetched, whether they exist (untagged) or are gone (orphans).
func (e *Engine) checkSubjects(ctx context.Context, repo string, s *snapshot) {
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
	g := e.work.tasks()
	for _, sub := range subjects {
		g.Go(func(b registry.Backend) error {
			ok, err := b.Exists(ctx, repo, sub)
			if err != nil {
				s.fail(fmt.Errorf("subject %s: %w", sub, err))
				return nil
			}
			s.mu.Lock()
			s.exists[sub] = ok
			s.mu.Unlock()
			return nil
		})
	}
	_ = g.Wait()
}

// readUntagged lists the repository's untagged manifests where the
// backend can (Capabilities().ListsUntagged), reads those no tag reaches,
// and hands them to the planner (policy.Input.Untagged): delete-untagged
// decides them, and what they hold is not counted as freed. One that
// cannot be read is left out of the list, with a warning: it is neither
// deleted nor known. Where the backend cannot list them, reclaimed-bytes
// is an upper bound.
func (e *Engine) readUntagged(ctx context.Context, repo string, s *snapshot) {
	l, ok := e.work.b.(registry.UntaggedLister)
	if !ok || !e.work.b.Capabilities().ListsUntagged {
		return
	}
	listed, err := call(e.work, func(registry.Backend) ([]image.Untagged, error) { return l.Untagged(ctx, repo) })
	if err != nil {
		e.inexact.Store(true)
		s.warn("%s: could not list the untagged manifests (%v): reclaimed-bytes is at most the figure shown, and none is deleted as untagged", repo, err)
		return
	}
	unread := map[string]bool{}
	g := e.work.tasks()
	for _, u := range listed {
		if _, ok := s.manifests[u.Digest]; ok {
			continue
		}
		g.Go(func(b registry.Backend) error {
			m, err := b.Manifest(ctx, repo, u.Digest)
			s.mu.Lock()
			defer s.mu.Unlock()
			switch {
			case errors.Is(err, registry.ErrNotFound):
				unread[u.Digest] = true // gone since the listing
			case err != nil:
				e.inexact.Store(true)
				unread[u.Digest] = true
				s.warnings = append(s.warnings, fmt.Sprintf("%s: could not read untagged manifest %s (%v): it is not deleted, and reclaimed-bytes is at most the figure shown", repo, u.Digest, err))
			default:
				s.manifests[u.Digest] = m
				s.exists[u.Digest] = true
			}
			return nil
		})
	}
	_ = g.Wait()
	s.untagged = make([]image.Untagged, 0, len(listed))
	for _, u := range listed {
		if !unread[u.Digest] {
			s.untagged = append(s.untagged, u)
		}
	}
}
