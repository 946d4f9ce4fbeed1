package harbor

import (
	"testing"

	"github.com/tagsweep/tagsweep/internal/registry/registrytest"
)

// The Harbor backend on its replica: it lists and deletes tags through
// the REST API and deletes digests through the registry API.
func TestConformance(t *testing.T) {
	t.Parallel()
	registrytest.Run(t, registrytest.Suite{New: func(t *testing.T) *registrytest.Target {
		f := start(t, nil)
		return &registrytest.Target{Backend: f.backend("robot$sweeper", password), Store: registrytest.RegistryStore(f.addr), Deletes: registrytest.Deletes(f.reg.Deletes, f.srv.Deletes)}
	}, Restorer: true})
}
