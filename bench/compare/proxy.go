package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// proxy is the network between a tool and the registry: an HTTP reverse
// proxy on 127.0.0.1 that holds every request for the injected latency
// before passing it on, and counts what passes, by method and route class.
// It keeps the client's Host header, so the URLs the registry builds (upload
// locations, Link headers) point back at the proxy.
type proxy struct {
	latency time.Duration
	ln      net.Listener
	srv     *http.Server
	rp      *httputil.ReverseProxy

	mu      sync.Mutex
	log     io.Writer // every request, one line each, when set
	t0      time.Time
	byRoute map[string]int           // "GET manifest"
	upRoute map[string]time.Duration // registry time by route, summed
	status  map[int]int
	total   int

	conns       atomic.Int64 // TCP connections accepted
	inFlight    atomic.Int64
	maxInFlight atomic.Int64
	held        atomic.Int64 // ns requests spent in the proxy (latency + registry), summed
	upstream    atomic.Int64 // ns the registry took to answer, summed
}

func startProxy(target string, latency time.Duration) (*proxy, error) {
	u, err := url.Parse("http://" + target)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{latency: latency, ln: ln, byRoute: map[string]int{}, upRoute: map[string]time.Duration{}, status: map[int]int{}, t0: time.Now()}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 512, 512
	p.rp = httputil.NewSingleHostReverseProxy(u)
	p.rp.Transport = tr
	p.rp.ErrorLog = nil
	p.srv = &http.Server{
		Handler:           p,
		ReadHeaderTimeout: time.Minute,
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				p.conns.Add(1)
			}
		},
	}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

func (p *proxy) Addr() string { return p.ln.Addr().String() }

func (p *proxy) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return p.srv.Shutdown(ctx)
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	start := time.Now()
	n := p.inFlight.Add(1)
	for {
		m := p.maxInFlight.Load()
		if n <= m || p.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	defer p.inFlight.Add(-1)
	if p.latency > 0 {
		t := time.NewTimer(p.latency)
		select {
		case <-t.C:
		case <-req.Context().Done():
			t.Stop()
		}
	}
	up := time.Now()
	rec := &testregistry.StatusWriter{ResponseWriter: w}
	p.rp.ServeHTTP(rec, req)
	end := time.Now()
	p.upstream.Add(int64(end.Sub(up)))
	p.held.Add(int64(end.Sub(start)))
	key := req.Method + " " + string(testregistry.Classify(req.URL.Path))
	p.mu.Lock()
	p.byRoute[key]++
	p.upRoute[key] += end.Sub(up)
	p.status[rec.Status()]++
	p.total++
	if p.log != nil {
		fmt.Fprintf(p.log, "%.3f %.3f %s %s %d\n", start.Sub(p.t0).Seconds(), end.Sub(p.t0).Seconds(), req.Method, req.URL.RequestURI(), rec.Status())
	}
	p.mu.Unlock()
}

// proxyStats is what a proxy saw.
type proxyStats struct {
	Total       int
	ByRoute     map[string]int
	UpRoute     map[string]time.Duration // registry time by route, summed
	Status      map[int]int
	Conns       int64
	MaxInFlight int64
	Held        time.Duration
	Upstream    time.Duration
}

func (p *proxy) Stats() proxyStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := proxyStats{Total: p.total, ByRoute: map[string]int{}, UpRoute: map[string]time.Duration{}, Status: map[int]int{}, Conns: p.conns.Load(),
		MaxInFlight: p.maxInFlight.Load(), Held: time.Duration(p.held.Load()), Upstream: time.Duration(p.upstream.Load())}
	for k, v := range p.byRoute {
		s.ByRoute[k] = v
	}
	for k, v := range p.upRoute {
		s.UpRoute[k] = v
	}
	for k, v := range p.status {
		s.Status[k] = v
	}
	return s
}
