// Package acrtest replicates the parts of Azure Container Registry that
// tagsweep uses, for tests: ACR's metadata API under /acr/v1 (tag and
// manifest listings with their changeable attributes, the untag API) and
// ACR's locks on the registry API, served by a hook on a real in-process
// CNCF distribution registry (internal/testregistry), on the registry's
// own host as on ACR.
//
// Everything the replica reports comes from the registry's content: the
// tags (tags/list, then a HEAD per tag), the manifests they reach (index
// children included). Lock attributes, which ACR keeps in its metadata,
// are settable per tag and per manifest.
//
// What it replicates, and where from (README.md has each rule
// with its source):
//
//   - Azure/azure-rest-api-specs, containerregistry data-plane 2021-07-01:
//     GET /acr/v1/{name}/_tags and /acr/v1/{name}/_manifests (n, last,
//     the Link header with rel="next"; the TagList and AcrManifests
//     shapes), DELETE /acr/v1/{name}/_tags/{reference} (202, 404).
//   - A locked tag or manifest (writeEnabled or deleteEnabled false)
//     refuses the untag and the registry DELETE with 405
//     REGISTRY_DISALLOWED_OPERATION (Azure/acr-cli#70; acr-cli's purger
//     treats 405 on both as "operation not allowed"); a manifest a locked
//     tag points at is refused too (container-registry-image-lock:
//     writeEnabled or deleteEnabled false "will block image deletion").
//   - The registry API deletes manifests by digest only
//     (container-registry-delete: "a manifest can only be deleted by
//     digest"); a DELETE by tag is refused.
//
// What it does not replicate: authentication (the in-process registry is
// open; requests are recorded with their credentials), manifests no tag reaches (the registry cannot list them: ACR's
// _manifests would), quarantine, soft delete and retention policies.
package acrtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// sideChannel marks the replica's own requests to the registry.
const sideChannel = "X-Acrtest-Side-Channel"

// Locked is ACR's answer to deleting a locked item (Azure/acr-cli#70).
const Locked = `{"errors":[{"code":"REGISTRY_DISALLOWED_OPERATION","detail":{},"message":"The operation is disallowed on this registry, repository or image. View troubleshooting steps at https://aka.ms/acr/faq/#why-does-my-pull-or-push-request-fail-with-disallowed-operation"}]}`

// Attributes are ACR's changeable attributes of a tag or a manifest
// (spec: TagChangeableAttributes, ManifestChangeableAttributes).
type Attributes struct {
	DeleteEnabled bool `json:"deleteEnabled"`
	WriteEnabled  bool `json:"writeEnabled"`
	ReadEnabled   bool `json:"readEnabled"`
	ListEnabled   bool `json:"listEnabled"`
}

// Unlocked are the attributes of an item nobody locked.
var Unlocked = Attributes{DeleteEnabled: true, WriteEnabled: true, ReadEnabled: true, ListEnabled: true}

func (a Attributes) locked() bool { return !a.DeleteEnabled || !a.WriteEnabled }

// Options configures New.
type Options struct {
	// Registry is the registry the replica fronts; the replica owns its
	// hook from now on. Start it with DeleteEnabled.
	Registry *testregistry.Registry
	// Now is the clock for times first seen (default time.Now).
	Now func() time.Time
}

// Server is the ACR replica. It is safe for concurrent use.
type Server struct {
	reg  *testregistry.Registry
	side *testregistry.SideChannel
	log  testregistry.RequestLog
	now  func() time.Time

	mu        sync.Mutex
	repoAttrs map[string]Attributes // repo
	tagAttrs  map[string]Attributes // repo:tag
	manAttrs  map[string]Attributes // repo@digest
	firstSeen map[string]time.Time  // repo:tag@digest
	deletes   []string              // registry-API DELETEs from clients
}

// New installs the replica's hook on the registry. Close removes it.
func New(o Options) (*Server, error) {
	if o.Registry == nil {
		return nil, fmt.Errorf("acrtest: Options.Registry is required")
	}
	s := &Server{reg: o.Registry, side: testregistry.NewSideChannel(o.Registry.Addr(), sideChannel), now: o.Now,
		repoAttrs: map[string]Attributes{}, tagAttrs: map[string]Attributes{}, manAttrs: map[string]Attributes{}, firstSeen: map[string]time.Time{}}
	if s.now == nil {
		s.now = time.Now
	}
	s.reg.SetHook(s.hook)
	return s, nil
}

