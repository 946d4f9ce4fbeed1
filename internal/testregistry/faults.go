package testregistry

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FaultKind names one kind of fault a [FaultProxy] injects.
type FaultKind string

// The fault kinds. Unless a kind says otherwise the fault is injected
// before the request is forwarded: the registry never sees the request.
const (
	// FaultReset hijacks the connection and closes it without answering:
	// with a TCP RST ("connection reset by peer") or a plain close (the
	// client reads EOF), chosen by the seed.
	FaultReset FaultKind = "reset"
	// FaultTruncated forwards the request, then answers with the
	// registry's status and headers and a Content-Length of the whole
	// body, sends only part of the body and closes the connection. Only
	// GET requests get it (HEAD and DELETE answers have no body).
	FaultTruncated FaultKind = "truncated-body"
	// Fault429 answers 429 TOOMANYREQUESTS without Retry-After.
	Fault429 FaultKind = "429"
	// Fault429RetryAfter0 answers 429 with "Retry-After: 0".
	Fault429RetryAfter0 FaultKind = "429 Retry-After: 0"
	// Fault429RetryAfter1 answers 429 with "Retry-After: 1".
	Fault429RetryAfter1 FaultKind = "429 Retry-After: 1"
	// Fault500 answers 500 UNKNOWN.
	Fault500 FaultKind = "500"
	// Fault502 answers 502 (a gateway in front of the registry).
	Fault502 FaultKind = "502"
	// Fault503 answers 503 UNAVAILABLE without Retry-After.
	Fault503 FaultKind = "503"
	// Fault503RetryAfter answers 503 with "Retry-After: 0" or "1" (the
	// seed chooses; the event's Detail says which).
	Fault503RetryAfter FaultKind = "503 Retry-After"
	// FaultLatency delays the request by a duration between
	// FaultMix.LatencyMin and LatencyMax, then forwards it normally.
	FaultLatency FaultKind = "latency"
	// FaultDeleteThen502 forwards a DELETE to the registry (which deletes)
	// and then answers 502 instead of the registry's answer. Only DELETE
	// requests get it.
	FaultDeleteThen502 FaultKind = "DELETE done, then 502"
	// FaultDeleteThenReset forwards a DELETE to the registry (which
	// deletes) and then resets the connection without answering. Only
	// DELETE requests get it.
	FaultDeleteThenReset FaultKind = "DELETE done, then reset"
)

// FaultKinds lists every fault kind, in a fixed order (the order in which
// a request's random draw is mapped onto the kinds).
var FaultKinds = []FaultKind{
	FaultReset, FaultTruncated,
	Fault429, Fault429RetryAfter0, Fault429RetryAfter1,
	Fault500, Fault502, Fault503, Fault503RetryAfter,
	FaultLatency,
	FaultDeleteThen502, FaultDeleteThenReset,
}

// applies reports whether kind can be injected into a request with the
// given method.
func (k FaultKind) applies(method string) bool {
	switch k {
	case FaultTruncated:
		return method == http.MethodGet
	case FaultDeleteThen502, FaultDeleteThenReset:
		return method == http.MethodDelete
	}
	return true
}

// FaultMix configures a [FaultProxy]: how likely each kind of fault is.
type FaultMix struct {
	// Rates is the probability, per request, of each kind. The rates
	// must be in [0, 1] and add up to at most 1; the rest is the
	// probability of no fault. A kind that does not apply to a request
	// (FaultTruncated to anything but GET, the DELETE kinds to anything
	// but DELETE) counts as no fault for it, so such requests see fewer
	// faults.
	Rates map[FaultKind]float64
	// LatencyMin and LatencyMax bound FaultLatency's delay. Zero values
	// mean 5ms and 50ms.
	LatencyMin, LatencyMax time.Duration
	// FaultPing also injects faults into the API version check, GET
	// /v2/. Without it the ping always passes, so that scheme and auth
	// detection are stable.
	FaultPing bool
	// Match, when set, restricts injection to the requests it accepts;
	// the others are forwarded untouched (and not counted as injected).
	Match func(*http.Request) bool
	// Key, when set, rewrites the key a request's decisions are drawn
	// for: by default "METHOD /path?query" (with the random part of
	// tagsweep's tag-delete probe dropped). Use it to replace parts of the
	// path that differ between runs of the same scenario, e.g. digests of
	// content that embeds the registry's address, by stable names.
	Key func(key string) string
}

