package harbortest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// sideChannel marks the replica's own requests to the registry (its
// testregistry.SideChannel), which the hook lets through untouched (the
// tag delete of the REST API uses the distribution registry's DELETE by
// tag, which Harbor's registry API refuses).
const sideChannel = "X-Harbortest-Side-Channel"

// manifestInfo is what the replica needs of a manifest.
type manifestInfo struct {
	mediaType   string
	configType  string
	size        int64 // manifest, config and layers
	annotations map[string]string
	children    []childInfo
}

type childInfo struct {
	digest   string
	platform *platform
}

func (m *manifestInfo) isIndex() bool {
	return m.mediaType == "application/vnd.oci.image.index.v1+json" ||
		m.mediaType == "application/vnd.docker.distribution.manifest.list.v2+json"
}

// artifact is one manifest digest of a repository with the tags on it.
type artifact struct {
	id     int64
	digest string
	info   *manifestInfo
	tags   []tagState
	pushed time.Time
}

type tagState struct {
	id        int64
	name      string
	pushed    time.Time
	immutable bool
}

// head returns the digest tag points at, "" when it does not exist (any
// more).
func (s *Server) head(ctx context.Context, repo, tag string) (string, error) {
	d, _, err := s.side.Head(ctx, repo, tag)
	return d, err
}

