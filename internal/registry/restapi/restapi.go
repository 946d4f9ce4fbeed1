// Package restapi is the HTTP client the vendor providers use for their
// REST APIs (GitHub Packages, Docker Hub, Harbor): JSON in and out, the
// caller's auth header, pagination links that must stay on the API's own
// host, and rate limits honoured the way each vendor signals them
// (Retry-After, X-Retry-After, X-RateLimit-Remaining/Reset, GitHub's
// secondary limits).
//
// The registry API itself (manifests, blobs, tags/list) stays with
// go-containerregistry in registry/oci; this package only speaks to the
// vendor's management API.
package restapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Client talks to one REST API. It is safe for concurrent use.
type Client struct {
	// Base is the API root, e.g. https://api.github.com. Paths are joined
	// to it; pagination links must have its scheme and host.
	Base *url.URL
	// HTTP sends the requests. The default is http.DefaultClient.
	HTTP *http.Client
	// Auth sets the Authorization header (nil: none).
	Auth func(ctx context.Context, req *http.Request) error
	// UserAgent is sent with every request. The default is "tagsweep".
	UserAgent string
	// MaxRetries bounds the retries of a rate-limited or failed request.
	// The default is 6.
	MaxRetries int
	// MaxWait bounds one wait. A rate limit that resets later than this
	// fails the request with ErrRateLimited instead of waiting. The
	// default is 5 minutes.
	MaxWait time.Duration
	// Base backoff when the API gives no wait. The default is 1 second.
	Backoff time.Duration
	// Sleep waits (tests replace it). The default waits on a timer or ctx.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock. The default is time.Now.
	Now func() time.Time
	// Forbidden403Limits: a 403 can be a rate limit (GitHub: an exhausted
	// primary limit, secondary limits). Elsewhere a 403 is always a
	// refusal. The default is false.
	Forbidden403Limits bool

	requests   atomic.Int64
	rateLimits atomic.Int64
	pauseUntil atomic.Int64 // unix nanos: no request before
	budget     atomic.Pointer[Budget]
}

// Budget is the primary rate limit as the API's last answer reported it
// (X-RateLimit-Limit, -Remaining, -Reset: GitHub, Docker Hub).
type Budget struct {
	// Limit is the requests allowed per window; Remaining those left.
	Limit, Remaining int
	// Reset is when the window starts again.
	Reset time.Time
}

// Budget returns the primary rate limit as the last answer that carried
// the X-RateLimit-* headers said it; ok is false when none did (an API
// without rate limits, GitHub Enterprise Server by default).
func (c *Client) Budget() (b Budget, ok bool) {
	if p := c.budget.Load(); p != nil {
		return *p, true
	}
	return Budget{}, false
}

// noteBudget records the X-RateLimit-* headers of an answer.
func (c *Client) noteBudget(h http.Header) {
	limit, err1 := strconv.Atoi(h.Get("X-RateLimit-Limit"))
	remaining, err2 := strconv.Atoi(h.Get("X-RateLimit-Remaining"))
	reset, ok := unixHeader(h, "X-RateLimit-Reset")
	if err1 != nil || err2 != nil || !ok {
		return
	}
	c.budget.Store(&Budget{Limit: limit, Remaining: remaining, Reset: reset})
}

// ErrRateLimited: the API kept refusing with a rate limit, or asked for a
// wait longer than MaxWait.
var ErrRateLimited = errors.New("rate limited")

// StatusError is an answer outside the expected statuses.
type StatusError struct {
	Method, URL string
	Status      int
	// Message is the API's own message, when the body has one.
	Message string
	Header  http.Header
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// Response is a successful answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// BaseURL checks a vendor API base given to a backend (an http(s) URL
// with a host) and returns a copy without a trailing slash, query,
// fragment or user; what names the API in the error.
func BaseURL(what string, u *url.URL) (*url.URL, error) {
	if u == nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s: the API base must be an http(s) URL, got %v", what, u)
	}
	base := *u
	base.Path = strings.TrimSuffix(base.Path, "/")
	base.RawPath = ""
	base.RawQuery, base.Fragment, base.User = "", "", nil
	return &base, nil
}

// Requests returns how many requests were sent (retries included).
func (c *Client) Requests() int64 { return c.requests.Load() }

// RateLimits returns how many answers were rate limits that were waited out.
func (c *Client) RateLimits() int64 { return c.rateLimits.Load() }

