// Package ghcrtest replicates, on 127.0.0.1, the part of the GitHub REST API
// that tagsweep's GHCR backend uses, on top of a real in-process registry
// (testregistry, CNCF distribution v3) that plays the registry API of ghcr.io:
//
//	GET    /users/{owner}                                             (type User | Organization)
//	GET    /user                                                      (the token's own user)
//	GET    /{orgs/{org}|users/{user}|user}/packages?package_type=container      (Link pagination)
//	GET    /{orgs/{org}|users/{user}|user}/packages/container/{package}
//	GET    /{orgs/{org}|users/{user}|user}/packages/container/{package}/versions (Link pagination, state=active|deleted)
//	GET    /{orgs/{org}|users/{user}|user}/packages/container/{package}/versions/{id}
//	DELETE /{orgs/{org}|users/{user}|user}/packages/container/{package}/versions/{id}  204
//	POST   /{orgs/{org}|users/{user}|user}/packages/container/{package}/versions/{id}/restore  204 (restore.go)
//
// Package versions are derived from what the registry holds: every tagged
// manifest (tags/list, then HEAD with the full Accept set), every manifest
// an index among them lists (platform images, buildx attestations, any
// depth), every manifest pushed to the registry (a hook on it sees each
// manifest PUT: on ghcr.io every pushed manifest is a version), and every
// manifest the replica listed before that still exists (GHCR keeps a
// version when its last tag moves away). Each digest keeps one id;
// created_at and updated_at are when it was pushed (or the replica first
// saw it), unless a test sets them (SetTimes). Deleting a version deletes
// the manifest in the registry through a side channel, which cascades its
// tags.
//
// The token's kind is its prefix, as on GitHub: ghs_ is an installation
// token (the workflow's GITHUB_TOKEN): GET /user refuses it, listing an
// owner's packages answers 400 "Invalid argument.", /user/... act on
// Options.RepositoryOwner, it gets no X-OAuth-Scopes and 1,000 requests an
// hour. github_pat_ is a fine-grained token, which every packages route
// refuses. Any other token is a classic one of the user Options.Login.
// A private package is not served under /users/{user}/... (GitHub
// documents those routes for public packages) unless UsersServesPrivate.
//
// Like ghcr.io, the registry then answers every other DELETE on its own API
// with 405 UNSUPPORTED (Start installs a testregistry Hook; do not replace it).
//
// Every request is recorded (method, path as sent, query, Authorization
// scheme, status), every answer carries the x-ratelimit-* headers and, as
// for a classic personal access token, X-OAuth-Scopes. Faults can be
// injected: secondary rate limits, primary exhaustion, 429, a token without
// delete permission (404 on DELETE), public versions with too many downloads.
// A test hook (SetHook) sees each API request first and may answer it
// instead, or hold it (to kill the client between two of its requests).
// testdata/README.md names the documentation pages the shapes come from.
package ghcrtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// DefaultScopes is the X-OAuth-Scopes of the replica's token: a classic
// personal access token that may read, write and delete packages.
const DefaultScopes = "delete:packages, read:packages, write:packages"

// Documentation URLs the error bodies point at, as GitHub's do.
const (
	docPackages   = "https://docs.github.com/rest/packages/packages"
	docRateLimits = "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"
	docSecondary  = docRateLimits + "#about-secondary-rate-limits"
	docRest       = "https://docs.github.com/rest"
	msgSecondary  = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
	// The sources of each are in testdata/README.md.
	msgLastTagged       = "You cannot delete the last tagged version of a package. You must delete the package instead."
	msgDownloads        = "Publicly visible package versions with more than 5000 downloads cannot be deleted. Contact GitHub support for further assistance."
	msgPackageNotFound  = "Package not found."
	msgVersionNotFound  = "Package version not found."
	msgInvalidArgument  = "Invalid argument."
	msgFineGrained      = "Resource not accessible by personal access token"
	msgIntegration      = "Resource not accessible by integration"
	msgPageLimit        = "The per_page and page parameters are invalid. The value of per_page multipled by page cannot be greater than 10000."
	msgStateInvalid     = "The state parameter is invalid."
	msgTypeRequired     = "The package_type parameter is required."
	msgTypeInvalid      = "The package_type parameter is invalid."
	msgDeletedForbidden = "You need at least delete:packages and read:packages scopes to get a package's deleted versions."
)

// SecondaryPoints is GitHub's secondary limit per endpoint and minute:
// "No more than 900 points per minute are allowed for REST API
// endpoints", a GET costing 1 point and a DELETE 5. The replica counts
// them per route (the path with the ids and names left out) over the last
// 60 seconds of its clock.
const SecondaryPoints = 900

// tokenKind is a token's kind by its prefix.
type tokenKind int

const (
	classicToken tokenKind = iota
	installationToken
	fineGrainedToken
)

func kindOfToken(tok string) tokenKind {
	switch {
	case strings.HasPrefix(tok, "ghs_"):
		return installationToken
	case strings.HasPrefix(tok, "github_pat_"):
		return fineGrainedToken
	}
	return classicToken
}

