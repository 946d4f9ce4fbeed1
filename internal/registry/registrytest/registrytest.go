// Package registrytest is the conformance suite every registry.Backend
// passes (STYLE point 10; regclient's scheme/reg/tag_test.go is the model):
// one fresh, seeded registry per check, then what exists and what is gone
// afterwards, read from the registry itself, not through the backend under
// test.
//
// Each target calls [Run] from a test next to its backend (oci on
// distribution v3, on registry 2.8 and on ggcr's referrers registry; ghcr,
// dockerhub and harbor on their replicas; the engine's fake), with a
// constructor of a fresh registry and backend and the [Claims] the backend
// makes. A claim that is not the default is a documented limitation of the
// registry, never a way to hide a bug: each field says which registry has it
// and where that is written down.
package registrytest

import (
	"context"
	"testing"

	"github.com/tagsweep/tagsweep/internal/registry"
)

// The repositories the suite seeds. Their first segment is an owner,
// namespace or project that every vendor replica accepts.
const (
	// Repo holds the images the checks read and delete.
	Repo = "acme/app"
	// Other holds one image that no check deletes: what happens in Repo
	// must leave it alone.
	Other = "acme/other"
	// Missing is a repository that does not exist.
	Missing = "acme/missing"
)

// Store seeds the registry behind a target and reads what it holds,
// without the backend under test: it is the ground truth the checks
// compare the backend's answers and effects with. Digests are
// "sha256:<hex>".
type Store interface {
	// Image stores an image unique to seed as repo:tag and returns its digest.
	Image(ctx context.Context, repo, tag string, seed int64) (string, error)
	// Index stores an index over one new image per seed as repo:tag and
	// returns its digest and its children's, in order.
	Index(ctx context.Context, repo, tag string, seeds ...int64) (string, []string, error)
	// Tag points repo:tag at the manifest digest, already in repo.
	Tag(ctx context.Context, repo, tag, digest string) error
	// Referrer stores an untagged artifact whose subject is digest and
	// returns its digest.
	Referrer(ctx context.Context, repo, subject string, seed int64) (string, error)
	// Tags returns the tags of repo and the digest each points at; an
	// empty map for a repository that does not exist.
	Tags(ctx context.Context, repo string) (map[string]string, error)
	// Exists reports whether repo holds the manifest digest.
	Exists(ctx context.Context, repo, digest string) (bool, error)
}

// Target is one backend under test over a registry of its own.
type Target struct {
	// Backend is the backend under test.
	Backend registry.Backend
	// Store reads and seeds the same registry directly.
	Store Store
	// Deletes returns every deleting request the registry (and the vendor
	// API, where the backend has one) received so far, in order, as
	// "DELETE path". A stopped run and a dry run must add none.
	Deletes func() []string
}

// Deletes joins the DELETE logs of a registry and the vendor API in front
// of it, for Target.Deletes.
func Deletes(logs ...func() []string) func() []string {
	return func() []string {
		var out []string
		for _, l := range logs {
			out = append(out, l()...)
		}
		return out
	}
}

// Claims are what a backend claims of its registry. The zero value is an
// OCI 1.1 registry without a referrers API. Every true field is checked:
// the backend must behave as claimed, and the check fails if it behaves
// like a registry without the limitation.
type Claims struct {
	// NoTagDelete: the registry cannot delete a single tag.
	// TagDeleteSupported answers false, and DeleteTag fails with
	// ErrTagDeleteUnsupported and changes nothing. CNCF registry 2.8
	// answers DELETE by tag with 400 DIGEST_INVALID (distribution#3234).
	NoTagDelete bool
	// Referrers: the registry has the OCI 1.1 referrers API, and
	// Referrers lists the referrers of a manifest. Without it Referrers
	// answers ErrReferrersUnsupported.
	Referrers bool
	// UntagOnly: DeleteDigest removes the tags it is given, and the
	// manifest stays, untagged, for the registry's retention to remove.
	// Docker Hub deletes tags only, no manifest by digest
	// (docker/hub-feedback#2360); a digest no listed tag is on is then
	// nothing to do, not ErrNotFound.
	UntagOnly bool
	// DigestDeleteKeepsTags: DeleteDigest removes the manifest by digest,
	// while the tags that pointed at it keep serving it. ggcr's in-memory
	// registry (pkg/registry, v0.22.1) deletes only the digest entry (see
	// testregistry.OCIRegistry); no production registry does this.
	DigestDeleteKeepsTags bool
}

// Suite is one target's run of the suite.
type Suite struct {
	// New starts a fresh, empty registry and the backend under test over
	// it, both cleaned up with t. The suite seeds it through Store.
	New func(t *testing.T) *Target
	// Claims are what the backend claims of its registry.
	Claims Claims
	// Restorer: the backend is a registry.Restorer (every registry-API
	// backend), and the restore checks run. The engine's fake is none: it
	// holds manifests as models, not as bytes it could take back.
	Restorer bool
}

// Run runs every check against s, each on a registry of its own, in
// parallel.
func Run(t *testing.T, s Suite) {
	t.Helper()
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if needsRestorer[c.name] && !s.Restorer {
				t.Skip("the target is not a registry.Restorer")
			}
			if err := runCheck(t, c, s); err != nil {
				t.Error(err)
			}
		})
	}
}

// Checks returns the names of the checks Run runs, in order.
func Checks() []string {
	out := make([]string, len(checks))
	for i, c := range checks {
		out[i] = c.name
	}
	return out
}

// runCheck seeds a fresh target and runs one check on it: the check's
// findings, joined, or nil.
func runCheck(t *testing.T, c check, s Suite) error {
	t.Helper()
	ctx := context.Background()
	tg := s.New(t)
	w, err := seed(ctx, tg.Store)
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	return c.run(ctx, &run{t: tg, w: w, claims: s.Claims})
}
