// Package hubtest is a test replica of the Docker Hub API endpoints tagsweep
// uses, served on 127.0.0.1 and backed by a real registry from
// internal/testregistry (the in-process CNCF distribution v3 registry):
//
//	POST   /v2/auth/token                                          login: {"identifier","secret"} -> {"access_token"}
//	GET    /v2/namespaces/{ns}/repositories?page=&page_size=       repositories of a namespace
//	GET    /v2/namespaces/{ns}/repositories/{repo}/tags?page=&page_size=
//	GET    /v2/namespaces/{ns}/repositories/{repo}/tags/{tag}
//	DELETE /v2/repositories/{ns}/{repo}/tags/{tag}/                 removes one tag -> 204
//
// The repositories, tags and digests it lists are the registry's actual
// content (catalog, tags/list and a HEAD per tag with the full Accept set);
// a tag delete removes only that tag in the registry (distribution v3's OCI
// DELETE by tag, sent with a secret header). Like Docker Hub, the registry
// API itself refuses every other DELETE with 405 UNSUPPORTED: New installs a
// hook on the registry for that, so tests must install their own hooks with
// [Server.SetRegistryHook], not on the registry.
//
// Shapes follow Docker's published Hub API reference (docker/docs
// content/reference/api/hub/latest.yaml, see testdata/README.md): pagination
// is {count,next,previous,results} with page/page_size (default 10, at most
// 100, a page past the end is 404), errors are {"errinfo":null,"message":...},
// every answer carries X-RateLimit-Limit/Remaining/Reset, and a rate-limited
// request gets 429 with X-Retry-After as a unix time (or, with
// Options.RetryAfterSeconds, Retry-After in seconds). A bad or expired bearer
// token gets 401. Every request is recorded ([Server.Requests]).
//
// Push times (tag_last_pushed and last_updated) are when the replica first
// saw the tag on its digest, unless a test sets them ([Server.SetPushed]).
package hubtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// Scope is a Docker Hub access token scope (createAccessTokenRequest:
// "repo:admin", "repo:write", "repo:read", "repo:public_read").
type Scope string

// Scopes. Docker Hub's token page calls them "Read-only", "Read & Write" and
// "Read, Write, Delete".
const (
	ScopeRead   Scope = "repo:read"
	ScopeWrite  Scope = "repo:write"
	ScopeDelete Scope = "repo:admin"
)

// User is an account that can log in: a Docker ID (or an organization, for
// an organization access token) and its secret.
type User struct {
	Name, Secret string
	// Scope is what the secret allows; deleting a tag needs ScopeDelete.
	Scope Scope
	// Namespaces the user may delete in; empty means its own name.
	Namespaces []string
}

// Options configure a Server.
type Options struct {
	// Users who can log in.
	Users []User
	// LegacyLogin serves the older login alone: POST /v2/users/login
	// ({"username","password"} -> {"token"}; Docker Hub API reference,
	// "Create an authentication token", deprecated) and 404 for
	// /v2/auth/token, as a mirror of the API before the access-token route.
	LegacyLogin bool
	// RateLimit is the number of requests per Window before 429s; 0 means
	// 600 (the pace hexpm/bob measured as safe).
	RateLimit int
	// Window is the rate-limit window; 0 means a minute (the docs: "per minute").
	Window time.Duration
	// DeniedStatus is the answer to a tag delete without delete scope: 403
	// (the default, the docs' "permission denied") or 401 (what clients
	// have reported from the live Hub for a token without delete).
	DeniedStatus int
	// RetryAfterSeconds sends a 429's wait as the standard Retry-After in
	// seconds, as the current reference says, instead of X-Retry-After as a
	// unix time, as the earlier one (and the live API) did.
	RetryAfterSeconds bool
	// EchoAuth refuses every request that carries an Authorization header
	// with 400 and a message repeating the request, bearer token included
	// (testregistry.Echo), as a careless gateway would: for tests that
	// prove the token is never printed. Logins still work.
	EchoAuth bool
	// PullLimit is the number of manifest GETs each caller may send to the
	// registry API per PullWindow (pulls.md: 100 for anonymous callers, 200
	// for a Personal account); past it they answer 429 TOOMANYREQUESTS. 0
	// means unlimited (a paid plan), without rate-limit headers.
	PullLimit int
	// PullWindow is the pull limit's window; 0 means DefaultPullWindow.
	PullWindow time.Duration
	// XRateLimitHeaders spells the pull-limit headers x-ratelimit-*, as
	// live answers were reported in 2026, instead of the docs' ratelimit-*.
	XRateLimitHeaders bool
	// LegacyDeletes makes the registry API refuse every DELETE with 405
	// UNSUPPORTED, as Docker Hub did before 2025-05-28.
	LegacyDeletes bool
	// DeleteDelay makes the registry API answer a DELETE of an
	// unreferenced digest 500 and carry it out DeleteDelay later ("you may
	// encounter a 500 Internal Server Error during deletion. The system
	// automatically retries the deletion in the background", docs PR
	// #24078); a DELETE of a digest already queued answers 500 too. 0
	// deletes at once (202).
	DeleteDelay time.Duration
	// OmitLayers leaves images[].layers out of the tag listing, as the
	// live API's list answers were reported to (the reference's image
	// schema has them).
	OmitLayers bool
}

