// Package harbor is the registry.Backend for Harbor v2: it lists projects,
// repositories and tags (with push times and tag immutability) through
// Harbor's REST API (/api/v2.0), deletes single tags and artifacts
// through it, and reads manifests through the registry API (the embedded
// oci.Backend).
//
// Harbor's shapes, from goharbor/harbor:
//   - src/server/v2.0/handler/artifact.go: DELETE
//     .../artifacts/{reference} needs artifact delete and answers 200;
//     src/server/middleware/v2auth/access.go: the registry API's DELETE
//     needs repository delete, so artifacts are deleted through REST.
//   - api/v2.0/swagger.yaml: GET /projects, GET
//     /projects/{project_name}/repositories, GET
//     .../repositories/{repository_name}/artifacts (with_tag,
//     with_immutable_status: the Tag's "immutable" is only filled in when
//     asked), DELETE .../artifacts/{reference}/tags/{tag_name}; page and
//     page_size (at most 100) with X-Total-Count and a Link header;
//     repository_name encoded twice (a/b -> a%252Fb).
//   - src/pkg/artifact/dao/dao.go (querySetter): q=tags=nil lists the
//     artifacts without tags that no other artifact references ("tag.id
//     IS NULL AND ref.id IS NULL"): an index's children are not listed
//     themselves, only in the index's references.
//   - src/server/v2.0/handler/base.go: Link targets are host-relative
//     ("/api/v2.0/projects?page=2&page_size=100"), resolved here against
//     the API base.
//   - src/controller/tag/controller.go, src/controller/artifact/
//     controller.go: a delete answers 412 PRECONDITION (an immutable tag
//     on the artifact) or 412 VIOLATE_FOREIGN_KEY_CONSTRAINT (another
//     artifact, an index, references it), through either API.
//   - src/server/middleware/security: credentials that do not
//     authenticate make the request anonymous rather than failing it, so
//     a wrong password would list only public projects; New's credentials
//     are therefore checked once (GET /users/current/permissions, 401 when
//     anonymous) before the first listing.
package harbor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/image"
	"github.com/tagsweep/tagsweep/internal/registry/oci"
	"github.com/tagsweep/tagsweep/internal/registry/restapi"
)

// ProtectedImmutable is the reason a tag an immutability rule matches is
// kept.
const ProtectedImmutable = "immutable tag (Harbor tag immutability rule)"

// GCHint tells how Harbor frees the space of deleted artifacts.
const GCHint = "Harbor: run a garbage collection job (Administration > Clean Up, or a GC schedule) to free the space; " +
	"deleted artifacts keep their blobs until it runs."

// pageSize is Harbor's maximum page_size.
const pageSize = 100

// Options configures New.
type Options struct {
	// Registry is the registry API of the Harbor host.
	Registry *oci.Backend
	// API is the REST base, e.g. https://harbor.example.com/api/v2.0.
	API *url.URL
	// Username and Password are Basic auth for the REST API (robot
	// accounts: robot$name). Empty: anonymous (public projects only).
	Username, Password string
	// HTTP sends the REST requests; nil is http.DefaultClient.
	HTTP *http.Client
	// UserAgent is sent to the REST API ("tagsweep" when empty).
	UserAgent string
}

// Backend is Harbor: the registry API of oci.Backend, with listing and
// tag deletion through the REST API. It is safe for concurrent use.
type Backend struct {
	*oci.Backend
	api      *restapi.Client
	username string
	who      string

	checkOnce sync.Once
	checkErr  error

	mu     sync.Mutex
	listed map[string]map[string]string // repo -> tag -> digest, from the last Tags
}

var (
	_ registry.Backend        = (*Backend)(nil)
	_ registry.UntaggedLister = (*Backend)(nil)
)

