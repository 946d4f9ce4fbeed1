package testregistry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// faultFixture is a registry with one repository ("app": image v1, tag
// alias, a second image v2) and a fault proxy in front of it.
type faultFixture struct {
	reg    *Registry
	img    v1.Hash
	img2   v1.Hash
	layer  v1.Hash
	client *http.Client
}

func newFaultFixture(t *testing.T) *faultFixture {
	t.Helper()
	ctx := context.Background()
	r := newRegistry(t, Options{DeleteEnabled: true})
	repo := r.Addr() + "/app"
	f := &faultFixture{reg: r}
	f.img = must[v1.Hash](t)(PushImage(ctx, repo+":v1", ImageSpec{Created: created, Seed: 1}))
	f.img2 = must[v1.Hash](t)(PushImage(ctx, repo+":v2", ImageSpec{Created: created, Seed: 2}))
	if err := Tag(ctx, repo+":alias", repo+":v1"); err != nil {
		t.Fatal(err)
	}
	f.layer = imageLayers(t, repo+":v1")[0]
	// No keep-alive: net/http would silently retry a GET whose reused
	// connection is reset, hiding the fault from the test.
	f.client = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true, DisableCompression: true}}
	t.Cleanup(f.client.CloseIdleConnections)
	return f
}

func (f *faultFixture) proxy(t *testing.T, seed uint64, mix FaultMix) *FaultProxy {
	t.Helper()
	p, err := NewFaultProxy(f.reg.Addr(), seed, mix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// reply is what a client saw.
type reply struct {
	status int
	header http.Header
	body   []byte
	err    error // transport error or body read error
}

func (f *faultFixture) do(t *testing.T, addr, method, path string) reply {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", acceptManifests)
	resp, err := f.client.Do(req)
	if err != nil {
		return reply{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: body, err: err}
}

func only(k FaultKind) FaultMix { return FaultMix{Rates: map[FaultKind]float64{k: 1}} }

// TestFaultKinds injects each kind with probability 1 and checks what the
// client sees, that it was counted, and whether the registry saw the
// request.
func TestFaultKinds(t *testing.T) {
	t.Parallel()
	f := newFaultFixture(t)
	manifest := "/v2/app/manifests/v1"
	for _, tc := range []struct {
		kind   FaultKind
		method string
		check  func(t *testing.T, r reply)
	}{
		{FaultReset, http.MethodGet, func(t *testing.T, r reply) {
			if r.err == nil {
				t.Errorf("no transport error: status %d", r.status)
			}
		}},
		{FaultTruncated, http.MethodGet, func(t *testing.T, r reply) {
			if !errors.Is(r.err, io.ErrUnexpectedEOF) || r.status != http.StatusOK {
				t.Errorf("status %d, err %v; want 200 and an unexpected EOF", r.status, r.err)
			}
		}},
		{Fault429, http.MethodGet, wantStatus(429, "")},
		{Fault429RetryAfter0, http.MethodGet, wantStatus(429, "0")},
		{Fault429RetryAfter1, http.MethodHead, wantStatus(429, "1")},
		{Fault500, http.MethodGet, wantStatus(500, "")},
		{Fault502, http.MethodHead, wantStatus(502, "")},
		{Fault503, http.MethodGet, wantStatus(503, "")},
		{Fault503RetryAfter, http.MethodGet, func(t *testing.T, r reply) {
			if ra := r.header.Get("Retry-After"); r.status != 503 || (ra != "0" && ra != "1") {
				t.Errorf("status %d Retry-After %q, want 503 with 0 or 1", r.status, ra)
			}
		}},
		{FaultLatency, http.MethodGet, wantStatus(200, "")},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			p := f.proxy(t, 1, only(tc.kind))
			f.reg.ResetRequests()
			start := time.Now()
			r := f.do(t, p.Addr(), tc.method, manifest)
			tc.check(t, r)
			c := p.Counts()
			if c.ByKind[tc.kind] != 1 || c.Injected != 1 || c.Requests != 1 {
				t.Errorf("counts %+v, want one %s", c, tc.kind)
			}
			if c.ByRoute[Route{Method: tc.method, Class: ClassManifest}] != 1 {
				t.Errorf("by route %v", c.ByRoute)
			}
			ev := p.Events()
			if len(ev) != 1 || ev[0].Kind != tc.kind || ev[0].Path != manifest || ev[0].Method != tc.method || ev[0].N != 1 {
				t.Errorf("events %v", ev)
			}
			// Faults before forwarding never reach the registry.
			forwarded := tc.kind == FaultLatency || tc.kind == FaultTruncated
			if got := f.reg.Requests().Total; (got == 1) != forwarded || got > 1 {
				t.Errorf("registry saw %d requests, forwarded=%v", got, forwarded)
			}
			if tc.kind == FaultLatency {
				if d := time.Since(start); d < 5*time.Millisecond {
					t.Errorf("latency fault took only %s", d)
				}
				if !bytes.Equal(r.body, f.do(t, f.reg.Addr(), http.MethodGet, manifest).body) {
					t.Errorf("delayed answer differs from the registry's")
				}
			}
		})
	}
}

func wantStatus(code int, retryAfter string) func(t *testing.T, r reply) {
	return func(t *testing.T, r reply) {
		t.Helper()
		if r.err != nil || r.status != code || r.header.Get("Retry-After") != retryAfter {
			t.Errorf("status %d Retry-After %q err %v, want %d %q", r.status, r.header.Get("Retry-After"), r.err, code, retryAfter)
		}
	}
}

// TestFaultDelete: a DELETE fault before forwarding leaves the manifest in
// place; FaultDeleteThen502/Reset let the registry delete it and then hide
// the answer.
func TestFaultDelete(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind    FaultKind
		deleted bool
		check   func(t *testing.T, r reply)
	}{
		{FaultReset, false, func(t *testing.T, r reply) {
			if r.err == nil {
				t.Errorf("no transport error: status %d", r.status)
			}
		}},
		{Fault502, false, wantStatus(502, "")},
		{Fault429RetryAfter0, false, wantStatus(429, "0")},
		{Fault503, false, wantStatus(503, "")},
		{FaultDeleteThen502, true, wantStatus(502, "")},
		{FaultDeleteThenReset, true, func(t *testing.T, r reply) {
			if r.err == nil {
				t.Errorf("no transport error: status %d", r.status)
			}
		}},
		{FaultLatency, true, wantStatus(http.StatusAccepted, "")},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			t.Parallel()
			f := newFaultFixture(t)
			p := f.proxy(t, 7, only(tc.kind))
			path := "/v2/app/manifests/" + f.img2.String()
			f.reg.ResetRequests()
			tc.check(t, f.do(t, p.Addr(), http.MethodDelete, path))
			if c := p.Counts(); c.ByKind[tc.kind] != 1 || c.ByRoute[Route{Method: http.MethodDelete, Class: ClassManifest}] != 1 {
				t.Errorf("counts %+v", c)
			}
			ok := must[bool](t)(Exists(context.Background(), f.reg.Addr()+"/app@"+f.img2.String()))
			if ok == tc.deleted {
				t.Errorf("manifest exists = %v after %s, want deleted = %v", ok, tc.kind, tc.deleted)
			}
			wantLog := []string(nil)
			if tc.deleted {
				wantLog = []string{"DELETE " + path}
			}
			if got := f.reg.Deletes(); !slices.Equal(got, wantLog) {
				t.Errorf("registry saw deletes %v, want %v", got, wantLog)
			}
			if tc.kind == FaultDeleteThen502 {
				if ev := p.Events(); len(ev) != 1 || ev[0].Detail != "registry answered 202" {
					t.Errorf("events %v", ev)
				}
			}
		})
	}
}