// Request is one request the replica received (Path as sent, escaped,
// e.g. /v2/namespaces/acme/repositories; Body the login request's JSON).
type Request = testregistry.Request

// Server is the replica. It is safe for concurrent use.
type Server struct {
	reg  testregistry.Server
	opts Options
	side *testregistry.SideChannel // the replica's own DELETEs
	log  testregistry.RequestLog
	srv  *http.Server
	ln   net.Listener
	done chan struct{}

	mu           sync.Mutex
	tokens       map[string]string // access token -> user name
	issued       []string
	tokenSeq     int
	seen         map[string]seenTag // "ns/repo:tag" -> first seen on its digest
	pinned       map[string]time.Time
	omitted      map[string]bool
	ids          map[string]int
	images       map[string]imageInfo // manifest digest -> what Hub lists for it
	deletes      []string             // "ns/repo:tag" removed through the Hub API
	refused      []string             // registry API DELETEs answered 405
	hook         testregistry.Hook
	immutable    map[string]immutableSettings // "ns/repo" -> its settings
	indexes      map[string][]string          // "ns/repo@digest" -> children, for the registry's 403
	notIndexes   map[string]struct{}
	pulls        map[string]int // caller -> manifest GETs counted
	refusedPulls map[string]int
	accounts     map[string]*pullAccount
	regDeletes   []string
	queued       map[string]bool // "ns/repo@digest" whose deletion is queued
	windowAt     time.Time
	used         int
	forced       int
	forcedFor    time.Duration
}

type seenTag struct {
	digest string
	at     time.Time
}

// SecretHeader carries the replica's secret on its own registry DELETEs
// (its testregistry.SideChannel).
const SecretHeader = "X-Hubtest-Secret"

// New starts a replica in front of reg (a registry that can delete single
// tags: testregistry.New with DeleteEnabled). Close stops it.
func New(reg testregistry.Server, o Options) (*Server, error) {
	if o.RateLimit <= 0 {
		o.RateLimit = 600
	}
	if o.Window <= 0 {
		o.Window = time.Minute
	}
	if o.DeniedStatus == 0 {
		o.DeniedStatus = http.StatusForbidden
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{
		reg: reg, opts: o, side: testregistry.NewSideChannel(reg.Addr(), SecretHeader), ln: ln, done: make(chan struct{}),
		tokens: map[string]string{}, seen: map[string]seenTag{}, pinned: map[string]time.Time{},
		omitted: map[string]bool{}, ids: map[string]int{}, images: map[string]imageInfo{}, windowAt: time.Now(),
		immutable: map[string]immutableSettings{}, indexes: map[string][]string{}, notIndexes: map[string]struct{}{},
		pulls: map[string]int{}, refusedPulls: map[string]int{}, accounts: map[string]*pullAccount{}, queued: map[string]bool{},
	}
	// Docker Hub's registry API (registry.go): pull accounting, deletes
	// by digest of unreferenced manifests only.
	reg.SetHook(func(w http.ResponseWriter, req *http.Request) bool {
		if s.registryHook(w, req) {
			return true
		}
		s.mu.Lock()
		h := s.hook
		s.mu.Unlock()
		return h != nil && h(w, req)
	})
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: time.Minute, ErrorLog: log.New(io.Discard, "", 0)}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// URL is the API base, e.g. http://127.0.0.1:PORT.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops the replica and removes its registry hook.
func (s *Server) Close() error {
	s.reg.SetHook(nil)
	err := s.srv.Close()
	<-s.done
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// SetRegistryHook installs a hook on the registry behind the replica's own
// (Docker Hub's registry API, registry.go). nil removes it.
func (s *Server) SetRegistryHook(h testregistry.Hook) {
	s.mu.Lock()
	s.hook = h
	s.mu.Unlock()
}

// Requests returns the requests received, oldest first.
func (s *Server) Requests() []Request { return s.log.Requests() }

// ResetRequests forgets the requests received.
func (s *Server) ResetRequests() { s.log.Reset() }

// Deletes returns the Hub API's DELETE requests received, as "DELETE
// path" (escaped), oldest first.
func (s *Server) Deletes() []string { return s.log.Deletes() }

// TagDeletes returns the tags removed through the Hub API ("ns/repo:tag"),
// in order.
func (s *Server) TagDeletes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.deletes)
}

