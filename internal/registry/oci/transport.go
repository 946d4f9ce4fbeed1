package oci

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/tagsweep/tagsweep/internal/netutil"
	"github.com/tagsweep/tagsweep/internal/registry/restapi"
)

// pinScheme sends every request to the registry host over one scheme,
// whatever go-containerregistry picked. ggcr treats loopback and RFC 1918
// hosts as plain-HTTP capable and falls back to http after https fails;
// README (the registry input) has `https://` mean TLS only and plain HTTP
// only where the user allowed it. Requests to other hosts (token realms) pass through.
// An empty scheme pins nothing (ggcr's https-then-http fallback applies).
//
// ggcr checks that a pagination Link has the scheme of Registry.Scheme(),
// which says "http" for loopback, RFC 1918 and insecure registries even
// when the ping settled on TLS. So the responses of registry requests
// other than the ping carry a Request with ggcr's own idea of the scheme;
// ggcr's scheme transport turns the next page back to the wire scheme.
// The ping's response is left alone: ggcr reads the wire scheme from it.
type pinScheme struct {
	host       string
	scheme     string
	ggcrScheme string
	// plainHint tells what to write when the host answers plain HTTP to
	// the TLS handshake of a request pinned to https.
	plainHint string
	next      http.RoundTripper
}

// PlainHTTPError is a registry reached over TLS that answered in plain
// HTTP: its Hint says how to ask for plain HTTP, if that is really meant.
type PlainHTTPError struct {
	Host, Hint string
	Err        error
}

// Error names the host, what happened and the hint.
func (e *PlainHTTPError) Error() string {
	return fmt.Sprintf("%s answered plain HTTP to a TLS handshake (%v): %s", e.Host, http.ErrSchemeMismatch, e.Hint)
}

// Unwrap returns the TLS error.
func (e *PlainHTTPError) Unwrap() []error { return []error{http.ErrSchemeMismatch, e.Err} }

// plainHTTPHint is what to write to reach host over plain HTTP: loopback
// hosts may use http:// as they are, others need insecure too.
func plainHTTPHint(host string, explicit bool) string {
	why := "a registry without a scheme is reached over TLS"
	if explicit {
		why = "https:// means TLS only"
	}
	if netutil.IsLoopback(host) {
		return fmt.Sprintf("%s; if plain HTTP is really meant, write `http://%s` in `registry`", why, host)
	}
	return fmt.Sprintf("%s; if plain HTTP is really meant, write `http://%s` in `registry` and set `insecure: true`", why, host)
}

func (p *pinScheme) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != p.host {
		return p.next.RoundTrip(req)
	}
	out := req
	if p.scheme == "https" && req.URL.Scheme == "http" && req.URL.Path == "/v2/" {
		// ggcr's ping tries https first, then http on registries it may
		// reach over plain HTTP. Pinned to https, the second try would
		// repeat the first one's TLS error under an http:// URL, as if
		// plain HTTP had been tried.
		return nil, fmt.Errorf("plain HTTP not tried: %s is reached over https only", p.host)
	}
	if p.scheme != "" && req.URL.Scheme != p.scheme {
		out = req.Clone(req.Context())
		out.URL.Scheme = p.scheme
	}
	resp, err := p.next.RoundTrip(out)
	var rh tls.RecordHeaderError
	if err != nil && out.URL.Scheme == "https" && p.plainHint != "" && errors.As(err, &rh) && string(rh.RecordHeader[:]) == "HTTP/" {
		// What http.Client reports as ErrSchemeMismatch (golang.org/issue/11111).
		return nil, &PlainHTTPError{Host: p.host, Hint: p.plainHint, Err: err}
	}
	if resp != nil && req.URL.Path != "/v2/" {
		shown := *req
		u := *req.URL
		u.Scheme = p.ggcrScheme
		shown.URL = &u
		resp.Request = &shown
	}
	return resp, err
}

// Stats counts what the transport did.
type Stats struct {
	Requests   int64
	RateLimits int64 // 429/503 answers that were retried
}

// backoff honours 429 Too Many Requests and 503 Service Unavailable: it
// waits for Retry-After (delta-seconds or an HTTP date, RFC 9110 §10.2.3),
// or backs off exponentially when the header is absent, and pauses every
// other request to the registry for as long. go-containerregistry's own
// retry does not read Retry-After, so it is told not to retry these codes.
type backoff struct {
	next       http.RoundTripper
	maxRetries int
	maxWait    time.Duration
	base       time.Duration
	pauseUntil atomic.Int64 // unix nanos
	stats      *Stats
	sleep      func(ctx context.Context, d time.Duration) error
}

func (b *backoff) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		if until := b.pauseUntil.Load(); until > 0 {
			if d := time.Until(time.Unix(0, until)); d > 0 {
				if err := b.sleep(req.Context(), d); err != nil {
					return nil, err
				}
			}
		}
		atomic.AddInt64(&b.stats.Requests, 1)
		resp, err := b.next.RoundTrip(req)
		if err != nil || (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable) {
			return resp, err
		}
		if attempt >= b.maxRetries || (req.Body != nil && req.GetBody == nil) {
			return resp, nil
		}
		wait, ok := retryAfter(resp.Header, time.Now())
		if !ok {
			wait = b.base << attempt
			wait += time.Duration(rand.Int64N(int64(wait)/5 + 1))
		}
		wait = min(wait, b.maxWait)
		atomic.AddInt64(&b.stats.RateLimits, 1)
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		until := time.Now().Add(wait).UnixNano()
		for {
			cur := b.pauseUntil.Load()
			if cur >= until || b.pauseUntil.CompareAndSwap(cur, until) {
				break
			}
		}
		if err := b.sleep(req.Context(), wait); err != nil {
			return nil, err
		}
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req = req.Clone(req.Context())
			req.Body = body
		}
	}
}

// retryAfter parses a Retry-After header: delta-seconds or an HTTP date.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d, true
		}
		return 0, true
	}
	return 0, false
}

func sleepCtx(ctx context.Context, d time.Duration) error { return restapi.Sleep(ctx, d) }

// baseTransport is the HTTP transport with the TLS settings of the inputs:
// the system roots plus ca-file, and no verification when insecure.
func baseTransport(pool *x509.CertPool, insecure bool, conns int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool, InsecureSkipVerify: insecure, MinVersion: tls.VersionTLS12} //nolint:gosec // insecure is the user's explicit choice
	t.MaxIdleConnsPerHost = conns
	t.MaxConnsPerHost = 0
	return t
}
