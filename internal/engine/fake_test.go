package engine

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/image"
)

// fake is an in-memory registry.Backend. Every call is recorded; errors
// can be injected per call; hooks can change the registry between calls
// (what someone else does during a run).
type fake struct {
	mu sync.Mutex
	// repos maps a repository to its tags (tag -> digest).
	repos map[string]map[string]string
	// manifests holds every manifest by digest (shared by the repositories).
	manifests map[string]*image.Manifest
	// tagDelete is what TagDeleteSupported answers; when false DeleteTag
	// answers ErrTagDeleteUnsupported.
	tagDelete bool
	// cascade makes DeleteTag delete the manifest and every tag on it, as
	// a registry that deletes manifests on a tag delete would.
	cascade bool
	// errs injects an error for a call, keyed as the call is recorded
	// ("Tags app", "Manifest app v1", "DeleteDigest app@sha256:...").
	errs map[string]error
	// onTags runs (unlocked) before Tags answers, with the call number
	// for the repository (1 = first listing, 2 = second look).
	onTags func(f *fake, repo string, n int)
	// listDigests makes Tags report each tag's digest, as vendor listing
	// APIs do; pushed and protected add push times and protections.
	listDigests bool
	staleList   map[string]string    // tag -> digest the listing reports instead
	pushed      map[string]time.Time // tag -> push time
	protected   map[string]string    // tag -> why the registry keeps it
	// refuse makes DeleteDigest of these digests answer ErrProtected.
	refuse map[string]bool
	// partly makes DeleteDigest of a digest remove only these tags and
	// fail with a registry.PartialError.
	partly map[string][]string
	// untagOnly makes DeleteDigest of these digests remove their tags and
	// answer a registry.UntaggedError: the manifest stays stored.
	untagOnly map[string]bool
	// deleteTags records the tags DeleteDigest was given, by digest.
	deleteTags map[string][]string
	// raw are manifests' bytes as served, by digest; a manifest without
	// is served as bytes that do not hash to its digest.
	raw map[string][]byte
	// onDelete runs (unlocked) when a delete arrives, before it is done,
	// with the call as recorded; a delete then fails if its ctx is done.
	onDelete func(call string)

	calls     []string
	tagsCalls map[string]int
}

func newFake() *fake {
	return &fake{repos: map[string]map[string]string{}, manifests: map[string]*image.Manifest{}, errs: map[string]error{}, tagsCalls: map[string]int{},
		pushed: map[string]time.Time{}, protected: map[string]string{}, refuse: map[string]bool{}, deleteTags: map[string][]string{}, raw: map[string][]byte{}}
}

// dg makes a well-formed digest from a short name: dg("a") = sha256:aaaa….
func dg(s string) string { return "sha256:" + strings.Repeat(s, 64/len(s)) }

var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func daysAgo(n int) time.Time { return now.Add(-time.Duration(n) * 24 * time.Hour) }

// image adds an image manifest with one blob of its own.
func (f *fake) image(d string, created time.Time) *fake {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.manifests[d] = &image.Manifest{Digest: d, MediaType: image.MediaTypeOCIManifest, Created: created,
		Blobs: []image.Blob{{Digest: "sha256:blob-" + d[7:15], Size: 1000}}}
	return f
}

// index adds an index over children.
func (f *fake) index(d string, created time.Time, children ...string) *fake {
	f.mu.Lock()
	defer f.mu.Unlock()
	info := map[string]string{}
	for _, c := range children {
		info[c] = "linux/amd64"
	}
	f.manifests[d] = &image.Manifest{Digest: d, MediaType: image.MediaTypeOCIIndex, Created: created, Children: children, ChildInfo: info}
	return f
}

// tag points repo:tag at d (creating the repository).
func (f *fake) tag(repo, tag, d string) *fake {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.repos[repo] == nil {
		f.repos[repo] = map[string]string{}
	}
	f.repos[repo][tag] = d
	return f
}

