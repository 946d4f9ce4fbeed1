package oci

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// TestTLSRegistry runs the backend against a real registry behind TLS on
// 127.0.0.1 (distribution v3 paginating tags by 2, behind a TLS reverse
// proxy), with each way of reaching a TLS registry the inputs allow.
//
// Where no scheme is pinned (insecure, or auto on loopback), ggcr's ping
// picks https, its schemeTransport rewrites the request URLs to https, and
// the relative Link of the next page resolves to https while
// name.Registry.Scheme() says http for these hosts: ggcr refuses to follow
// ("pagination URL scheme "https" does not match registry scheme "http"").
func TestTLSRegistry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startDistribution(t, testregistry.Options{DeleteEnabled: true, MaxTags: 2})
	d := pushImage(t, r.Addr()+"/app:v1", testregistry.ImageSpec{Seed: 1})
	for _, tg := range []string{"v2", "v3", "v4", "v5"} {
		tagRef(t, r.Addr()+"/app:"+tg, r.Addr()+"/app@"+d)
	}
	backend, _ := url.Parse("http://" + r.Addr())
	srv := httptest.NewUnstartedServer(httputil.NewSingleHostReverseProxy(backend))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the unknown-CA case logs handshake errors
	srv.StartTLS()
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "https://")
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())

	cases := []struct {
		name string
		opts []Option
	}{
		{name: "https only, CA from ca-file", opts: []Option{WithScheme(SchemeHTTPS), WithRoots(pool)}},
		{name: "auto on loopback, CA from ca-file", opts: []Option{WithRoots(pool)}},
		{name: "insecure: unverified TLS", opts: []Option{WithInsecure(true)}},
		{name: "https only, insecure: unverified TLS", opts: []Option{WithScheme(SchemeHTTPS), WithInsecure(true)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, addr, tc.opts...)
			tags, err := b.TagNames(ctx, "app")
			if err != nil {
				t.Fatalf("Tags: %v", err)
			}
			sort.Strings(tags)
			if diff := gocmp.Diff([]string{"v1", "v2", "v3", "v4", "v5"}, tags); diff != "" {
				t.Errorf("Tags (-want +got):\n%s", diff)
			}
			m, err := b.Manifest(ctx, "app", "v1")
			if err != nil || m.Digest != d {
				t.Errorf("Manifest = %v, %v; want digest %s", m, err, d)
			}
		})
	}
	t.Run("https only without the CA fails", func(t *testing.T) {
		t.Parallel()
		b := newBackend(t, addr, WithScheme(SchemeHTTPS))
		if _, err := b.TagNames(ctx, "app"); err == nil {
			t.Error("Tags against an unknown CA succeeded")
		}
	})
}

// fakeRegistry is an http.RoundTripper that plays a registry at any host:
// /v2/ answers 200 (or a Bearer challenge when realm is set), the token
// realm answers a token, /v2/app/tags/list pages through tags one by one
// with relative Link headers. It records "scheme://host/path" of every
// request, and refuses the schemes in refuse.
type fakeRegistry struct {
	realm  string
	refuse map[string]bool
	tags   []string

	mu   sync.Mutex
	sent []string
}

func (f *fakeRegistry) RoundTrip(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	f.sent = append(f.sent, req.URL.Scheme+"://"+req.URL.Host+req.URL.Path)
	f.mu.Unlock()
	if f.refuse[req.URL.Scheme] {
		return nil, fmt.Errorf("%s refused", req.URL.Scheme)
	}
	resp := &http.Response{StatusCode: 200, Header: http.Header{}, Request: req, Body: io.NopCloser(strings.NewReader("{}"))}
	switch {
	case f.realm != "" && strings.HasPrefix(f.realm, req.URL.Scheme+"://"+req.URL.Host) && req.URL.Path == "/token":
		resp.Body = io.NopCloser(strings.NewReader(`{"token":"t0k3n"}`))
	case req.URL.Path == "/v2/":
		if f.realm != "" && req.Header.Get("Authorization") != "Bearer t0k3n" {
			resp.StatusCode = 401
			resp.Header.Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm=%q,service="reg"`, f.realm))
		}
	case req.URL.Path == "/v2/app/tags/list":
		if f.realm != "" && req.Header.Get("Authorization") != "Bearer t0k3n" {
			resp.StatusCode = 401
			resp.Header.Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm=%q,service="reg",scope="repository:app:pull"`, f.realm))
			break
		}
		i := 0
		if last := req.URL.Query().Get("last"); last != "" {
			for i < len(f.tags) && f.tags[i] <= last {
				i++
			}
		}
		page := f.tags[i:min(i+1, len(f.tags))]
		if i+1 < len(f.tags) {
			resp.Header.Set("Link", fmt.Sprintf(`</v2/app/tags/list?last=%s&n=1>; rel="next"`, page[0]))
		}
		body := fmt.Sprintf(`{"name":"app","tags":[%q]}`, page[0])
		resp.Body = io.NopCloser(strings.NewReader(body))
		resp.Header.Set("Content-Type", "application/json")
	default:
		resp.StatusCode = 404
		resp.Body = io.NopCloser(strings.NewReader(`{"errors":[{"code":"NAME_UNKNOWN"}]}`))
	}
	return resp, nil
}

