package ghcr

import (
	"cmp"
	"strings"

	"github.com/tagsweep/tagsweep/internal/registry/connect"
	"github.com/tagsweep/tagsweep/internal/registry/provider"
)

// Descriptor is the GitHub Container Registry: the registry API of ghcr.io
// for reading, the GitHub Packages REST API for listing and deleting.
var Descriptor = connect.Descriptor{
	Traits: provider.Traits{
		Kind:  "ghcr",
		About: "GitHub Container Registry: GitHub Packages REST API",
		Hosts: provider.Exactly("ghcr.io"),
		Caps: provider.Caps{
			// Package versions have created_at/updated_at
			// (docs.github.com/rest/packages/packages).
			PushTime: true,
			// Repository names are lower case (the OCI distribution spec's
			// name grammar, [a-z0-9]+ components; GHCR's package names
			// follow it): an owner written as ${{ github.repository_owner }}
			// (MyOrg) must still match.
			LowerCaseNames: true,
			// ghcr.io takes any user name with a token (the token exchange
			// checks the token only: dataaxiom/ghcr-cleanup-action sends the
			// user name "token"); the GitHub API takes the token alone.
			TokenOnly: true,
			// The versions listing has every manifest, tagged or not.
			ListsUntagged: true,
		},
		// GHCR has no garbage collector to run; a deleted version can be
		// restored "within 30 days of its deletion" (docs.github.com,
		// "Deleting and restoring a package"; REST: …/versions/{id}/restore).
		GCHint: "GitHub Container Registry frees the space of deleted package versions itself; there is no garbage collector to run. " +
			"Deleted versions can be restored for 30 days in the package settings (Restore), or with the REST API " +
			"(POST …/packages/container/{package}/versions/{id}/restore).",
		// docs.github.com "Deleting and restoring a package": "You restore
		// the package within 30 days of its deletion"; the REST restore
		// needs read:packages and write:packages.
		RestoreWindow: "within 30 days of the deletion, through GitHub's restore API (the token needs write:packages)",
		// skopeo#1880: GHCR answers the registry DELETE with 405 and deletes
		// through the GitHub Packages API only.
		DeletesOffHint: "GHCR refuses deletes through the registry API (405 UNSUPPORTED); it deletes package versions through the GitHub Packages API: " +
			"use provider: ghcr (the default for ghcr.io) with a token that has delete:packages",
	},
	Build: build,
}

// build: the registry API of ghcr.io for reading, the GitHub Packages
// REST API for listing and deleting. Without a password, the workflow's
// GITHUB_TOKEN is the token (masked like the password).
func build(env connect.Env) (*connect.Built, error) {
	creds := env.Credentials
	var secrets []string
	if creds.Password == "" {
		// GitHub Actions: the workflow's token works for ghcr.io.
		if tok := env.Getenv("GITHUB_TOKEN"); tok != "" {
			creds.Password = tok
			secrets = append(secrets, tok)
		}
	}
	if creds.Password != "" && creds.Username == "" {
		// ghcr.io takes any user name with a token.
		creds.Username, creds.From = cmp.Or(env.Getenv("GITHUB_ACTOR"), "tagsweep"), "GITHUB_ACTOR"
	}
	reg, err := env.Registry(creds)
	if err != nil {
		return nil, err
	}
	api, err := env.APIURL("GITHUB_API_URL", "https://api.github.com")
	if err != nil {
		return nil, err
	}
	if creds.Password == "" {
		return nil, &connect.Error{Input: "password", Why: "is required for ghcr.io (a token with read:packages and delete:packages), or set GITHUB_TOKEN"}
	}
	source := "the password input"
	if env.Password == "" {
		source = "GITHUB_TOKEN"
	}
	owners, err := env.Owners(strings.TrimSpace(env.Getenv("GITHUB_REPOSITORY_OWNER")), "owner (user or organization)")
	if err != nil {
		return nil, err
	}
	b, err := New(Options{Registry: reg, API: api, Token: creds.Password, Owners: owners,
		HTTP: env.APIClient(api), UserAgent: env.UserAgent, TokenSource: source})
	if err != nil {
		return nil, err
	}
	return &connect.Built{Backend: b, Who: b.Who(), Requests: func() int64 { return reg.Stats().Requests + b.APIRequests() }, Secrets: secrets}, nil
}