// Close removes the hook.
func (s *Server) Close() { s.reg.SetHook(nil) }

// SetTagAttributes sets the attributes of repo:tag (az acr repository
// update --image repo:tag --write-enabled false ...).
func (s *Server) SetTagAttributes(repo, tag string, a Attributes) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tagAttrs[repo+":"+tag] = a
}

// SetRepositoryAttributes sets the attributes of repo (az acr repository
// update --name repo --write-enabled false): a locked repository locks
// every image in it.
func (s *Server) SetRepositoryAttributes(repo string, a Attributes) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repoAttrs[repo] = a
}

// SetManifestAttributes sets the attributes of repo@digest.
func (s *Server) SetManifestAttributes(repo, digest string, a Attributes) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.manAttrs[repo+"@"+digest] = a
}

// Requests returns the /acr/v1 requests answered, oldest first.
func (s *Server) Requests() []testregistry.Request { return s.log.Requests() }

// Deletes returns the /acr/v1 DELETEs answered, as "DELETE path".
func (s *Server) Deletes() []string { return s.log.Deletes() }

// RegistryDeletes returns the registry-API DELETEs clients sent (the
// replica's own aside), answered or refused, as "DELETE path".
func (s *Server) RegistryDeletes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.deletes)
}

// ResetRequests forgets the requests recorded.
func (s *Server) ResetRequests() {
	s.log.Reset()
	s.mu.Lock()
	s.deletes = nil
	s.mu.Unlock()
}

func (s *Server) attrsLocked(m map[string]Attributes, key string) Attributes {
	if a, ok := m[key]; ok {
		return a
	}
	return Unlocked
}

func (s *Server) hook(w http.ResponseWriter, req *http.Request) bool {
	if s.side.Sent(req) {
		return false
	}
	if strings.HasPrefix(req.URL.Path, "/acr/v1/") {
		s.log.Record(w, req, s.serveACR)
		return true
	}
	if req.Method != http.MethodDelete || testregistry.Classify(req.URL.Path) != testregistry.ClassManifest {
		return false
	}
	s.mu.Lock()
	s.deletes = append(s.deletes, req.Method+" "+req.URL.Path)
	s.mu.Unlock()
	repo, ref, _ := strings.Cut(strings.TrimPrefix(req.URL.Path, "/v2/"), "/manifests/")
	if !strings.HasPrefix(ref, "sha256:") {
		// "a manifest can only be deleted by digest" (container-registry-delete).
		testregistry.WriteError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "The operation is unsupported.")
		return true
	}
	locked, err := s.manifestLocked(req.Context(), repo, ref)
	if err != nil {
		testregistry.WriteError(w, http.StatusInternalServerError, "UNKNOWN", err.Error())
		return true
	}
	if locked {
		writeLocked(w)
		return true
	}
	return false
}

func writeLocked(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusMethodNotAllowed)
	_, _ = w.Write([]byte(Locked))
}

// manifestLocked: the manifest's own attributes, or a locked tag on it.
func (s *Server) manifestLocked(ctx context.Context, repo, digest string) (bool, error) {
	tags, err := s.tags(ctx, repo)
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.attrsLocked(s.repoAttrs, repo).locked() || s.attrsLocked(s.manAttrs, repo+"@"+digest).locked() {
		return true, nil
	}
	for _, t := range tags {
		if t.digest == digest && s.attrsLocked(s.tagAttrs, repo+":"+t.name).locked() {
			return true, nil
		}
	}
	return false, nil
}

type tagState struct{ name, digest string }

