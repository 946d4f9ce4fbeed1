package testregistry

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// This file is what the vendor replicas (ghcrtest, hubtest, harbortest)
// share: a vendor API in front of one of this package's registries records
// the requests it answers ([RequestLog]) and reads and deletes the
// registry's content through a side channel of its own ([SideChannel]),
// which its hook on the registry tells from the client's requests.

// Request is one request a vendor replica answered.
type Request struct {
	Method string
	// Path is the path as sent (escaped: a '/' inside a name sent as %2F
	// stays %2F).
	Path string
	// DecodedPath is the path decoded (the %2F above is a '/').
	DecodedPath string
	// Query is the raw query.
	Query string
	// Auth is the Authorization scheme ("Basic", "Bearer", "token"), ""
	// without one.
	Auth string
	// User is the Basic auth user name, whether or not it authenticated.
	User string
	// Body is the request body, up to 1 MiB (a login request's JSON).
	Body string
	// Status is the status answered.
	Status int
}

// String renders "METHOD path?query", the path as sent.
func (r Request) String() string {
	if r.Query == "" {
		return r.Method + " " + r.Path
	}
	return r.Method + " " + r.Path + "?" + r.Query
}

// RequestLog records the requests a replica answers. It is safe for
// concurrent use; the zero value is ready.
type RequestLog struct {
	mu   sync.Mutex
	reqs []Request
}

// Record serves req with h and records it with the status h answered.
// The body is read first (and given to h again).
func (l *RequestLog) Record(w http.ResponseWriter, req *http.Request, h http.HandlerFunc) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	req.Body = io.NopCloser(bytes.NewReader(body))
	r := Request{Method: req.Method, Path: req.URL.EscapedPath(), DecodedPath: req.URL.Path, Query: req.URL.RawQuery, Body: string(body)}
	if a := req.Header.Get("Authorization"); a != "" {
		r.Auth, _, _ = strings.Cut(a, " ")
	}
	r.User, _, _ = req.BasicAuth()
	sw := &StatusWriter{ResponseWriter: w}
	defer func() {
		r.Status = sw.Status()
		l.mu.Lock()
		l.reqs = append(l.reqs, r)
		l.mu.Unlock()
	}()
	h(sw, req)
}

// Requests returns the requests recorded, oldest first.
func (l *RequestLog) Requests() []Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.reqs)
}

// Reset forgets the requests recorded.
func (l *RequestLog) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = nil
}

// Deletes returns the DELETE requests recorded, as "DELETE path" (the
// path as sent), oldest first.
func (l *RequestLog) Deletes() []string {
	var out []string
	for _, r := range l.Requests() {
		if r.Method == http.MethodDelete {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	return out
}

// SideChannel is a replica's own client to the registry behind it: each
// request carries a header with a secret of its own, so that the
// replica's hook on the registry lets it through ([SideChannel.Sent])
// while it answers the client's requests as the vendor's registry would.
type SideChannel struct {
	addr, header, secret string
	client               *http.Client
}

// NewSideChannel returns a side channel to the registry at addr
// ("127.0.0.1:PORT") whose requests carry header with a fresh random
// secret.
func NewSideChannel(addr, header string) *SideChannel {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return &SideChannel{addr: addr, header: header, secret: hex.EncodeToString(b[:]),
		client: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(), Timeout: time.Minute}}
}

// Sent reports whether req came through this side channel.
func (c *SideChannel) Sent(req *http.Request) bool { return req.Header.Get(c.header) == c.secret }

// RefuseDeletes returns a Hook for the registry that answers every DELETE
// but the side channel's with 405 UNSUPPORTED, as a registry that deletes
// only through its vendor's API does (ghcr.io: skopeo#1880; Docker Hub:
// docker/hub-feedback#2360), after telling refused (nil: nobody). Every
// other request goes to next (nil: to the registry).
func (c *SideChannel) RefuseDeletes(refused func(*http.Request), next func() Hook) Hook {
	return func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method == http.MethodDelete && !c.Sent(req) {
			if refused != nil {
				refused(req)
			}
			WriteError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "The operation is unsupported.")
			return true
		}
		if next == nil {
			return false
		}
		h := next()
		return h != nil && h(w, req)
	}
}

// Do sends one request to the registry (path with its query) through the
// side channel.
func (c *SideChannel) Do(ctx context.Context, method, path string, h http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+c.addr+path, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set(c.header, c.secret)
	return c.client.Do(req)
}