// TestFaultKindsOnlyWhereTheyApply: truncation only on GET, the DELETE
// kinds only on DELETE; elsewhere their probability mass is "no fault".
func TestFaultKindsOnlyWhereTheyApply(t *testing.T) {
	t.Parallel()
	f := newFaultFixture(t)
	p := f.proxy(t, 3, FaultMix{Rates: map[FaultKind]float64{FaultTruncated: 0.5, FaultDeleteThen502: 0.25, FaultDeleteThenReset: 0.25}})
	for i := 0; i < 20; i++ {
		if r := f.do(t, p.Addr(), http.MethodHead, "/v2/app/manifests/v1"); r.err != nil || r.status != 200 {
			t.Fatalf("HEAD got %d %v", r.status, r.err)
		}
	}
	if c := p.Counts(); c.Injected != 0 {
		t.Errorf("faults injected into HEAD: %v", c)
	}
	for i := 0; i < 20; i++ {
		f.do(t, p.Addr(), http.MethodGet, "/v2/app/manifests/v1")
	}
	c := p.Counts()
	if c.ByKind[FaultTruncated] == 0 || c.ByKind[FaultDeleteThen502] != 0 || c.ByKind[FaultDeleteThenReset] != 0 {
		t.Errorf("GET faults %v", c)
	}
}