// New returns a Harbor backend.
func New(o Options) (*Backend, error) {
	if o.Registry == nil {
		return nil, errors.New("harbor: the registry API backend is required")
	}
	if o.API == nil || (o.API.Scheme != "http" && o.API.Scheme != "https") || o.API.Host == "" {
		return nil, fmt.Errorf("harbor: the REST API base must be an http(s) URL, got %v", o.API)
	}
	if (o.Username == "") != (o.Password == "") {
		return nil, errors.New("harbor: username and password go together")
	}
	base := *o.API
	base.Path = strings.TrimSuffix(base.Path, "/")
	base.RawPath = ""
	base.RawQuery, base.Fragment, base.User = "", "", nil
	b := &Backend{
		Backend:  o.Registry,
		api:      &restapi.Client{Base: &base, HTTP: o.HTTP, UserAgent: o.UserAgent},
		username: o.Username,
		listed:   map[string]map[string]string{},
	}
	switch {
	case o.Username == "":
		b.who = "anonymous access to the Harbor API (no username input)"
	case strings.HasPrefix(o.Username, "robot$"): // Harbor's default robot name prefix
		b.who = fmt.Sprintf("robot account %q (from the username input)", o.Username)
	default:
		b.who = fmt.Sprintf("user %q (from the username input)", o.Username)
	}
	if o.Username != "" {
		user, pass := o.Username, o.Password
		b.api.Auth = func(_ context.Context, req *http.Request) error {
			req.SetBasicAuth(user, pass)
			return nil
		}
	}
	return b, nil
}

// Who describes the credentials in use, never the secret. With a
// username both APIs use it; without, the registry API has its own
// (docker config or anonymous) and the REST API is anonymous.
func (b *Backend) Who() string {
	if b.username != "" {
		return b.who
	}
	return b.Backend.Who() + "; anonymous for the Harbor API"
}

// APIRequests counts the requests sent to the REST API (the registry
// API's are in Stats).
func (b *Backend) APIRequests() int64 { return b.api.Requests() }

// Capabilities describes Harbor, as its Descriptor says: push times from
// the REST API, and the artifacts without tags it lists (Untagged).
func (b *Backend) Capabilities() registry.Capabilities {
	return registry.Capabilities{GCHint: Descriptor.GCHint, Pushed: Descriptor.Caps.PushTime, ListsUntagged: Descriptor.Caps.ListsUntagged}
}

// TagDeleteSupported is true: the REST API deletes single tags. No
// request is sent.
func (b *Backend) TagDeleteSupported(context.Context, string) (bool, error) { return true, nil }

// Permission texts for errors (src/common/rbac/project/rbac_role.go:
// listing needs any project role, deleting artifacts and tags needs
// Maintainer or Project Admin).
const needCredentials = `valid Harbor credentials (a Harbor user, or a robot account "robot$name" with its secret)`

func needList(project string) string {
	return fmt.Sprintf(`read access to Harbor project %q: a project role (Limited Guest or above) or a robot account with the "list repository", "read repository" and "list artifact" permissions `+
		`(Harbor also answers so when the project does not exist)`, project)
}

func needDelete(project string) string {
	return fmt.Sprintf(`the "delete tag" permission on Harbor project %q: the Maintainer or Project Admin role, `+
		`or a robot account with the tag "delete" permission (and artifact "delete" for whole artifacts)`, project)
}

func needDeleteArtifact(project string) string {
	return fmt.Sprintf(`the "delete artifact" permission on Harbor project %q: the Maintainer or Project Admin role, `+
		`or a robot account with the artifact "delete" permission (and tag "delete" for single tags)`, project)
}

// harborError splits a restapi message "CODE message" into its parts.
func harborError(se *restapi.StatusError) (code, message string) {
	code, message, ok := strings.Cut(se.Message, " ")
	if !ok || strings.Trim(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") != "" {
		return "", se.Message
	}
	return code, message
}

