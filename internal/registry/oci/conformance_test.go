package oci

import (
	"testing"

	"github.com/tagsweep/tagsweep/internal/registry/registrytest"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// target is the generic backend over srv, checked against srv's own API.
func target(t *testing.T, srv testregistry.Server) *registrytest.Target {
	return &registrytest.Target{Backend: newBackend(t, srv.Addr()), Store: registrytest.RegistryStore(srv.Addr()), Deletes: srv.Deletes}
}

// The generic backend on the CNCF distribution v3 registry: single-tag
// deletes, no referrers API.
func TestConformanceDistribution(t *testing.T) {
	t.Parallel()
	registrytest.Run(t, registrytest.Suite{New: func(t *testing.T) *registrytest.Target {
		return target(t, registrytest.Distribution(t))
	}, Restorer: true})
}

// The generic backend on the CNCF registry 2.8, which cannot delete a
// single tag (distribution#3234). Skipped without the binary, unless
// TAGSWEEP_REQUIRE_REGISTRY28=1.
func TestConformanceRegistry28(t *testing.T) {
	t.Parallel()
	registrytest.Run(t, registrytest.Suite{New: func(t *testing.T) *registrytest.Target {
		return target(t, registrytest.Registry28(t))
	}, Claims: registrytest.Claims{NoTagDelete: true}, Restorer: true})
}

// The generic backend on ggcr's in-memory registry with the OCI 1.1
// referrers API, which deletes a digest but leaves its tags serving it.
func TestConformanceReferrersRegistry(t *testing.T) {
	t.Parallel()
	registrytest.Run(t, registrytest.Suite{New: func(t *testing.T) *registrytest.Target {
		r, err := testregistry.NewOCIRegistry()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return target(t, r)
	}, Claims: registrytest.Claims{Referrers: true, DigestDeleteKeepsTags: true}, Restorer: true})
}