// UniformFaultMix spreads total (the per-request fault probability)
// evenly over every kind in [FaultKinds].
func UniformFaultMix(total float64) FaultMix {
	m := FaultMix{Rates: map[FaultKind]float64{}}
	for _, k := range FaultKinds {
		m.Rates[k] = total / float64(len(FaultKinds))
	}
	return m
}

// String renders the mix's non-zero rates, e.g. "reset=2% 429=1% …".
func (m FaultMix) String() string {
	var parts []string
	for _, k := range FaultKinds {
		if r := m.Rates[k]; r > 0 {
			parts = append(parts, fmt.Sprintf("%s=%.3g%%", k, r*100))
		}
	}
	if len(parts) == 0 {
		return "no faults"
	}
	return strings.Join(parts, " ")
}

func (m FaultMix) validate() error {
	sum := 0.0
	for k, r := range m.Rates {
		if !slices.Contains(FaultKinds, k) {
			return fmt.Errorf("testregistry: unknown fault kind %q", k)
		}
		if r < 0 || r > 1 {
			return fmt.Errorf("testregistry: fault rate of %q is %v, not in [0, 1]", k, r)
		}
		sum += r
	}
	if sum > 1+1e-9 {
		return fmt.Errorf("testregistry: fault rates add up to %v > 1", sum)
	}
	if m.LatencyMin < 0 || m.LatencyMax < 0 || (m.LatencyMax != 0 && m.LatencyMax < m.LatencyMin) {
		return fmt.Errorf("testregistry: bad latency bounds %s..%s", m.LatencyMin, m.LatencyMax)
	}
	return nil
}

// FaultEvent is one injected fault.
type FaultEvent struct {
	// Seq is the request's arrival number at the proxy (from 1), counting
	// every request, also those without a fault.
	Seq int64
	// Method and Path are the request's, e.g. "DELETE" and
	// "/v2/app/manifests/sha256:…"; Path includes the query, if any.
	Method, Path string
	// N is the occurrence of this method and path (from 1): the N-th such
	// request got the fault.
	N int
	// Kind is the fault.
	Kind FaultKind
	// Detail adds the variant: "RST" or "FIN" for resets, the delay for
	// latency, "sent 120 of 473 bytes" for truncations, the Retry-After
	// value, the registry's own status for the DELETE kinds.
	Detail string
}

// String renders the event on one line.
func (e FaultEvent) String() string {
	s := fmt.Sprintf("#%d %s %s (#%d): %s", e.Seq, e.Method, e.Path, e.N, e.Kind)
	if e.Detail != "" {
		s += " [" + e.Detail + "]"
	}
	return s
}

// FaultCounts is a snapshot of what a [FaultProxy] did.
type FaultCounts struct {
	// Requests is the number of requests the proxy received.
	Requests int
	// Injected is the number of faults injected (latency included).
	Injected int
	// ByKind counts the injected faults per kind.
	ByKind map[FaultKind]int
	// ByRoute counts the injected faults per method and route class.
	ByRoute map[Route]int
}

// Add adds c to the receiver's counts (for totals over several proxies).
func (c *FaultCounts) Add(o FaultCounts) {
	if c.ByKind == nil {
		c.ByKind = map[FaultKind]int{}
	}
	if c.ByRoute == nil {
		c.ByRoute = map[Route]int{}
	}
	c.Requests += o.Requests
	c.Injected += o.Injected
	for k, v := range o.ByKind {
		c.ByKind[k] += v
	}
	for k, v := range o.ByRoute {
		c.ByRoute[k] += v
	}
}