// Options configure Start.
type Options struct {
	// Registry is the registry whose content the packages are. Start it
	// with testregistry.Options{DeleteEnabled: true}.
	Registry *testregistry.Registry
	// Token is the only token accepted (Authorization: Bearer or token).
	// Empty: any non-empty token.
	Token string
	// Orgs are the owners that are organizations. Every other owner of a
	// repository in the registry (its first path segment) is a user.
	Orgs []string
	// Users are owners that are users even without repositories.
	Users []string
	// PathPrefix is where the API lives on the server, e.g. "/api/v3" for
	// GitHub Enterprise Server. Empty: the root, as api.github.com.
	PathPrefix string
	// Scopes is the X-OAuth-Scopes header on every answer. Empty: DefaultScopes.
	Scopes string
	// NoScopes leaves X-OAuth-Scopes out, as for a GITHUB_TOKEN, a
	// fine-grained token or an app token.
	NoScopes bool
	// RateLimit is the primary limit per hour (x-ratelimit-limit). 0:
	// 1,000 for an installation token (ghs_), 5,000 for any other.
	RateLimit int
	// Now is the clock (times of new versions, rate-limit resets). Nil: time.Now.
	Now func() time.Time
	// EchoAuth refuses every authorized request with 400 and a message
	// repeating the request, token included (testregistry.Echo), as a
	// careless gateway would: for tests that prove the token is never
	// printed.
	EchoAuth bool
	// RestoreTags makes the restore API put a version's tags back with it.
	// GitHub does not document whether it does (notes: no source), so the
	// default is that it does not, and a client must tag again.
	RestoreTags bool
	// Login is the user a classic token (neither ghs_ nor github_pat_)
	// belongs to: GET /user answers it, and /user/... are its packages.
	// Empty: "octo".
	Login string
	// RepositoryOwner is the owner of the workflow's repository, on whose
	// account /user/... act for an installation token (ghs_). Empty: none
	// (404).
	RepositoryOwner string
	// UsersServesPrivate serves private packages under /users/{user}/...
	// too. What GitHub answers there is not documented (its docs describe
	// those routes for public packages; dataaxiom/ghcr-cleanup-action#28
	// saw 403 "Resource not accessible by integration" with GITHUB_TOKEN):
	// by default the replica is strict.
	UsersServesPrivate bool
	// NoRateLimits leaves every x-ratelimit-* header and the secondary
	// limit out, as GitHub Enterprise Server by default ("Rate limits are
	// disabled by default for GitHub Enterprise Server").
	NoRateLimits bool
	// NoUsersEndpoint answers GET /users/{owner} 404, as a replica of the
	// packages API alone would (the Users API is another part of GitHub's
	// REST docs): a client must still find the owner's packages.
	NoUsersEndpoint bool
}

// Request is one request the replica received (Path as sent, escaped: a
// '/' in a package name is %2F, with the PathPrefix).
type Request = testregistry.Request

// FaultKind is a kind of injected answer.
type FaultKind int

// Fault kinds.
const (
	// SecondaryRateLimit answers 403 with retry-after (unless RetryAfter
	// is negative) and the secondary rate limit message.
	SecondaryRateLimit FaultKind = iota + 1
	// PrimaryRateLimit answers 403 with x-ratelimit-remaining: 0 and
	// x-ratelimit-reset RetryAfter from now.
	PrimaryRateLimit
	// TooManyRequests answers 429 with retry-after.
	TooManyRequests
	// LastRequest answers normally, but says x-ratelimit-remaining: 0 and
	// x-ratelimit-reset RetryAfter from now (the last request of the hour).
	LastRequest
)

// Fault is an injected answer for the next matching requests.
type Fault struct {
	Kind FaultKind
	// Method and PathContains select the requests ("" matches all).
	// PathContains is matched against the escaped path.
	Method, PathContains string
	// Times is how many requests get the fault; 0 means 1.
	Times int
	// RetryAfter is the wait the answer asks for; 0 means 1s.
	RetryAfter time.Duration
}

// Version is a package version as the replica lists it.
type Version struct {
	ID               int64
	Digest           string
	Tags             []string
	Created, Updated time.Time
}

// Server is the replica.
type Server struct {
	o        Options
	prefix   string
	registry *testregistry.Registry
	reg      *testregistry.SideChannel
	srv      *httptest.Server
	hook     atomic.Pointer[testregistry.Hook]

	log testregistry.RequestLog

	mu          sync.Mutex
	faults      []*Fault
	scopes      string
	denyDeletes bool
	used        int
	window      time.Time
	owners      map[string]*owner
	repos       map[string]*repoState
	nextID      int64
	deleted     []string
	lag         int             // version listings left that leave out new versions
	hidden      map[string]bool // "repo@digest" of versions seen while lagging
	points      map[string][]spent

	// pushes are the manifests pushed to the registry, by repository: the
	// registry hook writes them under pushMu (never s.mu: the replica's own
	// requests through the side channel pass the hook while it holds s.mu).
	pushMu sync.Mutex
	pushes map[string]map[string]time.Time
}

// spent is one request's cost against the secondary limit.
type spent struct {
	at     time.Time
	points int
}

type owner struct {
	login string
	id    int64
	org   bool
}

type repoState struct {
	name    string // the package name (repository without the owner)
	id      int64
	created time.Time
	public  bool
	recs    map[string]*rec // digest -> its version (active or deleted)
	byID    map[int64]*rec
	preset  map[string][2]time.Time // times set before the digest was seen
	dls     map[string]int          // downloads by digest
}

type rec struct {
	id               int64
	digest           string
	tags             []string
	created, updated time.Time
	deleted          time.Time // zero while active
	// gone is the manifest and tags of a deleted version, which the
	// restore API puts back (restore.go).
	gone *goneManifest
}