// URL joins path (which may carry a query) to Base. A path that is an
// absolute URL (a pagination link) must be on Base's scheme and host.
func (c *Client) URL(path string) (*url.URL, error) {
	u, err := url.Parse(path)
	if err != nil {
		return nil, fmt.Errorf("bad API path %q: %w", path, err)
	}
	if u.Host != "" && !u.IsAbs() {
		// //host/path: another host unless it is the API's own.
		if u.Host != c.Base.Host {
			return nil, fmt.Errorf("refusing a link to //%s: the API is %s://%s", u.Host, c.Base.Scheme, c.Base.Host)
		}
		u.Scheme = c.Base.Scheme
	}
	if u.IsAbs() {
		if u.Scheme != c.Base.Scheme || u.Host != c.Base.Host {
			return nil, fmt.Errorf("refusing a link to %s://%s: the API is %s://%s", u.Scheme, u.Host, c.Base.Scheme, c.Base.Host)
		}
		return u, nil
	}
	out := *c.Base
	if bp := strings.TrimSuffix(c.Base.Path, "/"); bp != "" && strings.HasPrefix(u.Path, bp+"/") {
		// A host-relative link that already carries the base path
		// (Harbor's Link: </api/v2.0/projects?page=2>).
		out.Path, out.RawPath, out.RawQuery = u.Path, u.RawPath, u.RawQuery
		return &out, nil
	}
	out.Path = strings.TrimSuffix(c.Base.Path, "/") + "/" + strings.TrimPrefix(u.Path, "/")
	out.RawPath = ""
	if u.RawPath != "" {
		out.RawPath = strings.TrimSuffix(c.Base.EscapedPath(), "/") + "/" + strings.TrimPrefix(u.RawPath, "/")
	}
	out.RawQuery = u.RawQuery
	return &out, nil
}

