// Package harbortest replicates the parts of Harbor v2 that tagsweep uses,
// for tests: the REST API under /api/v2.0 (projects, repositories,
// artifacts with their tags, tag and artifact deletion) served by an
// httptest server, and Harbor's behaviour on the registry API, given to a
// real in-process CNCF distribution registry (internal/testregistry)
// through its hook.
//
// Everything the replica reports comes from the registry's actual content:
// an artifact is a manifest digest that tags point at (tags/list, then a
// HEAD per tag), with those tags, or a manifest pushed through the
// registry API (the hook sees the PUT) that the registry still holds,
// without tags. Push times and tag immutability, which Harbor keeps in its
// database, are settable per tag, and push times per untagged artifact.
//
// What it replicates, and where from (goharbor/harbor):
//
//   - api/v2.0/swagger.yaml: the paths, the page/page_size parameters
//     (default 10, maximum 100), the X-Total-Count and Link headers, the
//     Project, Repository, Artifact, Tag and Errors definitions, and the
//     repository_name parameter ("If it contains slash, encode it twice
//     over with URL encoding. e.g. a/b -> a%2Fb -> a%252Fb").
//   - src/server/v2.0/handler/base.go (Links): the Link header is built
//     from the request's own path and query, a host-relative URL, with
//     rel="prev" and rel="next" joined by " , ".
//   - src/server/v2.0/handler/artifact.go: listArtifacts, deleteArtifact,
//     deleteTag ("tag %s attached to artifact %d not found").
//   - src/controller/tag/controller.go: deleting an immutable tag answers
//     412 PRECONDITION "the tag %s configured as immutable, cannot be
//     deleted", through either API.
//   - src/controller/artifact/controller.go (deleteDeeply): deleting an
//     artifact that another references answers 412
//     VIOLATE_FOREIGN_KEY_CONSTRAINT "the deleting artifact is referenced
//     by others"; deleting an index deletes its children that have no
//     tags and no other parent.
//   - src/pkg/artifact/dao/dao.go (querySetter): q=tags=nil lists the
//     artifacts without tags that no other references; no q lists those
//     and the tagged ones.
//   - src/server/registry/manifest.go (deleteManifest): the registry API
//     refuses DELETE by tag with 400 UNSUPPORTED; DELETE by digest deletes
//     the artifact and its tags (202).
//   - src/lib/http/error.go: error bodies {"errors":[{"code","message"}]}
//     and the code-to-status map.
//   - src/server/middleware/security: credentials that do not authenticate
//     leave the request anonymous; src/server/v2.0/handler/base.go
//     RequireProjectAccess then answers 401 UNAUTHORIZED to anonymous and
//     403 FORBIDDEN to authenticated callers without the permission (also
//     for a project that does not exist).
//   - src/common/rbac/project/rbac_role.go: listing needs any project role;
//     deleting artifacts and tags needs Maintainer or Project Admin.
//   - src/common/rbac/const.go (PoliciesMap[ScopeProject]): a robot
//     account has resource/action permissions instead of a role
//     (SetPermissions); handler/artifact.go and handler/repository.go say
//     which one each endpoint needs.
//   - src/server/middleware/v2auth/access.go: the registry API's DELETE
//     needs delete on the repository; refused, 401 UNAUTHORIZED
//     "unauthorized to access repository: p/r, action: delete: ..." (body
//     as werf/werf#5651 shows it).
//
// What it does not replicate: the registry API's token service and its
// checks of reads and pushes (the in-process registry is open; the
// registry DELETE checks the Basic credentials, which Harbor accepts on
// /v2 too), manifests written to the registry other than through its API
// (unseen, so not untagged artifacts), the deep delete of an index's
// untagged children through the registry API's DELETE (the REST delete
// has it: deleteDeeply), accessories, labels, scans, q=base=* and query
// filters other than q=tags=* and q=tags=nil.
package harbortest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// APIPath is where the REST API is served, as on Harbor.
const APIPath = "/api/v2.0"

// Role is a Harbor project role.
type Role string

// Project roles (src/common/rbac/project/rbac_role.go).
const (
	// RoleProjectAdmin may list and delete.
	RoleProjectAdmin Role = "projectAdmin"
	// RoleMaintainer may list and delete.
	RoleMaintainer Role = "maintainer"
	// RoleDeveloper may list and push, not delete.
	RoleDeveloper Role = "developer"
	// RoleGuest may list and pull.
	RoleGuest Role = "guest"
	// RoleLimitedGuest may list and pull.
	RoleLimitedGuest Role = "limitedGuest"
	// RoleNone: not a member of the project.
	RoleNone Role = "none"
)

// roleIDs are Harbor's role IDs (src/common/const.go).
var roleIDs = map[Role]int{RoleProjectAdmin: 1, RoleDeveloper: 2, RoleGuest: 3, RoleMaintainer: 4, RoleLimitedGuest: 5}

// Permission is one robot account permission: a resource and an action
// (src/common/rbac/const.go, PoliciesMap[ScopeProject], the permissions a
// robot may be given on a project).
type Permission struct{ Resource, Action string }

