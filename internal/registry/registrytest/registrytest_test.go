package registrytest

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/image"
	"github.com/tagsweep/tagsweep/internal/registry/oci"
)

type anonymous struct{}

func (anonymous) Resolve(authn.Resource) (authn.Authenticator, error) { return authn.Anonymous, nil }

// distribution is the suite's reference target: the generic backend on
// the in-process distribution v3 registry, with wrap around the backend.
func distribution(wrap func(registry.Backend) registry.Backend) func(t *testing.T) *Target {
	return func(t *testing.T) *Target {
		r := Distribution(t)
		b, err := oci.New(r.Addr(), oci.WithKeychain(anonymous{}))
		if err != nil {
			t.Fatal(err)
		}
		return &Target{Backend: wrap(b), Store: RegistryStore(r.Addr()), Deletes: r.Deletes}
	}
}

// Each broken backend fails the checks that guard what it breaks: the
// suite cannot pass a backend that misbehaves in these ways. Claims that do
// not hold fail too.
func TestSuiteFailsBrokenBackends(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		wrap   func(registry.Backend) registry.Backend
		claims Claims
		fails  []string
	}{
		{"DeleteTag deletes the manifest", func(b registry.Backend) registry.Backend { return cascadeTag{b} }, Claims{},
			[]string{"DeleteTagLeavesManifestAndOtherTags"}},
		{"DeleteDigest leaves the tags", func(b registry.Backend) registry.Backend { return untagNothing{b} }, Claims{},
			[]string{"DeleteDigestRemovesEveryTag"}},
		{"deletes after the stop", func(b registry.Backend) registry.Backend { return ignoreStop{b} }, Claims{},
			[]string{"StoppedRunSendsNoDelete"}},
		{"listing leaves a tag out", func(b registry.Backend) registry.Backend { return dropTag{b} }, Claims{},
			[]string{"TagsAgreeWithResolveAndManifest", "DryRunLeavesRegistryUnchanged"}},
		{"listing gives a stale digest", func(b registry.Backend) registry.Backend { return staleDigest{b} }, Claims{},
			[]string{"TagsAgreeWithResolveAndManifest"}},
		{"Resolve answers another digest", func(b registry.Backend) registry.Backend { return wrongResolve{b} }, Claims{},
			[]string{"TagsAgreeWithResolveAndManifest", "DeleteTagLeavesManifestAndOtherTags"}},
		{"a missing repository lists no tags", func(b registry.Backend) registry.Backend { return emptyMissing{b} }, Claims{},
			[]string{"MissingIsNotFound"}},
		{"deleting a missing tag succeeds", func(b registry.Backend) registry.Backend { return quietMissing{b} }, Claims{},
			[]string{"DeleteMissingChangesNothing"}},
		{"the probe deletes a tag", func(b registry.Backend) registry.Backend { return probeDeletes{b} }, Claims{},
			[]string{"TagDeleteSupportedDeletesNothing"}},
		{"Exists always says yes", func(b registry.Backend) registry.Backend { return existsAlways{b} }, Claims{},
			[]string{"ExistsAgrees", "DeleteDigestRemovesEveryTag"}},
		{"reading deletes", func(b registry.Backend) registry.Backend { return readDeletes{b} }, Claims{},
			[]string{"DryRunLeavesRegistryUnchanged", "TagDeleteSupportedDeletesNothing"}},
		{"referrers listed where there is no API", func(b registry.Backend) registry.Backend { return noReferrers{b} }, Claims{},
			[]string{"ReferrersListOrUnsupported"}},
		{"claims no tag delete on a registry that has it", func(b registry.Backend) registry.Backend { return b }, Claims{NoTagDelete: true},
			[]string{"TagDeleteSupportedDeletesNothing", "DeleteTagLeavesManifestAndOtherTags"}},
		{"claims a referrers API it has not", func(b registry.Backend) registry.Backend { return b }, Claims{Referrers: true},
			[]string{"ReferrersListOrUnsupported"}},
		{"claims untag-only on a registry that deletes digests", func(b registry.Backend) registry.Backend { return b }, Claims{UntagOnly: true},
			[]string{"DeleteDigestRemovesEveryTag", "DeleteMissingChangesNothing"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := Suite{New: distribution(c.wrap), Claims: c.claims}
			for _, name := range c.fails {
				i := slices.IndexFunc(checks, func(ch check) bool { return ch.name == name })
				if i < 0 {
					t.Fatalf("no check %q", name)
				}
				if err := runCheck(t, checks[i], s); err == nil {
					t.Errorf("%s passed", name)
				} else {
					t.Logf("%s failed, as it must:\n%v", name, err)
				}
			}
		})
	}
}

