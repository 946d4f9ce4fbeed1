// Package gitlab describes the GitLab container registry
// (registry.gitlab.com, or a self-managed one named with provider:
// gitlab): the registry API, with GitLab's REST API to discover
// repositories and delete single tags (gitlab.go).
package gitlab

import (
	"strings"

	"github.com/tagsweep/tagsweep/internal/registry/connect"
	"github.com/tagsweep/tagsweep/internal/registry/oci"
	"github.com/tagsweep/tagsweep/internal/registry/provider"
)

// Descriptor is the GitLab container registry.
var Descriptor = connect.Descriptor{
	Traits: provider.Traits{
		Kind:  "gitlab",
		About: "GitLab container registry: OCI API, GitLab REST API for discovery and tag deletes",
		Hosts: provider.Exactly("registry.gitlab.com"),
		// GitLab.com runs online garbage collection; a self-managed instance
		// runs `gitlab-ctl registry-garbage-collect`, or online GC with the
		// metadata database (docs.gitlab.com/administration/packages/container_registry,
		// "Container registry garbage collection").
		// docs.gitlab.com user/packages/container_registry/delete_container_registry_images:
		// untagged manifests and their layers are "scheduled for deletion in 24 hours".
		RestoreWindow: "within about 24 hours on GitLab.com (untagged manifests and their layers are scheduled for deletion then); self-managed, until garbage collection runs",
		GCHint:        "GitLab.com collects garbage itself; a self-managed instance needs `gitlab-ctl registry-garbage-collect` (or online GC with the metadata database).",
	},
	Build: build,
}

// jobTokenUser is the registry user name of a CI job token
// (CI_REGISTRY_USER, doc/ci/variables/predefined_variables.md).
const jobTokenUser = "gitlab-ci-token"

// build: the REST API at CI_API_V4_URL (else https://gitlab.com/api/v4
// for registry.gitlab.com); the token is the password input (a job token
// when the username is gitlab-ci-token), else CI_JOB_TOKEN, which then
// also authenticates the registry API as CI_REGISTRY_USER does; the
// project is CI_PROJECT_ID; the groups are the first segments of the
// repository globs (else of CI_PROJECT_PATH).
func build(env connect.Env) (*connect.Built, error) {
	creds := env.Credentials
	token, job, source := creds.Password, strings.EqualFold(creds.Username, jobTokenUser), "the password input"
	var secrets []string
	if token == "" {
		if jt := strings.TrimSpace(env.Getenv("CI_JOB_TOKEN")); jt != "" {
			token, job, source = jt, true, "CI_JOB_TOKEN"
			secrets = append(secrets, jt)
			if creds.Username == "" {
				creds = oci.Credentials{Username: jobTokenUser, Password: jt, From: "CI_JOB_TOKEN"}
			}
		}
	}
	reg, err := env.Registry(creds)
	if err != nil {
		return nil, err
	}
	def := ""
	if strings.EqualFold(env.Host, "registry.gitlab.com") {
		def = "https://gitlab.com/api/v4"
	}
	if def == "" && strings.TrimSpace(env.Getenv("CI_API_V4_URL")) == "" {
		return nil, &connect.Error{Input: "provider", Why: "gitlab on " + env.Host + " needs the GitLab API: set CI_API_V4_URL (GitLab CI sets it), e.g. https://gitlab.example.com/api/v4"}
	}
	api, err := env.APIURL("CI_API_V4_URL", def)
	if err != nil {
		return nil, err
	}
	project := strings.TrimSpace(env.Getenv("CI_PROJECT_ID"))
	var groups []string
	if !job {
		fallback, _, _ := strings.Cut(strings.TrimSpace(env.Getenv("CI_PROJECT_PATH")), "/")
		if groups, err = env.Owners(fallback, "group"); err != nil {
			return nil, err
		}
	}
	b, err := New(Options{Registry: reg, API: api, Token: token, Job: job, TokenSource: source, Project: project, Groups: groups,
		HTTP: env.APIClient(api), UserAgent: env.UserAgent})
	if err != nil {
		return nil, err
	}
	return &connect.Built{Backend: b, Who: b.Who(), Requests: func() int64 { return reg.Stats().Requests + b.APIRequests() }, Secrets: secrets}, nil
}