// The permissions the replica checks (src/common/rbac/const.go).
var (
	// PermRepositoryList lists the project's repositories
	// (handler/repository.go ListRepositories).
	PermRepositoryList = Permission{"repository", "list"}
	// PermRepositoryRead reads one repository (handler/repository.go
	// GetRepository).
	PermRepositoryRead = Permission{"repository", "read"}
	// PermRepositoryDelete is what the registry API's DELETE of a
	// manifest needs (src/server/middleware/v2auth/access.go: DELETE maps
	// to ActionDelete on ResourceRepository), and nothing else here.
	PermRepositoryDelete = Permission{"repository", "delete"}
	// PermArtifactList lists artifacts (handler/artifact.go ListArtifacts).
	PermArtifactList = Permission{"artifact", "list"}
	// PermArtifactDelete deletes an artifact through the REST API
	// (handler/artifact.go DeleteArtifact).
	PermArtifactDelete = Permission{"artifact", "delete"}
	// PermTagDelete deletes a tag through the REST API (handler/artifact.go
	// DeleteTag).
	PermTagDelete = Permission{"tag", "delete"}
)

// can reports whether the role grants p (src/common/rbac/project/
// rbac_role.go: Project Admin and Maintainer delete repositories,
// artifacts and tags; every role lists).
func (r Role) can(p Permission) bool {
	switch {
	case r == RoleNone || r == "":
		return false
	case p.Action == "list" || p.Action == "read":
		return true
	}
	return r == RoleProjectAdmin || r == RoleMaintainer
}

// Options configures New.
type Options struct {
	// Registry is the registry the replica describes and whose registry
	// API it makes behave like Harbor's (through its hook, which the
	// replica owns from now on). Start it with DeleteEnabled.
	Registry *testregistry.Registry
	// Users are the accounts, name to password. Every user is a
	// Maintainer of every project unless SetRole says otherwise.
	Users map[string]string
	// Public are projects anonymous callers may list.
	Public []string
	// Now is the clock for push times first seen (default time.Now).
	Now func() time.Time
	// EchoAuth refuses every REST request that carries an Authorization
	// header with 400 and a message repeating the request, Basic
	// credentials decoded (testregistry.Echo), as a careless gateway
	// would: for tests that prove the password is never printed.
	EchoAuth bool
}

// Request is one request the REST API received. Path is the path as
// sent, e.g. /api/v2.0/projects/p/repositories/a%252Fb/artifacts for a
// repository name sent double-encoded; DecodedPath is it decoded
// (.../a%2Fb/artifacts); User is the Basic auth user name, whether or not
// it authenticated.
type Request = testregistry.Request

type project struct {
	id      int64
	name    string
	created time.Time
}

type pushRecord struct {
	digest string // the digest the tag pointed at when the time was set or first seen ("" = adopt)
	at     time.Time
}

// Server is the Harbor replica. It is safe for concurrent use.
type Server struct {
	reg      *testregistry.Registry
	http     *httptest.Server
	side     *testregistry.SideChannel
	log      testregistry.RequestLog
	now      func() time.Time
	echoAuth bool

	mu        sync.Mutex
	users     map[string]string
	roles     map[string]map[string]Role // project -> user -> role
	robots    map[string][]Permission    // robot account -> its permissions in every project
	public    map[string]bool
	projects  map[string]*project
	repoIDs   map[string]int64
	repoSeen  map[string]time.Time
	artIDs    map[string]int64 // repo@digest
	tagIDs    map[string]int64 // repo:tag@digest
	pushed    map[string]pushRecord
	immutable map[string]bool                 // repo:tag
	pushes    map[string]map[string]time.Time // repo -> digest -> first push through the registry API
	artPushed map[string]time.Time            // repo@digest -> push time set by SetArtifactPushTime
	manifests map[string]*manifestInfo
	nextID    int64
	fault     testregistry.Hook

	registryDeletes []string // DELETEs of the registry API from clients (not the side channel)
}

// New starts the replica on 127.0.0.1 and installs its hook on the
// registry. Close stops it (the registry is the caller's).
func New(o Options) (*Server, error) {
	if o.Registry == nil {
		return nil, errors.New("harbortest: Options.Registry is required")
	}
	s := &Server{
		reg:       o.Registry,
		echoAuth:  o.EchoAuth,
		side:      testregistry.NewSideChannel(o.Registry.Addr(), sideChannel),
		now:       o.Now,
		users:     map[string]string{},
		roles:     map[string]map[string]Role{},
		robots:    map[string][]Permission{},
		public:    map[string]bool{},
		projects:  map[string]*project{},
		repoIDs:   map[string]int64{},
		repoSeen:  map[string]time.Time{},
		artIDs:    map[string]int64{},
		tagIDs:    map[string]int64{},
		pushed:    map[string]pushRecord{},
		immutable: map[string]bool{},
		pushes:    map[string]map[string]time.Time{},
		artPushed: map[string]time.Time{},
		manifests: map[string]*manifestInfo{},
	}
	if s.now == nil {
		s.now = time.Now
	}
	for u, p := range o.Users {
		s.users[u] = p
	}
	for _, p := range o.Public {
		s.public[p] = true
	}
	s.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.log.Record(w, r, s.serveAPI) }))
	s.reg.SetHook(s.registryHook)
	return s, nil
}

