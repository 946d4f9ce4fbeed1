package harbortest

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// caller is who a request is from: the Basic auth user when the password
// matches, else anonymous (""), as Harbor's security middleware does.
func (s *Server) caller(r *http.Request) string {
	u, p, ok := r.BasicAuth()
	if !ok {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if pw, known := s.users[u]; known && pw == p {
		return u
	}
	return ""
}

func (s *Server) serveAPI(rw http.ResponseWriter, r *http.Request) {
	w := &testregistry.StatusWriter{ResponseWriter: rw}
	user := s.caller(r)

	if s.echoAuth && r.Header.Get("Authorization") != "" {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "bad request: "+testregistry.Echo(r))
		return
	}
	// Routing is on the decoded path, as Harbor's router sees it: a
	// repository name sent encoded once ("a%2Fb") is decoded into two
	// segments and matches no route; sent twice encoded ("a%252Fb") it
	// stays one segment ("a%2Fb"), decoded again by the handler.
	rest, ok := strings.CutPrefix(r.URL.Path, APIPath+"/")
	if !ok {
		notFound(w, r)
		return
	}
	seg := strings.Split(rest, "/")
	var repoName string
	if len(seg) >= 4 && seg[0] == "projects" && seg[2] == "repositories" {
		n, err := url.PathUnescape(seg[3])
		if err != nil {
			writeError(w, http.StatusBadRequest, "BAD_REQUEST", fmt.Sprintf("invalid repository name %q", seg[3]))
			return
		}
		repoName = seg[1] + "/" + n
	}
	route := func(method string, n int, pattern ...string) bool {
		if len(seg) != n {
			return false
		}
		for i, p := range pattern {
			if p != "" && seg[i] != p {
				return false
			}
		}
		if r.Method != method {
			writeError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", fmt.Sprintf("method %s is not allowed, but [%s] are", r.Method, method))
			return true
		}
		return true
	}
	done := func() bool { return w.Code != 0 }
	switch {
	case route(http.MethodGet, 1, "projects"):
		if !done() {
			s.listProjects(w, r, user)
		}
	case route(http.MethodGet, 3, "projects", "", "repositories"):
		if !done() {
			s.listRepositories(w, r, user, seg[1])
		}
	case route(http.MethodGet, 4, "projects", "", "repositories"):
		if !done() {
			s.getRepository(w, r, user, seg[1], repoName)
		}
	case route(http.MethodGet, 5, "projects", "", "repositories", "", "artifacts"):
		if !done() {
			s.listArtifacts(w, r, user, seg[1], repoName)
		}
	case route(http.MethodDelete, 6, "projects", "", "repositories", "", "artifacts"):
		if !done() {
			s.deleteArtifact(w, r, user, seg[1], repoName, seg[5])
		}
	case route(http.MethodDelete, 8, "projects", "", "repositories", "", "artifacts", "", "tags"):
		if !done() {
			s.deleteTag(w, r, user, seg[1], repoName, seg[5], seg[7])
		}
	case route(http.MethodGet, 3, "users", "current", "permissions"):
		if !done() {
			if user == "" {
				writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "unauthorized")
				return
			}
			writeJSON(w, []any{})
		}
	default:
		notFound(w, r)
	}
}

func notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("path %s was not found", r.URL.Path))
}

// access is RequireProjectAccess: true when user may do p; otherwise it
// has written 401 (anonymous) or 403 (authenticated), also when the
// project does not exist.
func (s *Server) access(w http.ResponseWriter, user, projectName string, p Permission) bool {
	s.mu.Lock()
	_, exists := s.projects[projectName]
	ok := exists && s.canLocked(projectName, user, p)
	s.mu.Unlock()
	if ok {
		return true
	}
	if user == "" {
		writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "unauthorized")
	} else {
		writeError(w, http.StatusForbidden, "FORBIDDEN", "forbidden")
	}
	return false
}

