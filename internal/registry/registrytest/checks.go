package registrytest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/image"
)

// check is one conformance check: it runs on a freshly seeded target and
// returns what it found wrong, nil when nothing.
type check struct {
	name string
	run  func(ctx context.Context, r *run) error
}

// needsRestorer are the checks of a registry.Restorer (Suite.Restorer).
var needsRestorer = map[string]bool{"BlobExistsAgrees": true, "DeletedPutBack": true}

// checks are what Run runs, in order.
var checks = []check{
	{"Repositories", checkRepositories},
	{"TagsAgreeWithResolveAndManifest", checkTags},
	{"ExistsAgrees", checkExists},
	{"MissingIsNotFound", checkMissing},
	{"DeleteMissingChangesNothing", checkDeleteMissing},
	{"TagDeleteSupportedDeletesNothing", checkProbe},
	{"DeleteTagLeavesManifestAndOtherTags", checkDeleteTag},
	{"DeleteDigestRemovesEveryTag", checkDeleteDigest},
	{"StoppedRunSendsNoDelete", checkStopped},
	{"DryRunLeavesRegistryUnchanged", checkDryRun},
	{"ReferrersListOrUnsupported", checkReferrers},
	{"RawManifestIsAsServed", checkRawManifest},
	{"BlobExistsAgrees", checkBlobExists},
	{"DeletedPutBack", checkPutBack},
	{"UntaggedListsOverwrittenDigest", checkUntagged},
}

// missingDigest names no manifest in any registry (the digest of a
// sentence no test pushes).
var missingDigest = func() string {
	h := sha256.Sum256([]byte("tagsweep conformance: no such manifest"))
	return "sha256:" + hex.EncodeToString(h[:])
}()

// missingTag is a tag no check pushes.
const missingTag = "no-such-tag"

// world is what seed stored, and the registry's state right after.
type world struct {
	// a is tagged a1 and a2; b is tagged b; idx is an index tagged idx
	// over kids; ref is an untagged referrer of a; all in Repo. c is
	// tagged c in Other.
	a, b, idx, ref, c string
	kids              []string
	truth             state
}

// state is what a registry holds, as its Store reads it.
type state struct {
	// Tags maps each repository (Repo, Other, Missing) to its tags and
	// their digests.
	Tags map[string]map[string]string
	// Exists maps "repo@digest", for every digest seeded (and
	// missingDigest), to whether the registry holds it.
	Exists map[string]bool
}

func (s state) clone() state {
	out := state{Tags: map[string]map[string]string{}, Exists: maps.Clone(s.Exists)}
	for r, tags := range s.Tags {
		out.Tags[r] = maps.Clone(tags)
	}
	return out
}

// seed stores the suite's content and reads it back: a store that does
// not hold what it was given fails the check before it starts.
func seed(ctx context.Context, s Store) (*world, error) {
	w := &world{}
	var err error
	if w.a, err = s.Image(ctx, Repo, "a1", 1); err != nil {
		return nil, err
	}
	if err := s.Tag(ctx, Repo, "a2", w.a); err != nil {
		return nil, err
	}
	if w.b, err = s.Image(ctx, Repo, "b", 2); err != nil {
		return nil, err
	}
	if w.idx, w.kids, err = s.Index(ctx, Repo, "idx", 3, 4); err != nil {
		return nil, err
	}
	if w.ref, err = s.Referrer(ctx, Repo, w.a, 5); err != nil {
		return nil, err
	}
	if w.c, err = s.Image(ctx, Other, "c", 6); err != nil {
		return nil, err
	}
	if w.truth, err = w.snapshot(ctx, s); err != nil {
		return nil, err
	}
	want := state{
		Tags: map[string]map[string]string{
			Repo:    {"a1": w.a, "a2": w.a, "b": w.b, "idx": w.idx},
			Other:   {"c": w.c},
			Missing: {},
		},
		Exists: map[string]bool{Repo + "@" + missingDigest: false, Other + "@" + w.c: true},
	}
	for _, d := range append([]string{w.a, w.b, w.idx, w.ref}, w.kids...) {
		want.Exists[Repo+"@"+d] = true
	}
	if diff := cmp.Diff(want, w.truth); diff != "" {
		return nil, fmt.Errorf("the store does not hold what it was given (-want +got):\n%s", diff)
	}
	return w, nil
}