// TestFaultEveryRouteClass: every request class gets faults; the ping
// only with FaultPing.
func TestFaultEveryRouteClass(t *testing.T) {
	t.Parallel()
	f := newFaultFixture(t)
	requests := []struct{ method, path string }{
		{http.MethodGet, "/v2/app/manifests/v1"},
		{http.MethodHead, "/v2/app/manifests/v1"},
		{http.MethodGet, "/v2/app/manifests/" + f.img.String()},
		{http.MethodGet, "/v2/app/blobs/" + f.layer.String()},
		{http.MethodHead, "/v2/app/blobs/" + f.layer.String()},
		{http.MethodGet, "/v2/app/tags/list"},
		{http.MethodGet, "/v2/app/tags/list?n=1"},
		{http.MethodGet, "/v2/_catalog"},
		{http.MethodGet, "/v2/_catalog?n=10"},
		{http.MethodDelete, "/v2/app/manifests/alias"},
		{http.MethodGet, "/v2/app/referrers/" + f.img.String()},
	}
	p := f.proxy(t, 5, only(Fault500))
	if r := f.do(t, p.Addr(), http.MethodGet, "/v2/"); r.status != 200 {
		t.Fatalf("ping got %d %v without FaultPing", r.status, r.err)
	}
	for _, rq := range requests {
		if r := f.do(t, p.Addr(), rq.method, rq.path); r.status != 500 {
			t.Errorf("%s %s: %d %v, want the injected 500", rq.method, rq.path, r.status, r.err)
		}
	}
	c := p.Counts()
	if c.Injected != len(requests) || c.Requests != len(requests)+1 {
		t.Errorf("counts %v", c)
	}
	for _, want := range []Route{{"GET", ClassManifest}, {"HEAD", ClassManifest}, {"GET", ClassBlob}, {"HEAD", ClassBlob},
		{"GET", ClassTags}, {"GET", ClassCatalog}, {"DELETE", ClassManifest}, {"GET", ClassReferrers}} {
		if c.ByRoute[want] == 0 {
			t.Errorf("no fault on %v: %v", want, c.ByRoute)
		}
	}
	if f.reg.Requests().Of(http.MethodDelete, ClassManifest) != 0 {
		t.Errorf("the registry saw the DELETE")
	}

	mix := only(Fault503)
	mix.FaultPing = true
	pp := f.proxy(t, 5, mix)
	if r := f.do(t, pp.Addr(), http.MethodGet, "/v2/"); r.status != 503 {
		t.Errorf("ping with FaultPing got %d", r.status)
	}

	mix = only(Fault503)
	mix.Match = MatchRoute(http.MethodDelete, "")
	pm := f.proxy(t, 5, mix)
	if r := f.do(t, pm.Addr(), http.MethodGet, "/v2/app/tags/list"); r.status != 200 {
		t.Errorf("GET with a DELETE-only Match got %d", r.status)
	}
	if r := f.do(t, pm.Addr(), http.MethodDelete, "/v2/app/manifests/nope"); r.status != 503 {
		t.Errorf("DELETE with a DELETE-only Match got %d", r.status)
	}
}