// Do sends method to path with body (JSON-encoded when not nil) and
// returns the answer when its status is one of ok (2xx when none is
// given). Rate limits and 5xx are retried; other answers are a
// *StatusError.
func (c *Client) Do(ctx context.Context, method, path string, body any, ok ...int) (*Response, error) {
	u, err := c.URL(path)
	if err != nil {
		return nil, err
	}
	var payload []byte
	if body != nil {
		if payload, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	maxRetries := c.MaxRetries
	if maxRetries == 0 {
		maxRetries = 6
	}
	for attempt := 0; ; attempt++ {
		if err := c.waitPause(ctx); err != nil {
			return nil, err
		}
		resp, err := c.send(ctx, method, u, payload)
		if err != nil {
			if ctx.Err() != nil || attempt >= maxRetries {
				return nil, err
			}
			if err := c.sleep(ctx, c.backoff(attempt)); err != nil {
				return nil, err
			}
			continue
		}
		if wanted(resp.Status, ok) {
			c.notePrimary(resp.Header)
			return resp, nil
		}
		wait, limited := c.rateLimit(resp)
		if !limited && resp.Status < 500 {
			return nil, c.statusError(method, u, resp)
		}
		if attempt >= maxRetries {
			se := c.statusError(method, u, resp)
			if limited {
				return nil, fmt.Errorf("%w: still refused after %d retries: %w", ErrRateLimited, maxRetries, se)
			}
			return nil, se
		}
		if !limited || wait <= 0 {
			wait = c.backoff(attempt)
		}
		if wait > c.maxWait() {
			return nil, fmt.Errorf("%w: the API asks to wait %s (until %s), more than tagsweep waits (%s): %w",
				ErrRateLimited, wait.Round(time.Second), c.now().Add(wait).UTC().Format(time.RFC3339), c.maxWait(), c.statusError(method, u, resp))
		}
		if limited {
			// Every request waits, this one at the top of the loop.
			c.rateLimits.Add(1)
			c.pause(wait)
			continue
		}
		if err := c.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// GetJSON GETs path and decodes the JSON answer into out.
func (c *Client) GetJSON(ctx context.Context, path string, out any) (*Response, error) {
	resp, err := c.Do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(resp.Body, out); err != nil {
		return nil, fmt.Errorf("GET %s: bad JSON: %w", path, err)
	}
	return resp, nil
}

// MaxPages bounds one listing: a chain of links longer than this is taken
// for a loop that the seen-pages check missed (a link whose query changes
// on every page).
const MaxPages = 100000

// Pages reads a paginated listing, the one loop every vendor API uses:
// fetch sends the request for one page (the vendor's own auth and error
// mapping go there), and each reads its answer and returns the path of the
// next page ("" ends the listing: a Link header's rel="next" through
// NextLink, or the body's own "next" field). A path seen before, or more
// than MaxPages pages, ends the listing with an error naming the page
// instead of looping. The errors of fetch and each are returned as they are.
func Pages(ctx context.Context, first string, fetch func(ctx context.Context, path string) (*Response, error),
	each func(resp *Response) (next string, err error)) error {
	seen := map[string]bool{}
	for path := first; path != ""; {
		if seen[path] {
			return fmt.Errorf("GET %s: the pagination links loop back to a page already read", path)
		}
		if len(seen) >= MaxPages {
			return fmt.Errorf("GET %s: more than %d pages: giving up", path, MaxPages)
		}
		seen[path] = true
		resp, err := fetch(ctx, path)
		if err != nil {
			return err
		}
		next, err := each(resp)
		if err != nil {
			return err
		}
		path = next
	}
	return nil
}

// NextLink returns the rel="next" target of an RFC 8288 Link header, or "".
func NextLink(h http.Header) string {
	for _, v := range h.Values("Link") {
		for _, part := range strings.Split(v, ",") {
			segs := strings.Split(part, ";")
			if len(segs) < 2 {
				continue
			}
			target := strings.TrimSpace(segs[0])
			if !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			for _, p := range segs[1:] {
				p = strings.TrimSpace(p)
				if p == `rel="next"` || p == "rel=next" {
					return target[1 : len(target)-1]
				}
			}
		}
	}
	return ""
}

func wanted(status int, ok []int) bool {
	if len(ok) == 0 {
		return status >= 200 && status < 300
	}
	for _, s := range ok {
		if s == status {
			return true
		}
	}
	return false
}

func (c *Client) send(ctx context.Context, method string, u *url.URL, payload []byte) (*Response, error) {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	ua := c.UserAgent
	if ua == "" {
		ua = "tagsweep"
	}
	req.Header.Set("User-Agent", ua)
	if c.Auth != nil {
		if err := c.Auth(ctx, req); err != nil {
			return nil, err
		}
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	c.requests.Add(1)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	c.noteBudget(resp.Header)
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", method, u.Redacted(), err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// rateLimit tells whether an answer is a rate limit, and how long the API
// asks to wait (0: not said).
func (c *Client) rateLimit(r *Response) (time.Duration, bool) {
	now := c.now()
	wait, said := time.Duration(0), false
	if v := r.Header.Get("Retry-After"); v != "" {
		if s, err := strconv.Atoi(v); err == nil && s >= 0 {
			wait, said = time.Duration(s)*time.Second, true
		} else if t, err := http.ParseTime(v); err == nil {
			wait, said = t.Sub(now), true
		}
	}
	if !said {
		// Docker Hub: X-Retry-After is a unix time.
		if t, ok := unixHeader(r.Header, "X-Retry-After"); ok {
			wait, said = t.Sub(now), true
		}
	}
	exhausted := r.Header.Get("X-RateLimit-Remaining") == "0"
	if !said && exhausted {
		if t, ok := unixHeader(r.Header, "X-RateLimit-Reset"); ok {
			wait, said = t.Sub(now), true
		}
	}
	switch {
	case r.Status == http.StatusTooManyRequests:
		return max(wait, 0), true
	case r.Status == http.StatusForbidden && c.Forbidden403Limits && (said || exhausted || secondary(r.Body)):
		// GitHub: an exhausted primary limit and secondary limits are 403s.
		if !said && secondary(r.Body) {
			wait = time.Minute // GitHub: wait at least a minute
		}
		return max(wait, 0), true
	case r.Status == http.StatusServiceUnavailable && said:
		return max(wait, 0), true
	}
	return 0, false
}

func secondary(body []byte) bool {
	return bytes.Contains(bytes.ToLower(body), []byte("secondary rate limit"))
}

func unixHeader(h http.Header, name string) (time.Time, bool) {
	v := h.Get(name)
	if v == "" {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}

// notePrimary pauses every request when a successful answer says the
// primary limit is used up, until it resets.
func (c *Client) notePrimary(h http.Header) {
	if h.Get("X-RateLimit-Remaining") != "0" {
		return
	}
	if t, ok := unixHeader(h, "X-RateLimit-Reset"); ok {
		if d := t.Sub(c.now()); d > 0 && d <= c.maxWait() {
			c.pause(d)
		}
	}
}

func (c *Client) pause(d time.Duration) {
	until := c.now().Add(d).UnixNano()
	for {
		cur := c.pauseUntil.Load()
		if cur >= until || c.pauseUntil.CompareAndSwap(cur, until) {
			return
		}
	}
}

func (c *Client) waitPause(ctx context.Context) error {
	if until := c.pauseUntil.Load(); until > 0 {
		if d := time.Unix(0, until).Sub(c.now()); d > 0 {
			return c.sleep(ctx, d)
		}
	}
	return nil
}

func (c *Client) backoff(attempt int) time.Duration {
	base := c.Backoff
	if base <= 0 {
		base = time.Second
	}
	d := base << min(attempt, 10)
	d += time.Duration(rand.Int64N(int64(d)/5 + 1))
	return min(d, c.maxWait())
}

func (c *Client) maxWait() time.Duration {
	if c.MaxWait > 0 {
		return c.MaxWait
	}
	return 5 * time.Minute
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	if c.Sleep != nil {
		return c.Sleep(ctx, d)
	}
	return Sleep(ctx, d)
}

// Sleep waits for d, or until ctx is done.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Client) statusError(method string, u *url.URL, r *Response) *StatusError {
	e := &StatusError{Method: method, URL: u.Redacted(), Status: r.Status, Header: r.Header}
	var body struct {
		Message string `json:"message"` // GitHub, Docker Hub
		Detail  string `json:"detail"`  // Docker Hub
		Errors  []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"` // Harbor, registries
	}
	if json.Unmarshal(r.Body, &body) == nil {
		switch {
		case body.Message != "":
			e.Message = body.Message
		case body.Detail != "":
			e.Message = body.Detail
		case len(body.Errors) > 0:
			e.Message = strings.TrimSpace(body.Errors[0].Code + " " + body.Errors[0].Message)
		}
	}
	return e
}
