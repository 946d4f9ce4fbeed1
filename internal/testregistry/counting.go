package testregistry

import (
	"net/http/httputil"
	"net/url"
)

// CountingProxy is a reverse proxy in front of a registry that counts the
// requests it passes on, by method and route class, as every [Server]
// counts its own. A client sent through it is counted alone: the vendor
// replicas read their registry directly, and those reads are not its.
// It serves plain HTTP on 127.0.0.1 and keeps the client's Host header.
type CountingProxy struct {
	rec  *recorder
	http *httpServer
}

// NewCountingProxy starts a counting proxy in front of the registry at
// target ("127.0.0.1:PORT", plain HTTP).
func NewCountingProxy(target string) (*CountingProxy, error) {
	u := &url.URL{Scheme: "http", Host: target}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(u)
		pr.Out.Host = pr.In.Host // Location and Link headers point back here
	}}
	rec := newRecorder(rp)
	srv, err := serveLoopback(rec)
	if err != nil {
		return nil, err
	}
	return &CountingProxy{rec: rec, http: srv}, nil
}

// Addr returns the proxy's "127.0.0.1:PORT" address.
func (p *CountingProxy) Addr() string { return p.http.addr() }

// Close stops the proxy.
func (p *CountingProxy) Close() error { return p.http.close() }

// Requests returns a snapshot of the requests passed on.
func (p *CountingProxy) Requests() Counts { return p.rec.requests() }

// ResetRequests zeroes the counters.
func (p *CountingProxy) ResetRequests() { p.rec.reset() }