// Start starts the replica and installs the GHCR-like DELETE hook on the registry.
func Start(o Options) (*Server, error) {
	if o.Registry == nil {
		return nil, errors.New("ghcrtest: no registry")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{
		o: o, prefix: strings.TrimSuffix(o.PathPrefix, "/"), registry: o.Registry, reg: testregistry.NewSideChannel(o.Registry.Addr(), secretHeader),
		scopes: o.Scopes, owners: map[string]*owner{}, repos: map[string]*repoState{}, nextID: 1000,
		points: map[string][]spent{}, pushes: map[string]map[string]time.Time{},
	}
	if s.o.Login == "" {
		s.o.Login = "octo"
	}
	if s.scopes == "" {
		s.scopes = DefaultScopes
	}
	if s.prefix != "" && !strings.HasPrefix(s.prefix, "/") {
		s.prefix = "/" + s.prefix
	}
	for _, l := range o.Orgs {
		s.addOwner(l, true)
	}
	for _, l := range o.Users {
		s.addOwner(l, false)
	}
	s.window = s.o.Now()
	record := testregistry.Hook(s.recordPush)
	o.Registry.SetHook(s.reg.RefuseDeletes(nil, func() testregistry.Hook { return record })) // as ghcr.io does, skopeo#1880
	s.srv = httptest.NewServer(s)                                                            // on 127.0.0.1
	return s, nil
}

// URL is the API base, e.g. "http://127.0.0.1:PORT" or ".../api/v3": what
// GITHUB_API_URL is set to.
func (s *Server) URL() string { return s.srv.URL + s.prefix }

// APIURL is URL parsed.
func (s *Server) APIURL() *url.URL {
	u, _ := url.Parse(s.URL())
	return u
}

// Close stops the replica and removes the registry hook.
func (s *Server) Close() {
	s.srv.Close()
	s.registry.SetHook(nil)
}

// Requests returns the requests received, oldest first.
func (s *Server) Requests() []Request { return s.log.Requests() }

// ResetRequests forgets the requests received.
func (s *Server) ResetRequests() { s.log.Reset() }

// Deletes returns the API's DELETE requests received, as "DELETE path"
// (escaped), oldest first.
func (s *Server) Deletes() []string { return s.log.Deletes() }

// Deleted returns the versions deleted through the API, as "repo@digest", in order.
func (s *Server) Deleted() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.deleted...)
}