// snapshot reads the state of every repository and digest of w from s.
func (w *world) snapshot(ctx context.Context, s Store) (state, error) {
	st := state{Tags: map[string]map[string]string{}, Exists: map[string]bool{}}
	for _, repo := range []string{Repo, Other, Missing} {
		tags, err := s.Tags(ctx, repo)
		if err != nil {
			return st, fmt.Errorf("store: tags of %s: %w", repo, err)
		}
		if tags == nil {
			tags = map[string]string{}
		}
		st.Tags[repo] = tags
	}
	exists := func(repo, d string) error {
		ok, err := s.Exists(ctx, repo, d)
		if err != nil {
			return fmt.Errorf("store: exists %s@%s: %w", repo, d, err)
		}
		st.Exists[repo+"@"+d] = ok
		return nil
	}
	for _, d := range append([]string{w.a, w.b, w.idx, w.ref, missingDigest}, w.kids...) {
		if err := exists(Repo, d); err != nil {
			return st, err
		}
	}
	return st, exists(Other, w.c)
}

// run is one check's target, seeded content and claims.
type run struct {
	t      *Target
	w      *world
	claims Claims
	errs   []error
}

func (r *run) b() registry.Backend { return r.t.Backend }

// errorf records a finding.
func (r *run) errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf(format, args...))
}

// done returns the findings, joined.
func (r *run) done() error { return errors.Join(r.errs...) }

// expect compares the registry's state now with want.
func (r *run) expect(ctx context.Context, what string, want state) {
	got, err := r.w.snapshot(ctx, r.t.Store)
	if err != nil {
		r.errorf("%s: %v", what, err)
		return
	}
	if diff := cmp.Diff(want, got); diff != "" {
		r.errorf("%s: the registry holds (-want +got):\n%s", what, diff)
	}
}

// deletesSent returns how many deleting requests the registry received.
func (r *run) deletesSent() []string {
	if r.t.Deletes == nil {
		return nil
	}
	return r.t.Deletes()
}

// noDeletesSince reports deleting requests sent after before.
func (r *run) noDeletesSince(what string, before []string) {
	if now := r.deletesSent(); len(now) != len(before) {
		r.errorf("%s: sent %q", what, now[len(before):])
	}
}

// notFound records a finding unless err is a registry.ErrNotFound.
func (r *run) notFound(what string, err error) {
	if !errors.Is(err, registry.ErrNotFound) {
		r.errorf("%s: got %v, want ErrNotFound", what, err)
	}
}

// list lists Repo through the backend, as the engine does before it
// deletes (a backend may remember what the listing said).
func (r *run) list(ctx context.Context) []image.Tag {
	tags, err := r.b().Tags(ctx, Repo)
	if err != nil {
		r.errorf("Tags(%s): %v", Repo, err)
	}
	return tags
}

func checkRepositories(ctx context.Context, r *run) error {
	repos, err := r.b().Repositories(ctx)
	if err != nil {
		return fmt.Errorf("list the repositories: %w", err)
	}
	for _, want := range []string{Repo, Other} {
		if !slices.Contains(repos, want) {
			r.errorf("Repositories = %q: %s is missing", repos, want)
		}
	}
	if slices.Contains(repos, Missing) {
		r.errorf("Repositories = %q: lists %s, which does not exist", repos, Missing)
	}
	return r.done()
}

