package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/registry/dockerhub/hubtest"
	"github.com/tagsweep/tagsweep/internal/registry/ghcr/ghcrtest"
	"github.com/tagsweep/tagsweep/internal/registry/harbor/harbortest"
	"github.com/tagsweep/tagsweep/internal/report"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// echoPassword changes under JSON, Go %q and the summary's markdown
// escaping, so that the test also catches a password printed escaped.
const (
	echoUser     = "bob"
	echoPassword = `pa55|w<o>rd"\-e2e`
	// echoGitHubToken is in the environment of every run here: a token the
	// runner gives every step, never sent to these registries.
	echoGitHubToken = "ghs_e2eRunnerToken0123456789abcdef"
)

// basicForms are the password and the base64 of user:password as Basic auth
// sends it, also unpadded and URL-safe.
func basicForms(user, password string) []string {
	pair := []byte(user + ":" + password)
	return []string{password, base64.StdEncoding.EncodeToString(pair), base64.RawStdEncoding.EncodeToString(pair),
		base64.URLEncoding.EncodeToString(pair), base64.RawURLEncoding.EncodeToString(pair)}
}

// printedForms adds to each secret the forms it takes once printed
// escaped: in a JSON string, quoted by Go's %q, in the summary's markdown.
func printedForms(secrets ...string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range secrets {
		j, _ := json.Marshal(s)
		q := strconv.Quote(s)
		for _, f := range append([]string{s, string(j[1 : len(j)-1]), q[1 : len(q)-1]}, report.Renderings(s)...) {
			if !seen[f] {
				seen[f] = true
				out = append(out, f)
			}
		}
	}
	return out
}

// echoes counts the requests a hook answered with the request echoed.
type echoes struct {
	mu sync.Mutex
	n  map[string]int
}

func (e *echoes) hit(what string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.n == nil {
		e.n = map[string]int{}
	}
	e.n[what]++
}

func (e *echoes) count(what string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n[what]
}

// echoingRoutes answers with a 500 repeating the request (headers and the
// decoded Basic credentials) the tag listing of echo-list/app, the manifest
// GETs of echo-get/app and the DELETEs of echo-del/app.
func echoingRoutes(seen *echoes) testregistry.Hook {
	echo := testregistry.EchoRequests(http.StatusInternalServerError, func(req *http.Request) bool {
		p := req.URL.Path
		switch {
		case p == "/v2/echo-list/app/tags/list":
			seen.hit("list")
		case req.Method == http.MethodGet && strings.HasPrefix(p, "/v2/echo-get/app/manifests/"):
			seen.hit("get")
		case req.Method == http.MethodDelete && strings.HasPrefix(p, "/v2/echo-del/app/"):
			seen.hit("delete")
		default:
			return false
		}
		return true
	})
	return echo
}

var echoRepos = []string{"echo-list/app", "echo-get/app", "echo-del/app"}

// seedEcho pushes new, old and older into every echo repository (keep 1
// plans two deletions in each).
func seedEcho(t *testing.T, a string) {
	t.Helper()
	for _, repo := range echoRepos {
		seedAges(t, a, repo, "new", "old", "older")
	}
}

// checkNothingDeleted: every echo repository still has all its tags.
func checkNothingDeleted(t *testing.T, r *testregistry.Registry) {
	t.Helper()
	r.SetHook(nil)
	for _, repo := range echoRepos {
		if diff := cmp.Diff([]string{"new", "old", "older"}, listTags(t, r.Addr(), repo)); diff != "" {
			t.Errorf("%s: tags left (-want +got):\n%s", repo, diff)
		}
	}
}