// untag removes repo:tag (someone else deleting it).
func (f *fake) untag(repo, tag string) *fake {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.repos[repo], tag)
	return f
}

func (f *fake) fail(call string, err error) *fake {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs[call] = err
	return f
}

func (f *fake) record(call string) error {
	f.calls = append(f.calls, call)
	return f.errs[call]
}

// Calls returns the recorded calls whose text starts with one of prefixes
// (all calls when none), sorted.
func (f *fake) Calls(prefixes ...string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if len(prefixes) == 0 {
			out = append(out, c)
			continue
		}
		for _, p := range prefixes {
			if strings.HasPrefix(c, p) {
				out = append(out, c)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// Deletes returns the deletions that reached the fake, sorted.
func (f *fake) Deletes() []string { return f.Calls("DeleteTag ", "DeleteDigest ") }

// TagList returns the tags of repo now, sorted.
func (f *fake) TagList(repo string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for t := range f.repos[repo] {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

func (f *fake) Repositories(ctx context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("Repositories"); err != nil {
		return nil, err
	}
	var out []string
	for r := range f.repos {
		out = append(out, r)
	}
	sort.Strings(out)
	return out, nil
}

func (f *fake) Tags(ctx context.Context, repo string) ([]image.Tag, error) {
	f.mu.Lock()
	f.tagsCalls[repo]++
	n := f.tagsCalls[repo]
	hook := f.onTags
	f.mu.Unlock()
	if hook != nil {
		hook(f, repo, n)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("Tags " + repo); err != nil {
		return nil, err
	}
	tags, ok := f.repos[repo]
	if !ok {
		return nil, fmt.Errorf("list tags: %w", registry.ErrNotFound)
	}
	var out []image.Tag
	for t, d := range tags {
		rt := image.Tag{Name: t, Pushed: f.pushed[t], Protected: f.protected[t]}
		if f.listDigests {
			rt.Digest = d
			if s, ok := f.staleList[t]; ok {
				rt.Digest = s
			}
		}
		out = append(out, rt)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// TagsCalls returns how often repo was listed.
func (f *fake) TagsCalls(repo string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tagsCalls[repo]
}

func (f *fake) lookup(repo, ref string) (string, bool) {
	if strings.HasPrefix(ref, "sha256:") {
		if _, ok := f.manifests[ref]; !ok {
			return "", false
		}
		// A digest exists in a repository when a tag reaches it or it is
		// known at all (children); the fake does not separate the two.
		return ref, true
	}
	d, ok := f.repos[repo][ref]
	return d, ok
}

func (f *fake) Manifest(ctx context.Context, repo, ref string) (*image.Manifest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("Manifest " + repo + " " + ref); err != nil {
		return nil, err
	}
	d, ok := f.lookup(repo, ref)
	if !ok || f.manifests[d] == nil {
		// A tag left on a digest deleted meanwhile answers 404, as a
		// registry's does.
		return nil, fmt.Errorf("get manifest %s: %w", ref, registry.ErrNotFound)
	}
	m := *f.manifests[d]
	m.Children = append([]string(nil), m.Children...)
	m.Blobs = append([]image.Blob(nil), m.Blobs...)
	return &m, nil
}

func (f *fake) RawManifest(ctx context.Context, repo, digest string) (*image.Raw, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("RawManifest " + repo + " " + digest); err != nil {
		return nil, err
	}
	m, ok := f.manifests[digest]
	if !ok {
		return nil, fmt.Errorf("get manifest %s: %w", digest, registry.ErrNotFound)
	}
	b, ok := f.raw[digest]
	if !ok {
		b = []byte("fake manifest " + digest)
	}
	return &image.Raw{MediaType: m.MediaType, Bytes: append([]byte(nil), b...)}, nil
}

func (f *fake) Resolve(ctx context.Context, repo, tag string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("Resolve " + repo + " " + tag); err != nil {
		return "", err
	}
	d, ok := f.lookup(repo, tag)
	if !ok {
		return "", fmt.Errorf("resolve %s: %w", tag, registry.ErrNotFound)
	}
	return d, nil
}

func (f *fake) Exists(ctx context.Context, repo, digest string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("Exists " + repo + " " + digest); err != nil {
		return false, err
	}
	_, ok := f.manifests[digest]
	return ok, nil
}

func (f *fake) Referrers(ctx context.Context, repo, digest string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("Referrers " + repo + " " + digest)
	return nil, registry.ErrReferrersUnsupported
}

func (f *fake) TagDeleteSupported(ctx context.Context, repo string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("TagDeleteSupported " + repo); err != nil {
		return false, err
	}
	return f.tagDelete, nil
}

func (f *fake) DeleteTag(ctx context.Context, repo, tag string) error {
	if err := f.arrive(ctx, "DeleteTag "+repo+":"+tag); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("DeleteTag " + repo + ":" + tag); err != nil {
		return err
	}
	if !f.tagDelete {
		return fmt.Errorf("delete tag %s: %w", tag, registry.ErrTagDeleteUnsupported)
	}
	d, ok := f.repos[repo][tag]
	if !ok {
		return fmt.Errorf("delete tag %s: %w", tag, registry.ErrNotFound)
	}
	if f.cascade {
		f.dropDigest(repo, d)
		return nil
	}
	delete(f.repos[repo], tag)
	return nil
}

// dropDigest deletes d from repo: its tags there go, and the manifest
// goes unless another repository's tag still names it (a registry keeps
// manifests per repository; the fake keeps one table, so a digest two
// repositories share must outlive its deletion from one of them).
func (f *fake) dropDigest(repo, d string) {
	for t, td := range f.repos[repo] {
		if td == d {
			delete(f.repos[repo], t)
		}
	}
	for _, tags := range f.repos {
		for _, td := range tags {
			if td == d {
				return
			}
		}
	}
	delete(f.manifests, d)
}

// arrive sends a delete: one the run has stopped before is not sent
// (registry.Stopped, as every backend checks right before it sends); else
// it runs the onDelete hook and fails a delete whose context is done, as an
// HTTP request would.
func (f *fake) arrive(ctx context.Context, call string) error {
	if err := registry.Stopped(ctx); err != nil {
		return err
	}
	f.mu.Lock()
	hook := f.onDelete
	f.mu.Unlock()
	if hook != nil {
		hook(call)
	}
	return ctx.Err()
}

func (f *fake) DeleteDigest(ctx context.Context, repo, digest string, tags []string) error {
	if err := f.arrive(ctx, "DeleteDigest "+repo+"@"+digest); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("DeleteDigest " + repo + "@" + digest); err != nil {
		return err
	}
	f.deleteTags[digest] = append([]string(nil), tags...)
	sort.Strings(f.deleteTags[digest])
	if f.refuse[digest] {
		return fmt.Errorf("delete %s: the registry protects it (immutable tag): %w", digest, registry.ErrProtected)
	}
	if f.untagOnly[digest] {
		var done []string
		for _, t := range tags {
			delete(f.repos[repo], t)
			done = append(done, t)
		}
		return &registry.UntaggedError{Done: done, Reason: "the fake refuses to delete it", Err: registry.ErrDenied}
	}
	if done, ok := f.partly[digest]; ok {
		for _, t := range done {
			delete(f.repos[repo], t)
		}
		return &registry.PartialError{Done: done, Err: fmt.Errorf("untag %s: 429 after retries", digest)}
	}
	if _, ok := f.manifests[digest]; !ok {
		return fmt.Errorf("delete %s: %w", digest, registry.ErrNotFound)
	}
	f.dropDigest(repo, digest)
	return nil
}

func (f *fake) Capabilities() registry.Capabilities {
	return registry.Capabilities{GCHint: "run the fake's GC"}
}

var _ registry.Backend = (*fake)(nil)
