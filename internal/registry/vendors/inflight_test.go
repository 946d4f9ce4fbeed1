package vendors

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/tagsweep/tagsweep/internal/engine"
	"github.com/tagsweep/tagsweep/internal/engine/enginetest"
	"github.com/tagsweep/tagsweep/internal/policy"
	"github.com/tagsweep/tagsweep/internal/registry/connect"
	"github.com/tagsweep/tagsweep/internal/registry/ghcr/ghcrtest"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// inFlight counts the requests in flight through every proxy that shares it.
type inFlight struct {
	mu        sync.Mutex
	now, peak int
	total     map[string]int // requests per proxy
}

func (c *inFlight) proxy(t *testing.T, name, target string) *httptest.Server {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.now++
		c.total[name]++
		c.peak = max(c.peak, c.now)
		c.mu.Unlock()
		// Hold each request a little, so that an unbounded client would
		// pile requests up here.
		time.Sleep(2 * time.Millisecond)
		rp.ServeHTTP(w, r)
		c.mu.Lock()
		c.now--
		c.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return srv
}

// The one Limiter bounds the requests in flight of the registry API and
// the vendor REST API together: a real GHCR-style sweep (the REST API
// lists and deletes package versions, the registry API serves manifests
// and takes the placeholder pushes) through counting proxies never has
// more than `concurrency` requests open at once, across both.
func TestOneBoundAcrossRegistryAndVendorAPI(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg, err := testregistry.New(ctx, testregistry.Options{DeleteEnabled: true, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	const token = "ghp_inflighttesttoken0123456789"
	api, err := ghcrtest.Start(ghcrtest.Options{Registry: reg, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(api.Close)
	for i := range 24 {
		ref := fmt.Sprintf("%s/octo/app:t%02d", reg.Addr(), i)
		if _, err := testregistry.PushImage(ctx, ref, testregistry.ImageSpec{Seed: int64(i + 1), Layers: -1,
			Created: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	// Two stale tags share a kept digest: single-tag removal pushes
	// placeholders through the registry API and deletes their versions.
	for _, alias := range []string{"old-a", "old-b"} {
		if err := testregistry.Tag(ctx, reg.Addr()+"/octo/app:"+alias, reg.Addr()+"/octo/app:t23"); err != nil {
			t.Fatal(err)
		}
	}
	c := &inFlight{total: map[string]int{}}
	regProxy := c.proxy(t, "registry", "http://"+reg.Addr())
	apiProxy := c.proxy(t, "api", api.APIURL().String())
	host := regProxy.Listener.Addr().String()
	const concurrency = 3
	b, err := All.New(connect.Settings{Kind: kGHCR, Host: host, Scheme: "http", Concurrency: concurrency,
		Password: token, Repositories: []string{"octo/app"},
		Getenv: func(k string) string {
			if k == "GITHUB_API_URL" {
				return apiProxy.URL
			}
			return ""
		}})
	if err != nil {
		t.Fatal(err)
	}
	all, err := policy.CompileGlob("*")
	if err != nil {
		t.Fatal(err)
	}
	rep := enginetest.Run(t, ctx, b.Backend, engine.Options{Registry: host, Repositories: []string{"octo/app"}, Concurrency: concurrency,
		Rules: policy.Rules{Keep: 3, OrderBy: policy.OrderCreated, Include: []policy.Glob{all}}})
	if rep.Failed() {
		t.Fatalf("run failed: %v %+v", rep.Errors, rep.Repositories)
	}
	if rep.Totals.Deleted < 20 {
		t.Fatalf("deleted %d tags, want at least 20", rep.Totals.Deleted)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.total["registry"] == 0 || c.total["api"] == 0 {
		t.Fatalf("requests per API = %v, want both", c.total)
	}
	if c.peak > concurrency {
		t.Errorf("peak requests in flight across registry and vendor API = %d, more than concurrency %d", c.peak, concurrency)
	}
	t.Logf("requests %v, peak in flight %d of %d", c.total, c.peak, concurrency)
}