// Inject queues a fault.
func (s *Server) Inject(f Fault) {
	if f.Times <= 0 {
		f.Times = 1
	}
	if f.RetryAfter == 0 {
		f.RetryAfter = time.Second
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// DenyDeletes makes the token one without delete permission: every DELETE
// answers 404 "Package not found." (as GitHub does, vlaurin/action-ghcr-prune#4),
// and X-OAuth-Scopes says scopes from now on (unless NoScopes). Scopes that
// include delete:packages stand for a token without admin access to the package.
func (s *Server) DenyDeletes(scopes string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denyDeletes, s.scopes = true, scopes
}

// DelayNewVersions makes the next n version listings leave out the versions
// that appear from now on, as a listing that lags behind a push.
func (s *Server) DelayNewVersions(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lag = n
	s.hidden = map[string]bool{}
}

// SetTimes sets created_at and updated_at of the version of digest in repo
// ("owner/package"), now or when the replica first sees it.
func (s *Server) SetTimes(repo, digest string, created, updated time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.repo(strings.ToLower(repo))
	st.preset[digest] = [2]time.Time{created.UTC().Truncate(time.Second), updated.UTC().Truncate(time.Second)}
	if r := st.recs[digest]; r != nil && r.deleted.IsZero() {
		r.created, r.updated = st.preset[digest][0], st.preset[digest][1]
	}
}

// SetPublic makes the package of repo public (the download limit applies).
func (s *Server) SetPublic(repo string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repo(strings.ToLower(repo)).public = true
}

// SetDownloads sets the download count of the version of digest.
func (s *Server) SetDownloads(repo, digest string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repo(strings.ToLower(repo)).dls[digest] = n
}

// Versions lists the active versions of repo, newest first, as the API would.
func (s *Server) Versions(repo string) ([]Version, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	recs, err := s.derive(context.Background(), strings.ToLower(repo))
	if err != nil {
		return nil, err
	}
	out := make([]Version, len(recs))
	for i, r := range recs {
		out[i] = Version{ID: r.id, Digest: r.digest, Tags: append([]string{}, r.tags...), Created: r.created, Updated: r.updated}
	}
	return out, nil
}

// manifestPut matches the registry API's manifest PUT: /v2/<name>/manifests/<reference>.
var manifestPut = regexp.MustCompile(`^/v2/(.+)/manifests/([^/]+)$`)

// recordPush notes a manifest pushed to the registry (its digest is the
// sha256 of the body): on ghcr.io every pushed manifest is a package
// version, tagged or not. It lets the request through.
func (s *Server) recordPush(w http.ResponseWriter, req *http.Request) bool {
	m := manifestPut.FindStringSubmatch(req.URL.Path)
	if req.Method != http.MethodPut || m == nil || s.reg.Sent(req) {
		return false
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return false
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	sum := sha256.Sum256(body)
	d := "sha256:" + hex.EncodeToString(sum[:])
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	repo := strings.ToLower(m[1])
	if s.pushes[repo] == nil {
		s.pushes[repo] = map[string]time.Time{}
	}
	s.pushes[repo][d] = s.now() // the last push: a deleted version pushed again is a new one
	return false
}

// pushed returns the manifests pushed to repo and when.
func (s *Server) pushed(repo string) map[string]time.Time {
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	out := map[string]time.Time{}
	for d, t := range s.pushes[repo] {
		out[d] = t
	}
	return out
}

func (s *Server) addOwner(login string, org bool) *owner {
	l := strings.ToLower(login)
	if o := s.owners[l]; o != nil {
		return o
	}
	s.nextID++
	o := &owner{login: l, id: s.nextID, org: org}
	s.owners[l] = o
	return o
}

func (s *Server) repo(name string) *repoState {
	st := s.repos[name]
	if st == nil {
		s.nextID++
		_, pkg, _ := strings.Cut(name, "/")
		st = &repoState{name: pkg, id: s.nextID, created: s.now(), recs: map[string]*rec{}, byID: map[int64]*rec{},
			preset: map[string][2]time.Time{}, dls: map[string]int{}}
		s.repos[name] = st
	}
	return st
}

func (s *Server) now() time.Time { return s.o.Now().UTC().Truncate(time.Second) }

// derive lists the registry content of repo and returns its active
// versions, newest first. It runs with s.mu held.
func (s *Server) derive(ctx context.Context, repo string) ([]*rec, error) {
	st := s.repo(repo)
	tags, err := testregistry.ListTags(ctx, s.registry.Addr()+"/"+repo)
	if err != nil {
		return nil, err
	}
	digestOf := make([]string, len(tags))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, t := range tags {
		g.Go(func() error {
			d, ok, err := s.reg.Head(gctx, repo, t)
			if ok {
				digestOf[i] = d
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	tagsOn := map[string][]string{}
	var queue []string
	for i, d := range digestOf {
		if d != "" {
			tagsOn[d] = append(tagsOn[d], tags[i])
			queue = append(queue, d)
		}
	}
	for d, r := range st.recs {
		if r.deleted.IsZero() {
			queue = append(queue, d)
		}
	}
	pushed := s.pushed(repo)
	var order []string
	for d := range pushed {
		order = append(order, d)
	}
	sort.Strings(order)
	for _, d := range order {
		if r := st.recs[d]; r == nil || r.deleted.Before(pushed[d]) {
			queue = append(queue, d) // never listed, or pushed again since its delete
		}
	}
	present := map[string]bool{}
	visited := map[string]bool{}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		if visited[d] {
			continue
		}
		visited[d] = true
		kids, ok, err := children(ctx, s.reg, repo, d)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		present[d] = true
		queue = append(queue, kids...)
	}
	var out []*rec
	for d := range present {
		r := st.recs[d]
		if r == nil || !r.deleted.IsZero() {
			s.nextID++
			now := s.now()
			if t, ok := pushed[d]; ok && (r == nil || !t.Before(r.deleted)) {
				now = t
			}
			r = &rec{id: s.nextID, digest: d, created: now, updated: now}
			if t, ok := st.preset[d]; ok {
				r.created, r.updated = t[0], t[1]
			}
			st.recs[d] = r
			st.byID[r.id] = r
			if s.lag > 0 {
				s.hidden[repo+"@"+d] = true
			}
		}
		r.tags = append([]string{}, tagsOn[d]...)
		sort.Strings(r.tags)
		out = append(out, r)
	}
	for d, r := range st.recs {
		if r.deleted.IsZero() && !present[d] {
			// Gone from the registry otherwise (garbage collection).
			delete(st.recs, d)
			delete(st.byID, r.id)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].created.Equal(out[j].created) {
			return out[i].created.After(out[j].created)
		}
		return out[i].id > out[j].id
	})
	return out, nil
}

// SetHook installs a hook that sees every API request before the replica
// does; when it returns true it has answered the request, which the
// replica then neither carries out nor records. It runs before the
// replica takes its lock, so it may block (hold a request until the test
// has killed the client) and may call Versions. nil removes it.
func (s *Server) SetHook(h testregistry.Hook) {
	if h == nil {
		s.hook.Store(nil)
		return
	}
	s.hook.Store(&h)
}

// ServeHTTP answers one API request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := s.hook.Load(); h != nil && (*h)(w, r) {
		return
	}
	s.log.Record(w, r, func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.serve(w, r, r.URL.EscapedPath())
	})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, path string) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-GitHub-Media-Type", "github.v3; format=json")
	tok := s.token(r)
	kind := kindOfToken(tok)
	if !s.o.NoScopes && kind == classicToken {
		h.Set("X-OAuth-Scopes", s.scopes)
	}

	// The primary limit: every request counts. "The rate limit for
	// GITHUB_TOKEN is 1,000 requests per hour per repository"; a classic
	// token has 5,000.
	now := s.o.Now()
	limit := s.o.RateLimit
	if limit <= 0 {
		limit = 5000
		if kind == installationToken {
			limit = 1000
		}
	}
	if now.Sub(s.window) >= time.Hour {
		s.window, s.used = now, 0
	}
	s.used++
	remaining, reset := max(limit-s.used, 0), s.window.Add(time.Hour)
	setRate := func(remaining int, reset time.Time) {
		if s.o.NoRateLimits {
			return
		}
		h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
		h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
		h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
		h.Set("X-RateLimit-Used", strconv.Itoa(min(s.used, limit)))
		h.Set("X-RateLimit-Resource", "core")
	}
	setRate(remaining, reset)

	if f := s.fault(r.Method, path); f != nil {
		wait := max(f.RetryAfter, 0)
		secs := strconv.Itoa(int((wait + time.Second - 1) / time.Second))
		switch f.Kind {
		case SecondaryRateLimit:
			if f.RetryAfter > 0 {
				h.Set("Retry-After", secs)
			}
			writeErr(w, http.StatusForbidden, msgSecondary, docSecondary)
			return
		case PrimaryRateLimit:
			setRate(0, now.Add(wait))
			writeErr(w, http.StatusForbidden, "API rate limit exceeded for user ID 1.", docRateLimits)
			return
		case TooManyRequests:
			h.Set("Retry-After", secs)
			writeErr(w, http.StatusTooManyRequests, msgSecondary, docSecondary)
			return
		case LastRequest:
			setRate(0, now.Add(wait))
		}
	}
	if !s.authorized(r) {
		writeErr(w, http.StatusUnauthorized, "Bad credentials", docRest)
		return
	}
	if s.o.EchoAuth {
		writeErr(w, http.StatusBadRequest, "Problems parsing the request: "+testregistry.Echo(r), docRest)
		return
	}
	if !s.o.NoRateLimits && s.used > limit {
		writeErr(w, http.StatusForbidden, "API rate limit exceeded for user ID 1.", docRateLimits)
		return
	}

	rest, ok := strings.CutPrefix(path, s.prefix+"/")
	if !ok {
		writeErr(w, http.StatusNotFound, "Not Found", docRest)
		return
	}
	var seg []string
	for _, e := range strings.Split(rest, "/") {
		u, err := url.PathUnescape(e)
		if err != nil {
			writeErr(w, http.StatusNotFound, "Not Found", docRest)
			return
		}
		seg = append(seg, u)
	}
	if !s.o.NoRateLimits && !s.spend(now, r.Method, seg) {
		h.Set("Retry-After", "60")
		writeErr(w, http.StatusForbidden, msgSecondary, docSecondary)
		return
	}
	ctx := r.Context()
	n := len(seg)
	// /user/… act on the token's own account; the owner is then the
	// second segment of the path as the routes below read it.
	if seg[0] == "user" {
		switch {
		case r.Method == http.MethodGet && n == 1:
			s.getSelf(w, r, kind)
			return
		case n >= 2 && seg[1] == "packages":
			login := s.o.Login
			if kind == installationToken {
				login = s.o.RepositoryOwner
			}
			if login == "" {
				writeErr(w, http.StatusNotFound, "Not Found", docRest)
				return
			}
			seg = append([]string{"users", login}, seg[1:]...)
			n = len(seg)
		}
	}
	packages := n >= 3 && (seg[0] == "users" || seg[0] == "orgs") && seg[2] == "packages"
	if packages && kind == fineGrainedToken {
		// Unverified for the packages routes (no source shows the answer);
		// GitHub refuses a fine-grained token so elsewhere
		// (saadmk11/github-actions-version-updater#110).
		writeErr(w, http.StatusForbidden, msgFineGrained, docPackages)
		return
	}
	self := seg[0] == "users" && strings.HasPrefix(rest, "user/")
	switch {
	case r.Method == http.MethodGet && n == 2 && seg[0] == "users" && s.o.NoUsersEndpoint && !self:
		writeErr(w, http.StatusNotFound, "Not Found", docRest)
	case r.Method == http.MethodGet && n == 2 && seg[0] == "users":
		s.getUser(ctx, w, r, seg[1])
	case r.Method == http.MethodGet && n == 3 && packages:
		s.listPackages(ctx, w, r, seg[0], seg[1], kind, self)
	case n >= 5 && packages:
		if seg[3] != "container" {
			writeErr(w, http.StatusNotFound, msgPackageNotFound, docPackages)
			return
		}
		s.packageRoute(ctx, w, r, seg[0], seg[1], seg[4], seg[5:], kind, self)
	default:
		writeErr(w, http.StatusNotFound, "Not Found", docRest)
	}
}

// spend charges one request to its route's secondary limit, and reports
// whether it is within it.
func (s *Server) spend(now time.Time, method string, seg []string) bool {
	// The route: the path with the owner, package and version left out.
	key := make([]string, len(seg))
	for i, x := range seg {
		key[i] = x
		if i == 1 || i == 4 || i == 6 {
			key[i] = "*"
		}
	}
	route := method + " " + strings.Join(key, "/")
	cost := 1
	if method != http.MethodGet && method != http.MethodHead {
		cost = 5
	}
	kept := s.points[route][:0]
	sum := 0
	for _, p := range s.points[route] {
		if now.Sub(p.at) < time.Minute {
			kept = append(kept, p)
			sum += p.points
		}
	}
	s.points[route] = kept
	if sum+cost > SecondaryPoints {
		return false
	}
	s.points[route] = append(kept, spent{at: now, points: cost})
	return true
}

// token is the request's token ("" without one).
func (s *Server) token(r *http.Request) string {
	_, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	return tok
}

// getSelf answers GET /user: the classic token's user; an installation
// token is refused (dataaxiom/ghcr-cleanup-action, src/octokit-client.ts:
// "These can't successfully call GET /user — the endpoint 403s").
func (s *Server) getSelf(w http.ResponseWriter, r *http.Request, kind tokenKind) {
	if kind == installationToken {
		writeErr(w, http.StatusForbidden, msgIntegration, "https://docs.github.com/rest/users/users#get-the-authenticated-user")
		return
	}
	o := s.addOwner(s.o.Login, false)
	writeJSON(w, http.StatusOK, publicUser{simpleUser: s.simpleUser(r, o), Name: &o.login, PublicRepos: 1,
		CreatedAt: "2020-01-01T00:00:00Z", UpdatedAt: "2020-01-01T00:00:00Z"})
}

func (s *Server) fault(method, path string) *Fault {
	for i, f := range s.faults {
		if (f.Method == "" || f.Method == method) && strings.Contains(path, f.PathContains) {
			f.Times--
			if f.Times <= 0 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
			return f
		}
	}
	return nil
}

func (s *Server) authorized(r *http.Request) bool {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || tok == "" || (scheme != "Bearer" && scheme != "token") {
		return false
	}
	return s.o.Token == "" || tok == s.o.Token
}

// lookupOwner finds a declared owner or the owner of a registry repository.
func (s *Server) lookupOwner(ctx context.Context, login string) (*owner, error) {
	l := strings.ToLower(login)
	if o := s.owners[l]; o != nil {
		return o, nil
	}
	repos, err := s.reg.Catalog(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range repos {
		if strings.HasPrefix(r, l+"/") {
			return s.addOwner(l, false), nil
		}
	}
	return nil, nil
}

// ownerFor resolves the owner of a /users/ or /orgs/ path: an organization
// only under /orgs/, a user only under /users/ (stricter than GitHub, whose
// /users/{org}/... may answer too: it catches a backend that guessed wrong).
func (s *Server) ownerFor(ctx context.Context, w http.ResponseWriter, kind, login string) *owner {
	o, err := s.lookupOwner(ctx, login)
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err.Error(), docRest)
		return nil
	}
	if o == nil || o.org != (kind == "orgs") {
		writeErr(w, http.StatusNotFound, "Not Found", docRest)
		return nil
	}
	return o
}

