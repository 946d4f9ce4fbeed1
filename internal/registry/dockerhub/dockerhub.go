// Package dockerhub is the registry.Backend for Docker Hub. Manifests,
// configs and tag resolution go through the registry API
// (registry-1.docker.io, the embedded *oci.Backend); listing and deleting go
// through the Hub API (hub.docker.com), because Docker Hub's registry API
// refuses DELETE (405 UNSUPPORTED, docker/hub-feedback#2360) and its
// `_catalog` (401 insufficient_scope).
//
// The Hub API calls:
//
//	POST   /v2/auth/token {"identifier","secret"}            -> access_token, sent as "Authorization: Bearer"
//	GET    /v2/namespaces/{ns}/repositories?page_size=100     repositories, following the body's "next"
//	GET    /v2/namespaces/{ns}/repositories/{repo}/tags?page_size=100
//	                                                          tags with digest and tag_last_pushed, following "next"
//	DELETE /v2/repositories/{ns}/{repo}/tags/{tag}/           one tag -> 204 (docker/hub-tool's DeleteTagURL)
//
// The access token is obtained on first use and obtained again, once, when
// an answer is 401 (Docker Hub's expire after 10 minutes). Rate limits
// (429 with X-Retry-After as a unix time, X-RateLimit-Remaining/Reset) are
// waited out by restapi.
//
// Deletion is per tag. DeleteTag removes one tag; nothing else moves.
// DeleteDigest removes every tag it is given that still points at the digest
// and sends nothing more: the manifest is then untagged, and Docker Hub's
// own retention removes untagged images, so the digest counts as deleted.
// Untagged children of a deleted index (DeleteDigest with no tags) cost no
// request for the same reason. No registry-API DELETE is ever sent (Docker
// Hub answers 403/405 to them). Because deletes never reach beyond the tag
// named, a tag the listing missed (a page shifted by concurrent deletes)
// keeps its image.
//
// Deleting needs an access token with the "Read, Write, Delete" scope
// (repo:admin). A 401 or 403 is a *registry.AuthError naming the Docker Hub
// account, never the token; a repository refused once is not asked again.
package dockerhub

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/image"
	"github.com/tagsweep/tagsweep/internal/registry/oci"
	"github.com/tagsweep/tagsweep/internal/registry/restapi"
)

// DefaultAPI is the Hub API base.
const DefaultAPI = "https://hub.docker.com"

// DeleteScope is the permission tagsweep needs on Docker Hub.
const DeleteScope = "an access token with Read, Write, Delete scope"

// Options configure New.
type Options struct {
	// Registry is the registry API (registry-1.docker.io).
	Registry *oci.Backend
	// API is the Hub API base; nil means DefaultAPI.
	API *url.URL
	// Username is the Docker ID (or organization, for an organization
	// access token); Password the personal or organization access token.
	Username, Password string
	// Namespaces are the namespaces whose repositories Repositories lists;
	// empty means the username's.
	Namespaces []string
	// HTTP sends the Hub API requests; nil means http.DefaultClient.
	HTTP *http.Client
	// UserAgent is sent to the Hub API; empty means "tagsweep".
	UserAgent string
}

// Backend is Docker Hub: the registry API for reading, the Hub API for
// listing and deleting. It is safe for concurrent use.
type Backend struct {
	*oci.Backend

	api        *restapi.Client
	user       string
	secret     string
	who        string
	namespaces []string

	mu      sync.Mutex // guards token, gen, authErr, denied; held while logging in
	token   string
	gen     uint64
	authErr error                          // the login was refused: no further requests
	denied  map[string]*registry.AuthError // repo -> the refusal of a tag delete there
}

var _ registry.Backend = (*Backend)(nil)

// New returns the Docker Hub backend. It sends no request.
func New(o Options) (*Backend, error) {
	if o.Registry == nil {
		return nil, errors.New("dockerhub: no registry API backend")
	}
	if o.Username == "" || o.Password == "" {
		return nil, errors.New("dockerhub: deletes on Docker Hub need a username and an access token with delete scope (Read, Write, Delete): set the username and password inputs")
	}
	api := o.API
	if api == nil {
		api, _ = url.Parse(DefaultAPI)
	}
	if api.Scheme != "https" && api.Scheme != "http" || api.Host == "" {
		return nil, fmt.Errorf("dockerhub: the Hub API base %q is not an http(s) URL", api.Redacted())
	}
	nss := o.Namespaces
	if len(nss) == 0 {
		nss = []string{o.Username}
	}
	b := &Backend{
		Backend:    o.Registry,
		user:       o.Username,
		secret:     o.Password,
		who:        fmt.Sprintf("Docker Hub account %q", o.Username),
		namespaces: nss,
		denied:     map[string]*registry.AuthError{},
	}
	b.api = &restapi.Client{Base: api, HTTP: o.HTTP, UserAgent: cmp.Or(o.UserAgent, "tagsweep"), Auth: b.authorize}
	return b, nil
}

