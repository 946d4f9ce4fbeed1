package oci

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// The connection layer. go-containerregistry authenticates per transport:
// each transport.NewWithContext pings /v2/ and, on a token registry,
// fetches a token for its scopes. A Puller makes one transport per
// repository for reads, and a delete client another: two pings and two
// tokens per repository. Here the registry is pinged once per run (the
// challenge is the registry's, not a repository's), and each repository
// has one transport for its reads and its deletes: one token, asked with
// the delete scope too when the run may delete (WithDeletes). Where the
// registry takes no token (anonymous or Basic auth) every repository
// shares one transport. Every transport sits on the same HTTP connection
// pool, so connections are reused across repositories.

// conn is how one repository (or, for the catalog, the registry) is
// reached: pullers and a delete client on one authenticated transport.
type conn struct {
	puller  *remote.Puller
	unpaged *remote.Puller // lists without n (see pageSizeRefused)
	client  *http.Client   // deletes: redirects are not followed
}

// lazyConn builds a conn once; an error is not kept, so the next call
// tries again (a registry that was down comes back).
type lazyConn struct {
	mu sync.Mutex
	c  *conn
}

// challenge pings the registry once and returns how it authenticates;
// the answer is kept to be replayed (pingReplay) to every later handshake.
func (b *Backend) challenge(ctx context.Context) (*transport.Challenge, error) {
	b.pingMu.Lock()
	defer b.pingMu.Unlock()
	if b.pinged != nil {
		return b.pinged, nil
	}
	rec := &pingRecorder{host: b.reg.RegistryStr(), next: b.rt}
	pr, err := transport.Ping(ctx, b.reg, rec)
	if err != nil {
		return nil, err
	}
	b.pinged, b.pings = pr, rec.answers()
	return pr, nil
}

// conn returns the conn of repo ("" for the registry: the catalog).
func (b *Backend) conn(ctx context.Context, repo string) (*conn, error) {
	v, _ := b.conns.LoadOrStore(repo, &lazyConn{})
	lc := v.(*lazyConn)
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.c != nil {
		return lc.c, nil
	}
	tr, err := b.authenticated(ctx, repo)
	if err != nil {
		return nil, err
	}
	c, err := b.newConn(tr)
	if err != nil {
		return nil, err
	}
	lc.c = c
	return c, nil
}

func (b *Backend) newConn(tr http.RoundTripper) (*conn, error) {
	// The referrers tag fallback is off: the engine reads sha256-<hex> tags
	// from the tag list it has anyway, instead of one GET per manifest.
	// ggcr caps blob GETs (image configs) at WithJobs, 4 by default, under
	// the request cap; the request cap is the one the user set. ECR refuses
	// n > 1000 on tags/list and _catalog (ggcr#1091); every registry here
	// follows the Link header for the rest.
	popts := []remote.Option{remote.WithTransport(tr), remote.WithReferrersTagFallback(false), remote.WithJobs(b.jobs)}
	p, err := remote.NewPuller(append(popts[:len(popts):len(popts)], remote.WithPageSize(1000))...)
	if err != nil {
		return nil, err
	}
	u, err := remote.NewPuller(append(popts[:len(popts):len(popts)], remote.WithPageSize(0))...)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &conn{puller: p, unpaged: u, client: client}, nil
}

// authenticated is the transport of repo ("" for the registry): the one
// shared transport where the registry takes no token, else one with a
// token of its own scopes. Both come from go-containerregistry's own
// handshake (transport.NewWithContext: the scheme the ping settled on, the
// bearer transport that refreshes its token on a 401 with the scope the
// challenge names), given the registry's first ping again instead of a
// new one.
func (b *Backend) authenticated(ctx context.Context, repo string) (http.RoundTripper, error) {
	// ggcr's delete scope, as its own delete asks (push,pull,delete): a
	// token server grants what the credentials allow of it.
	scope := transport.PullScope
	if b.deletes {
		scope = transport.DeleteScope
	}
	return b.authenticatedAs(ctx, repo, scope)
}