func (s *Server) getUser(ctx context.Context, w http.ResponseWriter, r *http.Request, login string) {
	o, err := s.lookupOwner(ctx, login)
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err.Error(), docRest)
		return
	}
	if o == nil {
		writeErr(w, http.StatusNotFound, "Not Found", "https://docs.github.com/rest/users/users#get-a-user")
		return
	}
	u := publicUser{simpleUser: s.simpleUser(r, o), Name: &o.login, PublicRepos: 1,
		CreatedAt: "2020-01-01T00:00:00Z", UpdatedAt: "2020-01-01T00:00:00Z"}
	writeJSON(w, http.StatusOK, u)
}

func (s *Server) listPackages(ctx context.Context, w http.ResponseWriter, r *http.Request, kind, login string, tok tokenKind, self bool) {
	q := r.URL.Query()
	doc := docPackages + "#list-packages-for-" + docKind(kind, self)
	switch t := q.Get("package_type"); {
	case t == "":
		writeErr(w, http.StatusUnprocessableEntity, msgTypeRequired, doc)
		return
	case !contains([]string{"npm", "maven", "rubygems", "docker", "nuget", "container"}, t):
		writeErr(w, http.StatusUnprocessableEntity, msgTypeInvalid, doc)
		return
	}
	if tok == installationToken {
		// The workflow's GITHUB_TOKEN (cli/cli#9606, snok/container-retention-policy#27).
		writeErr(w, http.StatusBadRequest, msgInvalidArgument, doc)
		return
	}
	page, perPage := paging(q)
	if page*perPage > 10000 {
		writeErr(w, http.StatusBadRequest, msgPageLimit, doc)
		return
	}
	o := s.ownerFor(ctx, w, kind, login)
	if o == nil {
		return
	}
	var all []packageJSON
	if q.Get("package_type") == "container" {
		repos, err := s.reg.Catalog(ctx)
		if err != nil {
			writeErr(w, http.StatusInternalServerError, err.Error(), docRest)
			return
		}
		sort.Strings(repos)
		for _, repo := range repos {
			if !strings.HasPrefix(repo, o.login+"/") {
				continue
			}
			recs, err := s.derive(ctx, repo)
			if err != nil {
				writeErr(w, http.StatusInternalServerError, err.Error(), docRest)
				return
			}
			if len(recs) == 0 {
				continue // a package exists while it has a version
			}
			if v := q.Get("visibility"); v != "" && v != s.visibility(repo) {
				continue
			}
			all = append(all, s.packageJSON(r, o, repo, len(recs)))
		}
	}
	writePage(w, r, all, page, perPage)
}

