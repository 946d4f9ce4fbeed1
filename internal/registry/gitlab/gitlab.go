package gitlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/oci"
	"github.com/tagsweep/tagsweep/internal/registry/restapi"
)

// ProtectedTagReason is the reason a tag a protection rule covers is kept
// with.
const ProtectedTagReason = "protected tag on GitLab (a container registry tag protection rule)"

// protectedMessage is GitLab's answer to deleting a protected tag
// (Projects::ContainerRepository::Gitlab::DeleteTagsService
// PROTECTED_TAGS_ERROR_MESSAGE; doc/api/container_registry.md). GitLab's
// REST errors carry no code, only this message.
const protectedMessage = "cannot delete protected tag(s)"

// perPage is the REST API's largest page (doc/api/rest/index.md,
// "Offset-based pagination": per_page at most 100).
const perPage = 100

// Backend is the GitLab container registry: the registry API of
// oci.Backend for tags, manifests and digest deletes, with the GitLab REST
// API (doc/api/container_registry.md) for what the registry API cannot:
//   - discovering repositories, since /v2/_catalog needs an
//     administrator: GET /groups/:id/registry/repositories (the group
//     and its subgroups: ContainerRepositoriesFinder,
//     for_group_and_its_subgroups) for the first segment of each glob,
//     and GET /projects/:id/registry/repositories for CI_PROJECT_ID (a
//     CI job token reaches only that one: the group endpoint does not
//     take job tokens);
//   - deleting one tag: DELETE /projects/:id/registry/repositories/
//     :repository_id/tags/:tag_name (200), which needs the Developer
//     role, where the registry API's tag delete needs a delete JWT
//     (Maintainer, or the project's own CI job). A protected tag answers
//     403 "cannot delete protected tag(s)": kept with ProtectedTagReason.
//
// It is safe for concurrent use.
type Backend struct {
	*oci.Backend
	api     *restapi.Client
	job     bool
	project string
	groups  []string
	who     string

	mu       sync.Mutex
	repos    map[string]repoRef // registry path -> ids
	projects map[string]bool    // projects (ID or path) whose repositories were read
}

type repoRef struct {
	project int
	id      int
}

var _ registry.Backend = (*Backend)(nil)

// Options configures New.
type Options struct {
	// Registry is the registry API backend.
	Registry *oci.Backend
	// API is the REST API base, e.g. https://gitlab.com/api/v4.
	API *url.URL
	// Token is sent as PRIVATE-TOKEN (a personal, project or group access
	// token), or as JOB-TOKEN when Job; empty: anonymous.
	Token string
	// Job says Token is a CI job token.
	Job bool
	// TokenSource names where Token came from, for the log.
	TokenSource string
	// Project is the pipeline's project ID (CI_PROJECT_ID), "" outside CI.
	Project string
	// Groups are the groups whose repositories Repositories lists.
	Groups []string
	// HTTP sends the REST requests; nil is http.DefaultClient.
	HTTP *http.Client
	// UserAgent is sent to the REST API.
	UserAgent string
}

// New returns the GitLab backend.
func New(o Options) (*Backend, error) {
	if o.Registry == nil {
		return nil, errors.New("gitlab: the registry API backend is required")
	}
	base, err := restapi.BaseURL("gitlab", o.API)
	if err != nil {
		return nil, err
	}
	b := &Backend{Backend: o.Registry, job: o.Job, project: o.Project, groups: o.Groups,
		repos: map[string]repoRef{}, projects: map[string]bool{}}
	b.api = &restapi.Client{Base: base, HTTP: o.HTTP, UserAgent: o.UserAgent}
	switch {
	case o.Token == "":
		b.who = "anonymous access to the GitLab API (no password and no CI_JOB_TOKEN)"
	case o.Job:
		b.who = fmt.Sprintf("the CI job token (from %s)", o.TokenSource)
	default:
		b.who = fmt.Sprintf("an access token (from %s)", o.TokenSource)
	}
	if tok := o.Token; tok != "" {
		header := "PRIVATE-TOKEN"
		if o.Job {
			header = "JOB-TOKEN"
		}
		b.api.Auth = func(_ context.Context, req *http.Request) error {
			req.Header.Set(header, tok)
			return nil
		}
	}
	return b, nil
}

// Who describes the credentials of both APIs, never the secret.
func (b *Backend) Who() string { return b.Backend.Who() + "; " + b.who + " for the GitLab API" }

// APIRequests counts the requests sent to the REST API.
func (b *Backend) APIRequests() int64 { return b.api.Requests() }

// TagDeleteSupported is true: the REST API deletes single tags. No
// request is sent.
func (b *Backend) TagDeleteSupported(context.Context, string) (bool, error) { return true, nil }

// need says what a refused request lacks (doc/user/permissions.md;
// doc/api/rest/authentication.md; doc/ci/jobs/ci_job_token.md).
func (b *Backend) need(del bool) string {
	switch {
	case b.job && del:
		return "a job token reaches only the container registry of its own project (CI_PROJECT_ID), with the role of the user who started the pipeline: Developer to delete tags"
	case b.job:
		return "a job token reaches only the container registry of its own project (CI_PROJECT_ID)"
	case del:
		return `the Developer role on the project and a token with the "api" scope (a personal, project or group access token; deploy tokens cannot use the REST API)`
	}
	return `the Reporter role and a token with the "read_api" or "api" scope (a personal, project or group access token; deploy tokens cannot use the REST API)`
}