// tags reads repo's tags and their digests from the registry, by name.
func (s *Server) tags(ctx context.Context, repo string) ([]tagState, error) {
	names, err := testregistry.ListTags(ctx, s.reg.Addr()+"/"+repo)
	if err != nil {
		return nil, err
	}
	var out []tagState
	for _, n := range names {
		d, ok, err := s.side.Head(ctx, repo, n)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, tagState{name: n, digest: d})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

func (s *Server) seen(key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.firstSeen[key]
	if !ok {
		t = s.now().UTC()
		s.firstSeen[key] = t
	}
	return t.Format(time.RFC3339Nano)
}

func (s *Server) serveACR(w http.ResponseWriter, req *http.Request) {
	rest := strings.TrimPrefix(req.URL.Path, "/acr/v1/")
	switch {
	case req.Method == http.MethodGet && strings.HasSuffix(rest, "/_tags"):
		s.listTags(w, req, strings.TrimSuffix(rest, "/_tags"))
	case req.Method == http.MethodGet && strings.HasSuffix(rest, "/_manifests"):
		s.listManifests(w, req, strings.TrimSuffix(rest, "/_manifests"))
	case req.Method == http.MethodDelete && strings.Contains(rest, "/_tags/"):
		i := strings.LastIndex(rest, "/_tags/")
		s.untag(w, req, rest[:i], rest[i+len("/_tags/"):])
	case req.Method == http.MethodGet && !strings.Contains(rest, "/_"):
		s.getRepository(w, req, rest)
	default:
		testregistry.WriteError(w, http.StatusNotFound, "NOT_FOUND", "acrtest does not replicate "+req.Method+" "+req.URL.Path)
	}
}

// page cuts names (sorted) after last to n, and sets Link when more follow.
func page(w http.ResponseWriter, req *http.Request, names []string) ([]string, bool) {
	q := req.URL.Query()
	n := 100
	if v := q.Get("n"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			testregistry.WriteError(w, http.StatusBadRequest, "PAGINATION_NUMBER_INVALID", "invalid number of results requested")
			return nil, false
		}
	}
	start := 0
	if last := q.Get("last"); last != "" {
		start = sort.SearchStrings(names, last)
		if start < len(names) && names[start] == last {
			start++
		}
	}
	end := min(start+n, len(names))
	out := names[start:end]
	if end < len(names) {
		nq := url.Values{"last": {out[len(out)-1]}, "n": {strconv.Itoa(n)}}
		if o := q.Get("orderby"); o != "" {
			nq.Set("orderby", o)
		}
		w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, req.URL.Path, nq.Encode()))
	}
	return out, true
}

// existing reads repo's tags, or answers 404 NAME_UNKNOWN for a
// repository without any (ACR has no empty repositories) and false.
func (s *Server) existing(w http.ResponseWriter, req *http.Request, repo string) ([]tagState, bool) {
	tags, err := s.tags(req.Context(), repo)
	if err != nil {
		testregistry.WriteError(w, http.StatusInternalServerError, "UNKNOWN", err.Error())
		return nil, false
	}
	if len(tags) == 0 {
		testregistry.WriteError(w, http.StatusNotFound, "NAME_UNKNOWN", "repository name not known to registry")
		return nil, false
	}
	return tags, true
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) listTags(w http.ResponseWriter, req *http.Request, repo string) {
	tags, ok := s.existing(w, req, repo)
	if !ok {
		return
	}
	names := make([]string, len(tags))
	byName := map[string]string{}
	for i, t := range tags {
		names[i], byName[t.name] = t.name, t.digest
	}
	names, ok = page(w, req, names)
	if !ok {
		return
	}
	type tagJSON struct {
		Name                 string     `json:"name"`
		Digest               string     `json:"digest"`
		CreatedTime          string     `json:"createdTime"`
		LastUpdateTime       string     `json:"lastUpdateTime"`
		Signed               bool       `json:"signed"`
		ChangeableAttributes Attributes `json:"changeableAttributes"`
	}
	out := struct {
		Registry  string    `json:"registry"`
		ImageName string    `json:"imageName"`
		Tags      []tagJSON `json:"tags"`
	}{Registry: req.Host, ImageName: repo, Tags: []tagJSON{}}
	for _, n := range names {
		at := s.seen(repo + ":" + n + "@" + byName[n])
		s.mu.Lock()
		a := s.attrsLocked(s.tagAttrs, repo+":"+n)
		s.mu.Unlock()
		out.Tags = append(out.Tags, tagJSON{Name: n, Digest: byName[n], CreatedTime: at, LastUpdateTime: at, ChangeableAttributes: a})
	}
	writeJSON(w, out)
}