// manifest fetches (once per digest) and parses a manifest.
func (s *Server) manifest(ctx context.Context, repo, digest string) (*manifestInfo, error) {
	s.mu.Lock()
	m := s.manifests[digest]
	s.mu.Unlock()
	if m != nil {
		return m, nil
	}
	body, contentType, ok, err := s.side.Get(ctx, repo, digest)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("manifest %s@%s: 404 Not Found", repo, digest)
	}
	var raw struct {
		MediaType string `json:"mediaType"`
		Config    struct {
			MediaType string `json:"mediaType"`
			Size      int64  `json:"size"`
		} `json:"config"`
		Layers []struct {
			Size int64 `json:"size"`
		} `json:"layers"`
		Manifests []struct {
			Digest   string    `json:"digest"`
			Platform *platform `json:"platform"`
		} `json:"manifests"`
		Annotations map[string]string `json:"annotations"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("manifest %s@%s: %w", repo, digest, err)
	}
	m = &manifestInfo{mediaType: raw.MediaType, configType: raw.Config.MediaType, annotations: raw.Annotations,
		size: int64(len(body)) + raw.Config.Size}
	if m.mediaType == "" {
		m.mediaType = contentType
	}
	for _, l := range raw.Layers {
		m.size += l.Size
	}
	for _, c := range raw.Manifests {
		m.children = append(m.children, childInfo{digest: c.Digest, platform: c.Platform})
	}
	s.mu.Lock()
	s.manifests[digest] = m
	s.mu.Unlock()
	return m, nil
}

// artifacts reads repo from the registry: its tags, the digest of each
// (HEAD), the manifests; it assigns IDs and push times on first sight.
// Artifacts are ordered newest first (by ID, which is first sight).
func (s *Server) artifacts(ctx context.Context, repo string) ([]*artifact, error) {
	tags, err := testregistry.ListTags(ctx, s.reg.Addr()+"/"+repo)
	if err != nil {
		return nil, err
	}
	digestOf := map[string]string{}
	for _, t := range tags {
		d, err := s.head(ctx, repo, t)
		if err != nil {
			return nil, err
		}
		if d != "" {
			digestOf[t] = d
		}
	}
	infos := map[string]*manifestInfo{}
	for _, d := range digestOf {
		if infos[d] != nil {
			continue
		}
		m, err := s.manifest(ctx, repo, d)
		if err != nil {
			return nil, err
		}
		infos[d] = m
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	byDigest := map[string]*artifact{}
	var out []*artifact
	names := make([]string, 0, len(digestOf))
	for t := range digestOf {
		names = append(names, t)
	}
	sort.Strings(names)
	for _, t := range names {
		d := digestOf[t]
		a := byDigest[d]
		if a == nil {
			a = &artifact{id: s.artifactIDLocked(repo, d), digest: d, info: infos[d]}
			byDigest[d] = a
			out = append(out, a)
		}
		key := repo + ":" + t
		rec, ok := s.pushed[key]
		switch {
		case !ok:
			rec = pushRecord{digest: d, at: now}
		case rec.digest == "":
			rec.digest = d
		case rec.digest != d:
			rec = pushRecord{digest: d, at: now} // the tag moved: a new push
		}
		s.pushed[key] = rec
		tk := key + "@" + d
		if s.tagIDs[tk] == 0 {
			s.tagIDs[tk] = s.id()
		}
		a.tags = append(a.tags, tagState{id: s.tagIDs[tk], name: t, pushed: rec.at, immutable: s.immutable[key]})
		if rec.at.After(a.pushed) {
			a.pushed = rec.at
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id > out[j].id })
	return out, nil
}

func (s *Server) artifactIDLocked(repo, digest string) int64 {
	k := repo + "@" + digest
	if s.artIDs[k] == 0 {
		s.artIDs[k] = s.id()
	}
	return s.artIDs[k]
}

// refusal tells why Harbor would refuse to delete the artifact digest of
// repo (status 412 and the code and message of its error), or "" when it
// would not: an index of the repository references it (checked first, as
// deleteDeeply does), or a tag on it is immutable.
func (s *Server) refusal(ctx context.Context, repo, digest string) (code, message string, err error) {
	tagged, err := s.artifacts(ctx, repo)
	if err != nil {
		return "", "", err
	}
	loose, err := s.untagged(ctx, repo, tagged)
	if err != nil {
		return "", "", err
	}
	arts := append(tagged, loose...)
	// Every manifest the artifacts reach, and who references whom.
	seen := map[string]bool{}
	var walk func(d string, depth int) (bool, error)
	walk = func(d string, depth int) (bool, error) {
		if seen[d] || depth > 16 {
			return false, nil
		}
		seen[d] = true
		m, err := s.manifest(ctx, repo, d)
		if err != nil {
			return false, err
		}
		for _, c := range m.children {
			if c.digest == digest {
				return true, nil
			}
			if found, err := walk(c.digest, depth+1); found || err != nil {
				return found, err
			}
		}
		return false, nil
	}
	for _, a := range arts {
		found, err := walk(a.digest, 0)
		if err != nil {
			return "", "", err
		}
		if found {
			return "VIOLATE_FOREIGN_KEY_CONSTRAINT", "the deleting artifact is referenced by others", nil
		}
	}
	for _, a := range arts {
		if a.digest != digest {
			continue
		}
		for _, t := range a.tags {
			if t.immutable {
				return "PRECONDITION", fmt.Sprintf("the tag %s configured as immutable, cannot be deleted", t.name), nil
			}
		}
	}
	return "", "", nil
}

// deleteManifest deletes ref (a tag or a digest) in the registry through
// the side channel.
func (s *Server) deleteManifest(ctx context.Context, repo, ref string) error {
	found, err := s.side.Delete(ctx, repo, ref)
	if err == nil && !found {
		err = fmt.Errorf("registry DELETE %s/manifests/%s: 404 Not Found", repo, ref)
	}
	return err
}

// registryHook makes the registry API behave like Harbor's: DELETE by tag
// answers 400 UNSUPPORTED; DELETE by digest answers 401 unless the
// caller's Basic credentials may delete the repository, and 412 when
// Harbor would refuse it; everything else reaches the registry (reads
// and pushes are not checked: the in-process registry is open).
func (s *Server) registryHook(w http.ResponseWriter, req *http.Request) bool {
	if s.side.Sent(req) {
		return false
	}
	s.recordPush(req)
	s.mu.Lock()
	if req.Method == http.MethodDelete {
		s.registryDeletes = append(s.registryDeletes, req.Method+" "+req.URL.Path)
	}
	fault := s.fault
	s.mu.Unlock()
	if fault != nil && fault(w, req) {
		return true
	}
	if req.Method != http.MethodDelete || testregistry.Classify(req.URL.Path) != testregistry.ClassManifest {
		return false
	}
	rest := strings.TrimPrefix(req.URL.Path, "/v2/")
	i := strings.LastIndex(rest, "/manifests/")
	repo, ref := rest[:i], rest[i+len("/manifests/"):]
	if !isDigest(ref) {
		// src/server/registry/manifest.go: "v2 doesn't support delete by tag".
		writeError(w, http.StatusBadRequest, "UNSUPPORTED", fmt.Sprintf("unsupported digest %s: invalid checksum digest format", ref))
		return true
	}
	// src/server/middleware/v2auth: a registry-API DELETE needs delete on
	// the *repository* (a robot's "delete repository" permission), not
	// artifact delete; refused, it is always 401 UNAUTHORIZED, with a Basic
	// challenge when credentials were sent (werf/werf#5651 shows the body).
	projectName, _, _ := strings.Cut(repo, "/")
	user := s.caller(req)
	s.mu.Lock()
	allowed := s.canLocked(projectName, user, PermRepositoryDelete)
	s.mu.Unlock()
	if !allowed {
		if req.Header.Get("Authorization") != "" {
			w.Header().Set("Www-Authenticate", `Basic realm="harbor"`)
		} else {
			w.Header().Set("Www-Authenticate", fmt.Sprintf(`Bearer realm="http://%s/service/token",service="harbor-registry",scope="repository:%s:delete"`, req.Host, repo))
		}
		m := fmt.Sprintf("unauthorized to access repository: %s, action: delete", repo)
		writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", m+": "+m)
		return true
	}
	code, msg, err := s.refusal(req.Context(), repo, ref)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "UNKNOWN", "internal server error")
		return true
	}
	if code != "" {
		writeError(w, http.StatusPreconditionFailed, code, msg)
		return true
	}
	return false
}

// manifestPut matches the registry API's manifest PUT:
// /v2/<name>/manifests/<reference>.
var manifestPut = regexp.MustCompile(`^/v2/(.+)/manifests/([^/]+)$`)

// recordPush notes a manifest pushed through the registry API (its digest
// is the sha256 of the body), as Harbor creates an artifact for every
// manifest pushed, by tag or by digest (src/controller/artifact/
// controller.go Ensure): it stays an artifact when a tag moves off it.
func (s *Server) recordPush(req *http.Request) {
	m := manifestPut.FindStringSubmatch(req.URL.Path)
	if req.Method != http.MethodPut || m == nil {
		return
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	sum := sha256.Sum256(body)
	d := "sha256:" + hex.EncodeToString(sum[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pushes[m[1]] == nil {
		s.pushes[m[1]] = map[string]time.Time{}
	}
	if _, known := s.pushes[m[1]][d]; !known {
		s.pushes[m[1]][d] = s.now()
		s.artifactIDLocked(m[1], d) // Harbor's artifact IDs follow the pushes
	}
}

// deleteChildren deletes the children of a deleted index as Harbor's
// REST delete does (src/controller/artifact/controller.go deleteDeeply):
// each child without tags that no other artifact references, and its
// own children in turn; a child already gone is skipped.
func (s *Server) deleteChildren(ctx context.Context, repo string, children []childInfo) error {
	for _, c := range children {
		if got, ok, err := s.side.Head(ctx, repo, c.digest); err != nil {
			return err
		} else if !ok || got != c.digest {
			continue
		}
		tagged, err := s.artifacts(ctx, repo)
		if err != nil {
			return err
		}
		loose, err := s.untagged(ctx, repo, tagged)
		if err != nil {
			return err
		}
		keep := slices.ContainsFunc(tagged, func(a *artifact) bool { return a.digest == c.digest })
		for _, a := range append(tagged, loose...) {
			keep = keep || slices.ContainsFunc(a.info.children, func(x childInfo) bool { return x.digest == c.digest })
		}
		if keep {
			continue
		}
		m, err := s.manifest(ctx, repo, c.digest)
		if err != nil {
			return err
		}
		if err := s.deleteManifest(ctx, repo, c.digest); err != nil {
			return err
		}
		if err := s.deleteChildren(ctx, repo, m.children); err != nil {
			return err
		}
	}
	return nil
}

// untagged returns repo's artifacts without tags as q=tags=nil lists them
// (src/pkg/artifact/dao/dao.go: no tag, and no other artifact references
// them): the manifests pushed to repo that the registry still holds, that
// no tag points at and that no manifest of repo still held lists as a
// child. tagged are repo's artifacts with tags. Newest first.
func (s *Server) untagged(ctx context.Context, repo string, tagged []*artifact) ([]*artifact, error) {
	s.mu.Lock()
	pushed := maps.Clone(s.pushes[repo])
	s.mu.Unlock()
	isTagged := map[string]bool{}
	for _, a := range tagged {
		isTagged[a.digest] = true
	}
	held := map[string]*manifestInfo{}
	for d := range pushed {
		got, ok, err := s.side.Head(ctx, repo, d)
		if err != nil {
			return nil, err
		}
		if !ok || got != d {
			continue // deleted since
		}
		m, err := s.manifest(ctx, repo, d)
		if err != nil {
			return nil, err
		}
		held[d] = m
	}
	referenced := map[string]bool{}
	for _, m := range held {
		for _, c := range m.children {
			referenced[c.digest] = true
		}
	}
	for _, a := range tagged {
		for _, c := range a.info.children {
			referenced[c.digest] = true
		}
	}
	var out []*artifact
	s.mu.Lock()
	defer s.mu.Unlock()
	for d, m := range held {
		if isTagged[d] || referenced[d] {
			continue
		}
		at := pushed[d]
		if t, ok := s.artPushed[repo+"@"+d]; ok {
			at = t
		}
		out = append(out, &artifact{id: s.artifactIDLocked(repo, d), digest: d, info: m, pushed: at})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id > out[j].id })
	return out, nil
}

func isDigest(ref string) bool {
	alg, hexPart, ok := strings.Cut(ref, ":")
	if !ok || alg != "sha256" || len(hexPart) != 64 {
		return false
	}
	for _, c := range hexPart {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
