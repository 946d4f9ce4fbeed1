package ghcr

import (
	"cmp"
	"net/url"
	"slices"
	"strings"

	"github.com/tagsweep/tagsweep/internal/registry/connect"
	"github.com/tagsweep/tagsweep/internal/registry/provider"
)

// Descriptor is the GitHub Container Registry: the registry API of ghcr.io
// (GitHub Enterprise Server: containers.HOSTNAME) for reading, the GitHub
// Packages REST API for listing and deleting.
var Descriptor = connect.Descriptor{
	Traits: provider.Traits{
		Kind:  "ghcr",
		About: "GitHub Container Registry: GitHub Packages REST API",
		Hosts: provider.Exactly("ghcr.io"),
		// GitHub Enterprise Server: "the Container registry, which uses the
		// package namespace https://containers.HOSTNAME" (docs, "Working
		// with the Container registry", GHES 3.6-3.20); the runner sets
		// GITHUB_SERVER_URL and GITHUB_API_URL to the instance's.
		EnvHosts: ghesHosts,
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
			// "GitHub Container Registry frees the space … itself" (below).
			FreesSpace: true,
		},
		// The token for the GitHub API and ghcr.io when password is empty;
		// action.yml defaults it to ${{ github.token }}.
		APITokenInput: "github-token",
		// DELETE …/versions/{id} answers 400 "You cannot delete the last
		// tagged version of a package. You must delete the package
		// instead." for the package's only tagged version; untagged
		// versions never count (kairos-io/kairos#4723 and #4724,
		// posit-dev/positron#15764).
		LastTagged: "GitHub keeps the last tagged version of a package",
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

// ghesHosts names the registry of the GitHub Enterprise Server the runner
// belongs to, containers.HOSTNAME, from GITHUB_SERVER_URL (https://HOSTNAME)
// and GITHUB_API_URL (https://HOSTNAME/api/v3). github.com and GitHub
// Enterprise Cloud with data residency (*.ghe.com, whose registry host no
// source names) claim nothing.
func ghesHosts(getenv func(string) string) []string {
	var out []string
	for _, v := range []string{getenv("GITHUB_SERVER_URL"), getenv("GITHUB_API_URL")} {
		u, err := url.Parse(strings.TrimSpace(v))
		if err != nil || u.Host == "" {
			continue
		}
		h := provider.Hostname(u.Host)
		if h == "github.com" || h == "api.github.com" || strings.HasSuffix(h, ".ghe.com") {
			continue
		}
		if c := "containers." + h; !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// build: the registry API for reading, the GitHub Packages REST API for
// listing and deleting. The token is the password input, else the
// github-token input (action.yml: ${{ github.token }}), else GITHUB_TOKEN
// from the environment; it goes to the GitHub API and the registry of
// this provider, and nowhere else. A fine-grained token is refused before
// any request.
func build(env connect.Env) (*connect.Built, error) {
	creds := env.Credentials
	var secrets []string
	source, input := "the password input", "password"
	if creds.Password == "" {
		if tok := strings.TrimSpace(env.APIToken); tok != "" {
			creds.Password, source, input = tok, "the github-token input", "github-token"
		} else if tok := strings.TrimSpace(env.Getenv("GITHUB_TOKEN")); tok != "" {
			creds.Password, source, input = tok, "GITHUB_TOKEN", "GITHUB_TOKEN"
		}
		if creds.Password != "" {
			secrets = append(secrets, creds.Password)
		}
	}
	if creds.Password == "" {
		return nil, &connect.Error{Input: "github-token", Why: "is required for the GitHub Container Registry: in GitHub Actions it defaults to " +
			"${{ github.token }} (give the job `permissions: packages: write`); elsewhere set GITHUB_TOKEN, or give a classic PAT with " +
			"read:packages and delete:packages as password"}
	}
	if KindOf(creds.Password) == TokenFineGrained {
		// docs.github.com, "Deleting and restoring a package": "GitHub
		// Packages only supports authentication using a personal access
		// token (classic)"; every container operation of the REST API says
		// fineGrainedPat: false (github/docs, src/rest/data, packages.json).
		return nil, &connect.Error{Input: input, Why: FineGrainedFix}
	}
	if creds.Username == "" {
		// ghcr.io takes any user name with a token.
		creds.Username, creds.From = cmp.Or(env.Getenv("GITHUB_ACTOR"), "tagsweep"), "GITHUB_ACTOR"
	}
	reg, err := env.Registry(creds)
	if err != nil {
		return nil, err
	}
	api, err := env.APIURL("GITHUB_API_URL", apiDefault(env))
	if err != nil {
		return nil, err
	}
	owners, err := env.Owners(strings.TrimSpace(env.Getenv("GITHUB_REPOSITORY_OWNER")), "owner (user or organization)")
	if err != nil {
		return nil, err
	}
	b, err := New(Options{Registry: reg, API: api, Token: creds.Password, Owners: owners,
		HTTP: env.APIClient(api), UserAgent: env.UserAgent, TokenSource: source, ActionsOwner: env.Getenv("GITHUB_REPOSITORY_OWNER")})
	if err != nil {
		return nil, err
	}
	return &connect.Built{Backend: b, Who: b.Who(), Requests: func() int64 { return reg.Stats().Requests + b.APIRequests() }, Secrets: secrets}, nil
}

// apiDefault is the GitHub API base when GITHUB_API_URL is not set (the
// runner always sets it): for a registry containers.HOSTNAME, GitHub
// Enterprise Server's https://HOSTNAME/api/v3 ("Authenticating to the REST
// API", GHES); else https://api.github.com.
func apiDefault(env connect.Env) string {
	if h, ok := strings.CutPrefix(provider.Hostname(env.Host), "containers."); ok && h != "" {
		return "https://" + h + "/api/v3"
	}
	return "https://api.github.com"
}