func (s *Server) visibility(repo string) string {
	if s.repo(repo).public {
		return "public"
	}
	return "private"
}

func (s *Server) packageRoute(ctx context.Context, w http.ResponseWriter, r *http.Request, kind, login, pkg string, rest []string, tok tokenKind, self bool) {
	o := s.ownerFor(ctx, w, kind, login)
	if o == nil {
		return
	}
	repo := o.login + "/" + strings.ToLower(pkg)
	recs, err := s.derive(ctx, repo)
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err.Error(), docRest)
		return
	}
	if len(recs) == 0 {
		writeErr(w, http.StatusNotFound, msgPackageNotFound, docPackages)
		return
	}
	if kind == "users" && !self && !s.repo(repo).public && !s.o.UsersServesPrivate {
		// /users/{username}/… serve "a public package owned by a user".
		if tok == installationToken {
			writeErr(w, http.StatusForbidden, msgIntegration, docPackages)
		} else {
			writeErr(w, http.StatusNotFound, msgPackageNotFound, docPackages)
		}
		return
	}
	switch {
	case r.Method == http.MethodGet && len(rest) == 0:
		writeJSON(w, http.StatusOK, s.packageJSON(r, o, repo, len(recs)))
	case r.Method == http.MethodGet && len(rest) == 1 && rest[0] == "versions":
		q := r.URL.Query()
		page, perPage := paging(q)
		var vs []versionJSON
		switch q.Get("state") {
		case "", "active":
			for _, rc := range recs {
				if s.lag > 0 && s.hidden[repo+"@"+rc.digest] {
					continue
				}
				vs = append(vs, s.versionJSON(r, o, repo, rc))
			}
			if s.lag > 0 && page == 1 {
				s.lag--
			}
		case "deleted":
			if s.denyDeletes {
				writeErr(w, http.StatusForbidden, msgDeletedForbidden, docPackages)
				return
			}
			st := s.repo(repo)
			var del []*rec
			for _, rc := range st.byID {
				if !rc.deleted.IsZero() {
					del = append(del, rc)
				}
			}
			sort.Slice(del, func(i, j int) bool { return del[i].id > del[j].id })
			for _, rc := range del {
				vs = append(vs, s.versionJSON(r, o, repo, rc))
			}
		default:
			writeErr(w, http.StatusUnprocessableEntity, msgStateInvalid, docPackages)
			return
		}
		writePage(w, r, vs, page, perPage)
	case len(rest) == 3 && rest[0] == "versions" && rest[2] == "restore" && r.Method == http.MethodPost:
		s.restoreVersion(ctx, w, kind, repo, rest[1], self)
	case len(rest) == 2 && rest[0] == "versions" && (r.Method == http.MethodGet || r.Method == http.MethodDelete):
		doc := docPackages + "#delete-package-version-for-" + docKind(kind, self)
		if r.Method == http.MethodDelete && s.denyDeletes {
			// The access check comes before the version lookup, and a
			// refused one is "Package not found." (PermissionDeniedError
			// delivered as 404: vlaurin/action-ghcr-prune#4,
			// canonical/authd#1376, dataaxiom/ghcr-cleanup-action#147).
			writeErr(w, http.StatusNotFound, msgPackageNotFound, doc)
			return
		}
		id, err := strconv.ParseInt(rest[1], 10, 64)
		var rc *rec
		for _, x := range recs {
			if err == nil && x.id == id {
				rc = x
			}
		}
		if rc == nil {
			writeErr(w, http.StatusNotFound, msgVersionNotFound, doc)
			return
		}
		if r.Method == http.MethodGet {
			writeJSON(w, http.StatusOK, s.versionJSON(r, o, repo, rc))
			return
		}
		s.deleteVersion(ctx, w, doc, repo, rc, recs)
	default:
		writeErr(w, http.StatusNotFound, "Not Found", docRest)
	}
}

