// Package gar describes Google Artifact Registry, which also serves
// gcr.io: the OCI API with Google credentials, tags deleted before their
// manifest, and repositories with immutable tags kept whole (gar.go).
package gar

import (
	"net"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/google"

	"github.com/tagsweep/tagsweep/internal/registry/connect"
	"github.com/tagsweep/tagsweep/internal/registry/provider"
)

// Descriptor is Google Artifact Registry and gcr.io.
var Descriptor = connect.Descriptor{
	Traits: provider.Traits{
		Kind:    "gar",
		Aliases: []provider.Kind{"gcr"},
		About:   "Google Artifact Registry / gcr.io: OCI API, Google credentials, untag before delete",
		// LOCATION-docker.pkg.dev (cloud.google.com/artifact-registry/docs/
		// docker/names), and gcr.io with its regional hosts, which
		// Artifact Registry serves since Container Registry's shutdown
		// (cloud.google.com/artifact-registry/docs/transition/gcr-repositories).
		Hosts: provider.Either(provider.Exactly("gcr.io"), provider.Under("-docker.pkg.dev", ".gcr.io")),
		Caps: provider.Caps{
			// A digest DELETE while a tag points at it answers 400
			// GOOGLE_MANIFEST_DANGLING_TAG (genuinetools/reg#136; on AR
			// enix/kube-image-keeper#636): every tag goes first.
			UntagFirst: true,
		},
		// No garbage collector to run; cleanup policies delete untagged
		// versions (cloud.google.com/artifact-registry/docs/repositories/cleanup-policy).
		// cloud.google.com/artifact-registry/docs/repositories/delete-repos:
		// "Data recovery isn't a feature of Artifact Registry".
		RestoreWindow: "only while Artifact Registry still stores every layer (it has no recovery feature; restore checks each layer before writing anything)",
		GCHint:        "Artifact Registry frees the storage of deleted versions on its own; cleanup policies can remove untagged versions.",
	},
	// The docker config first, then Google's credentials (gcloud,
	// application default credentials, workload identity).
	Keychain: func(connect.Settings) authn.Keychain {
		return authn.NewMultiKeychain(authn.DefaultKeychain, google.Keychain)
	},
	Build: build,
}

// build: the registry API, and the Artifact Registry API at
// TAGSWEEP_GAR_API_URL, else https://artifactregistry.googleapis.com, for
// the immutable-tags setting; the location is the host's
// (LOCATION-docker.pkg.dev), else TAGSWEEP_GAR_LOCATION (gcr.io hosts
// name none: no setting is read there).
func build(env connect.Env) (*connect.Built, error) {
	reg, err := env.Registry(env.Credentials)
	if err != nil {
		return nil, err
	}
	api, err := env.APIURL("TAGSWEEP_GAR_API_URL", "https://artifactregistry.googleapis.com")
	if err != nil {
		return nil, err
	}
	host := strings.ToLower(env.Host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	location, ok := strings.CutSuffix(host, "-docker.pkg.dev")
	if !ok || strings.Contains(location, ".") {
		location = ""
	}
	if location == "" && env.Getenv != nil {
		location = env.Getenv("TAGSWEEP_GAR_LOCATION")
	}
	b, err := New(Options{Registry: reg, API: api, Location: location, HTTP: env.APIClient(api), UserAgent: env.UserAgent})
	if err != nil {
		return nil, err
	}
	return &connect.Built{Backend: b, Who: reg.Who(), Requests: func() int64 { return reg.Stats().Requests + b.APIRequests() }}, nil
}