// page cuts items to the requested page and writes X-Total-Count and Link
// as Harbor does; false when it answered an invalid request.
func page[T any](w http.ResponseWriter, r *http.Request, items []T) ([]T, bool) {
	q := r.URL.Query()
	num, size := int64(1), int64(10)
	if v := q.Get("page"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			writeError(w, http.StatusUnprocessableEntity, "UNPROCESSABLE_ENTITY", "page in query must be of type int64: \""+v+"\"")
			return nil, false
		}
		num = max(n, 1)
	}
	if v := q.Get("page_size"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			writeError(w, http.StatusUnprocessableEntity, "UNPROCESSABLE_ENTITY", "page_size in query must be of type int64: \""+v+"\"")
			return nil, false
		}
		if n > 100 {
			writeError(w, http.StatusUnprocessableEntity, "UNPROCESSABLE_ENTITY", "page_size in query should be less than or equal to 100")
			return nil, false
		}
		if n > 0 {
			size = n
		}
	}
	total := int64(len(items))
	link := func(n int64, rel string) string {
		u := *r.URL
		qq := u.Query()
		qq.Set("page", strconv.FormatInt(n, 10))
		qq.Set("page_size", strconv.FormatInt(size, 10))
		u.RawQuery = qq.Encode()
		if unescaped, err := url.QueryUnescape(u.RawQuery); err == nil {
			u.RawQuery = unescaped // Harbor unescapes the query of its links
		}
		return fmt.Sprintf(`<%s>; rel="%s"`, u.String(), rel)
	}
	var links []string
	if num > 1 && (num-1)*size < total {
		links = append(links, link(num-1, "prev"))
	}
	if size*num < total {
		links = append(links, link(num+1, "next"))
	}
	w.Header().Set("X-Total-Count", strconv.FormatInt(total, 10))
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, " , "))
	}
	start := min((num-1)*size, total)
	end := min(start+size, total)
	return items[start:end], true
}

func (s *Server) listProjects(w http.ResponseWriter, r *http.Request, user string) {
	projects, byProject, err := s.syncProjects(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "UNKNOWN", "internal server error")
		return
	}
	var out []projectJSON
	s.mu.Lock()
	for _, p := range projects {
		role := s.roleLocked(p.name, user)
		if _, robot := s.robots[user]; robot {
			role = RoleNone // a robot is no member: its permissions say what it sees
		}
		if !s.canLocked(p.name, user, PermRepositoryList) && !s.canLocked(p.name, user, PermArtifactList) {
			continue
		}
		pj := projectJSON{ProjectID: p.id, OwnerID: 1, Name: p.name, OwnerName: "admin",
			CreationTime: harborTime(p.created), UpdateTime: harborTime(p.created),
			RepoCount: len(byProject[p.name]), Metadata: projectMetadata{Public: strconv.FormatBool(s.public[p.name])},
			CVEAllowlist: cveAllowlist{ID: p.id, ProjectID: p.id, Items: []string{}, CreationTime: harborTime(time.Time{}), UpdateTime: harborTime(time.Time{})}}
		if id := roleIDs[role]; id != 0 {
			pj.CurrentUserRoleID, pj.CurrentUserRoleIDs = id, []int{id}
		}
		out = append(out, pj)
	}
	s.mu.Unlock()
	if out == nil {
		out = []projectJSON{}
	}
	if out, ok := page(w, r, out); ok {
		writeJSON(w, out)
	}
}

func (s *Server) listRepositories(w http.ResponseWriter, r *http.Request, user, projectName string) {
	_, byProject, err := s.syncProjects(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "UNKNOWN", "internal server error")
		return
	}
	if !s.access(w, user, projectName, PermRepositoryList) {
		return
	}
	repos, ok := page(w, r, byProject[projectName])
	if !ok {
		return
	}
	out := []repositoryJSON{}
	for _, name := range repos {
		rj, err := s.repository(r, projectName, name)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "UNKNOWN", "internal server error")
			return
		}
		out = append(out, rj)
	}
	writeJSON(w, out)
}