func (s *Server) deleteVersion(ctx context.Context, w http.ResponseWriter, doc, repo string, rc *rec, active []*rec) {
	st := s.repo(repo)
	tagged := 0
	for _, x := range active {
		if len(x.tags) > 0 {
			tagged++
		}
	}
	switch {
	case len(rc.tags) > 0 && tagged == 1:
		// Untagged versions never count, and are always deletable
		// (kairos-io/kairos#4724: "The rule counts TAGGED versions only").
		writeErr(w, http.StatusBadRequest, msgLastTagged, doc)
		return
	case st.public && st.dls[rc.digest] > 5000:
		writeErr(w, http.StatusBadRequest, msgDownloads, doc)
		return
	}
	if err := s.keep(ctx, repo, rc); err != nil {
		writeErr(w, http.StatusInternalServerError, err.Error(), doc)
		return
	}
	if _, err := s.reg.Delete(ctx, repo, rc.digest); err != nil {
		writeErr(w, http.StatusInternalServerError, err.Error(), doc)
		return
	}
	rc.deleted = s.now()
	s.deleted = append(s.deleted, repo+"@"+rc.digest)
	w.Header().Del("Content-Type")
	w.WriteHeader(http.StatusNoContent)
}

func docKind(kind string, self bool) string {
	switch {
	case self:
		return "the-authenticated-user"
	case kind == "orgs":
		return "an-organization"
	}
	return "a-user"
}

func paging(q url.Values) (page, perPage int) {
	page, perPage = 1, 30
	if n, err := strconv.Atoi(q.Get("page")); err == nil && n > 0 {
		page = n
	}
	if n, err := strconv.Atoi(q.Get("per_page")); err == nil && n > 0 {
		perPage = min(n, 100)
	}
	return page, perPage
}