// TestSecretsEchoedByRegistry: a registry (or a proxy in front of it) that
// answers tag listings, manifest GETs and DELETEs with a 500 repeating the
// request, Authorization header and decoded Basic credentials included:
// the password, the base64 of user:password (padded, unpadded, URL-safe),
// in any escaping, and GITHUB_TOKEN appear nowhere (stdout outside
// ::add-mask::, stderr, summary, report, outputs), in a dry run and a real
// run in Actions and a real run outside Actions; every run exits 1 and
// nothing is deleted. In Actions the base64 form is masked.
func TestSecretsEchoedByRegistry(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	seedEcho(t, a)
	var seen echoes
	r.SetHook(basicAuth(echoUser, echoPassword, echoingRoutes(&seen)))
	secrets := printedForms(append(basicForms(echoUser, echoPassword), echoGitHubToken)...)
	env := []string{"GITHUB_TOKEN=" + echoGitHubToken}
	in := func(dry string) inputs {
		return inputs{"registry": a, "repositories": strings.Join(echoRepos, ","), "keep": "1", "username": echoUser,
			"password": echoPassword, "dry-run": dry}
	}
	check := func(t *testing.T, res result, reportFile string) {
		t.Helper()
		if res.code != 1 {
			t.Errorf("exit %d, want 1", res.code)
		}
		noSecret(t, res, reportFile, secrets...)
		// The echo reached the log, redacted: the test saw what it guards.
		for _, want := range []string{"proxy error, the request was", "Authorization: Basic ***", `password "***"`} {
			if !strings.Contains(res.stderr, want) {
				t.Errorf("stderr does not show the redacted echo %q", want)
			}
		}
	}
	t.Run("runs", func(t *testing.T) {
		t.Run("dry run in Actions", func(t *testing.T) {
			t.Parallel()
			i := in("true")
			res := runActionWith(t, i, env)
			check(t, res, i["report-file"])
			if !strings.Contains(res.summary, "***") {
				t.Error("the summary does not show the redacted echo")
			}
		})
		t.Run("real run in Actions", func(t *testing.T) {
			t.Parallel()
			i := in("false")
			res := runActionWith(t, i, env)
			check(t, res, i["report-file"])
			b64 := base64.StdEncoding.EncodeToString([]byte(echoUser + ":" + echoPassword))
			for _, want := range []string{"::add-mask::" + b64, "::add-mask::" + echoGitHubToken} {
				if !strings.Contains(res.stdout, want+"\n") {
					t.Errorf("stdout has no %q", want)
				}
			}
			if res.outputs["failed-count"] == "0" || res.outputs["deleted-count"] != "0" {
				t.Errorf("outputs %v: want failures and nothing deleted", res.outputs)
			}
		})
		t.Run("real run outside Actions", func(t *testing.T) {
			t.Parallel()
			rep, sum := filepath.Join(t.TempDir(), "report.json"), filepath.Join(t.TempDir(), "artifacts", "summary.md")
			res := runCLI(t, append(env, "TAGSWEEP_PASSWORD="+echoPassword), "--registry", a, "--repositories", strings.Join(echoRepos, ","),
				"--keep", "1", "--username", echoUser, "--report-file", rep, "--summary-file", sum)
			res.summary = read(t, sum) // the markdown summary-file, checked with the rest
			check(t, res, rep)
			if !strings.Contains(res.summary, "***") || !strings.Contains(res.summary, "## tagsweep") {
				t.Errorf("the summary-file does not show the redacted echo:\n%s", res.summary)
			}
			if strings.Contains(res.stdout, "::add-mask::") {
				t.Error("a mask command outside Actions (it would print the secret)")
			}
			if !isTextSummary(res.stdout) {
				t.Error("stdout has no plain-text summary (it goes there outside Actions)")
			}
			for _, want := range []string{"failed-count="} {
				if !strings.Contains(res.stdout, want) {
					t.Errorf("stdout has no %q (summary and outputs go there outside Actions)", want)
				}
			}
		})
	})
	for _, what := range []string{"list", "get", "delete"} {
		if seen.count(what) == 0 {
			t.Errorf("no %s request was answered with the echo", what)
		}
	}
	checkNothingDeleted(t, r)
}

// tokenService is a registry behind a token service (as Docker Hub, GHCR
// and Harbor are): /token exchanges the Basic credentials for a token (a new
// one each time, as "token" and a different "access_token"); the registry
// answers the tag listing of echo-list/app and the DELETEs of echo-del/app
// with a 500 repeating the request, bearer token included. In echo-get/app
// it refuses every manifest request with a 401 challenge, as for a revoked
// token, and /token answers every request for echo-get's scope after the
// first with a 500 repeating the token it issued then and the request.
type tokenService struct {
	user, password string
	seen           echoes

	mu     sync.Mutex
	issued []string
	getTok string // the token issued for echo-get in this run
}

