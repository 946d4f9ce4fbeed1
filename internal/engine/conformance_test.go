package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"testing"

	"github.com/tagsweep/tagsweep/internal/registry/image"
	"github.com/tagsweep/tagsweep/internal/registry/registrytest"
)

// The engine's fake passes the suite every backend passes, in both of the
// registries it plays (with and without single-tag deletes), so that what
// the engine's tests learn from it holds for the real backends.
func TestFakeConformance(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		claims registrytest.Claims
	}{
		{"tag delete", registrytest.Claims{}},
		{"no tag delete", registrytest.Claims{NoTagDelete: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			registrytest.Run(t, registrytest.Suite{New: func(t *testing.T) *registrytest.Target {
				f := newFake()
				f.tagDelete = !c.claims.NoTagDelete
				return &registrytest.Target{Backend: f, Store: fakeStore{f}, Deletes: f.Deletes}
			}, Claims: c.claims})
		})
	}
}

// fakeStore seeds the fake and reads its maps directly.
type fakeStore struct{ f *fake }

func seedDigest(kind string, seeds ...int64) string {
	h := sha256.Sum256(seedBytes(kind, seeds...))
	return "sha256:" + hex.EncodeToString(h[:])
}

// seedBytes are the bytes the fake serves of a seeded manifest: they hash
// to its digest.
func seedBytes(kind string, seeds ...int64) []byte { return fmt.Appendf(nil, "%s %v", kind, seeds) }

func (s fakeStore) Image(_ context.Context, repo, tag string, seed int64) (string, error) {
	d := seedDigest("image", seed)
	s.f.image(d, registrytest.Created).tag(repo, tag, d)
	s.f.setRaw(d, seedBytes("image", seed))
	return d, nil
}

func (s fakeStore) Index(_ context.Context, repo, tag string, seeds ...int64) (string, []string, error) {
	var kids []string
	for _, seed := range seeds {
		d := seedDigest("image", seed)
		s.f.image(d, registrytest.Created)
		s.f.setRaw(d, seedBytes("image", seed))
		kids = append(kids, d)
	}
	d := seedDigest("index", seeds...)
	s.f.index(d, registrytest.Created, kids...).tag(repo, tag, d)
	s.f.setRaw(d, seedBytes("index", seeds...))
	return d, kids, nil
}

func (s fakeStore) Tag(_ context.Context, repo, tag, digest string) error {
	s.f.tag(repo, tag, digest)
	return nil
}

func (s fakeStore) Referrer(_ context.Context, _, subject string, seed int64) (string, error) {
	d := seedDigest("referrer", seed)
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	s.f.manifests[d] = &image.Manifest{Digest: d, MediaType: image.MediaTypeOCIManifest, Subject: subject}
	s.f.raw[d] = seedBytes("referrer", seed)
	return d, nil
}

func (s fakeStore) Tags(_ context.Context, repo string) (map[string]string, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	return maps.Clone(s.f.repos[repo]), nil
}

func (s fakeStore) Exists(_ context.Context, _, digest string) (bool, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	_, ok := s.f.manifests[digest]
	return ok, nil
}

func (f *fake) setRaw(d string, b []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.raw[d] = b
}