// RegistryDeleteRequests returns the registry-API DELETEs the registry
// received ("DELETE /v2/<repo>/manifests/<ref>"), accepted or not.
func (s *Server) RegistryDeleteRequests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.refused)
}

// SetPushed sets tag_last_pushed and last_updated of repo:tag ("ns/name").
func (s *Server) SetPushed(repo, tag string, t time.Time) {
	s.mu.Lock()
	s.pinned[repo+":"+tag] = t.UTC()
	s.mu.Unlock()
}

// OmitPushed makes tag_last_pushed of repo:tag null (old tags on Docker Hub
// have none); last_updated stays.
func (s *Server) OmitPushed(repo, tag string) {
	s.mu.Lock()
	s.omitted[repo+":"+tag] = true
	s.mu.Unlock()
}

// Tokens returns every access token issued so far, valid or expired.
func (s *Server) Tokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.issued...)
}

// ExpireTokens makes every access token issued so far invalid (Docker Hub's
// expire after 10 minutes): the next request with one gets 401.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	s.tokens = map[string]string{}
	s.mu.Unlock()
}

// RateLimitNext answers the next n requests with 429 and an X-Retry-After
// of now+after (a unix time, rounded up to the second).
func (s *Server) RateLimitNext(n int, after time.Duration) {
	s.mu.Lock()
	s.forced, s.forcedFor = n, after
	s.mu.Unlock()
}

// --- HTTP ---

// ServeHTTP answers one Hub API request.
func (s *Server) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	s.log.Record(w, req, s.serve)
}

func (s *Server) serve(rec http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if s.rateLimited(rec) {
		return
	}
	if s.opts.EchoAuth && req.Header.Get("Authorization") != "" {
		writeError(rec, http.StatusBadRequest, "bad request: "+testregistry.Echo(req))
		return
	}
	seg := strings.Split(strings.TrimPrefix(req.URL.Path, "/"), "/")
	switch {
	case req.Method == http.MethodPost && req.URL.Path == "/v2/auth/token" && !s.opts.LegacyLogin:
		s.login(rec, body, "identifier", "secret", "access_token")
	case req.Method == http.MethodPost && req.URL.Path == "/v2/users/login" && s.opts.LegacyLogin:
		s.login(rec, body, "username", "password", "token")
	case req.Method == http.MethodGet && len(seg) == 4 && seg[0] == "v2" && seg[1] == "namespaces" && seg[3] == "repositories":
		if _, ok := s.caller(rec, req); ok {
			s.listRepositories(rec, req, seg[2])
		}
	case req.Method == http.MethodGet && len(seg) == 5 && seg[0] == "v2" && seg[1] == "namespaces" && seg[3] == "repositories":
		if _, ok := s.caller(rec, req); ok {
			s.getRepository(rec, req, seg[2], seg[4])
		}
	case req.Method == http.MethodGet && len(seg) == 6 && seg[0] == "v2" && seg[1] == "namespaces" && seg[3] == "repositories" && seg[5] == "tags":
		if _, ok := s.caller(rec, req); ok {
			s.listTags(rec, req, seg[2]+"/"+seg[4])
		}
	case req.Method == http.MethodGet && len(seg) == 7 && seg[0] == "v2" && seg[1] == "namespaces" && seg[3] == "repositories" && seg[5] == "tags":
		if _, ok := s.caller(rec, req); ok {
			s.getTag(rec, req, seg[2]+"/"+seg[4], seg[6])
		}
	case req.Method == http.MethodDelete && len(seg) == 7 && seg[0] == "v2" && seg[1] == "repositories" && seg[4] == "tags" && seg[6] == "":
		// hub-tool: DeleteTagURL = "/v2/repositories/%s/tags/%s/"
		s.deleteTag(rec, req, seg[2], seg[3], seg[5])
	default:
		writeError(rec, http.StatusNotFound, "not found")
	}
}