// String renders the counts by kind on one line, in [FaultKinds] order,
// e.g. "37 faults in 412 requests: reset=4 429=2 …".
func (c FaultCounts) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d faults in %d requests:", c.Injected, c.Requests)
	for _, k := range FaultKinds {
		if n := c.ByKind[k]; n > 0 {
			fmt.Fprintf(&b, " %s=%d", k, n)
		}
	}
	return b.String()
}

// FaultProxy is a reverse proxy in front of a registry that injects
// faults into the requests it forwards: connection resets, truncated
// bodies, 429/500/502/503 answers with and without Retry-After, latency
// spikes, and DELETEs that the registry executes but whose answer is
// replaced by a 502 or a reset. It serves plain HTTP on 127.0.0.1.
//
// Every decision is drawn from a math/rand/v2 PCG seeded with the proxy's
// seed and a hash of the request's method, path (with query) and
// occurrence number: the N-th "GET /v2/app/manifests/v1" of a run gets
// the same fault for the same seed however the client's concurrent
// requests interleave. Given the same seed and the same registry content
// (digests are in the paths), a run sees the same faults again.
//
// The proxy keeps the client's Host header, so that URLs the registry
// builds (Location, Link) point at the proxy.
type FaultProxy struct {
	target string
	seed   uint64
	mix    FaultMix
	http   *httpServer
	up     *http.Transport

	enabled atomic.Bool
	seq     atomic.Int64

	mu     sync.Mutex
	seen   map[string]int
	counts FaultCounts
	events []FaultEvent
}

// NewFaultProxy starts a fault-injecting proxy in front of the registry
// at target ("127.0.0.1:PORT", plain HTTP). It starts enabled.
func NewFaultProxy(target string, seed uint64, mix FaultMix) (*FaultProxy, error) {
	if err := mix.validate(); err != nil {
		return nil, err
	}
	if mix.LatencyMin == 0 && mix.LatencyMax == 0 {
		mix.LatencyMin, mix.LatencyMax = 5*time.Millisecond, 50*time.Millisecond
	}
	if mix.LatencyMax < mix.LatencyMin {
		mix.LatencyMax = mix.LatencyMin
	}
	mix.Rates = maps.Clone(mix.Rates)
	p := &FaultProxy{
		target: target,
		seed:   seed,
		mix:    mix,
		up: &http.Transport{
			Proxy:               nil,
			DisableCompression:  true,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     30 * time.Second,
		},
		seen:   map[string]int{},
		counts: FaultCounts{ByKind: map[FaultKind]int{}, ByRoute: map[Route]int{}},
	}
	p.enabled.Store(true)
	srv, err := serveLoopback(p)
	if err != nil {
		return nil, err
	}
	p.http = srv
	return p, nil
}

// Addr returns the proxy's "127.0.0.1:PORT" address.
func (p *FaultProxy) Addr() string { return p.http.addr() }

// Seed returns the proxy's seed.
func (p *FaultProxy) Seed() uint64 { return p.seed }

// Mix returns the proxy's fault mix.
func (p *FaultProxy) Mix() FaultMix { return p.mix }

// Close stops the proxy. It is safe to call twice.
func (p *FaultProxy) Close() error {
	err := p.http.close()
	p.up.CloseIdleConnections()
	return err
}

// SetEnabled turns injection on or off. Disabled, the proxy forwards
// every request untouched and draws no decision (the occurrence numbers
// do not advance either). It may be called while requests are in flight.
func (p *FaultProxy) SetEnabled(on bool) { p.enabled.Store(on) }

// Counts returns a snapshot of the requests received and the faults
// injected.
func (p *FaultProxy) Counts() FaultCounts {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := FaultCounts{}
	out.Add(p.counts)
	return out
}