func (f *fakeRegistry) schemes(host string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, s := range f.sent {
		u, _ := url.Parse(s)
		if u.Host == host && !seen[u.Scheme] {
			seen[u.Scheme] = true
			out = append(out, u.Scheme)
		}
	}
	sort.Strings(out)
	return out
}

// TestSchemeWiring checks which schemes New lets reach the registry host,
// through ggcr's ping, auth and pagination, with a fake transport (no
// network): https:// means TLS only, plain HTTP only where allowed.
func TestSchemeWiring(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := []struct {
		name        string
		host        string
		opts        []Option
		refuse      []string
		realm       string
		wantErr     bool
		wantSchemes []string // schemes seen at the registry host
	}{
		{name: "public host, auto", host: "registry.example.test", wantSchemes: []string{"https"}},
		{name: "private IP, auto: TLS only", host: "10.1.2.3:5000", wantSchemes: []string{"https"}},
		{name: "private IP, auto, TLS refused: no fallback", host: "10.1.2.3:5000", refuse: []string{"https"}, wantErr: true, wantSchemes: []string{"https"}},
		{name: "private IP, insecure, TLS refused: plain HTTP", host: "10.1.2.3:5000", opts: []Option{WithInsecure(true)}, refuse: []string{"https"}, wantSchemes: []string{"http", "https"}},
		{name: "loopback, https only, TLS refused", host: "127.0.0.1:5000", opts: []Option{WithScheme(SchemeHTTPS)}, refuse: []string{"https"}, wantErr: true, wantSchemes: []string{"https"}},
		{name: "public host, plain HTTP", host: "registry.example.test", opts: []Option{WithScheme(SchemeHTTP)}, wantSchemes: []string{"http"}},
		{name: "public host, auto, token realm elsewhere", host: "registry.example.test", realm: "https://auth.example.test/token", wantSchemes: []string{"https"}},
		{name: "private IP, auto, token realm on another host", host: "10.1.2.3:5000", realm: "https://auth.example.test/token", wantSchemes: []string{"https"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeRegistry{realm: tc.realm, refuse: map[string]bool{}, tags: []string{"a", "b", "c"}}
			for _, s := range tc.refuse {
				f.refuse[s] = true
			}
			b := newBackend(t, tc.host, append([]Option{WithTransport(f), WithRateLimitRetries(0, 1, 1)}, tc.opts...)...)
			tags, err := b.TagNames(ctx, "app")
			if tc.wantErr {
				if err == nil {
					t.Errorf("Tags = %v, want an error", tags)
				}
			} else if err != nil {
				t.Errorf("Tags: %v (requests %v)", err, f.sent)
			} else if diff := gocmp.Diff([]string{"a", "b", "c"}, tags, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
				t.Errorf("Tags (-want +got):\n%s", diff)
			}
			if diff := gocmp.Diff(tc.wantSchemes, f.schemes(tc.host)); diff != "" {
				t.Errorf("schemes at %s (-want +got):\n%s\nrequests: %v", tc.host, diff, f.sent)
			}
			if tc.realm != "" && !tc.wantErr {
				if got := f.schemes("auth.example.test"); !gocmp.Equal([]string{"https"}, got) {
					t.Errorf("schemes at the token realm = %v, want [https] (untouched)", got)
				}
			}
		})
	}
}

// TestInsecureTLSPagination: `insecure` is for registries with TLS that
// cannot be verified as much as for plain HTTP. With it, a registry that
// answers over TLS must still be paginated (fake transport, any host name).
func TestInsecureTLSPagination(t *testing.T) {
	t.Parallel()
	f := &fakeRegistry{refuse: map[string]bool{"http": true}, tags: []string{"a", "b", "c"}}
	b := newBackend(t, "registry.example.test", WithTransport(f), WithInsecure(true))
	tags, err := b.TagNames(context.Background(), "app")
	if err != nil {
		t.Fatalf("Tags: %v (requests %v)", err, f.sent)
	}
	if diff := gocmp.Diff([]string{"a", "b", "c"}, tags, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("Tags (-want +got):\n%s", diff)
	}
}