// rateLimited sets the X-RateLimit-* headers and answers 429 when the
// window's budget is spent or a test forced it.
func (s *Server) rateLimited(w http.ResponseWriter) bool {
	s.mu.Lock()
	now := time.Now()
	if now.Sub(s.windowAt) >= s.opts.Window {
		s.windowAt, s.used = now, 0
	}
	s.used++
	reset := s.windowAt.Add(s.opts.Window)
	remaining := max(s.opts.RateLimit-s.used, 0)
	limited := s.used > s.opts.RateLimit
	var retry time.Time
	switch {
	case s.forced > 0:
		s.forced--
		limited, remaining, retry = true, 0, now.Add(s.forcedFor)
	case limited:
		retry = reset
	}
	s.mu.Unlock()
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(s.opts.RateLimit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(unixCeil(reset), 10))
	if !limited {
		return false
	}
	if s.opts.RetryAfterSeconds {
		h.Set("Retry-After", strconv.FormatInt(int64(math.Ceil(time.Until(retry).Seconds())), 10))
	} else {
		h.Set("X-Retry-After", strconv.FormatInt(unixCeil(retry), 10))
	}
	writeJSON(w, http.StatusTooManyRequests, map[string]any{"detail": "Rate limit exceeded", "error": false})
	return true
}

// unixCeil is t as a unix time, rounded up: a client waiting until then
// never comes back early.
func unixCeil(t time.Time) int64 { return int64(math.Ceil(float64(t.UnixNano()) / 1e9)) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError writes the docs' error schema: {"errinfo": null, "message": ...}.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"errinfo": nil, "message": msg})
}

func (s *Server) login(w http.ResponseWriter, body []byte, userKey, secretKey, tokenKey string) {
	var in map[string]string
	_ = json.Unmarshal(body, &in)
	if in[userKey] == "" || in[secretKey] == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errinfo": nil, "message": "bad request", "detail": userKey + " and " + secretKey + " are required"})
		return
	}
	for _, u := range s.opts.Users {
		if u.Name == in[userKey] && u.Secret == in[secretKey] {
			var rnd [12]byte
			_, _ = rand.Read(rnd[:])
			s.mu.Lock()
			s.tokenSeq++
			tok := fmt.Sprintf("hubtest.%d.%s", s.tokenSeq, hex.EncodeToString(rnd[:]))
			s.tokens[tok] = u.Name
			s.issued = append(s.issued, tok)
			s.mu.Unlock()
			writeJSON(w, http.StatusOK, map[string]any{tokenKey: tok})
			return
		}
	}
	writeError(w, http.StatusUnauthorized, "unauthorized")
}

// caller returns the authenticated user ("" for anonymous, which may read
// public repositories); a token that is not (or no longer) valid is a 401.
func (s *Server) caller(w http.ResponseWriter, req *http.Request) (*User, bool) {
	h := req.Header.Get("Authorization")
	if h == "" {
		return nil, true
	}
	scheme, tok, _ := strings.Cut(h, " ")
	if scheme != "Bearer" && scheme != "JWT" {
		writeError(w, http.StatusUnauthorized, "unauthorized")
		return nil, false
	}
	s.mu.Lock()
	name, ok := s.tokens[tok]
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusUnauthorized, "unauthorized")
		return nil, false
	}
	for i := range s.opts.Users {
		if s.opts.Users[i].Name == name {
			return &s.opts.Users[i], true
		}
	}
	writeError(w, http.StatusUnauthorized, "unauthorized")
	return nil, false
}

// page reads page and page_size (page_size defaults to 10, at most 100).
func page(req *http.Request) (int, int, bool) {
	q := req.URL.Query()
	p, size := 1, 10
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, 0, false
		}
		p = n
	}
	if v := q.Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, 0, false
		}
		size = min(n, 100)
	}
	return p, size, true
}