// checkTags: Tags lists exactly the tags the registry holds (with the
// digest the registry has, where the listing gives one), and Resolve and
// Manifest agree with it, by tag and by digest.
func checkTags(ctx context.Context, r *run) error {
	for _, repo := range []string{Repo, Other} {
		truth := r.w.truth.Tags[repo]
		tags, err := r.b().Tags(ctx, repo)
		if err != nil {
			r.errorf("Tags(%s): %v", repo, err)
			continue
		}
		names := image.Names(tags)
		slices.Sort(names)
		if diff := cmp.Diff(slices.Sorted(maps.Keys(truth)), names); diff != "" {
			r.errorf("Tags(%s) names (-registry +backend):\n%s", repo, diff)
		}
		for _, t := range tags {
			if t.Digest != "" && t.Digest != truth[t.Name] {
				r.errorf("Tags(%s) lists %s on %s, the registry has it on %s", repo, t.Name, t.Digest, truth[t.Name])
			}
		}
		for _, tag := range slices.Sorted(maps.Keys(truth)) {
			want := truth[tag]
			if d, err := r.b().Resolve(ctx, repo, tag); err != nil || d != want {
				r.errorf("Resolve(%s, %s) = %q, %v; want %s", repo, tag, d, err, want)
			}
			for _, ref := range []string{tag, want} {
				m, err := r.b().Manifest(ctx, repo, ref)
				if err != nil {
					r.errorf("Manifest(%s, %s): %v", repo, ref, err)
					continue
				}
				if m.Digest != want {
					r.errorf("Manifest(%s, %s).Digest = %s, want %s", repo, ref, m.Digest, want)
				}
			}
		}
	}
	m, err := r.b().Manifest(ctx, Repo, "idx")
	switch {
	case err != nil:
		r.errorf("Manifest(%s, idx): %v", Repo, err)
	case !m.IsIndex():
		r.errorf("Manifest(%s, idx): media type %q is no index", Repo, m.MediaType)
	default:
		if diff := cmp.Diff(r.w.kids, m.Children); diff != "" {
			r.errorf("Manifest(%s, idx).Children (-registry +backend):\n%s", Repo, diff)
		}
	}
	if m, err := r.b().Manifest(ctx, Repo, "b"); err == nil && (m.IsIndex() || len(m.Children) > 0) {
		r.errorf("Manifest(%s, b) is an image, got media type %q, children %q", Repo, m.MediaType, m.Children)
	}
	return r.done()
}

// checkExists: Exists says true of every manifest the registry holds
// (tagged, child of an index, untagged referrer) and false, without an
// error, of one it does not.
func checkExists(ctx context.Context, r *run) error {
	for _, key := range slices.Sorted(maps.Keys(r.w.truth.Exists)) {
		repo, d := splitKey(key)
		want := r.w.truth.Exists[key]
		if got, err := r.b().Exists(ctx, repo, d); err != nil || got != want {
			r.errorf("Exists(%s, %s) = %v, %v; the registry says %v", repo, d, got, err, want)
		}
	}
	return r.done()
}

func splitKey(key string) (repo, digest string) {
	i := len(key) - len(missingDigest) - 1
	return key[:i], key[i+1:]
}

// checkMissing: a repository, tag or digest that does not exist is
// ErrNotFound.
func checkMissing(ctx context.Context, r *run) error {
	_, err := r.b().Tags(ctx, Missing)
	r.notFound("Tags("+Missing+")", err)
	_, err = r.b().Resolve(ctx, Repo, missingTag)
	r.notFound("Resolve("+Repo+", "+missingTag+")", err)
	_, err = r.b().Resolve(ctx, Missing, "a1")
	r.notFound("Resolve("+Missing+", a1)", err)
	_, err = r.b().Manifest(ctx, Repo, missingTag)
	r.notFound("Manifest("+Repo+", "+missingTag+")", err)
	_, err = r.b().Manifest(ctx, Repo, missingDigest)
	r.notFound("Manifest("+Repo+", "+missingDigest+")", err)
	return r.done()
}

// checkDeleteMissing: deleting a tag or digest that does not exist is
// ErrNotFound (the engine counts it as already gone) and changes nothing.
func checkDeleteMissing(ctx context.Context, r *run) error {
	r.list(ctx)
	if !r.claims.NoTagDelete {
		r.notFound("DeleteTag("+Repo+", "+missingTag+")", r.b().DeleteTag(ctx, Repo, missingTag))
	}
	err := r.b().DeleteDigest(ctx, Repo, missingDigest, nil)
	if r.claims.UntagOnly {
		if err != nil {
			r.errorf("DeleteDigest(%s, %s) with no tags on it: %v, want nil (nothing to untag)", Repo, missingDigest, err)
		}
	} else {
		r.notFound("DeleteDigest("+Repo+", "+missingDigest+")", err)
	}
	r.expect(ctx, "after deleting what does not exist", r.w.truth)
	return r.done()
}

// checkProbe: TagDeleteSupported answers what the backend claims and
// deletes nothing.
func checkProbe(ctx context.Context, r *run) error {
	ok, err := r.b().TagDeleteSupported(ctx, Repo)
	if err != nil {
		r.errorf("TagDeleteSupported: %v", err)
	} else if ok == r.claims.NoTagDelete {
		r.errorf("TagDeleteSupported = %v, the backend claims NoTagDelete=%v", ok, r.claims.NoTagDelete)
	}
	r.expect(ctx, "after TagDeleteSupported", r.w.truth)
	return r.done()
}

