// Package gitlabtest replicates the parts of GitLab that tagsweep uses,
// for tests: the container registry REST API under /api/v4 (a project's
// and a group's registry repositories, the tag delete) on an httptest
// server, over a real in-process CNCF distribution registry
// (internal/testregistry) whose catalog it closes as GitLab does for
// ordinary users. Repositories, their projects and groups come from the
// registry's content and the projects the test declares. README.md gives
// each rule with its source.
//
// What it does not replicate: the registry's JWT authentication (the
// in-process registry is open), the tags listing and tag details
// endpoints, bulk tag deletion, repository deletion, keyset pagination,
// immutable tag rules, and GitLab's garbage collection.
package gitlabtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/tagsweep/tagsweep/internal/testregistry"
)

const sideChannel = "X-Gitlabtest-Side-Channel"

// Role is a project member's role (doc/user/permissions.md).
type Role int

// Roles, by GitLab's access levels.
const (
	// NoAccess: not a member.
	NoAccess Role = 0
	// Reporter reads the container registry.
	Reporter Role = 20
	// Developer also deletes single tags.
	Developer Role = 30
	// Maintainer may do everything here.
	Maintainer Role = 40
)

// TokenKind is what a token is.
type TokenKind int

// Token kinds (api/rest/authentication.md).
const (
	// PersonalToken is a personal, project or group access token, sent as
	// PRIVATE-TOKEN.
	PersonalToken TokenKind = iota
	// JobToken is a CI job's CI_JOB_TOKEN, sent as JOB-TOKEN.
	JobToken
	// DeployToken is a deploy token: the REST API refuses it.
	DeployToken
)

// Token is one credential the API accepts.
type Token struct {
	Kind TokenKind
	// Role is the token's role in every project (for a job token, of the
	// user who started the pipeline).
	Role Role
	// ReadOnly: the read_api scope (listing, no delete).
	ReadOnly bool
	// Project is a job token's own project ID.
	Project int
}

// Project is a GitLab project: its ID and full path ("group/sub/app").
type Project struct {
	ID   int
	Path string
}

// Options configures New.
type Options struct {
	// Registry is the registry behind the API; the replica owns its hook.
	Registry *testregistry.Registry
	// Projects are the projects; a registry repository belongs to the
	// project whose path is its longest prefix.
	Projects []Project
	// Tokens are the credentials the API accepts, by secret.
	Tokens map[string]Token
}

// Server is the GitLab replica. It is safe for concurrent use.
type Server struct {
	reg      *testregistry.Registry
	side     *testregistry.SideChannel
	http     *httptest.Server
	log      testregistry.RequestLog
	projects []Project
	tokens   map[string]Token

	mu        sync.Mutex
	repoIDs   map[string]int
	nextID    int
	protected []string // tag name patterns (path.Match)
	catalogs  int      // catalog requests refused
}

// CatalogRequests counts the clients' catalog requests (all refused).
func (s *Server) CatalogRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.catalogs
}

// APIPath is where the REST API is served.
const APIPath = "/api/v4"

// New starts the API on 127.0.0.1 and installs the hook.
func New(o Options) (*Server, error) {
	if o.Registry == nil {
		return nil, fmt.Errorf("gitlabtest: Options.Registry is required")
	}
	s := &Server{reg: o.Registry, side: testregistry.NewSideChannel(o.Registry.Addr(), sideChannel), projects: o.Projects,
		tokens: o.Tokens, repoIDs: map[string]int{}, nextID: 100}
	s.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.log.Record(w, r, s.serveAPI) }))
	s.reg.SetHook(s.hook)
	return s, nil
}

// APIURL is the API base, as CI_API_V4_URL gives it.
func (s *Server) APIURL() string { return s.http.URL + APIPath }

// Close stops the API and removes the hook.
func (s *Server) Close() {
	s.reg.SetHook(nil)
	s.http.Close()
}

// Protect adds a tag protection rule: tags matching pattern (path.Match)
// may not be deleted.
func (s *Server) Protect(pattern string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.protected = append(s.protected, pattern)
}

// Requests returns the API requests answered, oldest first.
func (s *Server) Requests() []testregistry.Request { return s.log.Requests() }

// Deletes returns the API DELETEs answered, as "DELETE path".
func (s *Server) Deletes() []string { return s.log.Deletes() }