// APIRequests returns how many Hub API requests were sent (retries and
// logins included); the registry API's are in Stats.
func (b *Backend) APIRequests() int64 { return b.api.Requests() }

// Capabilities describes Docker Hub, as its Descriptor says.
func (b *Backend) Capabilities() registry.Capabilities {
	return registry.Capabilities{GCHint: Descriptor.GCHint, Pushed: Descriptor.Caps.PushTime}
}

// --- auth ---

type tokenKey struct{}

// authorize sets the bearer token the call chose (none for the login).
func (b *Backend) authorize(ctx context.Context, req *http.Request) error {
	if tok, _ := ctx.Value(tokenKey{}).(string); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return nil
}

// bearer returns the access token, logging in when there is none.
func (b *Backend) bearer(ctx context.Context) (string, uint64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.authErr != nil {
		return "", 0, b.authErr
	}
	if b.token != "" {
		return b.token, b.gen, nil
	}
	resp, err := b.api.Do(ctx, http.MethodPost, "/v2/auth/token", map[string]string{"identifier": b.user, "secret": b.secret}, http.StatusOK)
	if err != nil {
		err = b.classify(err, "log in to the Hub API", "a username and "+DeleteScope+" (a personal or organization access token; a password also works without SSO)")
		err = &loginError{err}
		var ae *registry.AuthError
		if errors.As(err, &ae) {
			b.authErr = err // wrong credentials stay wrong
		}
		return "", 0, err
	}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(resp.Body, &out); err != nil || out.AccessToken == "" {
		return "", 0, fmt.Errorf("log in to the Hub API: the answer has no access_token")
	}
	b.token = out.AccessToken
	b.gen++
	return b.token, b.gen, nil
}

// loginError is a failed login (as opposed to a refused request).
type loginError struct{ err error }

func (e *loginError) Error() string { return e.err.Error() }
func (e *loginError) Unwrap() error { return e.err }

// renew drops the token of generation gen, if it is still the current one.
func (b *Backend) renew(gen uint64) {
	b.mu.Lock()
	if b.gen == gen {
		b.token = ""
	}
	b.mu.Unlock()
}