// Events returns the faults injected so far, in the order they were
// decided.
func (p *FaultProxy) Events() []FaultEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.events)
}

// decision is what to do with one request.
type decision struct {
	kind  FaultKind // "" for none
	ev    FaultEvent
	rng   *rand.Rand
	index int // into p.events, to fill in Detail later
}

// probeTag is the prefix of the tag name tagsweep deletes to learn whether
// the registry supports tag deletes; its random rest is dropped from the
// decision key so that the probe's faults are reproducible too.
const probeTag = "/manifests/tagsweep-probe-"

// decide draws the fault, if any, for req.
func (p *FaultProxy) decide(req *http.Request) decision {
	seq := p.seq.Add(1)
	path := req.URL.Path
	if req.URL.RawQuery != "" {
		path += "?" + req.URL.RawQuery
	}
	if !p.enabled.Load() {
		p.mu.Lock()
		p.counts.Requests++
		p.mu.Unlock()
		return decision{}
	}
	if (!p.mix.FaultPing && Classify(req.URL.Path) == ClassBase) || (p.mix.Match != nil && !p.mix.Match(req)) {
		p.mu.Lock()
		p.counts.Requests++
		p.mu.Unlock()
		return decision{}
	}
	key := req.Method + " " + path
	if i := strings.Index(key, probeTag); i >= 0 {
		key = key[:i+len(probeTag)] + "*"
	}
	if p.mix.Key != nil {
		key = p.mix.Key(key)
	}
	p.mu.Lock()
	p.counts.Requests++
	p.seen[key]++
	n := p.seen[key]
	p.mu.Unlock()

	h := fnv.New64a()
	_, _ = io.WriteString(h, key)
	rng := rand.New(rand.NewPCG(p.seed, h.Sum64()^(uint64(n)*0x9e3779b97f4a7c15)))
	u := rng.Float64()
	var kind FaultKind
	acc := 0.0
	for _, k := range FaultKinds {
		acc += p.mix.Rates[k]
		if u < acc {
			if k.applies(req.Method) {
				kind = k
			}
			break
		}
	}
	if kind == "" {
		return decision{}
	}
	d := decision{kind: kind, rng: rng, ev: FaultEvent{Seq: seq, Method: req.Method, Path: path, N: n, Kind: kind}}
	p.mu.Lock()
	p.counts.Injected++
	p.counts.ByKind[kind]++
	p.counts.ByRoute[Route{Method: req.Method, Class: Classify(req.URL.Path)}]++
	d.index = len(p.events)
	p.events = append(p.events, d.ev)
	p.mu.Unlock()
	return d
}

func (p *FaultProxy) detail(d decision, s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d.index < len(p.events) {
		p.events[d.index].Detail = s
	}
}

// ServeHTTP injects the fault decided for req, if any, and otherwise
// forwards req to the registry.
func (p *FaultProxy) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	d := p.decide(req)
	switch d.kind {
	case "":
		p.pass(w, req)
	case FaultReset:
		rst := d.rng.IntN(2) == 0
		p.detail(d, map[bool]string{true: "RST", false: "FIN"}[rst])
		hangUp(w, rst)
	case Fault429, Fault429RetryAfter0, Fault429RetryAfter1:
		switch d.kind {
		case Fault429RetryAfter0:
			w.Header().Set("Retry-After", "0")
		case Fault429RetryAfter1:
			w.Header().Set("Retry-After", "1")
		}
		WriteError(w, http.StatusTooManyRequests, "TOOMANYREQUESTS", "injected by testregistry: too many requests")
	case Fault500:
		WriteError(w, http.StatusInternalServerError, "UNKNOWN", "injected by testregistry: internal error")
	case Fault502:
		badGateway(w)
	case Fault503:
		WriteError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "injected by testregistry: unavailable")
	case Fault503RetryAfter:
		ra := strconv.Itoa(d.rng.IntN(2))
		p.detail(d, "Retry-After: "+ra)
		w.Header().Set("Retry-After", ra)
		WriteError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "injected by testregistry: unavailable")
	case FaultLatency:
		lo, hi := p.mix.LatencyMin, p.mix.LatencyMax
		delay := lo + time.Duration(d.rng.Int64N(int64(hi-lo)+1))
		p.detail(d, delay.String())
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-req.Context().Done():
			t.Stop()
			return
		}
		p.pass(w, req)
	case FaultTruncated:
		p.truncate(w, req, d)
	case FaultDeleteThen502, FaultDeleteThenReset:
		resp, err := p.forward(req)
		if err != nil {
			p.detail(d, "registry: "+err.Error())
			badGateway(w)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if d.kind == FaultDeleteThen502 {
			p.detail(d, fmt.Sprintf("registry answered %d", resp.StatusCode))
			badGateway(w)
			return
		}
		rst := d.rng.IntN(2) == 0
		p.detail(d, fmt.Sprintf("registry answered %d; %s", resp.StatusCode, map[bool]string{true: "RST", false: "FIN"}[rst]))
		hangUp(w, rst)
	}
}

