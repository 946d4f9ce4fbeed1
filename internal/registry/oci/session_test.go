package oci

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/tagsweep/tagsweep/internal/registry/registrytest"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// scopedTokens is a registry behind a token service that checks scopes as
// distribution's token auth does: a token grants the actions of the scopes
// it was asked for (repository:<name>:<actions>); a GET or HEAD needs pull
// on the repository, a DELETE needs delete, and a request without the
// scope is answered 401 with a challenge naming it. Tokens can be revoked
// (expired) at once.
type scopedTokens struct {
	mu     sync.Mutex
	grants map[string]map[string]bool // token -> "repo:action"
	seq    int
	tokens []string // the scope of every token asked, in order
	pings  int
}

func (s *scopedTokens) revoke() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.grants = nil
}

func (s *scopedTokens) asked() (tokens []string, pings int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.tokens...), s.pings
}

func (s *scopedTokens) hook(user, pass string) testregistry.Hook {
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	return func(w http.ResponseWriter, req *http.Request) bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		if req.URL.Path == "/token" {
			if req.Header.Get("Authorization") != basic {
				testregistry.WriteError(w, http.StatusUnauthorized, "UNAUTHORIZED", "bad credentials")
				return true
			}
			s.seq++
			tok := fmt.Sprintf("tok-%d", s.seq)
			if s.grants == nil {
				s.grants = map[string]map[string]bool{}
			}
			g := map[string]bool{}
			var scopes []string
			for _, sc := range req.URL.Query()["scope"] {
				for _, one := range strings.Fields(sc) {
					scopes = append(scopes, one)
					parts := strings.Split(one, ":")
					if len(parts) == 3 && parts[0] == "repository" {
						for _, a := range strings.Split(parts[2], ",") {
							g[parts[1]+":"+a] = true
						}
					}
				}
			}
			s.grants[tok] = g
			s.tokens = append(s.tokens, strings.Join(scopes, " "))
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"token":%q}`, tok)
			return true
		}
		challenge := func(scope string) bool {
			h := `Bearer realm="http://` + req.Host + `/token",service="test"`
			if scope != "" {
				h += `,scope="` + scope + `"`
			}
			w.Header().Set("WWW-Authenticate", h)
			testregistry.WriteError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
			return true
		}
		if req.URL.Path == "/v2/" {
			s.pings++
			if !strings.HasPrefix(req.Header.Get("Authorization"), "Bearer ") {
				return challenge("")
			}
			return false
		}
		rest, ok := strings.CutPrefix(req.URL.Path, "/v2/")
		if !ok {
			return false
		}
		i := strings.LastIndex(rest, "/manifests/")
		if i < 0 {
			i = strings.LastIndex(rest, "/tags/")
		}
		if i < 0 {
			i = strings.LastIndex(rest, "/blobs/")
		}
		if i < 0 {
			return false
		}
		repo, action := rest[:i], "pull"
		if req.Method == http.MethodDelete {
			action = "delete"
		}
		tok, _ := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
		if !s.grants[tok][repo+":"+action] {
			return challenge("repository:" + repo + ":" + action)
		}
		return false
	}
}

// TestOneTokenPerRepository: the registry is pinged once for the backend,
// whatever the repositories; each repository's reads and deletes share one
// token when the run may delete (WithDeletes: asked with the delete
// scope), and without it a DELETE widens the token through the registry's
// challenge (the dry run's probes). A token that expires is asked again
// with its scope, so the requests after it still pass.
func TestOneTokenPerRepository(t *testing.T) {
	t.Parallel()
	for _, deletes := range []bool{true, false} {
		t.Run(fmt.Sprintf("deletes=%v", deletes), func(t *testing.T) {
			t.Parallel()
			srv := registrytest.Distribution(t)
			a := srv.Addr()
			repos := []string{"team/a", "team/b", "team/c"}
			for i, repo := range repos {
				pushImage(t, a+"/"+repo+":keep", testregistry.ImageSpec{Created: created, Seed: int64(10 + i)})
				pushImage(t, a+"/"+repo+":old", testregistry.ImageSpec{Created: created, Seed: int64(20 + i)})
			}
			st := &scopedTokens{}
			srv.SetHook(st.hook("ci", "s3cret"))
			b := newBackend(t, a, WithCredentials(Credentials{Username: "ci", Password: "s3cret"}), WithDeletes(deletes))
			ctx := context.Background()
			for _, repo := range repos {
				if _, err := b.TagNames(ctx, repo); err != nil {
					t.Fatal(err)
				}
				m, err := b.Manifest(ctx, repo, "old")
				if err != nil {
					t.Fatal(err)
				}
				if err := b.DeleteDigest(ctx, repo, m.Digest, []string{"old"}); err != nil {
					t.Fatalf("%s: delete: %v", repo, err)
				}
			}
			tokens, pings := st.asked()
			want := []string{}
			for _, repo := range repos {
				if deletes {
					want = append(want, "repository:"+repo+":push,pull,delete")
				} else {
					want = append(want, "repository:"+repo+":pull", "repository:"+repo+":delete repository:"+repo+":pull")
				}
			}
			if pings != 1 || strings.Join(tokens, "\n") != strings.Join(want, "\n") {
				t.Errorf("%d pings, tokens asked:\n%s\nwant 1 ping and:\n%s", pings, strings.Join(tokens, "\n"), strings.Join(want, "\n"))
			}

			// Every token expires: the next request is refused once, the
			// token is asked again with the repository's scope, and it passes.
			st.revoke()
			if _, err := b.Resolve(ctx, "team/a", "keep"); err != nil {
				t.Fatalf("after the token expired: %v", err)
			}
			tokens, _ = st.asked()
			if last := tokens[len(tokens)-1]; !strings.Contains(last, "repository:team/a:pull") {
				t.Errorf("the token asked again has scopes %q, not the repository's", last)
			}
		})
	}
}