// checkDeleteTag: DeleteTag removes that tag alone; the manifest and its
// other tag stay. Where the registry cannot delete single tags, it fails
// with ErrTagDeleteUnsupported and changes nothing.
func checkDeleteTag(ctx context.Context, r *run) error {
	r.list(ctx)
	err := r.b().DeleteTag(ctx, Repo, "a1")
	if r.claims.NoTagDelete {
		if !errors.Is(err, registry.ErrTagDeleteUnsupported) {
			r.errorf("DeleteTag(%s, a1) = %v, want ErrTagDeleteUnsupported (the backend claims NoTagDelete)", Repo, err)
		}
		r.expect(ctx, "after a refused DeleteTag", r.w.truth)
		return r.done()
	}
	if err != nil {
		return fmt.Errorf("DeleteTag(%s, a1): %w", Repo, err)
	}
	want := r.w.truth.clone()
	delete(want.Tags[Repo], "a1")
	r.expect(ctx, "after DeleteTag(a1)", want)
	_, err = r.b().Resolve(ctx, Repo, "a1")
	r.notFound("Resolve("+Repo+", a1) after DeleteTag", err)
	if d, err := r.b().Resolve(ctx, Repo, "a2"); err != nil || d != r.w.a {
		r.errorf("Resolve(%s, a2) after DeleteTag(a1) = %q, %v; want %s", Repo, d, err, r.w.a)
	}
	if ok, err := r.b().Exists(ctx, Repo, r.w.a); !ok || err != nil {
		r.errorf("Exists(%s, %s) after DeleteTag(a1) = %v, %v; want true", Repo, r.w.a, ok, err)
	}
	if slices.Contains(image.Names(r.list(ctx)), "a1") {
		r.errorf("Tags(%s) after DeleteTag still lists a1", Repo)
	}
	return r.done()
}

// checkDeleteDigest: DeleteDigest removes the manifest and every tag on
// it, and nothing else.
func checkDeleteDigest(ctx context.Context, r *run) error {
	r.list(ctx)
	if err := r.b().DeleteDigest(ctx, Repo, r.w.a, []string{"a1", "a2"}); err != nil {
		return fmt.Errorf("DeleteDigest(%s, %s): %w", Repo, r.w.a, err)
	}
	want := r.w.truth.clone()
	if !r.claims.DigestDeleteKeepsTags {
		delete(want.Tags[Repo], "a1")
		delete(want.Tags[Repo], "a2")
	}
	if !r.claims.UntagOnly {
		want.Exists[Repo+"@"+r.w.a] = false
	}
	r.expect(ctx, "after DeleteDigest(a)", want)
	if ok, err := r.b().Exists(ctx, Repo, r.w.a); err != nil || ok != want.Exists[Repo+"@"+r.w.a] {
		r.errorf("Exists(%s, %s) after DeleteDigest = %v, %v; want %v", Repo, r.w.a, ok, err, want.Exists[Repo+"@"+r.w.a])
	}
	if !r.claims.DigestDeleteKeepsTags {
		for _, tag := range []string{"a1", "a2"} {
			_, err := r.b().Resolve(ctx, Repo, tag)
			r.notFound("Resolve("+Repo+", "+tag+") after DeleteDigest", err)
		}
		if names := image.Names(r.list(ctx)); slices.Contains(names, "a1") || slices.Contains(names, "a2") {
			r.errorf("Tags(%s) after DeleteDigest = %q, still lists a1 or a2", Repo, names)
		}
	}
	return r.done()
}

// errStop is the cause of the stopped run in checkStopped.
var errStop = errors.New("conformance: the run stopped")

// checkStopped: once the run has stopped (registry.WithStop, its run
// context cancelled), DeleteTag and DeleteDigest send nothing and fail
// with the stop's cause.
func checkStopped(ctx context.Context, r *run) error {
	r.list(ctx)
	before := r.deletesSent()
	stopped, stop := context.WithCancelCause(ctx)
	stop(errStop)
	dctx := registry.WithStop(ctx, stopped)
	if err := r.b().DeleteTag(dctx, Repo, "a1"); !errors.Is(err, errStop) {
		r.errorf("DeleteTag after the stop = %v, want the stop's cause", err)
	}
	if err := r.b().DeleteDigest(dctx, Repo, r.w.b, []string{"b"}); !errors.Is(err, errStop) {
		r.errorf("DeleteDigest after the stop = %v, want the stop's cause", err)
	}
	r.noDeletesSince("after the stop", before)
	r.expect(ctx, "after deletes in a stopped run", r.w.truth)
	return r.done()
}