// pageLink is the absolute link to page p of the same query, or nil.
func pageLink(req *http.Request, p int) any {
	q := req.URL.Query()
	q.Set("page", strconv.Itoa(p))
	u := url.URL{Scheme: "http", Host: req.Host, Path: req.URL.Path, RawQuery: q.Encode()}
	return u.String()
}

// paginate answers one page of items ({count,next,previous,results}).
func paginate[T any](w http.ResponseWriter, req *http.Request, items []T, render func([]T) ([]any, error)) {
	p, size, ok := page(req)
	if !ok {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errinfo": nil, "message": "bad request", "detail": "page and page_size must be positive integers"})
		return
	}
	start := (p - 1) * size
	if start >= len(items) && p > 1 {
		writeError(w, http.StatusNotFound, "not found")
		return
	}
	end := min(start+size, len(items))
	results, err := render(items[min(start, end):end])
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	var next, prev any
	if end < len(items) {
		next = pageLink(req, p+1)
	}
	if p > 1 {
		prev = pageLink(req, p-1)
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": len(items), "next": next, "previous": prev, "results": results})
}

// --- registry reads ---

func (s *Server) registryName() (name.Registry, error) {
	return name.NewRegistry(s.reg.Addr(), name.Insecure)
}

// repositories lists the registry's repositories in namespace ns.
func (s *Server) repositories(ctx context.Context, ns string) ([]string, error) {
	r, err := s.registryName()
	if err != nil {
		return nil, err
	}
	all, err := remote.Catalog(ctx, r, remote.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, repo := range all {
		if n, rest, ok := strings.Cut(repo, "/"); ok && n == ns && !strings.Contains(rest, "/") {
			out = append(out, rest)
		}
	}
	sort.Strings(out)
	return out, nil
}

func (s *Server) exists(ctx context.Context, repo string) (bool, error) {
	ns, n, _ := strings.Cut(repo, "/")
	names, err := s.repositories(ctx, ns)
	return slices.Contains(names, n), err
}

func (s *Server) listRepositories(w http.ResponseWriter, req *http.Request, ns string) {
	names, err := s.repositories(req.Context(), ns)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	paginate(w, req, names, func(page []string) ([]any, error) {
		out := make([]any, len(page))
		for i, n := range page {
			out[i] = map[string]any{
				"name": n, "namespace": ns, "repository_type": "image", "status": 1, "status_description": "active",
				"description": "", "is_private": false, "star_count": 0, "pull_count": 0,
				"last_updated": time.Now().UTC().Format(time.RFC3339Nano), "last_modified": time.Now().UTC().Format(time.RFC3339Nano),
				"date_registered": time.Now().UTC().Format(time.RFC3339Nano), "affiliation": "",
				"media_types": []string{}, "content_types": []string{"image"}, "categories": []any{}, "storage_size": 0,
			}
		}
		return out, nil
	})
}

// tagRow is one tag as the replica lists it.
type tagRow struct {
	name   string
	pushed time.Time
}

// tagRows lists repo's tags, newest push first (Docker Hub's default
// ordering is -last_updated), ties by name. It sends only the tag list to
// the registry: a tag's digest is read (and a move noticed) when it is
// rendered.
func (s *Server) tagRows(ctx context.Context, repo string) ([]tagRow, error) {
	names, err := testregistry.ListTags(ctx, s.reg.Addr()+"/"+repo)
	if err != nil {
		return nil, err
	}
	rows := make([]tagRow, 0, len(names))
	now := time.Now().UTC()
	s.mu.Lock()
	for _, n := range names {
		key := repo + ":" + n
		at, pinned := s.pinned[key]
		if !pinned {
			st, ok := s.seen[key]
			if !ok {
				st = seenTag{at: now} // digest learnt when rendered
				s.seen[key] = st
			}
			at = st.at
		}
		rows = append(rows, tagRow{name: n, pushed: at})
	}
	s.mu.Unlock()
	sort.SliceStable(rows, func(i, j int) bool {
		if !rows[i].pushed.Equal(rows[j].pushed) {
			return rows[i].pushed.After(rows[j].pushed)
		}
		return rows[i].name < rows[j].name
	})
	return rows, nil
}

// observe records that repo:tag points at digest and returns its push
// time: set by the test, else when the replica first saw the tag on this
// digest.
func (s *Server) observe(repo, tag, digest string) time.Time {
	key := repo + ":" + tag
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.pinned[key]; ok {
		return t
	}
	st, ok := s.seen[key]
	switch {
	case !ok, st.digest != "" && st.digest != digest:
		st = seenTag{digest: digest, at: time.Now().UTC()} // new, or pushed again
	case st.digest == "":
		st.digest = digest
	}
	s.seen[key] = st
	return st.at
}

func (s *Server) descriptor(ctx context.Context, repo, ref string) (v1.Descriptor, error) {
	sep := ":"
	if strings.HasPrefix(ref, "sha256:") {
		sep = "@"
	}
	d, err := testregistry.Descriptor(ctx, s.reg.Addr()+"/"+repo+sep+ref)
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
		return d, &testregistry.StatusError{StatusCode: http.StatusNotFound, Code: "MANIFEST_UNKNOWN"}
	}
	return d, err
}

// imageInfo is what Docker Hub lists for a manifest: its platform images.
type imageInfo struct {
	images []map[string]any
	size   int64
}

// describe returns the images[] entries and full_size for a manifest
// (cached: manifests are content-addressed).
func (s *Server) describe(ctx context.Context, repo string, d v1.Descriptor, pushed string) (imageInfo, error) {
	s.mu.Lock()
	info, ok := s.images[d.Digest.String()]
	s.mu.Unlock()
	if ok {
		return info, nil
	}
	r, err := name.NewRepository(s.reg.Addr()+"/"+repo, name.Insecure)
	if err != nil {
		return info, err
	}
	// The replica's own reads go through the side channel: they are no
	// caller's pulls.
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithTransport(s.side.Transport())}
	image := func(dg v1.Hash, p *v1.Platform) (map[string]any, int64, error) {
		img, err := remote.Image(r.Digest(dg.String()), ropts...)
		if err != nil {
			return nil, 0, err
		}
		m, err := img.Manifest()
		if err != nil {
			return nil, 0, err
		}
		var size int64
		layers := []map[string]any{}
		for _, l := range m.Layers {
			size += l.Size
			layers = append(layers, map[string]any{"digest": l.Digest.String(), "size": l.Size, "instruction": ""})
		}
		if p == nil {
			if cf, err := img.ConfigFile(); err == nil {
				p = &v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant, OSVersion: cf.OSVersion}
			} else {
				p = &v1.Platform{}
			}
		}
		var variant, osVersion any
		if p.Variant != "" {
			variant = p.Variant
		}
		if p.OSVersion != "" {
			osVersion = p.OSVersion
		}
		e := map[string]any{
			"architecture": p.Architecture, "features": "", "variant": variant, "digest": dg.String(), "layers": layers, "os": p.OS,
			"os_features": "", "os_version": osVersion, "size": size, "status": "active", "last_pulled": nil, "last_pushed": pushed,
		}
		if s.opts.OmitLayers {
			delete(e, "layers")
		}
		return e, size, nil
	}
	switch {
	case d.MediaType.IsIndex():
		idx, err := remote.Index(r.Digest(d.Digest.String()), ropts...)
		if err != nil {
			return info, err
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return info, err
		}
		children := []string{}
		for _, c := range im.Manifests {
			children = append(children, c.Digest.String())
		}
		s.mu.Lock()
		s.indexes[repo+"@"+d.Digest.String()] = children
		s.mu.Unlock()
		for _, c := range im.Manifests {
			if !c.MediaType.IsImage() || c.Platform == nil || c.Platform.OS == "unknown" {
				continue // nested indexes, attestations: Hub lists platform images only
			}
			e, size, err := image(c.Digest, c.Platform)
			if err != nil {
				return info, err
			}
			info.images = append(info.images, e)
			info.size = max(info.size, size)
		}
	case d.MediaType.IsImage():
		e, size, err := image(d.Digest, nil)
		if err != nil {
			return info, err
		}
		info.images, info.size = []map[string]any{e}, size
	}
	s.mu.Lock()
	s.images[d.Digest.String()] = info
	s.mu.Unlock()
	return info, nil
}