func (s *Server) repository(r *http.Request, projectName, name string) (repositoryJSON, error) {
	arts, err := s.artifacts(r.Context(), name)
	if err != nil {
		return repositoryJSON{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := s.repoSeen[name]
	return repositoryJSON{ID: s.repoIDs[name], ProjectID: s.projects[projectName].id, Name: name,
		ArtifactCount: int64(len(arts)), CreationTime: harborTime(seen), UpdateTime: harborTime(seen)}, nil
}

func (s *Server) getRepository(w http.ResponseWriter, r *http.Request, user, projectName, repo string) {
	_, byProject, err := s.syncProjects(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "UNKNOWN", "internal server error")
		return
	}
	if !s.access(w, user, projectName, PermRepositoryRead) {
		return
	}
	if !slices.Contains(byProject[projectName], repo) {
		writeError(w, http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("repository %s not found", repo))
		return
	}
	rj, err := s.repository(r, projectName, repo)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "UNKNOWN", "internal server error")
		return
	}
	writeJSON(w, rj)
}

func boolParam(w http.ResponseWriter, q url.Values, name string, def bool) (bool, bool) {
	v := q.Get(name)
	if v == "" {
		return def, true
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, "UNPROCESSABLE_ENTITY", fmt.Sprintf("%s in query must be of type bool: %q", name, v))
		return false, false
	}
	return b, true
}

func (s *Server) listArtifacts(w http.ResponseWriter, r *http.Request, user, projectName, repo string) {
	if _, _, err := s.syncProjects(r.Context()); err != nil {
		writeError(w, http.StatusInternalServerError, "UNKNOWN", "internal server error")
		return
	}
	if !s.access(w, user, projectName, PermArtifactList) {
		return
	}
	q := r.URL.Query()
	withTag, ok := boolParam(w, q, "with_tag", true)
	if !ok {
		return
	}
	withImmutable, ok := boolParam(w, q, "with_immutable_status", false)
	if !ok {
		return
	}
	// src/pkg/artifact/dao/dao.go querySetter: no filter lists the tagged
	// artifacts and the untagged ones no other references; tags=* the
	// tagged; tags=nil the untagged ones no other references.
	withTagged, withUntagged := true, true
	switch q.Get("q") {
	case "":
	case "tags=*":
		withUntagged = false
	case "tags=nil":
		withTagged = false
	default:
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", fmt.Sprintf("harbortest does not replicate the query %q", q.Get("q")))
		return
	}
	arts, err := s.artifacts(r.Context(), repo)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "UNKNOWN", "internal server error")
		return
	}
	if withUntagged {
		loose, err := s.untagged(r.Context(), repo, arts)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "UNKNOWN", "internal server error")
			return
		}
		if !withTagged {
			arts = nil
		}
		arts = append(arts, loose...)
		sort.SliceStable(arts, func(i, j int) bool { return arts[i].id > arts[j].id })
	}
	out := []artifactJSON{}
	s.mu.Lock()
	projectID := s.projects[projectName].id
	repoID := s.repoIDs[repo]
	for _, a := range arts {
		aj := artifactJSON{ID: a.id, Type: "UNKNOWN", MediaType: a.info.configType, ManifestMediaType: a.info.mediaType,
			ProjectID: projectID, RepositoryID: repoID, Digest: a.digest, Size: a.info.size,
			PushTime: harborTime(a.pushed), PullTime: harborTime(time.Time{}), ExtraAttrs: map[string]any{},
			Annotations: a.info.annotations}
		switch a.info.configType {
		case "application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json":
			aj.Type = "IMAGE"
			aj.AdditionLinks = map[string]additionLink{"build_history": {Href: fmt.Sprintf("%s/projects/%s/repositories/%s/artifacts/%s/additions/build_history",
				APIPath, projectName, url.PathEscape(url.PathEscape(strings.TrimPrefix(repo, projectName+"/"))), a.digest)}}
		}
		if a.info.isIndex() {
			aj.Type, aj.MediaType = "IMAGE", a.info.mediaType
			for _, c := range a.info.children {
				aj.References = append(aj.References, referenceJSON{ParentID: a.id, ChildID: s.artifactIDLocked(repo, c.digest),
					ChildDigest: c.digest, Platform: c.platform})
			}
		}
		if withTag {
			for _, t := range a.tags {
				aj.Tags = append(aj.Tags, tagJSON{ID: t.id, RepositoryID: repoID, ArtifactID: a.id, Name: t.name,
					PushTime: harborTime(t.pushed), PullTime: harborTime(time.Time{}), Immutable: withImmutable && t.immutable})
			}
		}
		out = append(out, aj)
	}
	s.mu.Unlock()
	if out, ok := page(w, r, out); ok {
		writeJSON(w, out)
	}
}