func badGateway(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(http.StatusBadGateway)
	_, _ = io.WriteString(w, "<html><body><h1>502 Bad Gateway</h1>injected by testregistry</body></html>\n")
}

// hangUp closes the client's connection without an answer: with a TCP RST
// when rst, else with a normal close.
func hangUp(w http.ResponseWriter, rst bool) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("testregistry: FaultProxy needs a hijackable connection")
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok && rst {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// hopHeaders are the hop-by-hop headers a proxy does not forward.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// forward sends req to the registry and returns its response.
func (p *FaultProxy) forward(req *http.Request) (*http.Response, error) {
	out := req.Clone(req.Context())
	out.RequestURI = ""
	out.URL.Scheme = "http"
	out.URL.Host = p.target
	out.Host = req.Host
	for _, h := range hopHeaders {
		out.Header.Del(h)
	}
	if req.ContentLength == 0 {
		out.Body = nil
	}
	return p.up.RoundTrip(out)
}

func copyHeader(dst, src http.Header) {
	for k, v := range src {
		if slices.Contains(hopHeaders, k) {
			continue
		}
		dst[k] = slices.Clone(v)
	}
}

// pass forwards req and streams the registry's answer back.
func (p *FaultProxy) pass(w http.ResponseWriter, req *http.Request) {
	resp, err := p.forward(req)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return
		}
		WriteError(w, http.StatusBadGateway, "UNKNOWN", "testregistry proxy: "+err.Error())
		return
	}
	defer resp.Body.Close()
	copyHeader(w.Header(), resp.Header)
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// truncate forwards req, then sends the registry's status and headers with
// the full Content-Length but only part of the body, and closes.
func (p *FaultProxy) truncate(w http.ResponseWriter, req *http.Request, d decision) {
	resp, err := p.forward(req)
	if err != nil {
		p.detail(d, "registry: "+err.Error())
		hangUp(w, false)
		return
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	resp.Body.Close()
	if err != nil {
		hangUp(w, false)
		return
	}
	promised := max(len(body), 1)
	send := 0
	if len(body) > 1 {
		send = d.rng.IntN(len(body)) // 0 .. len-1: always short
	}
	p.detail(d, fmt.Sprintf("status %d, sent %d of %d bytes", resp.StatusCode, send, promised))

	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("testregistry: FaultProxy needs a hijackable connection")
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	h := http.Header{}
	copyHeader(h, resp.Header)
	h.Set("Content-Length", strconv.Itoa(promised))
	bw := bufio.NewWriter(conn)
	if brw != nil {
		bw = brw.Writer
	}
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\n", resp.StatusCode, http.StatusText(resp.StatusCode))
	_ = h.Write(bw)
	_, _ = io.WriteString(bw, "\r\n")
	_, _ = bw.Write(body[:send])
	_ = bw.Flush()
}
