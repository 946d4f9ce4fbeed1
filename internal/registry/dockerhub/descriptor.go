package dockerhub

import (
	"cmp"
	"strings"

	"github.com/tagsweep/tagsweep/internal/registry/connect"
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
		Caps: provider.Caps{
			// The tags listing has tag_last_pushed (Hub API reference,
			// "List repository tags").
			PushTime: true,
			// Hub repository names "only contain lowercase letters, numbers,
			// hyphens and underscores" (docs.docker.com, "Create a
			// repository"): the globs are lower-cased like the names.
			LowerCaseNames: true,
		},
		// Docker Hub has no garbage collector to run: a tag delete leaves
		// the manifest untagged, and Docker Hub's own retention removes it
		// (docker/hub-feedback#2360, #2361; the package comment).
		// Docker Hub has no restore (hub-feedback#2077: "Sorry, no"); the Hub
		// API deletes tags and leaves the manifests stored (boot-ui#438:
		// untagged manifests are never collected), so restore tags them
		// again. How long Hub keeps them is not documented.
		RestoreWindow: "while Docker Hub still stores the untagged manifests (tagsweep deletes only their tags there; how long Docker Hub keeps them is not documented)",
		GCHint: "Docker Hub frees the storage itself: tagsweep removes tags through the Hub API, and Docker Hub's own retention " +
			"removes the images left untagged. There is no garbage collector to run.",
		// docker/hub-feedback#2360: Docker Hub deletes through the Hub API.
		DeletesOffHint: "Docker Hub refuses deletes through the registry API (405 UNSUPPORTED); it deletes tags through the Hub API: " +
			"use provider: dockerhub (the default for docker.io) with an access token that has Read, Write, Delete scope",
	},
	Build: build,
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
		Namespaces: ns, HTTP: env.APIClient(api), UserAgent: cmp.Or(env.UserAgent, "tagsweep")})
	if err != nil {
		return nil, err
	}
	return &connect.Built{Backend: b, Who: b.Who(), Requests: func() int64 { return reg.Stats().Requests + b.APIRequests() }}, nil
}