// protectedReason is why Harbor refused a delete with 412.
func protectedReason(code, message string) string {
	switch {
	case code == "VIOLATE_FOREIGN_KEY_CONSTRAINT":
		return "referenced by another artifact (Harbor keeps what an index references): " + message
	case strings.Contains(message, "immutable"):
		return ProtectedImmutable + ": " + message
	case message != "":
		return fmt.Sprintf("Harbor refused the delete (412 %s): %s", code, message)
	}
	return "Harbor refused the delete (412 Precondition Failed)"
}

// apiError maps a REST API error to the sentinels.
func (b *Backend) apiError(err error, op, need string) error {
	var se *restapi.StatusError
	switch {
	case errors.As(err, &se):
		code, msg := harborError(se)
		if ae := registry.Auth(se.Status, b.who, need, se.Message); ae != nil {
			return fmt.Errorf("%s: Harbor API: %w", op, ae)
		}
		switch se.Status {
		case http.StatusNotFound:
			return registry.Mark(registry.ErrNotFound, fmt.Errorf("%s: %w", op, err))
		case http.StatusPreconditionFailed:
			return registry.Mark(registry.ErrProtected, errors.New(protectedReason(code, msg)))
		}
	case errors.Is(err, restapi.ErrRateLimited):
		return registry.Mark(registry.ErrRateLimited, fmt.Errorf("%s: %w", op, err))
	}
	return fmt.Errorf("%s: %w", op, err)
}

// checkCredentials asks Harbor once whether the credentials authenticate:
// Harbor treats a wrong password as anonymous access, which would list
// the public projects only, silently. Only a 401 fails the check; any
// other failure is left to the requests that follow.
func (b *Backend) checkCredentials(ctx context.Context) error {
	if b.username == "" {
		return nil
	}
	b.checkOnce.Do(func() {
		_, err := b.api.Do(ctx, http.MethodGet, "/users/current/permissions", nil)
		var se *restapi.StatusError
		if errors.As(err, &se) && se.Status == http.StatusUnauthorized {
			b.checkErr = b.apiError(err, "check the Harbor credentials", needCredentials)
		}
	})
	return b.checkErr
}

// split splits "project/repo[/more]" into Harbor's project_name and
// repository_name.
func split(repo string) (project, name string, err error) {
	project, name, ok := strings.Cut(repo, "/")
	if !ok || project == "" || name == "" {
		return "", "", fmt.Errorf("repository %q is not a Harbor repository name (project/repository)", repo)
	}
	return project, name, nil
}

// repoPath is /projects/{project_name}/repositories/{repository_name},
// the repository name encoded twice as Harbor requires (a/b -> a%252Fb).
func repoPath(project, name string) string {
	return "/projects/" + url.PathEscape(project) + "/repositories/" + url.PathEscape(url.PathEscape(name))
}