// writePage writes one page of items with GitHub's Link header.
func writePage[T any](w http.ResponseWriter, r *http.Request, items []T, page, perPage int) {
	last := max((len(items)+perPage-1)/perPage, 1)
	link := func(p int, rel string) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(p))
		u := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: q.Encode()}
		return fmt.Sprintf("<%s>; rel=%q", u.String(), rel)
	}
	var links []string
	if page > 1 {
		links = append(links, link(page-1, "prev"))
	}
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		links = append(links, link(1, "first"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	lo, hi := min((page-1)*perPage, len(items)), min(page*perPage, len(items))
	out := items[lo:hi]
	if out == nil {
		out = []T{}
	}
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"message":"marshal"}`)
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// errorJSON is GitHub's basic-error.
type errorJSON struct {
	Message          string `json:"message"`
	DocumentationURL string `json:"documentation_url"`
	Status           string `json:"status"`
}

func writeErr(w http.ResponseWriter, status int, msg, doc string) {
	writeJSON(w, status, errorJSON{Message: msg, DocumentationURL: doc, Status: strconv.Itoa(status)})
}

// simpleUser is GitHub's simple-user (the owner of a package).
type simpleUser struct {
	Login             string `json:"login"`
	ID                int64  `json:"id"`
	NodeID            string `json:"node_id"`
	AvatarURL         string `json:"avatar_url"`
	GravatarID        string `json:"gravatar_id"`
	URL               string `json:"url"`
	HTMLURL           string `json:"html_url"`
	FollowersURL      string `json:"followers_url"`
	FollowingURL      string `json:"following_url"`
	GistsURL          string `json:"gists_url"`
	StarredURL        string `json:"starred_url"`
	SubscriptionsURL  string `json:"subscriptions_url"`
	OrganizationsURL  string `json:"organizations_url"`
	ReposURL          string `json:"repos_url"`
	EventsURL         string `json:"events_url"`
	ReceivedEventsURL string `json:"received_events_url"`
	Type              string `json:"type"`
	SiteAdmin         bool   `json:"site_admin"`
}

// publicUser is GitHub's public-user (GET /users/{username}).
type publicUser struct {
	simpleUser
	Name            *string `json:"name"`
	Company         *string `json:"company"`
	Blog            *string `json:"blog"`
	Location        *string `json:"location"`
	Email           *string `json:"email"`
	Hireable        *bool   `json:"hireable"`
	Bio             *string `json:"bio"`
	TwitterUsername *string `json:"twitter_username"`
	PublicRepos     int     `json:"public_repos"`
	PublicGists     int     `json:"public_gists"`
	Followers       int     `json:"followers"`
	Following       int     `json:"following"`
	CreatedAt       string  `json:"created_at"`
	UpdatedAt       string  `json:"updated_at"`
}

// packageJSON is GitHub's package.
type packageJSON struct {
	ID           int64      `json:"id"`
	Name         string     `json:"name"`
	PackageType  string     `json:"package_type"`
	Owner        simpleUser `json:"owner"`
	VersionCount int        `json:"version_count"`
	Visibility   string     `json:"visibility"`
	URL          string     `json:"url"`
	CreatedAt    string     `json:"created_at"`
	UpdatedAt    string     `json:"updated_at"`
	HTMLURL      string     `json:"html_url"`
}

// versionJSON is GitHub's package-version of a container.
type versionJSON struct {
	ID             int64  `json:"id"`
	Name           string `json:"name"`
	URL            string `json:"url"`
	PackageHTMLURL string `json:"package_html_url"`
	CreatedAt      string `json:"created_at"`
	UpdatedAt      string `json:"updated_at"`
	DeletedAt      string `json:"deleted_at,omitempty"`
	HTMLURL        string `json:"html_url"`
	Metadata       struct {
		PackageType string `json:"package_type"`
		Container   struct {
			Tags []string `json:"tags"`
		} `json:"container"`
	} `json:"metadata"`
}

func (s *Server) apiBase(r *http.Request) string { return "http://" + r.Host + s.prefix }

func (s *Server) simpleUser(r *http.Request, o *owner) simpleUser {
	api := s.apiBase(r) + "/users/" + o.login
	t := "User"
	if o.org {
		t = "Organization"
	}
	return simpleUser{
		Login: o.login, ID: o.id, NodeID: fmt.Sprintf("U_%d", o.id), AvatarURL: fmt.Sprintf("https://avatars.githubusercontent.com/u/%d?v=4", o.id),
		URL: api, HTMLURL: "https://github.com/" + o.login, FollowersURL: api + "/followers", FollowingURL: api + "/following{/other_user}",
		GistsURL: api + "/gists{/gist_id}", StarredURL: api + "/starred{/owner}{/repo}", SubscriptionsURL: api + "/subscriptions",
		OrganizationsURL: api + "/orgs", ReposURL: api + "/repos", EventsURL: api + "/events{/privacy}",
		ReceivedEventsURL: api + "/received_events", Type: t,
	}
}

func kindOf(o *owner) string {
	if o.org {
		return "orgs"
	}
	return "users"
}

func (s *Server) packageJSON(r *http.Request, o *owner, repo string, versions int) packageJSON {
	st := s.repo(repo)
	esc := url.PathEscape(st.name)
	t := st.created.Format(time.RFC3339)
	return packageJSON{
		ID: st.id, Name: st.name, PackageType: "container", Owner: s.simpleUser(r, o), VersionCount: versions,
		Visibility: s.visibility(repo), URL: s.apiBase(r) + "/" + kindOf(o) + "/" + o.login + "/packages/container/" + esc,
		CreatedAt: t, UpdatedAt: t,
		HTMLURL: "https://github.com/" + kindOf(o) + "/" + o.login + "/packages/container/package/" + esc,
	}
}

func (s *Server) versionJSON(r *http.Request, o *owner, repo string, rc *rec) versionJSON {
	st := s.repo(repo)
	esc := url.PathEscape(st.name)
	v := versionJSON{
		ID: rc.id, Name: rc.digest,
		URL:            fmt.Sprintf("%s/%s/%s/packages/container/%s/versions/%d", s.apiBase(r), kindOf(o), o.login, esc, rc.id),
		PackageHTMLURL: "https://github.com/" + kindOf(o) + "/" + o.login + "/packages/container/package/" + esc,
		CreatedAt:      rc.created.Format(time.RFC3339), UpdatedAt: rc.updated.Format(time.RFC3339),
		HTMLURL: fmt.Sprintf("https://github.com/%s/%s/packages/container/%s/%d", kindOf(o), o.login, esc, rc.id),
	}
	if !rc.deleted.IsZero() {
		v.DeletedAt = rc.deleted.Format(time.RFC3339)
	}
	v.Metadata.PackageType = "container"
	v.Metadata.Container.Tags = append([]string{}, rc.tags...)
	return v
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