func (b *Backend) apiError(err error, op string, del bool) error {
	var se *restapi.StatusError
	switch {
	case errors.As(err, &se):
		if ae := registry.Auth(se.Status, b.who, b.need(del), se.Message); ae != nil {
			return fmt.Errorf("%s: GitLab API: %w", op, ae)
		}
		if se.Status == http.StatusNotFound {
			return registry.Mark(registry.ErrNotFound, fmt.Errorf("%s: %w", op, err))
		}
	case errors.Is(err, restapi.ErrRateLimited):
		return registry.Mark(registry.ErrRateLimited, fmt.Errorf("%s: %w", op, err))
	}
	return fmt.Errorf("%s: %w", op, err)
}

type repositoryJSON struct {
	ID        int    `json:"id"`
	Path      string `json:"path"`
	ProjectID int    `json:"project_id"`
}

// list reads every page of a registry repositories listing and records
// the ids of each; it returns the paths.
func (b *Backend) list(ctx context.Context, path, op string) ([]string, error) {
	var out []string
	get := func(ctx context.Context, p string) (*restapi.Response, error) {
		return b.api.Do(ctx, http.MethodGet, p, nil)
	}
	err := restapi.Pages(ctx, path, get, func(resp *restapi.Response) (string, error) {
		var page []repositoryJSON
		if err := json.Unmarshal(resp.Body, &page); err != nil {
			return "", fmt.Errorf("bad JSON: %w", err)
		}
		b.mu.Lock()
		for _, r := range page {
			if r.Path != "" {
				b.repos[r.Path] = repoRef{project: r.ProjectID, id: r.ID}
				out = append(out, r.Path)
			}
		}
		b.mu.Unlock()
		if len(page) == 0 {
			return "", nil
		}
		return restapi.NextLink(resp.Header), nil
	})
	if err != nil {
		return nil, b.apiError(err, op, false)
	}
	return out, nil
}

func (b *Backend) listProject(ctx context.Context, project string) ([]string, error) {
	paths, err := b.list(ctx, fmt.Sprintf("/projects/%s/registry/repositories?per_page=%d", url.PathEscape(project), perPage),
		fmt.Sprintf("list the registry repositories of GitLab project %s", project))
	if err == nil {
		b.mu.Lock()
		b.projects[project] = true
		b.mu.Unlock()
	}
	return paths, err
}

// Repositories lists the registry repositories of the globs' groups (and
// their subgroups) and of the pipeline's project; with a job token, of
// the pipeline's project alone.
func (b *Backend) Repositories(ctx context.Context) ([]string, error) {
	if b.job {
		if b.project == "" {
			return nil, errors.New("list GitLab registry repositories: a CI job token reaches only its own project, and CI_PROJECT_ID is not set")
		}
		return b.listProject(ctx, b.project)
	}
	seen := map[string]bool{}
	var out []string
	add := func(paths []string) {
		for _, p := range paths {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	for _, g := range b.groups {
		paths, err := b.list(ctx, fmt.Sprintf("/groups/%s/registry/repositories?per_page=%d", url.PathEscape(g), perPage),
			fmt.Sprintf("list the registry repositories of GitLab group %q", g))
		if errors.Is(err, registry.ErrNotFound) && b.project != "" {
			continue // a user's namespace, not a group: the project's own list follows
		}
		if errors.Is(err, registry.ErrNotFound) {
			return nil, fmt.Errorf("%w (%q is no GitLab group this token sees: name the repositories in a user's namespace literally)", err, g)
		}
		if err != nil {
			return nil, err
		}
		add(paths)
	}
	if b.project != "" {
		paths, err := b.listProject(ctx, b.project)
		if err != nil {
			return nil, err
		}
		add(paths)
	}
	return out, nil
}

// lookup finds the project and repository ids of a registry path: from
// the listings read, else the pipeline's project, else the projects its
// path prefixes name (group/sub/app/image: group/sub/app, then
// group/sub), longest first.
func (b *Backend) lookup(ctx context.Context, repo string) (repoRef, error) {
	get := func() (repoRef, bool) {
		b.mu.Lock()
		defer b.mu.Unlock()
		r, ok := b.repos[repo]
		return r, ok
	}
	if r, ok := get(); ok {
		return r, nil
	}
	var candidates []string
	if b.project != "" {
		candidates = append(candidates, b.project)
	}
	if !b.job {
		seg := strings.Split(repo, "/")
		for n := len(seg); n >= 2; n-- {
			candidates = append(candidates, strings.Join(seg[:n], "/"))
		}
	}
	for _, p := range candidates {
		b.mu.Lock()
		done := b.projects[p]
		b.mu.Unlock()
		if done {
			continue
		}
		if _, err := b.listProject(ctx, p); err != nil && !errors.Is(err, registry.ErrNotFound) {
			return repoRef{}, err
		}
		if r, ok := get(); ok {
			return r, nil
		}
	}
	return repoRef{}, registry.Mark(registry.ErrNotFound, fmt.Errorf("%s is not a registry repository of a GitLab project this token sees", repo))
}

// DeleteTag deletes one tag through the REST API; the manifest stays.
func (b *Backend) DeleteTag(ctx context.Context, repo, tag string) error {
	if err := registry.Stopped(ctx); err != nil {
		return err
	}
	ref, err := b.lookup(ctx, repo)
	if err != nil {
		return fmt.Errorf("delete tag %s: %w", tag, err)
	}
	path := fmt.Sprintf("/projects/%d/registry/repositories/%d/tags/%s", ref.project, ref.id, url.PathEscape(tag))
	_, err = b.api.Do(ctx, http.MethodDelete, path, nil, http.StatusOK)
	var se *restapi.StatusError
	if errors.As(err, &se) && se.Status == http.StatusForbidden && se.Message == protectedMessage {
		return &registry.ProtectedError{Reason: ProtectedTagReason, Err: fmt.Errorf("delete tag %s: %w", tag, err)}
	}
	if err != nil {
		return b.apiError(err, "delete tag "+tag, true)
	}
	return nil
}