// newRun forgets the echo-get token: each run receives its own.
func (ts *tokenService) newRun() {
	ts.mu.Lock()
	ts.getTok = ""
	ts.mu.Unlock()
}

// tokens returns every token issued so far.
func (ts *tokenService) tokens() []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]string(nil), ts.issued...)
}

func (ts *tokenService) hook() testregistry.Hook {
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(ts.user+":"+ts.password))
	valid := map[string]bool{}
	routes := echoingRoutes(&ts.seen)
	challenge := func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="http://`+req.Host+`/token",service="e2e"`)
		testregistry.WriteError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
	}
	return func(w http.ResponseWriter, req *http.Request) bool {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		if req.URL.Path == "/token" {
			if req.Header.Get("Authorization") != basic {
				testregistry.WriteError(w, http.StatusUnauthorized, "UNAUTHORIZED", "bad credentials")
				return true
			}
			forGet := strings.Contains(req.URL.RawQuery, "echo-get")
			if forGet && ts.getTok != "" {
				ts.seen.hit("token")
				w.Header().Set("Content-Type", "text/plain")
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = w.Write([]byte("token service error: token " + ts.getTok + " was revoked; request:\n" + testregistry.Echo(req)))
				return true
			}
			var b [12]byte
			_, _ = rand.Read(b[:])
			tok := "tok-" + strconv.Itoa(len(ts.issued)) + "-" + hex.EncodeToString(b[:])
			ts.issued = append(ts.issued, tok, "access-"+tok)
			valid[tok], valid["access-"+tok] = true, true
			if forGet {
				ts.getTok = tok
			}
			w.Header().Set("Content-Type", "application/json")
			body, _ := json.Marshal(map[string]any{"token": tok, "access_token": "access-" + tok, "expires_in": 300})
			_, _ = w.Write(body)
			return true
		}
		scheme, tok, _ := strings.Cut(req.Header.Get("Authorization"), " ")
		if scheme != "Bearer" || !valid[tok] || strings.HasPrefix(req.URL.Path, "/v2/echo-get/app/manifests/") {
			challenge(w, req)
			return true
		}
		return routes(w, req)
	}
}

// TestSecretsEchoedByTokenService: behind a token service, the bearer
// tokens tagsweep received (both "token" and "access_token"), echoed back by
// the registry's 500s and by the token service's own error, appear nowhere,
// nor do the password and its base64; dry and real runs exit 1 and delete
// nothing. In Actions each received token is masked.
func TestSecretsEchoedByTokenService(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	seedEcho(t, a)
	ts := &tokenService{user: echoUser, password: echoPassword}
	r.SetHook(ts.hook())
	for _, dry := range []string{"true", "false"} {
		in := inputs{"registry": a, "repositories": strings.Join(echoRepos, ","), "keep": "1", "username": echoUser,
			"password": echoPassword, "dry-run": dry}
		ts.newRun()
		before := len(ts.tokens())
		res := runActionWith(t, in, []string{"GITHUB_TOKEN=" + echoGitHubToken})
		if res.code != 1 {
			t.Errorf("dry-run %s: exit %d, want 1", dry, res.code)
		}
		tokens := ts.tokens()
		if len(tokens) == before {
			t.Fatalf("dry-run %s: no token was issued", dry)
		}
		noSecret(t, res, in["report-file"], printedForms(append(append(basicForms(echoUser, echoPassword), echoGitHubToken), tokens...)...)...)
		for _, want := range []string{"Authorization: Bearer ***", "token service error: token *** was revoked", "Authorization: Basic ***"} {
			if !strings.Contains(res.stderr, want) {
				t.Errorf("dry-run %s: stderr does not show the redacted echo %q", dry, want)
			}
		}
		// Every token this run received is masked in the runner's log.
		for _, tok := range tokens[before:] {
			if !strings.Contains(res.stdout, "::add-mask::"+tok+"\n") {
				t.Errorf("dry-run %s: token %s received but not masked", dry, tok)
			}
		}
	}
	if ts.seen.count("token") == 0 {
		t.Error("the token service never answered with the echo")
	}
	checkNothingDeleted(t, r)
}

// vendorEcho is one vendor replica set to echo the Authorization header of
// every API request in its error message.
type vendorEcho struct {
	in  inputs
	env []string
	// secrets are known only after the run (the Hub's tokens).
	secrets func() []string
	// redacted is what stderr must show of the echo.
	redacted string
	tags     func(t *testing.T) []string
}

// TestSecretsEchoedByVendorAPI: the GHCR, Docker Hub and Harbor API
// replicas echo the request, Authorization included, in their error
// message: the GitHub token (from GITHUB_TOKEN), the Hub's bearer token
// received from its login and the Harbor password with its base64 appear
// nowhere; dry and real runs exit 1 and delete nothing.
func TestSecretsEchoedByVendorAPI(t *testing.T) {
	t.Parallel()
	cases := map[string]func(t *testing.T) vendorEcho{
		"ghcr": func(t *testing.T) vendorEcho {
			r := newRegistry(t)
			api, err := ghcrtest.Start(ghcrtest.Options{Registry: r, Token: ghcrToken, EchoAuth: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(api.Close)
			seedAges(t, r.Addr(), "octo/app", "new", "old", "older")
			return vendorEcho{
				in:       inputs{"registry": r.Addr(), "provider": "ghcr", "repositories": "octo/**", "keep": "1"},
				env:      []string{"GITHUB_API_URL=" + api.URL(), "GITHUB_TOKEN=" + ghcrToken},
				secrets:  func() []string { return []string{ghcrToken} },
				redacted: "Authorization: Bearer ***",
				tags:     func(t *testing.T) []string { return listTags(t, r.Addr(), "octo/app") },
			}
		},
		"dockerhub": func(t *testing.T) vendorEcho {
			h := newDockerHub(t, hubtest.Options{EchoAuth: true})
			h.seed(t)
			return vendorEcho{
				in:  h.inputs(hubSecret),
				env: append(h.env, "GITHUB_TOKEN="+echoGitHubToken),
				secrets: func() []string {
					toks := h.hub.Tokens()
					if len(toks) == 0 {
						t.Error("the Hub issued no token")
					}
					return append(toks, hubSecret, echoGitHubToken)
				},
				redacted: "Authorization: Bearer ***",
				tags:     func(t *testing.T) []string { return listTags(t, h.r.Addr(), "acme/app") },
			}
		},
		"harbor": func(t *testing.T) vendorEcho {
			r := newRegistry(t)
			srv, err := harbortest.New(harbortest.Options{Registry: r, Users: map[string]string{harborUser: harborPassword}, EchoAuth: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(srv.Close)
			seedAges(t, r.Addr(), "proj/app", "new", "old", "older")
			return vendorEcho{
				in: inputs{"registry": r.Addr(), "provider": "harbor", "repositories": "proj/**", "keep": "1",
					"username": harborUser, "password": harborPassword},
				env:      harborEnv(srv),
				secrets:  func() []string { return basicForms(harborUser, harborPassword) },
				redacted: "Authorization: Basic ***",
				tags:     func(t *testing.T) []string { return listTags(t, r.Addr(), "proj/app") },
			}
		},
	}
	for name, setup := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			v := setup(t)
			before := v.tags(t)
			for _, dry := range []string{"true", "false"} {
				in := inputs{"dry-run": dry}
				for k, val := range v.in {
					in[k] = val
				}
				res := runActionWith(t, in, v.env)
				if res.code != 1 {
					t.Errorf("dry-run %s: exit %d, want 1", dry, res.code)
				}
				noSecret(t, res, in["report-file"], printedForms(v.secrets()...)...)
				if !strings.Contains(res.stderr, v.redacted) {
					t.Errorf("dry-run %s: stderr does not show the redacted echo %q", dry, v.redacted)
				}
			}
			if diff := cmp.Diff(before, v.tags(t)); diff != "" {
				t.Errorf("tags left (-before +after):\n%s", diff)
			}
		})
	}
}