func (s *Server) listManifests(w http.ResponseWriter, req *http.Request, repo string) {
	tags, ok := s.existing(w, req, repo)
	if !ok {
		return
	}
	type info struct {
		mediaType, configMediaType string
		size                       int64
		tags                       []string
	}
	infos := map[string]*info{}
	var visit func(d string, depth int) error
	visit = func(d string, depth int) error {
		if infos[d] != nil || depth > 16 {
			return nil
		}
		body, mt, ok, err := s.side.Get(req.Context(), repo, d)
		if err != nil || !ok {
			return err
		}
		var m struct {
			MediaType string `json:"mediaType"`
			Config    struct {
				MediaType string `json:"mediaType"`
				Size      int64  `json:"size"`
			} `json:"config"`
			Layers    []struct{ Size int64 }    `json:"layers"`
			Manifests []struct{ Digest string } `json:"manifests"`
		}
		if err := json.Unmarshal(body, &m); err != nil {
			return err
		}
		in := &info{mediaType: mt, configMediaType: m.Config.MediaType, size: int64(len(body)) + m.Config.Size}
		for _, l := range m.Layers {
			in.size += l.Size
		}
		infos[d] = in
		for _, c := range m.Manifests {
			if err := visit(c.Digest, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	for _, t := range tags {
		if err := visit(t.digest, 0); err != nil {
			testregistry.WriteError(w, http.StatusInternalServerError, "UNKNOWN", err.Error())
			return
		}
		infos[t.digest].tags = append(infos[t.digest].tags, t.name)
	}
	digests := make([]string, 0, len(infos))
	for d := range infos {
		digests = append(digests, d)
	}
	sort.Strings(digests)
	digests, ok = page(w, req, digests)
	if !ok {
		return
	}
	type manifestJSON struct {
		Digest               string     `json:"digest"`
		ImageSize            int64      `json:"imageSize"`
		CreatedTime          string     `json:"createdTime"`
		LastUpdateTime       string     `json:"lastUpdateTime"`
		MediaType            string     `json:"mediaType"`
		ConfigMediaType      string     `json:"configMediaType,omitempty"`
		Tags                 []string   `json:"tags,omitempty"`
		ChangeableAttributes Attributes `json:"changeableAttributes"`
	}
	out := struct {
		Registry  string         `json:"registry"`
		ImageName string         `json:"imageName"`
		Manifests []manifestJSON `json:"manifests"`
	}{Registry: req.Host, ImageName: repo, Manifests: []manifestJSON{}}
	for _, d := range digests {
		in := infos[d]
		at := s.seen(repo + "@" + d)
		s.mu.Lock()
		a := s.attrsLocked(s.manAttrs, repo+"@"+d)
		s.mu.Unlock()
		out.Manifests = append(out.Manifests, manifestJSON{Digest: d, ImageSize: in.size, CreatedTime: at, LastUpdateTime: at,
			MediaType: in.mediaType, ConfigMediaType: in.configMediaType, Tags: in.tags, ChangeableAttributes: a})
	}
	writeJSON(w, out)
}

func (s *Server) untag(w http.ResponseWriter, req *http.Request, repo, tag string) {
	_, ok, err := s.side.Head(req.Context(), repo, tag)
	if err != nil {
		testregistry.WriteError(w, http.StatusInternalServerError, "UNKNOWN", err.Error())
		return
	}
	if !ok {
		testregistry.WriteError(w, http.StatusNotFound, "TAG_UNKNOWN", "the specified tag does not exist")
		return
	}
	s.mu.Lock()
	locked := s.attrsLocked(s.repoAttrs, repo).locked() || s.attrsLocked(s.tagAttrs, repo+":"+tag).locked()
	s.mu.Unlock()
	if locked {
		writeLocked(w)
		return
	}
	// Distribution deletes a tag alone (DELETE /v2/<repo>/manifests/<tag>
	// through the side channel): the manifest stays, untagged.
	if found, err := s.side.Delete(req.Context(), repo, tag); err != nil || !found {
		testregistry.WriteError(w, http.StatusInternalServerError, "UNKNOWN", fmt.Sprint("untag: ", err))
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// getRepository is GET /acr/v1/{name}: the repository's properties
// (spec: GetProperties, ContainerRepositoryProperties).
func (s *Server) getRepository(w http.ResponseWriter, req *http.Request, repo string) {
	tags, ok := s.existing(w, req, repo)
	if !ok {
		return
	}
	digests := map[string]bool{}
	for _, t := range tags {
		digests[t.digest] = true
	}
	at := s.seen(repo)
	s.mu.Lock()
	a := s.attrsLocked(s.repoAttrs, repo)
	s.mu.Unlock()
	writeJSON(w, map[string]any{"registry": req.Host, "imageName": repo, "createdTime": at, "lastUpdateTime": at,
		"manifestCount": len(digests), "tagCount": len(tags), "changeableAttributes": a})
}