// ResetRequests forgets the requests recorded.
func (s *Server) ResetRequests() { s.log.Reset() }

// hook closes the catalog: "To list all container repositories on your
// GitLab instance, administrator credentials are required"
// (api/container_registry.md).
func (s *Server) hook(w http.ResponseWriter, req *http.Request) bool {
	if s.side.Sent(req) || testregistry.Classify(req.URL.Path) != testregistry.ClassCatalog {
		return false
	}
	s.mu.Lock()
	s.catalogs++
	s.mu.Unlock()
	w.Header().Set("Www-Authenticate", `Bearer realm="https://gitlab.example.com/jwt/auth",service="container_registry",scope="registry:catalog:*"`)
	testregistry.WriteError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
	return true
}

func message(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

// caller is the token of the request: PRIVATE-TOKEN, JOB-TOKEN or
// Authorization: Bearer (api/rest/authentication.md); ok false when none
// or unknown.
func (s *Server) caller(r *http.Request) (Token, bool) {
	for _, h := range []string{"PRIVATE-TOKEN", "JOB-TOKEN"} {
		if v := r.Header.Get(h); v != "" {
			t, ok := s.tokens[v]
			if ok && (t.Kind == JobToken) != (h == "JOB-TOKEN") {
				return Token{}, false // a job token goes in JOB-TOKEN, others in PRIVATE-TOKEN
			}
			return t, ok
		}
	}
	if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		t, ok := s.tokens[v]
		return t, ok && t.Kind == PersonalToken
	}
	return Token{}, false
}

// repository is one registry repository as GitLab lists it.
type repository struct {
	ID        int    `json:"id"`
	Name      string `json:"name"`
	Path      string `json:"path"`
	ProjectID int    `json:"project_id"`
	Location  string `json:"location"`
	CreatedAt string `json:"created_at"`
	Status    any    `json:"status"`
}

// repositories lists the registry's repositories with their projects.
func (s *Server) repositories(r *http.Request) ([]repository, error) {
	catalog, err := s.side.Catalog(r.Context())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []repository
	for _, c := range catalog {
		var best *Project
		for i, p := range s.projects {
			if (c == p.Path || strings.HasPrefix(c, p.Path+"/")) && (best == nil || len(p.Path) > len(best.Path)) {
				best = &s.projects[i]
			}
		}
		if best == nil {
			continue
		}
		if s.repoIDs[c] == 0 {
			s.nextID++
			s.repoIDs[c] = s.nextID
		}
		out = append(out, repository{ID: s.repoIDs[c], Name: strings.TrimPrefix(strings.TrimPrefix(c, best.Path), "/"), Path: c,
			ProjectID: best.ID, Location: s.reg.Addr() + "/" + c, CreatedAt: "2025-01-01T00:00:00.000+00:00"})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// project finds a project by ID or URL-encoded full path.
func (s *Server) project(id string) (Project, bool) {
	for _, p := range s.projects {
		if strconv.Itoa(p.ID) == id || p.Path == id {
			return p, true
		}
	}
	return Project{}, false
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	tok, ok := s.caller(r)
	if !ok || tok.Kind == DeployToken {
		// "Deploy tokens can't be used with the GitLab public API"
		// (api/rest/authentication.md).
		message(w, http.StatusUnauthorized, "401 Unauthorized")
		return
	}
	// Routing on the escaped path: a project or group path is one
	// URL-encoded segment (group%2Fapp).
	seg := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), APIPath+"/"), "/")
	for i := range seg {
		seg[i], _ = url.PathUnescape(seg[i])
	}
	switch {
	case r.Method == http.MethodGet && len(seg) == 4 && seg[0] == "projects" && seg[2] == "registry" && seg[3] == "repositories":
		p, found := s.project(seg[1])
		if !found || tok.Role < Reporter || (tok.Kind == JobToken && tok.Project != p.ID) {
			message(w, http.StatusNotFound, "404 Project Not Found")
			return
		}
		s.list(w, r, func(rp repository) bool { return rp.ProjectID == p.ID })
	case r.Method == http.MethodGet && len(seg) == 4 && seg[0] == "groups" && seg[2] == "registry" && seg[3] == "repositories":
		if tok.Kind == JobToken {
			// Only project endpoints allow job tokens
			// (group_container_repositories.rb has no job_token_allowed).
			message(w, http.StatusUnauthorized, "401 Unauthorized")
			return
		}
		group := seg[1]
		isGroup := false
		for _, p := range s.projects {
			isGroup = isGroup || strings.HasPrefix(p.Path, group+"/")
		}
		if !isGroup || tok.Role < Reporter {
			message(w, http.StatusNotFound, "404 Group Not Found")
			return
		}
		// ContainerRepositoriesFinder: for_group_and_its_subgroups.
		s.list(w, r, func(rp repository) bool { return strings.HasPrefix(rp.Path, group+"/") })
	case r.Method == http.MethodDelete && len(seg) == 7 && seg[0] == "projects" && seg[2] == "registry" && seg[3] == "repositories" && seg[5] == "tags":
		s.deleteTag(w, r, tok, seg[1], seg[4], seg[6])
	default:
		message(w, http.StatusNotFound, "404 Not Found")
	}
}

