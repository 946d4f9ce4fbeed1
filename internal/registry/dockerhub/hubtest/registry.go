package hubtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// This file is Docker Hub's registry API (registry-1.docker.io) as the
// replica's hook on the registry makes it behave (testdata/README.md names
// each source):
//
//   - Pull accounting (docker/docs content/manuals/docker-hub/usage/pulls.md):
//     every GET of /v2/<name>/manifests/<ref> counts one pull against the
//     caller (the Basic user, else the anonymous caller); HEAD, blobs and
//     tags/list count none. Answers to manifest GETs and HEADs carry
//     ratelimit-limit / ratelimit-remaining ("<n>;w=<seconds>") and
//     docker-ratelimit-source. Past the limit a manifest GET answers 429
//     TOOMANYREQUESTS with no Retry-After; HEAD still works.
//   - Deletes (docker/docs content/reference/api/registry/latest.yaml,
//     DeleteImageManifest): by digest only (a tag: 405); a digest a tag or
//     an index of the repository still references: 403 DENIED; an
//     unreferenced one: 202, and an index's children are not deleted with
//     it. It needs delete access: a user whose token has ScopeDelete on the
//     namespace (else 401). Options.LegacyDeletes answers every DELETE 405
//     UNSUPPORTED, as Docker Hub did before 2025-05-28.
//
// The registry asks for Basic credentials at /v2/ (where Docker Hub's
// registry asks for a bearer token from auth.docker.io): the replica
// knows the caller without a token service of its own. Requests without
// credentials are anonymous, and may also push (the tests seed through
// the same registry).

// DefaultPullWindow is the window of the pull limit: "Unauthenticated and
// Docker Personal users are subject to a 6-hour pull rate limit" (pulls.md).
const DefaultPullWindow = 6 * time.Hour

// pullAccount is one caller's pulls in the current window.
type pullAccount struct {
	start time.Time
	used  int
}

// registryHook is Docker Hub's registry API, in front of the registry.
func (s *Server) registryHook(w http.ResponseWriter, req *http.Request) bool {
	if s.side.Sent(req) {
		return false
	}
	class := testregistry.Classify(req.URL.Path)
	u, authed, bad := s.registryCaller(req)
	switch {
	case bad:
		w.Header().Set("WWW-Authenticate", `Basic realm="registry.docker.io"`)
		testregistry.WriteError(w, http.StatusUnauthorized, "UNAUTHORIZED", "incorrect username or password")
		return true
	case class == testregistry.ClassBase && !authed:
		w.Header().Set("WWW-Authenticate", `Basic realm="registry.docker.io"`)
		testregistry.WriteError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
		return true
	}
	if req.Method == http.MethodDelete {
		s.registryDelete(w, req, u)
		return true
	}
	if req.Method == http.MethodPut && class == testregistry.ClassManifest {
		s.notePush(req)
		return false
	}
	if class != testregistry.ClassManifest || (req.Method != http.MethodGet && req.Method != http.MethodHead) {
		return false
	}
	who := "127.0.0.1" // anonymous: by IP address (all of them are loopback here)
	if u != nil {
		who = u.Name
	}
	if s.opts.PullLimit <= 0 {
		s.countPull(req, who)
		return false // unlimited: no headers (pulls.md)
	}
	remaining, ok := s.takePull(req, who)
	win := int(s.pullWindow().Seconds())
	h := w.Header()
	prefix := ""
	if s.opts.XRateLimitHeaders {
		prefix = "x-"
	}
	h.Set(prefix+"ratelimit-limit", fmt.Sprintf("%d;w=%d", s.opts.PullLimit, win))
	h.Set(prefix+"ratelimit-remaining", fmt.Sprintf("%d;w=%d", remaining, win))
	h.Set("docker-ratelimit-source", who)
	if !ok {
		msg := "You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit"
		if u == nil {
			msg = "You have reached your unauthenticated pull rate limit. https://www.docker.com/increase-rate-limit"
		}
		testregistry.WriteError(w, http.StatusTooManyRequests, "TOOMANYREQUESTS", msg)
		return true
	}
	return false
}