// do sends one Hub API request with the bearer token, renewing the token
// once on a 401.
func (b *Backend) do(ctx context.Context, method, path, op, need string, ok ...int) (*restapi.Response, error) {
	for attempt := 0; ; attempt++ {
		tok, gen, err := b.bearer(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		resp, err := b.api.Do(context.WithValue(ctx, tokenKey{}, tok), method, path, nil, ok...)
		var se *restapi.StatusError
		if attempt == 0 && errors.As(err, &se) && se.Status == http.StatusUnauthorized {
			b.renew(gen)
			continue
		}
		if err != nil {
			return nil, b.classify(err, op, need)
		}
		return resp, nil
	}
}

// classify maps a Hub API error to the registry sentinels.
func (b *Backend) classify(err error, op, need string) error {
	// The message is redacted text, not the chain: the chain would carry
	// the secret an API echoed. The sentinel is added back.
	var se *restapi.StatusError
	switch {
	case errors.Is(err, restapi.ErrRateLimited):
		return registry.Mark(registry.ErrRateLimited, fmt.Errorf("%s: %s", op, b.redact(err.Error())))
	case errors.As(err, &se):
		if ae := registry.Auth(se.Status, b.who, need, b.redact(se.Message)); ae != nil {
			return fmt.Errorf("%s: %w", op, ae)
		}
		if se.Status == http.StatusNotFound {
			return registry.Mark(registry.ErrNotFound, fmt.Errorf("%s: %s", op, b.redact(err.Error())))
		}
	}
	return fmt.Errorf("%s: %s", op, b.redact(err.Error()))
}

// redact keeps the secret out of a message, whatever an API echoes.
func (b *Backend) redact(s string) string {
	if b.secret == "" {
		return s
	}
	return strings.ReplaceAll(s, b.secret, "***")
}

// --- names ---

// split turns "ns/name" into its parts; a name without a namespace is an
// official image, "library/name", as Docker names it.
func split(repo string) (ns, name string, err error) {
	parts := strings.Split(strings.TrimPrefix(repo, "docker.io/"), "/")
	switch {
	case len(parts) == 1 && parts[0] != "":
		return "library", parts[0], nil
	case len(parts) == 2 && parts[0] != "" && parts[1] != "":
		return parts[0], parts[1], nil
	}
	return "", "", fmt.Errorf("%q is not a Docker Hub repository (namespace/name)", repo)
}

// full is repo as the registry API names it: "library/name" for "name".
func full(repo string) string {
	if ns, n, err := split(repo); err == nil {
		return ns + "/" + n
	}
	return repo
}

// Manifest reads through the registry API (a name without a namespace is library/name).
func (b *Backend) Manifest(ctx context.Context, repo, ref string) (*image.Manifest, error) {
	return b.Backend.Manifest(ctx, full(repo), ref)
}

// Resolve HEADs a tag through the registry API.
func (b *Backend) Resolve(ctx context.Context, repo, tag string) (string, error) {
	return b.Backend.Resolve(ctx, full(repo), tag)
}

// Exists HEADs a digest through the registry API.
func (b *Backend) Exists(ctx context.Context, repo, digest string) (bool, error) {
	return b.Backend.Exists(ctx, full(repo), digest)
}

// Referrers asks the registry API's referrers endpoint.
func (b *Backend) Referrers(ctx context.Context, repo, digest string) ([]string, error) {
	return b.Backend.Referrers(ctx, full(repo), digest)
}

// --- listing ---

// pages GETs path and every page its body's "next" links to, passing each
// body to add.
func (b *Backend) pages(ctx context.Context, path, op, need string, add func([]byte) (string, error)) error {
	get := func(ctx context.Context, path string) (*restapi.Response, error) {
		return b.do(ctx, http.MethodGet, path, op, need, http.StatusOK)
	}
	return restapi.Pages(ctx, path, get, func(resp *restapi.Response) (string, error) {
		next, err := add(resp.Body)
		if err != nil {
			return "", fmt.Errorf("%s: bad answer from the Hub API: %w", op, err)
		}
		return next, nil
	})
}

type page[T any] struct {
	Count   int     `json:"count"`
	Next    *string `json:"next"`
	Results []T     `json:"results"`
}

func (p *page[T]) next() string {
	if p.Next == nil {
		return ""
	}
	return *p.Next
}

// Repositories lists the repositories of the namespaces, "ns/name".
func (b *Backend) Repositories(ctx context.Context) ([]string, error) {
	var out []string
	for _, ns := range b.namespaces {
		path := fmt.Sprintf("/v2/namespaces/%s/repositories?page_size=100", url.PathEscape(ns))
		err := b.pages(ctx, path, fmt.Sprintf("list repositories of %s", ns),
			fmt.Sprintf("read access to namespace %q (%s)", ns, DeleteScope), func(body []byte) (string, error) {
				var p page[struct {
					Name string `json:"name"`
				}]
				if err := json.Unmarshal(body, &p); err != nil {
					return "", err
				}
				for _, r := range p.Results {
					if r.Name != "" {
						out = append(out, ns+"/"+r.Name)
					}
				}
				return p.next(), nil
			})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Tags lists every tag of repo with the digest it points at and its push
// time (tag_last_pushed, else last_updated).
func (b *Backend) Tags(ctx context.Context, repo string) ([]image.Tag, error) {
	ns, name, err := split(repo)
	if err != nil {
		return nil, err
	}
	var out []image.Tag
	seen := map[string]bool{}
	path := fmt.Sprintf("/v2/namespaces/%s/repositories/%s/tags?page_size=100", url.PathEscape(ns), url.PathEscape(name))
	err = b.pages(ctx, path, "list tags of "+repo, fmt.Sprintf("read access to repository %q (%s)", ns+"/"+name, DeleteScope),
		func(body []byte) (string, error) {
			var p page[struct {
				Name          string  `json:"name"`
				Digest        string  `json:"digest"`
				TagLastPushed *string `json:"tag_last_pushed"`
				LastUpdated   *string `json:"last_updated"`
			}]
			if err := json.Unmarshal(body, &p); err != nil {
				return "", err
			}
			for _, t := range p.Results {
				if t.Name == "" || seen[t.Name] {
					continue // a page shifted under us repeats a tag
				}
				seen[t.Name] = true
				pushed := registry.ParseTime(deref(t.TagLastPushed))
				if pushed.IsZero() {
					pushed = registry.ParseTime(deref(t.LastUpdated))
				}
				out = append(out, image.Tag{Name: t.Name, Digest: t.Digest, Pushed: pushed})
			}
			return p.next(), nil
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// deref reads a Hub API string that may be null ("": registry.ParseTime
// makes it, like the zero sentinel 0001-01-01T00:00:00Z, the zero time).
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// --- deleting ---

// TagDeleteSupported: the Hub API deletes single tags. No request.
func (b *Backend) TagDeleteSupported(context.Context, string) (bool, error) { return true, nil }

// DeleteTag removes one tag through the Hub API; the manifest and its other
// tags stay.
func (b *Backend) DeleteTag(ctx context.Context, repo, tag string) error {
	if err := registry.Stopped(ctx); err != nil {
		return err
	}
	return b.deleteTag(ctx, repo, tag)
}

func (b *Backend) deleteTag(ctx context.Context, repo, tag string) error {
	ns, name, err := split(repo)
	if err != nil {
		return err
	}
	key := ns + "/" + name
	op := "delete tag " + tag
	b.mu.Lock()
	refused := b.denied[key]
	b.mu.Unlock()
	if refused != nil {
		return fmt.Errorf("%s: not sent, a delete in %s was refused: %w", op, key, refused)
	}
	path := fmt.Sprintf("/v2/repositories/%s/%s/tags/%s/", url.PathEscape(ns), url.PathEscape(name), url.PathEscape(tag))
	_, err = b.do(ctx, http.MethodDelete, path, op, fmt.Sprintf("%s, with access to repository %q", DeleteScope, key),
		http.StatusNoContent, http.StatusOK, http.StatusAccepted)
	var ae *registry.AuthError
	var le *loginError
	if errors.As(err, &ae) && !errors.As(err, &le) {
		// A 401 with a fresh token, or a 403: the token may not delete
		// here, and asking again per tag only spends requests.
		b.mu.Lock()
		b.denied[key] = ae
		b.mu.Unlock()
	}
	return err
}

// DeleteDigest removes each of tags that still points at digest, through
// the Hub API. The manifest is then untagged and Docker Hub's retention
// removes it: no further request (and never a registry-API DELETE, which
// Docker Hub refuses). A tag that moved to another digest is not deleted
// and makes the call fail, so that the engine does not report it deleted.
func (b *Backend) DeleteDigest(ctx context.Context, repo, digest string, tags []string) error {
	if err := registry.Stopped(ctx); err != nil {
		return err
	}
	ctx = registry.Committed(ctx) // the tags of one digest go together
	var errs []error
	var done []string
	for _, t := range tags {
		cur, err := b.Resolve(ctx, repo, t)
		switch {
		case errors.Is(err, registry.ErrNotFound):
			done = append(done, t) // gone already
			continue
		case err != nil:
			errs = append(errs, fmt.Errorf("tag %s: %w", t, err))
			continue
		case cur != digest:
			errs = append(errs, fmt.Errorf("tag %s moved from %s to %s during the run: not deleted", t, digest, cur))
			continue
		}
		if err := b.deleteTag(ctx, repo, t); err != nil && !errors.Is(err, registry.ErrNotFound) {
			errs = append(errs, err)
			continue
		}
		done = append(done, t)
	}
	if len(errs) == 0 {
		return nil
	}
	err := fmt.Errorf("untag %s: %w", digest, errors.Join(errs...))
	if len(done) > 0 {
		return &registry.PartialError{Done: done, Err: err}
	}
	return err
}

// RawManifest reads a manifest as served through the registry API.
func (b *Backend) RawManifest(ctx context.Context, repo, digest string) (*image.Raw, error) {
	return b.Backend.RawManifest(ctx, full(repo), digest)
}

// BlobExists HEADs a blob through the registry API.
func (b *Backend) BlobExists(ctx context.Context, repo, digest string) (bool, error) {
	return b.Backend.BlobExists(ctx, full(repo), digest)
}

// PutManifest pushes a manifest through the registry API: how a tag the
// Hub API deleted is put back on the manifest Docker Hub still stores
// (Docker Hub has no restore, docker/hub-feedback#2077).
func (b *Backend) PutManifest(ctx context.Context, repo, ref string, raw *image.Raw) error {
	return b.Backend.PutManifest(ctx, full(repo), ref, raw)
}