func (s *Server) id(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.ids[key]; ok {
		return id
	}
	h := fnv.New32a()
	h.Write([]byte(key))
	id := int(h.Sum32()&0x3fffffff) + len(s.ids)
	s.ids[key] = id
	return id
}

// tagJSON renders one tag the way the Hub API lists it: the documented
// tag schema plus the fields the live API also returns (digest,
// media_type, content_type, tag_status).
func (s *Server) tagJSON(ctx context.Context, repo, tag string) (map[string]any, error) {
	d, err := s.descriptor(ctx, repo, tag)
	if err != nil {
		return nil, err
	}
	ts := s.observe(repo, tag, d.Digest.String()).UTC().Format(time.RFC3339Nano)
	info, err := s.describe(ctx, repo, d, ts)
	if err != nil {
		return nil, err
	}
	ns, _, _ := strings.Cut(repo, "/")
	var pushed any = ts
	s.mu.Lock()
	if s.omitted[repo+":"+tag] {
		pushed = nil
	}
	s.mu.Unlock()
	images := info.images
	if images == nil {
		images = []map[string]any{}
	}
	return map[string]any{
		"creator": 1, "id": s.id(repo + ":" + tag), "images": images, "last_updated": ts, "last_updater": 1,
		"last_updater_username": ns, "name": tag, "repository": s.id(repo), "full_size": info.size, "v2": true,
		"status": "active", "tag_status": "active", "tag_last_pulled": nil, "tag_last_pushed": pushed,
		"media_type": string(d.MediaType), "content_type": "image", "digest": d.Digest.String(),
	}, nil
}