// list writes the repositories keep selects, in offset pages (page,
// per_page default 20 and at most 100; Link, X-Next-Page, X-Total).
func (s *Server) list(w http.ResponseWriter, r *http.Request, keep func(repository) bool) {
	all, err := s.repositories(r)
	if err != nil {
		message(w, http.StatusInternalServerError, "500 Internal Server Error")
		return
	}
	var sel []repository
	for _, rp := range all {
		if keep(rp) {
			sel = append(sel, rp)
		}
	}
	q := r.URL.Query()
	pg, _ := strconv.Atoi(q.Get("page"))
	pg = max(pg, 1)
	per, _ := strconv.Atoi(q.Get("per_page"))
	if per <= 0 {
		per = 20
	}
	per = min(per, 100)
	start := min((pg-1)*per, len(sel))
	end := min(start+per, len(sel))
	w.Header().Set("X-Total", strconv.Itoa(len(sel)))
	w.Header().Set("X-Per-Page", strconv.Itoa(per))
	w.Header().Set("X-Page", strconv.Itoa(pg))
	if end < len(sel) {
		nq := r.URL.Query()
		nq.Set("page", strconv.Itoa(pg+1))
		nq.Set("per_page", strconv.Itoa(per))
		w.Header().Set("X-Next-Page", strconv.Itoa(pg+1))
		w.Header().Set("Link", fmt.Sprintf(`<%s%s?%s>; rel="next"`, s.http.URL, r.URL.EscapedPath(), nq.Encode()))
	} else {
		w.Header().Set("X-Next-Page", "")
	}
	out := sel[start:end]
	if out == nil {
		out = []repository{}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func (s *Server) deleteTag(w http.ResponseWriter, r *http.Request, tok Token, projectID, repoID, tag string) {
	p, found := s.project(projectID)
	if !found || tok.Role < Reporter || (tok.Kind == JobToken && tok.Project != p.ID) {
		message(w, http.StatusNotFound, "404 Project Not Found")
		return
	}
	if tok.ReadOnly {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "insufficient_scope",
			"error_description": "The request requires higher privileges than provided by the access token.", "scope": "api"})
		return
	}
	if tok.Role < Developer {
		message(w, http.StatusForbidden, "403 Forbidden")
		return
	}
	all, err := s.repositories(r)
	if err != nil {
		message(w, http.StatusInternalServerError, "500 Internal Server Error")
		return
	}
	var repo *repository
	for i := range all {
		if strconv.Itoa(all[i].ID) == repoID && all[i].ProjectID == p.ID {
			repo = &all[i]
		}
	}
	if repo == nil {
		message(w, http.StatusNotFound, "404 Repository Not Found")
		return
	}
	s.mu.Lock()
	prot := false
	for _, pat := range s.protected {
		if ok, _ := path.Match(pat, tag); ok {
			prot = true
		}
	}
	s.mu.Unlock()
	if prot {
		// Projects::ContainerRepository::Gitlab::DeleteTagsService
		// PROTECTED_TAGS_ERROR_MESSAGE.
		message(w, http.StatusForbidden, "cannot delete protected tag(s)")
		return
	}
	found, err = s.side.Delete(r.Context(), repo.Path, tag)
	switch {
	case err != nil:
		message(w, http.StatusBadRequest, "400 Bad request - "+err.Error())
	case !found:
		message(w, http.StatusNotFound, "404 Tag Not Found")
	default:
		w.WriteHeader(http.StatusOK)
	}
}