// The reference target passes every check: the broken ones above fail for
// what they break, not because the suite fails everything.
func TestSuitePassesReference(t *testing.T) {
	t.Parallel()
	Run(t, Suite{New: distribution(func(b registry.Backend) registry.Backend { return b })})
}

// Checks names every check, once.
func TestChecks(t *testing.T) {
	names := Checks()
	if len(names) != len(checks) || len(slices.Compact(slices.Sorted(slices.Values(names)))) != len(names) {
		t.Errorf("Checks() = %q", names)
	}
}

// cascadeTag deletes the manifest and all its tags on a tag delete.
type cascadeTag struct{ registry.Backend }

func (b cascadeTag) DeleteTag(ctx context.Context, repo, tag string) error {
	d, err := b.Resolve(ctx, repo, tag)
	if err != nil {
		return err
	}
	return b.DeleteDigest(ctx, repo, d, []string{tag})
}

// untagNothing answers a digest delete without sending it.
type untagNothing struct{ registry.Backend }

func (untagNothing) DeleteDigest(context.Context, string, string, []string) error { return nil }

// ignoreStop sends deletes after the run has stopped.
type ignoreStop struct{ registry.Backend }

func (b ignoreStop) DeleteTag(ctx context.Context, repo, tag string) error {
	return b.Backend.DeleteTag(registry.Committed(ctx), repo, tag)
}

func (b ignoreStop) DeleteDigest(ctx context.Context, repo, digest string, tags []string) error {
	return b.Backend.DeleteDigest(registry.Committed(ctx), repo, digest, tags)
}

// dropTag leaves a2 out of every listing.
type dropTag struct{ registry.Backend }

func (b dropTag) Tags(ctx context.Context, repo string) ([]image.Tag, error) {
	tags, err := b.Backend.Tags(ctx, repo)
	return slices.DeleteFunc(tags, func(t image.Tag) bool { return t.Name == "a2" }), err
}

// staleDigest lists every tag on the missing digest.
type staleDigest struct{ registry.Backend }

func (b staleDigest) Tags(ctx context.Context, repo string) ([]image.Tag, error) {
	tags, err := b.Backend.Tags(ctx, repo)
	for i := range tags {
		tags[i].Digest = missingDigest
	}
	return tags, err
}

// wrongResolve resolves a2 to b's digest.
type wrongResolve struct{ registry.Backend }

func (b wrongResolve) Resolve(ctx context.Context, repo, tag string) (string, error) {
	if tag == "a2" {
		tag = "b"
	}
	return b.Backend.Resolve(ctx, repo, tag)
}

// emptyMissing lists a missing repository as empty.
type emptyMissing struct{ registry.Backend }

func (b emptyMissing) Tags(ctx context.Context, repo string) ([]image.Tag, error) {
	if repo == Missing {
		return nil, nil
	}
	return b.Backend.Tags(ctx, repo)
}

// quietMissing answers a delete of a missing tag with success.
type quietMissing struct{ registry.Backend }

func (b quietMissing) DeleteTag(ctx context.Context, repo, tag string) error {
	if tag == missingTag {
		return nil
	}
	return b.Backend.DeleteTag(ctx, repo, tag)
}

// probeDeletes probes by deleting a real tag.
type probeDeletes struct{ registry.Backend }

func (b probeDeletes) TagDeleteSupported(ctx context.Context, repo string) (bool, error) {
	return true, b.DeleteTag(ctx, repo, "a2")
}

// existsAlways says every digest exists.
type existsAlways struct{ registry.Backend }

func (existsAlways) Exists(context.Context, string, string) (bool, error) { return true, nil }

// readDeletes deletes b whenever it lists or probes.
type readDeletes struct{ registry.Backend }

func (b readDeletes) Tags(ctx context.Context, repo string) ([]image.Tag, error) {
	if err := b.DeleteTag(ctx, Repo, "b"); err != nil {
		return nil, fmt.Errorf("the side effect: %w", err)
	}
	return b.Backend.Tags(ctx, repo)
}

func (b readDeletes) TagDeleteSupported(ctx context.Context, repo string) (bool, error) {
	_, err := b.Tags(ctx, repo)
	return true, err
}

// noReferrers answers "none" instead of "no such API".
type noReferrers struct{ registry.Backend }

func (noReferrers) Referrers(context.Context, string, string) ([]string, error) { return nil, nil }