// registryCaller is the user of the request's Basic credentials: authed
// when it has any, bad when they are wrong.
func (s *Server) registryCaller(req *http.Request) (u *User, authed, bad bool) {
	name, secret, ok := req.BasicAuth()
	if !ok {
		return nil, req.Header.Get("Authorization") != "", req.Header.Get("Authorization") != ""
	}
	for i := range s.opts.Users {
		if s.opts.Users[i].Name == name && s.opts.Users[i].Secret == secret {
			return &s.opts.Users[i], true, false
		}
	}
	return nil, true, true
}

func (s *Server) pullWindow() time.Duration {
	if s.opts.PullWindow > 0 {
		return s.opts.PullWindow
	}
	return DefaultPullWindow
}

// countPull records a manifest GET of an unlimited caller.
func (s *Server) countPull(req *http.Request, who string) {
	if req.Method != http.MethodGet {
		return
	}
	s.mu.Lock()
	s.pulls[who]++
	s.mu.Unlock()
}

// takePull spends one pull of who's for a manifest GET (a HEAD spends
// none) and returns what remains; ok is false when none was left.
func (s *Server) takePull(req *http.Request, who string) (remaining int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[who]
	if a == nil || time.Since(a.start) >= s.pullWindow() {
		a = &pullAccount{start: time.Now()}
		s.accounts[who] = a
	}
	if req.Method != http.MethodGet {
		return max(s.opts.PullLimit-a.used, 0), true
	}
	if a.used >= s.opts.PullLimit {
		s.refusedPulls[who]++
		return 0, false
	}
	a.used++
	s.pulls[who]++
	return s.opts.PullLimit - a.used, true
}

// Pulls returns the manifest GETs counted against user ("127.0.0.1" for
// anonymous callers) since the replica started or ResetPulls.
func (s *Server) Pulls(user string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pulls[user]
}

// RefusedPulls returns the manifest GETs of user answered 429.
func (s *Server) RefusedPulls(user string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refusedPulls[user]
}

// ResetPulls forgets every pull counted, and gives every caller a fresh
// window.
func (s *Server) ResetPulls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pulls, s.refusedPulls, s.accounts = map[string]int{}, map[string]int{}, map[string]*pullAccount{}
}

// RegistryDeletes returns the registry-API DELETEs the replica accepted
// ("ns/repo@sha256:…"), in order.
func (s *Server) RegistryDeletes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.regDeletes)
}

