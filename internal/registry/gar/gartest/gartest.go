// Package gartest replicates the parts of Google Artifact Registry that
// tagsweep uses, for tests: the registry API's refusals, given to a real
// in-process CNCF distribution registry (internal/testregistry) through
// its hook, and the Artifact Registry API's repository resource (its
// dockerConfig.immutableTags setting) on an httptest server. README.md
// gives each rule with its source.
//
// What it does not replicate: the registry API's authentication (the
// in-process registry is open), cleanup policies, the packages, versions
// and tags resources, and gcr.io's locations.
package gartest

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/tagsweep/tagsweep/internal/testregistry"
)

const sideChannel = "X-Gartest-Side-Channel"

// Options configures New.
type Options struct {
	// Registry is the registry the replica makes behave like Artifact
	// Registry; the replica owns its hook from now on.
	Registry *testregistry.Registry
	// Token is the access token the API accepts as "Bearer <Token>".
	Token string
	// Location is the location the repositories live in (us-central1).
	Location string
	// ServiceAccountKey, when set, is the public key of a service account
	// whose signed JWT assertions POST /token exchanges for Token (the
	// RFC 7523 grant of oauth2.googleapis.com/token, where a key file's
	// token_uri points).
	ServiceAccountKey *rsa.PublicKey
}

// Server is the Artifact Registry replica. It is safe for concurrent use.
type Server struct {
	reg      *testregistry.Registry
	side     *testregistry.SideChannel
	http     *httptest.Server
	log      testregistry.RequestLog
	token    string
	location string
	saKey    *rsa.PublicKey

	mu        sync.Mutex
	immutable map[string]bool // PROJECT/REPOSITORY
	deletes   []string        // registry-API DELETEs from clients
}

// New starts the API on 127.0.0.1 and installs the hook.
func New(o Options) (*Server, error) {
	if o.Registry == nil {
		return nil, fmt.Errorf("gartest: Options.Registry is required")
	}
	s := &Server{reg: o.Registry, side: testregistry.NewSideChannel(o.Registry.Addr(), sideChannel), token: o.Token,
		location: o.Location, saKey: o.ServiceAccountKey, immutable: map[string]bool{}}
	s.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.log.Record(w, r, s.serveAPI) }))
	s.reg.SetHook(s.hook)
	return s, nil
}

// APIURL is the API's base URL.
func (s *Server) APIURL() string { return s.http.URL }

// Close stops the API and removes the hook.
func (s *Server) Close() {
	s.reg.SetHook(nil)
	s.http.Close()
}

// SetImmutable turns the immutable-tags setting of the Artifact Registry
// repository "PROJECT/REPOSITORY" on or off.
func (s *Server) SetImmutable(arRepo string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.immutable[arRepo] = on
}

// Requests returns the API requests answered, oldest first.
func (s *Server) Requests() []testregistry.Request { return s.log.Requests() }

// RegistryDeletes returns the registry-API DELETEs clients sent, answered
// or refused, as "DELETE path".
func (s *Server) RegistryDeletes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.deletes...)
}

func googleError(w http.ResponseWriter, code int, status, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg, "status": status}})
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/token" {
		s.serveToken(w, r)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+s.token {
		googleError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		return
	}
	seg := strings.Split(strings.TrimPrefix(r.URL.Path, "/v1/"), "/")
	if r.Method != http.MethodGet || len(seg) != 6 || seg[0] != "projects" || seg[2] != "locations" || seg[4] != "repositories" {
		googleError(w, http.StatusNotFound, "NOT_FOUND", "gartest does not replicate "+r.Method+" "+r.URL.Path)
		return
	}
	project, location, repo := seg[1], seg[3], seg[5]
	catalog, err := s.side.Catalog(r.Context())
	if err != nil {
		googleError(w, http.StatusInternalServerError, "INTERNAL", err.Error())
		return
	}
	found := false
	for _, c := range catalog {
		found = found || strings.HasPrefix(c, project+"/"+repo+"/")
	}
	if !found || location != s.location {
		googleError(w, http.StatusNotFound, "NOT_FOUND", "Requested entity was not found.")
		return
	}
	s.mu.Lock()
	imm := s.immutable[project+"/"+repo]
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"name":         strings.TrimPrefix(r.URL.Path, "/v1/"),
		"format":       "DOCKER",
		"mode":         "STANDARD_REPOSITORY",
		"dockerConfig": map[string]any{"immutableTags": imm},
		"createTime":   "2025-01-01T00:00:00.000000Z",
		"updateTime":   "2025-01-01T00:00:00.000000Z",
	})
}