// sendAll sends the requests in order and returns the faults as
// order-independent strings.
func sendAll(t *testing.T, f *faultFixture, p *FaultProxy, reqs []string) []string {
	t.Helper()
	for _, rq := range reqs {
		m, path, _ := strings.Cut(rq, " ")
		f.do(t, p.Addr(), m, path)
	}
	var out []string
	for _, e := range p.Events() {
		out = append(out, fmt.Sprintf("%s %s #%d %s %s", e.Method, e.Path, e.N, e.Kind, e.Detail))
	}
	slices.Sort(out)
	return out
}

// TestFaultSeedReproducible: the same seed gives the same faults on the
// same requests, in any order of distinct requests; another seed gives
// others.
func TestFaultSeedReproducible(t *testing.T) {
	t.Parallel()
	f := newFaultFixture(t)
	var reqs []string
	for i := 0; i < 4; i++ {
		reqs = append(reqs, "GET /v2/app/manifests/v1", "HEAD /v2/app/manifests/v2", "GET /v2/app/tags/list",
			"GET /v2/app/blobs/"+f.layer.String(), "GET /v2/_catalog", "HEAD /v2/app/manifests/alias")
	}
	// Not 429 without Retry-After etc.: every kind is fine here, the
	// client does not retry. Latency is kept short.
	mix := UniformFaultMix(0.6)
	mix.LatencyMin, mix.LatencyMax = time.Millisecond, 2*time.Millisecond
	a := sendAll(t, f, f.proxy(t, 42, mix), reqs)
	if len(a) < 5 {
		t.Fatalf("only %d faults in %d requests at rate 0.6", len(a), len(reqs))
	}
	b := sendAll(t, f, f.proxy(t, 42, mix), reqs)
	if !slices.Equal(a, b) {
		t.Errorf("same seed, other faults:\n%s\n--\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
	// Distinct requests in another order: the same faults per request.
	rev := slices.Clone(reqs)
	slices.SortStableFunc(rev, func(x, y string) int { return strings.Compare(y, x) })
	c := sendAll(t, f, f.proxy(t, 42, mix), rev)
	if !slices.Equal(a, c) {
		t.Errorf("same seed, requests reordered, other faults:\n%s\n--\n%s", strings.Join(a, "\n"), strings.Join(c, "\n"))
	}
	d := sendAll(t, f, f.proxy(t, 43, mix), reqs)
	if slices.Equal(a, d) {
		t.Errorf("seeds 42 and 43 gave the same faults")
	}
	// A Key that renames the paths gives the faults of the renamed ones.
	renamed := mix
	renamed.Key = func(k string) string { return strings.Replace(k, "/manifests/v1", "/manifests/alias", 1) }
	pk, pa := f.proxy(t, 42, renamed), f.proxy(t, 42, mix)
	for i := 0; i < 12; i++ {
		sendAll(t, f, pk, []string{"GET /v2/app/manifests/v1"})
		sendAll(t, f, pa, []string{"GET /v2/app/manifests/alias"})
	}
	kinds := func(ev []FaultEvent) (out []string) {
		for _, e := range ev {
			out = append(out, fmt.Sprintf("#%d %s %s", e.N, e.Kind, strings.Split(e.Detail, ",")[0]))
		}
		return out
	}
	if ek, ea := kinds(pk.Events()), kinds(pa.Events()); len(ek) == 0 || !slices.Equal(ek, ea) {
		t.Errorf("Key: faults %v, want those of the renamed path %v", ek, ea)
	}
	// Same seed, same arrival order: the same Seq numbers too.
	p1, p2 := f.proxy(t, 9, mix), f.proxy(t, 9, mix)
	sendAll(t, f, p1, reqs)
	sendAll(t, f, p2, reqs)
	if e1, e2 := p1.Events(), p2.Events(); !slices.Equal(e1, e2) {
		t.Errorf("same seed and order, other event logs:\n%v\n%v", e1, e2)
	}
}

// TestFaultRates: the observed rate is close to the configured one.
func TestFaultRates(t *testing.T) {
	t.Parallel()
	f := newFaultFixture(t)
	p := f.proxy(t, 11, FaultMix{Rates: map[FaultKind]float64{Fault500: 0.2, Fault503: 0.1}})
	const n = 400
	for i := 0; i < n; i++ {
		f.do(t, p.Addr(), http.MethodHead, "/v2/app/manifests/v1")
	}
	c := p.Counts()
	if a, b := c.ByKind[Fault500], c.ByKind[Fault503]; a < 50 || a > 110 || b < 20 || b > 65 {
		t.Errorf("500: %d, 503: %d of %d; want about 80 and 40", a, b, n)
	}
	if c.Requests != n || c.Injected != c.ByKind[Fault500]+c.ByKind[Fault503] {
		t.Errorf("counts %v", c)
	}
}

// TestFaultDisabled: disabled, the proxy is transparent (the same bytes,
// statuses and headers as the registry) and injects nothing; enabled
// again, it injects.
func TestFaultDisabled(t *testing.T) {
	t.Parallel()
	f := newFaultFixture(t)
	p := f.proxy(t, 1, only(FaultReset))
	p.SetEnabled(false)
	for _, rq := range []struct{ method, path string }{
		{http.MethodGet, "/v2/"},
		{http.MethodGet, "/v2/app/manifests/v1"},
		{http.MethodHead, "/v2/app/manifests/alias"},
		{http.MethodGet, "/v2/app/manifests/missing"},
		{http.MethodGet, "/v2/app/blobs/" + f.layer.String()},
		{http.MethodGet, "/v2/app/tags/list?n=1"},
		{http.MethodGet, "/v2/_catalog"},
	} {
		want := f.do(t, f.reg.Addr(), rq.method, rq.path)
		got := f.do(t, p.Addr(), rq.method, rq.path)
		if got.err != nil || got.status != want.status || !bytes.Equal(got.body, want.body) {
			t.Errorf("%s %s: proxy %d %v %q, registry %d %q", rq.method, rq.path, got.status, got.err, got.body, want.status, want.body)
		}
		for _, h := range []string{"Content-Type", "Content-Length", "Docker-Content-Digest", "Link"} {
			if got.header.Get(h) != want.header.Get(h) {
				t.Errorf("%s %s: %s %q, registry %q", rq.method, rq.path, h, got.header.Get(h), want.header.Get(h))
			}
		}
	}
	// A DELETE goes through too.
	if r := f.do(t, p.Addr(), http.MethodDelete, "/v2/app/manifests/"+f.img2.String()); r.status != http.StatusAccepted {
		t.Errorf("DELETE through the disabled proxy: %d %v", r.status, r.err)
	}
	if c := p.Counts(); c.Injected != 0 || c.Requests != 8 || len(p.Events()) != 0 {
		t.Errorf("disabled proxy counted %v", c)
	}
	p.SetEnabled(true)
	if r := f.do(t, p.Addr(), http.MethodGet, "/v2/app/tags/list"); r.err == nil {
		t.Errorf("enabled again, no reset: %d", r.status)
	}
}

func TestFaultMixValidation(t *testing.T) {
	t.Parallel()
	for _, m := range []FaultMix{
		{Rates: map[FaultKind]float64{Fault500: 0.7, Fault502: 0.4}},
		{Rates: map[FaultKind]float64{Fault500: -0.1}},
		{Rates: map[FaultKind]float64{"teapot": 0.1}},
		{LatencyMin: 10 * time.Millisecond, LatencyMax: time.Millisecond},
	} {
		if p, err := NewFaultProxy("127.0.0.1:1", 1, m); err == nil {
			p.Close()
			t.Errorf("NewFaultProxy accepted %+v", m)
		}
	}
	if s := UniformFaultMix(0.12).String(); !strings.Contains(s, "reset=1%") || !strings.Contains(s, "DELETE done, then 502=1%") {
		t.Errorf("UniformFaultMix(0.12) = %s", s)
	}
}