// registryDelete answers a registry-API DELETE as Docker Hub does.
func (s *Server) registryDelete(w http.ResponseWriter, req *http.Request, u *User) {
	s.mu.Lock()
	s.refused = append(s.refused, req.Method+" "+req.URL.Path)
	s.mu.Unlock()
	repo, ref, ok := strings.Cut(strings.TrimPrefix(req.URL.Path, "/v2/"), "/manifests/")
	if s.opts.LegacyDeletes || !ok {
		// Before 2025-05-28 (docker/hub-feedback#1759, #2360).
		testregistry.WriteError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "The operation is unsupported.")
		return
	}
	ns, _, _ := strings.Cut(repo, "/")
	if u == nil || u.Scope != ScopeDelete || !slices.Contains(u.namespaces(), ns) {
		// What a token without the delete action gets (hub-feedback#2398's body).
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Basic realm="registry.docker.io",scope="repository:%s:delete",error="insufficient_scope"`, repo))
		body, _ := json.Marshal(map[string]any{"errors": []any{map[string]any{"code": "UNAUTHORIZED", "message": "authentication required",
			"detail": []any{map[string]string{"Type": "repository", "Class": "", "Name": repo, "Action": "delete"}}}}})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write(body)
		return
	}
	if !strings.HasPrefix(ref, "sha256:") {
		testregistry.WriteError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "Only digest-based deletion is allowed.")
		return
	}
	ctx := req.Context()
	if _, found, err := s.side.Head(ctx, repo, ref); err != nil || !found {
		if err != nil {
			testregistry.WriteError(w, http.StatusInternalServerError, "UNKNOWN", err.Error())
			return
		}
		testregistry.WriteError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", "manifest unknown")
		return
	}
	by, err := s.referencedBy(ctx, repo, ref)
	if err != nil {
		testregistry.WriteError(w, http.StatusInternalServerError, "UNKNOWN", err.Error())
		return
	}
	if by != "" {
		testregistry.WriteError(w, http.StatusForbidden, "DENIED", "Access denied. The manifest may still be referenced.")
		return
	}
	if s.opts.DeleteDelay > 0 {
		s.queueDelete(repo, ref)
		testregistry.WriteError(w, http.StatusInternalServerError, "UNKNOWN", "internal server error")
		return
	}
	switch found, err := s.side.Delete(ctx, repo, ref); {
	case err != nil:
		testregistry.WriteError(w, http.StatusInternalServerError, "UNKNOWN", err.Error())
		return
	case !found:
		testregistry.WriteError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", "manifest unknown")
		return
	}
	s.mu.Lock()
	s.regDeletes = append(s.regDeletes, repo+"@"+ref)
	s.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

// referencedBy names what still references digest in repo: a tag, or an
// index (tagged, or untagged and still stored) that lists it; "" when
// nothing does.
func (s *Server) referencedBy(ctx context.Context, repo, digest string) (string, error) {
	tags, err := s.tagDigests(ctx, repo)
	if err != nil {
		return "", err
	}
	for _, t := range slices.Sorted(maps.Keys(tags)) {
		d := tags[t]
		if d == digest {
			return "tag " + t, nil
		}
		if err := s.learnIndex(ctx, repo, d); err != nil {
			return "", err
		}
	}
	s.mu.Lock()
	var idx []string
	for k := range s.indexes {
		if strings.HasPrefix(k, repo+"@") {
			idx = append(idx, k)
		}
	}
	s.mu.Unlock()
	slices.Sort(idx)
	for _, k := range idx {
		d := strings.TrimPrefix(k, repo+"@")
		s.mu.Lock()
		children := s.indexes[k]
		s.mu.Unlock()
		if !slices.Contains(children, digest) {
			continue
		}
		if found, err := s.stored(ctx, repo, d); err != nil {
			return "", err
		} else if found {
			return "index " + d, nil
		}
	}
	return "", nil
}

// storageDir is the registry's filesystem root, where it has one
// (testregistry.Registry): reading tag links there is what a HEAD per tag
// would tell, without thousands of requests per DELETE.
func (s *Server) storageDir() string {
	if r, ok := s.reg.(interface{ Dir() string }); ok {
		return r.Dir()
	}
	return ""
}

func (s *Server) manifestsDir(repo string) string {
	return filepath.Join(s.storageDir(), "docker", "registry", "v2", "repositories", filepath.FromSlash(repo), "_manifests")
}

// tagDigests maps each tag of repo to its digest.
func (s *Server) tagDigests(ctx context.Context, repo string) (map[string]string, error) {
	out := map[string]string{}
	if s.storageDir() != "" {
		dir := filepath.Join(s.manifestsDir(repo), "tags")
		entries, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		for _, e := range entries {
			link, err := os.ReadFile(filepath.Join(dir, e.Name(), "current", "link"))
			if err == nil {
				out[e.Name()] = strings.TrimSpace(string(link))
			}
		}
		return out, nil
	}
	tags, err := testregistry.ListTags(ctx, s.reg.Addr()+"/"+repo)
	if err != nil && !testregistry.IsNotFound(err) {
		return nil, err
	}
	for _, t := range tags {
		d, found, err := s.side.Head(ctx, repo, t)
		if err != nil {
			return nil, err
		}
		if found {
			out[t] = d
		}
	}
	return out, nil
}

// stored reports whether the manifest digest is stored in repo.
func (s *Server) stored(ctx context.Context, repo, digest string) (bool, error) {
	if s.storageDir() != "" {
		alg, hex, _ := strings.Cut(digest, ":")
		_, err := os.Stat(filepath.Join(s.manifestsDir(repo), "revisions", alg, hex, "link"))
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return err == nil, err
	}
	_, found, err := s.side.Head(ctx, repo, digest)
	return found, err
}

// notePush remembers the children of an index pushed (the body is
// given back to the registry): an untagged index still references them.
func (s *Server) notePush(req *http.Request) {
	mt, _, _ := strings.Cut(req.Header.Get("Content-Type"), ";")
	if mt != "application/vnd.oci.image.index.v1+json" && mt != "application/vnd.docker.distribution.manifest.list.v2+json" {
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, 4<<20))
	req.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return
	}
	repo, _, _ := strings.Cut(strings.TrimPrefix(req.URL.Path, "/v2/"), "/manifests/")
	sum := sha256.Sum256(body)
	s.noteIndex(repo, "sha256:"+hex.EncodeToString(sum[:]), body)
}

// noteIndex records the children of the index digest (its manifest body).
func (s *Server) noteIndex(repo, digest string, body []byte) {
	var m struct {
		Manifests []struct {
			Digest string `json:"digest"`
		} `json:"manifests"`
	}
	_ = json.Unmarshal(body, &m)
	children := []string{}
	for _, c := range m.Manifests {
		children = append(children, c.Digest)
	}
	s.mu.Lock()
	s.indexes[repo+"@"+digest] = children
	s.mu.Unlock()
}

// learnIndex remembers the children of digest in repo when it is an
// index (read once: manifests are content-addressed).
func (s *Server) learnIndex(ctx context.Context, repo, digest string) error {
	key := repo + "@" + digest
	s.mu.Lock()
	_, known := s.indexes[key]
	_, notIndex := s.notIndexes[key]
	s.mu.Unlock()
	if known || notIndex {
		return nil
	}
	body, mt, found, err := s.side.Get(ctx, repo, digest)
	if err != nil || !found {
		return err
	}
	if mt != "application/vnd.oci.image.index.v1+json" && mt != "application/vnd.docker.distribution.manifest.list.v2+json" {
		s.mu.Lock()
		s.notIndexes[key] = struct{}{}
		s.mu.Unlock()
		return nil
	}
	s.noteIndex(repo, digest, body)
	return nil
}

// namespaces are those the user may delete in.
func (u *User) namespaces() []string {
	if len(u.Namespaces) == 0 {
		return []string{u.Name}
	}
	return u.Namespaces
}

// immutableSettings are a repository's immutable_tags_settings.
type immutableSettings struct {
	Enabled bool     `json:"enabled"`
	Rules   []string `json:"rules"`
}

// SetImmutable sets repo's ("ns/name") immutable_tags_settings: rules
// are RE2 regular expressions ("follows the Go regexp package", docs
// immutable-tags.md). Only enabled decides: rules may be set while it is
// false (a live capture showed {"enabled":false,"rules":[".*"]}).
func (s *Server) SetImmutable(repo string, enabled bool, rules ...string) {
	for _, r := range rules {
		regexp.MustCompile(r)
	}
	s.mu.Lock()
	s.immutable[repo] = immutableSettings{Enabled: enabled, Rules: append([]string{}, rules...)}
	s.mu.Unlock()
}

// immutableRule is the rule that makes repo:tag immutable, "" when none
// does. Whether Docker Hub anchors a rule is undocumented; the replica
// matches anywhere in the tag, as tagsweep reads it.
func (s *Server) immutableRule(repo, tag string) string {
	s.mu.Lock()
	st := s.immutable[repo]
	s.mu.Unlock()
	if !st.Enabled {
		return ""
	}
	for _, r := range st.Rules {
		if regexp.MustCompile(r).MatchString(tag) {
			return r
		}
	}
	return ""
}

// getRepository answers GET /v2/namespaces/{ns}/repositories/{repo}
// (repository_info, with the required immutable_tags_settings).
func (s *Server) getRepository(w http.ResponseWriter, req *http.Request, ns, name string) {
	repo := ns + "/" + name
	if !s.found(w, req, repo) {
		return
	}
	s.mu.Lock()
	st := s.immutable[repo]
	s.mu.Unlock()
	if st.Rules == nil {
		st.Rules = []string{}
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	writeJSON(w, http.StatusOK, map[string]any{
		"user": ns, "name": name, "namespace": ns, "repository_type": "image", "status": 1, "status_description": "active",
		"description": "", "is_private": false, "is_automated": false, "star_count": 0, "pull_count": 0,
		"last_updated": now, "last_modified": now, "date_registered": now, "collaborator_count": 0, "affiliation": "",
		"hub_user": ns, "has_starred": false, "full_description": "", "permissions": map[string]bool{"read": true, "write": true, "admin": true},
		"media_types": []string{}, "content_types": []string{"image"}, "categories": []any{}, "storage_size": 0,
		"immutable_tags_settings": st,
	})
}

// queueDelete deletes repo@digest DeleteDelay from now, once.
func (s *Server) queueDelete(repo, digest string) {
	key := repo + "@" + digest
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.queued[key] {
		return
	}
	s.queued[key] = true
	time.AfterFunc(s.opts.DeleteDelay, func() {
		if found, err := s.side.Delete(context.Background(), repo, digest); err == nil && found {
			s.mu.Lock()
			s.regDeletes = append(s.regDeletes, key)
			s.mu.Unlock()
		}
	})
}