// arRepo is "PROJECT/REPOSITORY" of a registry repository path.
func arRepo(repo string) string {
	parts := strings.SplitN(repo, "/", 3)
	if len(parts) < 3 {
		return repo
	}
	return parts[0] + "/" + parts[1]
}

func (s *Server) hook(w http.ResponseWriter, req *http.Request) bool {
	if s.side.Sent(req) || testregistry.Classify(req.URL.Path) != testregistry.ClassManifest {
		return false
	}
	rest := strings.TrimPrefix(req.URL.Path, "/v2/")
	i := strings.LastIndex(rest, "/manifests/")
	if i < 0 {
		return false
	}
	repo, ref := rest[:i], rest[i+len("/manifests/"):]
	s.mu.Lock()
	imm := s.immutable[arRepo(repo)]
	if req.Method == http.MethodDelete {
		s.deletes = append(s.deletes, req.Method+" "+req.URL.Path)
	}
	s.mu.Unlock()
	ctx := req.Context()
	switch req.Method {
	case http.MethodPut:
		if !imm || strings.HasPrefix(ref, "sha256:") {
			return false
		}
		// A tag may be created, not moved.
		if cur, ok, err := s.side.Head(ctx, repo, ref); err == nil && ok {
			body, _ := io.ReadAll(io.LimitReader(req.Body, 4<<20))
			if want := digestOf(body); want != cur {
				refuseImmutable(w, ref)
				return true
			}
			req.Body = io.NopCloser(strings.NewReader(string(body)))
		}
		return false
	case http.MethodDelete:
	default:
		return false
	}
	if !strings.HasPrefix(ref, "sha256:") {
		if imm {
			refuseImmutable(w, ref)
			return true
		}
		return false // a tag delete untags (202)
	}
	tags, err := testregistry.ListTags(ctx, s.reg.Addr()+"/"+repo)
	if err != nil {
		return false
	}
	for _, t := range tags {
		if d, ok, err := s.side.Head(ctx, repo, t); err == nil && ok && d == ref {
			if imm {
				refuseImmutable(w, t)
				return true
			}
			testregistry.WriteError(w, http.StatusBadRequest, "GOOGLE_MANIFEST_DANGLING_TAG", "Manifest is still referenced by one or more tags")
			return true
		}
	}
	if s.referencedByParent(ctx, repo, tags, ref) {
		testregistry.WriteError(w, http.StatusBadRequest, "GOOGLE_MANIFEST_DANGLING_PARENT_IMAGE", "Manifest is still referenced by one or more parent images")
		return true
	}
	return false
}

// refuseImmutable answers a change an immutable-tags repository refuses.
// The wire answer is not documented (README.md): a 400 naming the rule.
func refuseImmutable(w http.ResponseWriter, tag string) {
	testregistry.WriteError(w, http.StatusBadRequest, "FAILED_PRECONDITION",
		fmt.Sprintf("Tag %q is immutable: the repository has immutable tags enabled", tag))
}

func (s *Server) referencedByParent(ctx context.Context, repo string, tags []string, digest string) bool {
	for _, t := range tags {
		body, _, ok, err := s.side.Get(ctx, repo, t)
		if err != nil || !ok {
			continue
		}
		var idx struct {
			Manifests []struct{ Digest string } `json:"manifests"`
		}
		if json.Unmarshal(body, &idx) != nil {
			continue
		}
		for _, m := range idx.Manifests {
			if m.Digest == digest {
				return true
			}
		}
	}
	return false
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// serveToken grants Token for a JWT bearer assertion signed (RS256) by
// the service account's key, asking the cloud-platform scope, addressed
// to this endpoint (developers.google.com/identity/protocols/oauth2/
// service-account#httprest; RFC 7523).
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	fail := func(msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant", "error_description": msg})
	}
	if r.Method != http.MethodPost || r.ParseForm() != nil || r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" || s.saKey == nil {
		fail("Invalid grant")
		return
	}
	parts := strings.Split(r.PostForm.Get("assertion"), ".")
	if len(parts) != 3 {
		fail("Invalid JWT")
		return
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err != nil || rsa.VerifyPKCS1v15(s.saKey, crypto.SHA256, sum[:], sig) != nil {
		fail("Invalid JWT Signature.")
		return
	}
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct {
		Scope string `json:"scope"`
		Aud   string `json:"aud"`
	}
	if json.Unmarshal(payload, &claims) != nil || !strings.Contains(claims.Scope, "https://www.googleapis.com/auth/cloud-platform") || claims.Aud != s.http.URL+"/token" {
		fail("Invalid JWT: scope or audience")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": s.token, "token_type": "Bearer", "expires_in": 3599})
}
