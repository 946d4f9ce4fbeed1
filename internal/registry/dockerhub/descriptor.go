package dockerhub

import (
	"cmp"
	"strings"

	"github.com/tagsweep/tagsweep/internal/registry/connect"
	"github.com/tagsweep/tagsweep/internal/registry/oci"
	"github.com/tagsweep/tagsweep/internal/registry/provider"
)

// Descriptor is Docker Hub: the registry API for reading, the Hub API for
// listing and deleting tags.
var Descriptor = connect.Descriptor{
	Traits: provider.Traits{
		Kind:  "dockerhub",
		About: "Docker Hub: Hub API",
		// docker.io is the name references use, registry-1.docker.io the
		// registry API (distribution/reference normalize.go),
		// index.docker.io the legacy name credentials are keyed by, and
		// registry.hub.docker.com serves the Hub API's next links; regclient
		// maps them to one host (config/host.go parseName).
		Hosts: provider.Exactly("docker.io", "registry-1.docker.io", "index.docker.io", "registry.hub.docker.com"),
		// One registry under four names: kubectl shows docker.io/org/app
		// where the registry input says registry-1.docker.io.
		OneRegistry: true,
		Caps: provider.Caps{
			// The tags listing has tag_last_pushed (Hub API reference,
			// "List repository tags").
			PushTime: true,
			// Hub repository names "only contain lowercase letters, numbers,
			// hyphens and underscores" (docs.docker.com, "Create a
			// repository"): the globs are lower-cased like the names.
			LowerCaseNames: true,
		},
		// Docker Hub has no garbage collector to run and no retention of
		// untagged manifests (docker/hub-feedback#2450: "There is not a
		// way to do this yet"; boot-ui PR #438: "Docker Hub never
		// garbage-collects the untagged per-platform child manifests"):
		// tagsweep deletes them itself through the registry API.
		// Docker Hub has no restore (hub-feedback#2077: "Sorry, no"): a
		// manifest deleted by digest is put back by a PUT of its bytes
		// while Docker Hub still has its blobs; how long it keeps them is
		// not documented (boot-ui: "reclaims unreferenced layers
		// asynchronously").
		RestoreWindow: "while Docker Hub still stores the layers of the deleted manifests (how long is not documented: it reclaims unreferenced layers asynchronously)",
		GCHint: "Docker Hub has no garbage collector to run: tagsweep removed the tags through the Hub API and then deleted the " +
			"untagged manifests (index children after their index) through the registry API's DELETE by digest; Docker Hub frees " +
			"their layers itself. A manifest reported \"untagged but not deleted\" stays stored until it is deleted by digest " +
			"(an access token with Read, Write, Delete).",
		// docker/hub-feedback#2360 (2023): 405 to every registry DELETE.
		DeletesOffHint: "Docker Hub's registry API refuses deletes here (405 UNSUPPORTED, as before 2025-05-28); tags are removed " +
			"through the Hub API: use provider: dockerhub (the default for docker.io) with an access token that has Read, Write, Delete scope",
	},
	// The pull limit (pulls.md): a spent quota is not waited out.
	Quotas: []oci.Quota{PullLimit},
	Build:  build,
}

// build: the registry API for reading, the Hub API for listing and
// deleting tags, which needs the Docker ID and an access token.
func build(env connect.Env) (*connect.Built, error) {
	reg, err := env.Registry(env.Credentials)
	if err != nil {
		return nil, err
	}
	api, err := env.APIURL("TAGSWEEP_DOCKERHUB_API_URL", DefaultAPI)
	if err != nil {
		return nil, err
	}
	creds := env.Credentials
	if creds.Username == "" {
		return nil, &connect.Error{Input: "username", Why: "is required for Docker Hub, with an access token (Read, Write, Delete) as password: the Hub API deletes tags"}
	}
	ns, err := env.Owners(strings.ToLower(creds.Username), "namespace")
	if err != nil {
		return nil, err
	}
	b, err := New(Options{Registry: reg, API: api, Username: creds.Username, Password: creds.Password,
		Namespaces: ns, HTTP: env.APIClient(api), UserAgent: cmp.Or(env.UserAgent, "tagsweep"), CreatedAges: env.CreatedAges})
	if err != nil {
		return nil, err
	}
	return &connect.Built{Backend: b, Who: b.Who(), Requests: func() int64 { return reg.Stats().Requests + b.APIRequests() }, Pulls: b.Pulls}, nil
}