// Catalog lists every repository of the registry, sorted, following Link.
func (c *SideChannel) Catalog(ctx context.Context) ([]string, error) {
	var out []string
	next := "/v2/_catalog?n=1000"
	for page := 0; next != ""; page++ {
		if page > 1000 {
			return nil, fmt.Errorf("catalog: too many pages")
		}
		resp, err := c.Do(ctx, http.MethodGet, next, nil)
		if err != nil {
			return nil, err
		}
		var body struct {
			Repositories []string `json:"repositories"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("registry catalog: %s", resp.Status)
		}
		if err != nil {
			return nil, fmt.Errorf("registry catalog: %w", err)
		}
		out = append(out, body.Repositories...)
		link, err := nextLink("http://"+c.addr+next, resp.Header.Get("Link"))
		if err != nil {
			return nil, fmt.Errorf("registry catalog: %w", err)
		}
		next = ""
		if link != "" {
			u, err := url.Parse(link)
			if err != nil {
				return nil, err
			}
			next = u.RequestURI()
		}
	}
	slices.Sort(out)
	return out, nil
}

// Head resolves ref (a tag or a digest) in repo with the full Accept set;
// ok is false when the registry has no such manifest.
func (c *SideChannel) Head(ctx context.Context, repo, ref string) (digest string, ok bool, err error) {
	resp, err := c.Do(ctx, http.MethodHead, "/v2/"+repo+"/manifests/"+ref, http.Header{"Accept": {acceptManifests}})
	if err != nil {
		return "", false, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		d := resp.Header.Get("Docker-Content-Digest")
		if d == "" {
			return "", false, fmt.Errorf("HEAD %s:%s: no Docker-Content-Digest", repo, ref)
		}
		return d, true, nil
	case http.StatusNotFound:
		return "", false, nil
	}
	return "", false, fmt.Errorf("HEAD %s:%s: %s", repo, ref, resp.Status)
}

// Get fetches the manifest ref in repo (up to 4 MiB) with the full Accept
// set and returns it with its media type (the Content-Type); ok is false
// when the registry has no such manifest.
func (c *SideChannel) Get(ctx context.Context, repo, ref string) (body []byte, mediaType string, ok bool, err error) {
	resp, err := c.Do(ctx, http.MethodGet, "/v2/"+repo+"/manifests/"+ref, http.Header{"Accept": {acceptManifests}})
	if err != nil {
		return nil, "", false, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, "", false, nil
	default:
		return nil, "", false, fmt.Errorf("GET %s/manifests/%s: %s", repo, ref, resp.Status)
	}
	body, err = io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, "", false, err
	}
	mt, _, _ := strings.Cut(resp.Header.Get("Content-Type"), ";")
	return body, strings.TrimSpace(mt), true, nil
}

// Delete deletes ref (a tag, where the registry deletes tags, or a
// digest) in repo; ok is false when the registry has no such manifest or
// tag (404). Any other answer but 200, 202 and 204 is an error with the
// registry's message.
func (c *SideChannel) Delete(ctx context.Context, repo, ref string) (ok bool, err error) {
	resp, err := c.Do(ctx, http.MethodDelete, "/v2/"+repo+"/manifests/"+ref, nil)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch resp.StatusCode {
	case http.StatusOK, http.StatusAccepted, http.StatusNoContent:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, fmt.Errorf("registry DELETE %s/manifests/%s: %s: %s", repo, ref, resp.Status, bytes.TrimSpace(msg))
}

// Put uploads body as the manifest ref (a digest or a tag) of repo, with
// mediaType as its Content-Type. Any answer but 201 is an error with the
// registry's message.
func (c *SideChannel) Put(ctx context.Context, repo, ref, mediaType string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, "http://"+c.addr+"/v2/"+repo+"/manifests/"+ref, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", mediaType)
	req.Header.Set(c.header, c.secret)
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("registry PUT %s/manifests/%s: %s: %s", repo, ref, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// Transport returns an http.RoundTripper whose requests carry the side
// channel's header, for go-containerregistry's remote calls (a replica
// reading manifests without counting as a client).
func (c *SideChannel) Transport() http.RoundTripper { return sideTransport{c} }

type sideTransport struct{ c *SideChannel }

func (t sideTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set(t.c.header, t.c.secret)
	return t.c.client.Transport.RoundTrip(req)
}
