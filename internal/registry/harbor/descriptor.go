package harbor

import (
	"cmp"
	"net/http"

	"github.com/tagsweep/tagsweep/internal/netutil"
	"github.com/tagsweep/tagsweep/internal/registry/connect"
	"github.com/tagsweep/tagsweep/internal/registry/oci"
	"github.com/tagsweep/tagsweep/internal/registry/provider"
)

// Descriptor is Harbor: the registry API for reading and digest deletes,
// the Harbor REST API for listing (push times, immutability) and
// single-tag deletes. Harbor runs on its users' own hosts, so it has no
// Hosts: provider: harbor chooses it.
var Descriptor = connect.Descriptor{
	Traits: provider.Traits{
		Kind:  "harbor",
		About: "Harbor: Harbor REST API",
		Caps: provider.Caps{
			// Tags have push_time (api/v2.0/swagger.yaml, Tag).
			PushTime: true,
			// q=tags=nil lists the artifacts without tags
			// (api/v2.0/swagger.yaml listArtifacts "q";
			// src/pkg/artifact/dao/dao.go).
			ListsUntagged: true,
		},
		// goharbor.io/docs/2.7.0/administration/garbage-collection: "When
		// you delete images from Harbor, space is not automatically freed
		// up. You must run garbage collection".
		GCHint: GCHint,
		// Harbor has no trash or restore API (api/v2.0/swagger.yaml); the
		// blobs stay until a GC job runs (goharbor.io docs, garbage-collection).
		RestoreWindow: "until Harbor's garbage collection job runs (Harbor has no trash of its own)",
	},
	Protections: []oci.Protection{
		// 412 PRECONDITION for an immutable tag, 412
		// VIOLATE_FOREIGN_KEY_CONSTRAINT for an artifact that another
		// references (src/controller/tag/controller.go,
		// src/lib/errors/const.go). The harbor backend words these reasons
		// itself; this is Harbor's registry-API answer on any backend (a
		// Harbor host detected as oci).
		{Status: http.StatusPreconditionFailed, Reason: "the registry protects it", Detail: true},
	},
	Build: build,
}

// build: the registry API of the host, and the REST API at
// TAGSWEEP_HARBOR_API_URL, else the host's own /api/v2.0.
func build(env connect.Env) (*connect.Built, error) {
	reg, err := env.Registry(env.Credentials)
	if err != nil {
		return nil, err
	}
	scheme := cmp.Or(env.Scheme, "https")
	if env.Scheme == "" && netutil.IsLoopback(env.Host) {
		scheme = "http"
	}
	api, err := env.APIURL("TAGSWEEP_HARBOR_API_URL", scheme+"://"+env.Host+"/api/v2.0")
	if err != nil {
		return nil, err
	}
	creds := env.Credentials
	b, err := New(Options{Registry: reg, API: api, Username: creds.Username, Password: creds.Password,
		HTTP: env.APIClient(api), UserAgent: env.UserAgent})
	if err != nil {
		return nil, err
	}
	return &connect.Built{Backend: b, Who: b.Who(), Requests: func() int64 { return reg.Stats().Requests + b.APIRequests() }}, nil
}
