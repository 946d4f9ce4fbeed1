package ghcr

import (
	"testing"

	"github.com/tagsweep/tagsweep/internal/registry/ghcr/ghcrtest"
	"github.com/tagsweep/tagsweep/internal/registry/registrytest"
)

// The GHCR backend on its replica: it lists and deletes package versions
// through the GitHub API, and removes a single tag by moving it onto a
// placeholder it deletes; the registry API (distribution v3 behind
// ghcr.io's 405 to every DELETE) has no referrers API.
func TestConformance(t *testing.T) {
	t.Parallel()
	registrytest.Run(t, registrytest.Suite{New: func(t *testing.T) *registrytest.Target {
		e := start(t, setup{replica: ghcrtest.Options{Orgs: []string{"acme"}}, owners: []string{"acme"}})
		return &registrytest.Target{Backend: e.b, Store: registrytest.RegistryStore(e.reg.Addr()), Deletes: registrytest.Deletes(e.reg.Deletes, e.api.Deletes)}
	}, Restorer: true})
}