// resolve finds the artifact ref (a digest or a tag) names in repo.
func (s *Server) resolve(w http.ResponseWriter, r *http.Request, repo, ref string) (*artifact, bool) {
	arts, err := s.artifacts(r.Context(), repo)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "UNKNOWN", "internal server error")
		return nil, false
	}
	for _, a := range arts {
		if a.digest == ref {
			return a, true
		}
		for _, t := range a.tags {
			if !isDigest(ref) && t.name == ref {
				return a, true
			}
		}
	}
	sep := ":"
	if isDigest(ref) {
		sep = "@"
		// An untagged manifest (an index's child) is an artifact too.
		if d, ok, err := s.side.Head(r.Context(), repo, ref); err != nil {
			writeError(w, http.StatusInternalServerError, "UNKNOWN", "internal server error")
			return nil, false
		} else if ok && d == ref {
			s.mu.Lock()
			id := s.artifactIDLocked(repo, ref)
			s.mu.Unlock()
			return &artifact{id: id, digest: ref}, true
		}
	}
	writeError(w, http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("artifact %s%s%s not found", repo, sep, ref))
	return nil, false
}

func (s *Server) deleteArtifact(w http.ResponseWriter, r *http.Request, user, projectName, repo, ref string) {
	if _, _, err := s.syncProjects(r.Context()); err != nil {
		writeError(w, http.StatusInternalServerError, "UNKNOWN", "internal server error")
		return
	}
	if !s.access(w, user, projectName, PermArtifactDelete) {
		return
	}
	a, ok := s.resolve(w, r, repo, ref)
	if !ok {
		return
	}
	code, msg, err := s.refusal(r.Context(), repo, a.digest)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "UNKNOWN", "internal server error")
		return
	}
	if code != "" {
		writeError(w, http.StatusPreconditionFailed, code, msg)
		return
	}
	m, err := s.manifest(r.Context(), repo, a.digest)
	if err == nil {
		err = s.deleteManifest(r.Context(), repo, a.digest)
	}
	if err == nil {
		err = s.deleteChildren(r.Context(), repo, m.children)
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "UNKNOWN", "internal server error")
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) deleteTag(w http.ResponseWriter, r *http.Request, user, projectName, repo, ref, tag string) {
	if _, _, err := s.syncProjects(r.Context()); err != nil {
		writeError(w, http.StatusInternalServerError, "UNKNOWN", "internal server error")
		return
	}
	if !s.access(w, user, projectName, PermTagDelete) {
		return
	}
	a, ok := s.resolve(w, r, repo, ref)
	if !ok {
		return
	}
	i := slices.IndexFunc(a.tags, func(t tagState) bool { return t.name == tag })
	if i < 0 {
		writeError(w, http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("tag %s attached to artifact %d not found", tag, a.id))
		return
	}
	if a.tags[i].immutable {
		writeError(w, http.StatusPreconditionFailed, "PRECONDITION", fmt.Sprintf("the tag %s configured as immutable, cannot be deleted", tag))
		return
	}
	if err := s.deleteManifest(r.Context(), repo, tag); err != nil {
		writeError(w, http.StatusInternalServerError, "UNKNOWN", "internal server error")
		return
	}
	w.WriteHeader(http.StatusOK)
}