// URL is the replica's base URL, http://127.0.0.1:PORT (the API is at
// URL()+APIPath).
func (s *Server) URL() string { return s.http.URL }

// APIURL is URL()+APIPath, what a client takes as its API base.
func (s *Server) APIURL() string { return s.http.URL + APIPath }

// Close stops the replica and removes its hook from the registry.
func (s *Server) Close() {
	s.reg.SetHook(nil)
	s.http.Close()
}

// AddUser adds (or changes) an account.
func (s *Server) AddUser(name, password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[name] = password
}

// SetRole gives user the role in project (RoleNone: not a member).
func (s *Server) SetRole(projectName, user string, role Role) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.roles[projectName] == nil {
		s.roles[projectName] = map[string]Role{}
	}
	s.roles[projectName][user] = role
}

// SetPermissions makes user a robot account whose access to every
// project is exactly perms, as a robot created with those permissions
// (Harbor 2.5+, goharbor/harbor#16297 added "delete repository") instead
// of a role. Without perms the robot may do nothing.
func (s *Server) SetPermissions(user string, perms ...Permission) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.robots[user] = slices.Clone(perms)
}

// AddProject creates a project that has no repository yet.
func (s *Server) AddProject(name string, public bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.projectLocked(name)
	s.public[name] = public
}

// SetPushTime sets the push time Harbor reports for repo:tag. It holds
// until the tag is moved to another digest (Harbor then records a new
// push time; the replica takes the time it first sees the move).
func (s *Server) SetPushTime(repo, tag string, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pushed[repo+":"+tag] = pushRecord{at: t}
}

// SetArtifactPushTime sets the push_time Harbor reports for the untagged
// artifact repo@digest (q=tags=nil); without it, the time the replica saw
// the manifest pushed.
func (s *Server) SetArtifactPushTime(repo, digest string, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.artPushed[repo+"@"+digest] = t
}

// SetImmutable makes repo:tag immutable (as a tag immutability rule
// matching it would) or mutable again.
func (s *Server) SetImmutable(repo, tag string, immutable bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if immutable {
		s.immutable[repo+":"+tag] = true
	} else {
		delete(s.immutable, repo+":"+tag)
	}
}

// SetRegistryFault installs a hook that sees registry API requests before
// the replica's own Harbor behaviour (fault injection); nil removes it.
func (s *Server) SetRegistryFault(h testregistry.Hook) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = h
}

// Requests returns the REST requests received so far, oldest first.
func (s *Server) Requests() []Request { return s.log.Requests() }

// ResetRequests clears the request log and the registry DELETEs.
func (s *Server) ResetRequests() {
	s.log.Reset()
	s.mu.Lock()
	s.registryDeletes = nil
	s.mu.Unlock()
}

// RegistryDeletes returns the DELETE requests clients sent to the
// registry API (the replica's own side channel aside), answered or
// refused, as "DELETE path", oldest first.
func (s *Server) RegistryDeletes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.registryDeletes)
}

// Deletes returns the REST DELETE requests received, as "DELETE rawpath".
func (s *Server) Deletes() []string { return s.log.Deletes() }

func (s *Server) id() int64 {
	s.nextID++
	return s.nextID
}

func (s *Server) projectLocked(name string) *project {
	p := s.projects[name]
	if p == nil {
		p = &project{id: s.id(), name: name, created: s.now()}
		s.projects[name] = p
	}
	return p
}

// canLocked reports whether user may do p in project: a robot by its
// permissions, anyone else by role; anonymous callers list public
// projects only.
func (s *Server) canLocked(projectName, user string, p Permission) bool {
	if perms, robot := s.robots[user]; robot {
		return slices.Contains(perms, p)
	}
	if (p.Action == "list" || p.Action == "read") && s.public[projectName] {
		return true
	}
	return s.roleLocked(projectName, user).can(p)
}

// role is user's role in project; "" user is anonymous.
func (s *Server) roleLocked(projectName, user string) Role {
	if user == "" {
		return RoleNone
	}
	if r, ok := s.roles[projectName][user]; ok {
		return r
	}
	return RoleMaintainer
}

// syncProjects learns the projects from the registry catalog (the first
// path segment of every repository) and returns the projects, by ID.
func (s *Server) syncProjects(ctx context.Context) ([]*project, map[string][]string, error) {
	repos, err := s.side.Catalog(ctx)
	if err != nil {
		return nil, nil, err
	}
	byProject := map[string][]string{}
	for _, r := range repos {
		p, _, ok := strings.Cut(r, "/")
		if !ok {
			continue // Harbor repositories always live in a project
		}
		byProject[p] = append(byProject[p], r)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(byProject))
	for p := range byProject {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, n := range names {
		s.projectLocked(n)
		for _, r := range byProject[n] {
			if s.repoIDs[r] == 0 {
				s.repoIDs[r] = s.id()
				s.repoSeen[r] = s.now()
			}
		}
	}
	out := make([]*project, 0, len(s.projects))
	for _, p := range s.projects {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out, byProject, nil
}
