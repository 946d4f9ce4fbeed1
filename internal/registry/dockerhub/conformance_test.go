package dockerhub

import (
	"testing"

	"github.com/tagsweep/tagsweep/internal/registry/dockerhub/hubtest"
	"github.com/tagsweep/tagsweep/internal/registry/registrytest"
)

// The Docker Hub backend on its replica: it lists and deletes tags through
// the Hub API, and deletes the untagged manifest through the registry API.
func TestConformance(t *testing.T) {
	t.Parallel()
	registrytest.Run(t, registrytest.Suite{New: func(t *testing.T) *registrytest.Target {
		e := newEnv(t, hubtest.Options{})
		return &registrytest.Target{Backend: e.backend(t, "acme", secret, "acme"), Store: registrytest.RegistryStore(e.addr), Deletes: registrytest.Deletes(e.reg.Deletes, e.hub.Deletes)}
	}, Restorer: true})
}