// checkDryRun: registry.DryRun over the backend takes the deletes, sends
// none, and reads what the backend reads.
func checkDryRun(ctx context.Context, r *run) error {
	dry := registry.DryRun(r.b())
	tags, err := dry.Tags(ctx, Repo)
	if err != nil {
		r.errorf("dry run: Tags: %v", err)
	}
	names := image.Names(tags)
	slices.Sort(names)
	if diff := cmp.Diff(slices.Sorted(maps.Keys(r.w.truth.Tags[Repo])), names); diff != "" {
		r.errorf("dry run: Tags names (-registry +dry run):\n%s", diff)
	}
	before := r.deletesSent()
	for _, err := range []error{
		dry.DeleteTag(ctx, Repo, "a1"),
		dry.DeleteDigest(ctx, Repo, r.w.a, []string{"a1", "a2"}),
		dry.DeleteDigest(ctx, Repo, r.w.b, []string{"b"}),
	} {
		if err != nil {
			r.errorf("dry run: a delete failed: %v", err)
		}
	}
	r.noDeletesSince("dry run", before)
	r.expect(ctx, "after a dry run", r.w.truth)
	if d, err := dry.Resolve(ctx, Repo, "a1"); err != nil || d != r.w.a {
		r.errorf("dry run: Resolve(a1) after its delete = %q, %v; want %s", d, err, r.w.a)
	}
	return r.done()
}

// checkReferrers: Referrers lists exactly the referrers of a manifest
// where the registry has the API, and says ErrReferrersUnsupported where
// it has not.
func checkReferrers(ctx context.Context, r *run) error {
	for _, c := range []struct {
		subject string
		want    []string
	}{{r.w.a, []string{r.w.ref}}, {r.w.b, nil}} {
		got, err := r.b().Referrers(ctx, Repo, c.subject)
		switch {
		case !r.claims.Referrers:
			if !errors.Is(err, registry.ErrReferrersUnsupported) {
				r.errorf("Referrers(%s) = %q, %v; want ErrReferrersUnsupported (the backend claims no referrers API)", c.subject, got, err)
			}
		case err != nil:
			r.errorf("Referrers(%s): %v", c.subject, err)
		default:
			if diff := cmp.Diff(c.want, got, cmpopts.EquateEmpty()); diff != "" {
				r.errorf("Referrers(%s) (-want +got):\n%s", c.subject, diff)
			}
		}
	}
	return r.done()
}

// checkUntagged: a backend that claims to list untagged manifests
// (Capabilities().ListsUntagged) is a registry.UntaggedLister; after a tag
// is overwritten, Untagged lists the digest it left (with a push time
// where the registry gives push times) and no digest a tag points at.
func checkUntagged(ctx context.Context, r *run) error {
	l, ok := r.b().(registry.UntaggedLister)
	caps := r.b().Capabilities()
	if !caps.ListsUntagged {
		return nil // the registry cannot tell: the engine never asks
	}
	if !ok {
		return fmt.Errorf("Capabilities().ListsUntagged, but the backend is no registry.UntaggedLister")
	}
	left, err := r.t.Store.Image(ctx, Repo, "moving", 900)
	if err != nil {
		return err
	}
	if _, err := r.t.Store.Image(ctx, Repo, "moving", 901); err != nil {
		return err
	}
	r.list(ctx)
	got, err := l.Untagged(ctx, Repo)
	if err != nil {
		return fmt.Errorf("Untagged(%s): %w", Repo, err)
	}
	tags, err := r.t.Store.Tags(ctx, Repo)
	if err != nil {
		return err
	}
	tagged := map[string]string{}
	for t, d := range tags {
		tagged[d] = t
	}
	found := false
	for _, u := range got {
		if t, on := tagged[u.Digest]; on {
			r.errorf("Untagged(%s) lists %s, which tag %s points at", Repo, u.Digest, t)
		}
		if u.Digest == left {
			found = true
			if caps.Pushed && u.Pushed.IsZero() {
				r.errorf("Untagged(%s) lists %s without a push time, on a registry that gives push times", Repo, left)
			}
		}
	}
	if !found {
		r.errorf("Untagged(%s) = %v: the digest %s the overwritten tag left is not listed", Repo, got, left)
	}
	return r.done()
}