// found reports whether repo exists, else answers 404 (or 500).
func (s *Server) found(w http.ResponseWriter, req *http.Request, repo string) bool {
	ok, err := s.exists(req.Context(), repo)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return false
	}
	if !ok {
		writeError(w, http.StatusNotFound, "not found")
	}
	return ok
}

func (s *Server) listTags(w http.ResponseWriter, req *http.Request, repo string) {
	ctx := req.Context()
	if !s.found(w, req, repo) {
		return
	}
	rows, err := s.tagRows(ctx, repo)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	paginate(w, req, rows, func(page []tagRow) ([]any, error) {
		out := make([]any, 0, len(page))
		for _, r := range page {
			t, err := s.tagJSON(ctx, repo, r.name)
			if testregistry.IsNotFound(err) {
				continue
			}
			if err != nil {
				return nil, err
			}
			out = append(out, t)
		}
		return out, nil
	})
}

func (s *Server) getTag(w http.ResponseWriter, req *http.Request, repo, tag string) {
	t, err := s.tagJSON(req.Context(), repo, tag)
	if testregistry.IsNotFound(err) {
		writeError(w, http.StatusNotFound, "not found")
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (s *Server) deleteTag(w http.ResponseWriter, req *http.Request, ns, repoName, tag string) {
	u, ok := s.caller(w, req)
	if !ok {
		return
	}
	if u == nil {
		writeError(w, http.StatusUnauthorized, "unauthorized")
		return
	}
	nss := u.Namespaces
	if len(nss) == 0 {
		nss = []string{u.Name}
	}
	if u.Scope != ScopeDelete || !slices.Contains(nss, ns) {
		msg := "permission denied"
		if s.opts.DeniedStatus == http.StatusUnauthorized {
			msg = "unauthorized"
		}
		writeError(w, s.opts.DeniedStatus, msg)
		return
	}
	repo := ns + "/" + repoName
	ctx := req.Context()
	if _, err := s.descriptor(ctx, repo, tag); err != nil {
		if testregistry.IsNotFound(err) {
			writeError(w, http.StatusNotFound, "not found")
			return
		}
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if rule := s.immutableRule(repo, tag); rule != "" {
		// "Immutable tags can't be deleted" (tags.md); status and body
		// are undocumented: 403 in the Hub API's error envelope.
		writeJSON(w, http.StatusForbidden, map[string]any{"message": fmt.Sprintf("tag '%s' is immutable (rule %s) and cannot be deleted", tag, rule),
			"errinfo": map[string]string{"namespace": ns, "repository": repoName, "tag": tag}})
		return
	}
	// The side channel: distribution v3's OCI DELETE by tag removes only the tag.
	switch found, err := s.side.Delete(ctx, repo, tag); {
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	case !found:
		writeError(w, http.StatusNotFound, "not found")
		return
	}
	s.mu.Lock()
	key := repo + ":" + tag
	s.deletes = append(s.deletes, key)
	delete(s.seen, key)
	delete(s.pinned, key)
	delete(s.omitted, key)
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}