// getAll GETs path and every page its Link headers lead to.
func getAll[T any](ctx context.Context, b *Backend, path, op, need string) ([]T, error) {
	var out []T
	var page string
	get := func(ctx context.Context, path string) (*restapi.Response, error) {
		page = path
		resp, err := b.api.Do(ctx, http.MethodGet, path, nil)
		if err != nil {
			return nil, b.apiError(err, op, need)
		}
		return resp, nil
	}
	err := restapi.Pages(ctx, path, get, func(resp *restapi.Response) (string, error) {
		var items []T
		if err := json.Unmarshal(resp.Body, &items); err != nil {
			return "", b.apiError(fmt.Errorf("GET %s: bad JSON: %w", page, err), op, need)
		}
		out = append(out, items...)
		if len(items) == 0 {
			return "", nil // an empty page ends the listing
		}
		// Harbor's links are host-relative (/api/v2.0/...?page=2); restapi
		// resolves them on the API's own host.
		return restapi.NextLink(resp.Header), nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Repositories lists every repository of every project the credentials
// see, as Harbor names them ("project/repo[/more]").
func (b *Backend) Repositories(ctx context.Context) ([]string, error) {
	if err := b.checkCredentials(ctx); err != nil {
		return nil, err
	}
	type named struct {
		Name string `json:"name"`
	}
	projects, err := getAll[named](ctx, b, fmt.Sprintf("/projects?page_size=%d", pageSize), "list Harbor projects", needCredentials)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range projects {
		repos, err := getAll[named](ctx, b, fmt.Sprintf("/projects/%s/repositories?page_size=%d", url.PathEscape(p.Name), pageSize),
			fmt.Sprintf("list the repositories of Harbor project %q", p.Name), needList(p.Name))
		if err != nil {
			return nil, err
		}
		for _, r := range repos {
			out = append(out, r.Name)
		}
	}
	return out, nil
}

// artifactJSON is what Tags reads of a swagger Artifact.
type artifactJSON struct {
	Digest string `json:"digest"`
	Tags   []struct {
		Name      string `json:"name"`
		PushTime  string `json:"push_time"`
		Immutable bool   `json:"immutable"`
	} `json:"tags"`
}

// Tags lists the tags of repo from its artifacts: each tag with the
// artifact's digest, its push time, and whether an immutability rule
// protects it.
func (b *Backend) Tags(ctx context.Context, repo string) ([]image.Tag, error) {
	project, name, err := split(repo)
	if err != nil {
		return nil, err
	}
	if err := b.checkCredentials(ctx); err != nil {
		return nil, err
	}
	op := "list the tags of " + repo
	path := repoPath(project, name) + fmt.Sprintf("/artifacts?with_tag=true&with_immutable_status=true&q=tags%%3D%%2A&page_size=%d", pageSize)
	arts, err := getAll[artifactJSON](ctx, b, path, op, needList(project))
	if err != nil {
		return nil, err
	}
	if len(arts) == 0 {
		// Harbor lists no artifacts for a repository that does not exist.
		if _, err := b.api.Do(ctx, http.MethodGet, repoPath(project, name), nil); err != nil {
			return nil, b.apiError(err, op, needList(project))
		}
	}
	var out []image.Tag
	digests := map[string]string{}
	for _, a := range arts {
		for _, t := range a.Tags {
			if _, dup := digests[t.Name]; dup || t.Name == "" {
				continue // a tag moved between two pages: the first listing wins
			}
			digests[t.Name] = a.Digest
			tag := image.Tag{Name: t.Name, Digest: a.Digest, Pushed: registry.ParseTime(t.PushTime)}
			if t.Immutable {
				tag.Protected = ProtectedImmutable
			}
			out = append(out, tag)
		}
	}
	b.mu.Lock()
	b.listed[repo] = digests
	b.mu.Unlock()
	return out, nil
}

// DeleteTag deletes one tag through the REST API. The artifact is named
// by the digest the last listing gave for the tag, so that a tag moved
// since is not deleted (Harbor answers 404: the tag is not on that
// artifact). A 412 (immutable tag) is ErrProtected with Harbor's reason.
func (b *Backend) DeleteTag(ctx context.Context, repo, tag string) error {
	if err := registry.Stopped(ctx); err != nil {
		return err
	}
	project, name, err := split(repo)
	if err != nil {
		return err
	}
	b.mu.Lock()
	ref := b.listed[repo][tag]
	b.mu.Unlock()
	if ref == "" {
		ref = tag
	}
	path := repoPath(project, name) + "/artifacts/" + url.PathEscape(ref) + "/tags/" + url.PathEscape(tag)
	_, err = b.api.Do(ctx, http.MethodDelete, path, nil, http.StatusOK)
	if err == nil {
		b.mu.Lock()
		delete(b.listed[repo], tag)
		b.mu.Unlock()
		return nil
	}
	mapped := b.apiError(err, "delete tag "+tag, needDelete(project))
	if errors.Is(mapped, registry.ErrNotFound) {
		// Gone is "already deleted" only if the tag really is gone.
		now, rerr := b.Backend.Resolve(ctx, repo, tag)
		switch {
		case errors.Is(rerr, registry.ErrNotFound):
			return mapped
		case rerr != nil:
			return fmt.Errorf("delete tag %s: Harbor answered 404 and the tag could not be resolved: %v", tag, rerr)
		case ref != tag && now != ref:
			return fmt.Errorf("delete tag %s: not deleted: it now points at %s, not at %s as listed", tag, now, ref)
		default:
			return fmt.Errorf("delete tag %s: Harbor answered 404 but the tag still points at %s: not deleted", tag, now)
		}
	}
	return mapped
}

// DeleteDigest deletes the artifact, and every tag on it, through the
// REST API: DELETE .../artifacts/{digest} (200), which needs the
// "delete artifact" permission (src/server/v2.0/handler/artifact.go
// DeleteArtifact), as Harbor's own UI does. The registry API's DELETE
// would need "delete repository" instead (src/server/middleware/v2auth/
// access.go), which robots set up for artifact and tag deletes lack
// (goharbor/harbor#15904, werf/werf#5651). The reference is always the
// digest: a tag reference would delete the artifact with all its tags.
// 412 PRECONDITION (an immutable tag) and 412
// VIOLATE_FOREIGN_KEY_CONSTRAINT (an index references it) are
// ErrProtected with Harbor's reason; 404 is ErrNotFound.
func (b *Backend) DeleteDigest(ctx context.Context, repo, digest string, _ []string) error {
	if err := registry.Stopped(ctx); err != nil {
		return err
	}
	project, name, err := split(repo)
	if err != nil {
		return err
	}
	path := repoPath(project, name) + "/artifacts/" + url.PathEscape(digest)
	if _, err := b.api.Do(ctx, http.MethodDelete, path, nil, http.StatusOK); err != nil {
		return b.apiError(err, "delete "+digest, needDeleteArtifact(project))
	}
	b.mu.Lock()
	for t, d := range b.listed[repo] {
		if d == digest {
			delete(b.listed[repo], t)
		}
	}
	b.mu.Unlock()
	return nil
}

// untaggedJSON is what Untagged reads of a swagger Artifact.
type untaggedJSON struct {
	Digest     string `json:"digest"`
	PushTime   string `json:"push_time"`
	References []struct {
		ChildDigest string `json:"child_digest"`
	} `json:"references"`
}

// Untagged lists repo's artifacts without tags: GET .../artifacts with
// q=tags=nil, 100 a page. Harbor lists there only the artifacts no other
// artifact references (src/pkg/artifact/dao/dao.go), so the children of
// an untagged index come from its references, with the index's push time
// (Harbor gives theirs only on the child itself, which it does not list);
// the planner decides the index, and they follow it. The children of a
// tagged index are not listed: its tags reach them.
func (b *Backend) Untagged(ctx context.Context, repo string) ([]image.Untagged, error) {
	project, name, err := split(repo)
	if err != nil {
		return nil, err
	}
	if err := b.checkCredentials(ctx); err != nil {
		return nil, err
	}
	path := repoPath(project, name) + fmt.Sprintf("/artifacts?with_tag=false&q=tags%%3Dnil&page_size=%d", pageSize)
	arts, err := getAll[untaggedJSON](ctx, b, path, "list the untagged artifacts of "+repo, needList(project))
	if err != nil {
		return nil, err
	}
	out := []image.Untagged{}
	seen := map[string]bool{}
	add := func(d string, pushed time.Time) {
		if d != "" && !seen[d] {
			seen[d] = true
			out = append(out, image.Untagged{Digest: d, Pushed: pushed})
		}
	}
	for _, a := range arts {
		add(a.Digest, registry.ParseTime(a.PushTime))
	}
	for _, a := range arts {
		for _, r := range a.References {
			add(r.ChildDigest, registry.ParseTime(a.PushTime))
		}
	}
	return out, nil
}
