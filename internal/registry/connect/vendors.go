package connect

import (
	"cmp"
	"strings"

	"github.com/tagsweep/tagsweep/internal/netutil"
	"github.com/tagsweep/tagsweep/internal/registry/dockerhub"
	"github.com/tagsweep/tagsweep/internal/registry/ghcr"
	"github.com/tagsweep/tagsweep/internal/registry/harbor"
	"github.com/tagsweep/tagsweep/internal/registry/oci"
	"github.com/tagsweep/tagsweep/internal/registry/provider"
)

func init() {
	vendors[provider.GHCR] = newGHCR
	vendors[provider.DockerHub] = newDockerHub
	vendors[provider.Harbor] = newHarbor
}

// newHarbor: the registry API for reading and digest deletes, the Harbor
// REST API for listing (push times, immutability) and single-tag deletes.
func newHarbor(s Settings, reg *oci.Backend, creds oci.Credentials) (*Built, error) {
	scheme := cmp.Or(s.Scheme, "https")
	if s.Scheme == "" && netutil.IsLoopback(s.Host) {
		scheme = "http"
	}
	api, err := apiURL(s, "TAGSWEEP_HARBOR_API_URL", scheme+"://"+s.Host+"/api/v2.0")
	if err != nil {
		return nil, err
	}
	b, err := harbor.New(harbor.Options{Registry: reg, API: api, Username: creds.Username, Password: creds.Password,
		HTTP: apiClient(s, api), UserAgent: s.UserAgent})
	if err != nil {
		return nil, err
	}
	return &Built{Backend: b, Who: b.Who(), Requests: func() int64 { return reg.Stats().Requests + b.APIRequests() }}, nil
}

// newGHCR: the registry API of ghcr.io for reading, the GitHub Packages
// REST API for listing and deleting.
func newGHCR(s Settings, reg *oci.Backend, creds oci.Credentials) (*Built, error) {
	api, err := apiURL(s, "GITHUB_API_URL", "https://api.github.com")
	if err != nil {
		return nil, err
	}
	if creds.Password == "" {
		return nil, &Error{Input: "password", Why: "is required for ghcr.io (a token with read:packages and delete:packages), or set GITHUB_TOKEN"}
	}
	source := "the password input"
	if s.Password == "" {
		source = "GITHUB_TOKEN"
	}
	owners, err := owners(s.Repositories, strings.TrimSpace(s.Getenv("GITHUB_REPOSITORY_OWNER")), "owner (user or organization)")
	if err != nil {
		return nil, err
	}
	b, err := ghcr.New(ghcr.Options{Registry: reg, API: api, Token: creds.Password, Owners: owners,
		HTTP: apiClient(s, api), UserAgent: s.UserAgent, TokenSource: source})
	if err != nil {
		return nil, err
	}
	return &Built{Backend: b, Who: b.Who(), Requests: func() int64 { return reg.Stats().Requests + b.APIRequests() }}, nil
}

// newDockerHub: the registry API for reading, the Hub API for listing and
// deleting tags.
func newDockerHub(s Settings, reg *oci.Backend, creds oci.Credentials) (*Built, error) {
	api, err := apiURL(s, "TAGSWEEP_DOCKERHUB_API_URL", "https://hub.docker.com")
	if err != nil {
		return nil, err
	}
	if creds.Username == "" {
		return nil, &Error{Input: "username", Why: "is required for Docker Hub, with an access token (Read, Write, Delete) as password: the Hub API deletes tags"}
	}
	ns, err := owners(s.Repositories, strings.ToLower(creds.Username), "namespace")
	if err != nil {
		return nil, err
	}
	b, err := dockerhub.New(dockerhub.Options{Registry: reg, API: api, Username: creds.Username, Password: creds.Password,
		Namespaces: ns, HTTP: apiClient(s, api), UserAgent: cmp.Or(s.UserAgent, "tagsweep")})
	if err != nil {
		return nil, err
	}
	return &Built{Backend: b, Who: b.Who(), Requests: func() int64 { return reg.Stats().Requests + b.APIRequests() }}, nil
}