// authenticatedAs is authenticated with a token of scope (an action:
// pull, push, delete) on repo.
func (b *Backend) authenticatedAs(ctx context.Context, repo, scope string) (http.RoundTripper, error) {
	pr, err := b.challenge(ctx)
	if err != nil {
		return nil, err
	}
	rt := &pingReplay{host: b.reg.RegistryStr(), answers: b.pings, next: b.split}
	if !strings.EqualFold(pr.Scheme, "bearer") {
		b.sharedMu.Lock()
		defer b.sharedMu.Unlock()
		if b.shared == nil {
			if b.shared, err = transport.NewWithContext(ctx, b.reg, b.auth, rt, nil); err != nil {
				return nil, err
			}
		}
		return b.shared, nil
	}
	scopes := []string{b.reg.Scope(transport.CatalogScope)}
	if repo != "" {
		scopes = []string{b.repo(repo).Scope(scope)}
	}
	return transport.NewWithContext(ctx, b.reg, b.auth, rt, scopes)
}

// pingAnswer is the registry's answer to the ping over one scheme: its
// status and headers (the challenge), and the scheme it came over.
type pingAnswer struct {
	status int
	header http.Header
	wire   string
}

// pingRecorder passes the ping through and keeps the answers that tell
// how the registry authenticates (200, 401), by the scheme asked.
type pingRecorder struct {
	host string
	next http.RoundTripper

	mu   sync.Mutex
	seen map[string]pingAnswer
}

func isPing(req *http.Request, host string) bool {
	return req.Method == http.MethodGet && req.URL.Host == host && req.URL.Path == "/v2/"
}

func (p *pingRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := p.next.RoundTrip(req)
	if err == nil && isPing(req, p.host) && (resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized) {
		wire := req.URL.Scheme
		if resp.Request != nil {
			wire = resp.Request.URL.Scheme
		}
		p.mu.Lock()
		if p.seen == nil {
			p.seen = map[string]pingAnswer{}
		}
		p.seen[req.URL.Scheme] = pingAnswer{status: resp.StatusCode, header: resp.Header.Clone(), wire: wire}
		p.mu.Unlock()
	}
	return resp, err
}

func (p *pingRecorder) answers() map[string]pingAnswer {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen
}

// pingReplay answers a ping with the registry's first answer over the
// same scheme, and refuses one over a scheme that gave none (so the
// handshake settles where the first did); everything else passes.
type pingReplay struct {
	host    string
	answers map[string]pingAnswer
	next    http.RoundTripper
}

func (p *pingReplay) RoundTrip(req *http.Request) (*http.Response, error) {
	if !isPing(req, p.host) {
		return p.next.RoundTrip(req)
	}
	a, ok := p.answers[req.URL.Scheme]
	if !ok {
		return nil, fmt.Errorf("%s://%s/v2/ not asked again: the registry answered its first ping over another scheme", req.URL.Scheme, p.host)
	}
	shown := req.Clone(req.Context())
	shown.URL.Scheme = a.wire
	return &http.Response{StatusCode: a.status, Status: http.StatusText(a.status), Header: a.header.Clone(), Body: http.NoBody,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Request: shown}, nil
}

// byMethod sends reads (GET, HEAD) through read and everything else
// (DELETE) through write: reads are retried on a connection cut off
// before the answer, as go-containerregistry retries its own reads; a
// DELETE is not (remove finds out what happened instead).
type byMethod struct {
	read, write http.RoundTripper
}

func (m *byMethod) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodGet || req.Method == http.MethodHead {
		return m.read.RoundTrip(req)
	}
	return m.write.RoundTrip(req)
}

// readRetryable is go-containerregistry's retry predicate for reads
// (remote's defaultRetryPredicate): temporary errors and connections lost
// before the answer.
func readRetryable(err error) bool {
	return temporary(err) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed)
}

// temporary is go-containerregistry's retry.IsTemporary.
func temporary(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	te, ok := err.(interface{ Temporary() bool })
	return ok && te.Temporary()
}
