// Package dockerhub is the registry.Backend for Docker Hub. Listing goes
// through the Hub API (hub.docker.com), which also describes each tag's
// manifest (listing.go): the graph is built from it, and the registry API
// (registry-1.docker.io, the embedded *oci.Backend) is asked with HEADs,
// which Docker Hub does not count as pulls, and with a manifest GET only
// where the listing cannot tell. Its `_catalog` is closed (401
// insufficient_scope).
//
// The Hub API calls:
//
//	POST   /v2/auth/token {"identifier","secret"}            -> access_token, sent as "Authorization: Bearer"
//	GET    /v2/namespaces/{ns}/repositories?page_size=100     repositories, following the body's "next"
//	GET    /v2/namespaces/{ns}/repositories/{repo}            immutable_tags_settings
//	GET    /v2/namespaces/{ns}/repositories/{repo}/tags?page_size=100
//	                                                          tags with digest, media_type, images[] and tag_last_pushed
//	DELETE /v2/repositories/{ns}/{repo}/tags/{tag}/           one tag -> 204 (docker/hub-tool's DeleteTagURL)
//
// The access token is obtained on first use and obtained again, once, when
// an answer is 401 (Docker Hub's expire after 10 minutes). Rate limits
// (429 with X-Retry-After as a unix time, X-RateLimit-Remaining/Reset) are
// waited out by restapi. The registry API's pull limit is not: its 429
// TOOMANYREQUESTS (Descriptor.Quotas) ends the inspection of what needed
// the pull, at once, with the reason.
//
// Deleting a digest is two steps, as Docker Hub documents it: its tags go
// through the Hub API, then the untagged manifest through the registry
// API's DELETE by digest ("Only untagged or unreferenced manifests can be
// deleted. If the manifest is still referenced by a tag or another image,
// the registry will return 403 Forbidden. This operation requires delete
// access to the repository.", docker/docs
// content/reference/api/registry/latest.yaml, DeleteImageManifest; "we now
// support the OCI endpoint for deletion", docker/hub-feedback#2450,
// 2025-05-28). Docker Hub has no retention that removes untagged
// manifests: one the registry refuses to delete (405 before 2025-05-28, a
// 401/403) stays stored, and DeleteDigest says so with a
// *registry.UntaggedError. An index's children are deleted after it (the
// engine's layers), since the registry API does not cascade.
//
// A tag an immutability rule of the repository covers is listed as
// protected (image.Tag.Protected): the planner keeps it, in dry and real
// runs alike. A refusal to delete a tag that a rule explains (the settings
// read again) is that tag's alone; an unexplained 401/403 is the token's
// (it lacks "Read, Write, Delete"), and after three of them in a
// repository the rest are not sent (nginx-lua PR #220: "early abort after
// repeated 403s so a bad-scope token no longer burns the API quota").
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
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

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
	// CreatedAges: the run ages tags by their image's creation time
	// (age-source: created), which only the image config has, so every
	// manifest is read from the registry API (a pull each). The default,
	// false, builds the graph from the listing.
	CreatedAges bool
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

	mu      sync.Mutex // guards token, gen, authErr, denied, refusals; held while logging in
	token   string
	gen     uint64
	authErr error                          // the login was refused: no further requests
	denied  map[string]*registry.AuthError // repo -> the refusal after which no tag delete is sent there
	// refusals counts the unexplained refusals of tag deletes per repo.
	refusals map[string]int

	createdAges bool
	sleep       func(context.Context, time.Duration) error // restapi.Sleep; tests shorten it
	listed      sync.Map                                   // "ns/name@digest" -> *image.Manifest the listing describes
	read        sync.Map                                   // "ns/name@digest" -> *image.Manifest read from the registry API
	pulls       atomic.Int64
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
		Backend:     o.Registry,
		user:        o.Username,
		secret:      o.Password,
		who:         fmt.Sprintf("Docker Hub account %q", o.Username),
		namespaces:  nss,
		denied:      map[string]*registry.AuthError{},
		refusals:    map[string]int{},
		createdAges: o.CreatedAges,
		sleep:       restapi.Sleep,
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
	var se *restapi.StatusError
	if errors.As(err, &se) && se.Status == http.StatusNotFound {
		// A Hub API without the access-token route (it came in 2024; a
		// gateway or mirror of the older API): the login it replaced,
		// "POST /v2/users/login" ({username, password} -> {token}; Docker
		// Hub API reference, "Create an authentication token", deprecated).
		resp, err = b.api.Do(ctx, http.MethodPost, "/v2/users/login", map[string]string{"username": b.user, "password": b.secret}, http.StatusOK)
		if err == nil {
			var old struct {
				Token string `json:"token"`
			}
			if json.Unmarshal(resp.Body, &old) == nil && old.Token != "" {
				resp.Body, _ = json.Marshal(map[string]string{"access_token": old.Token})
			}
		}
	}
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

// Manifest is the manifest as the last listing of repo describes it
// where it does (no request), else read through the registry API: one
// pull (a name without a namespace is library/name).
func (b *Backend) Manifest(ctx context.Context, repo, ref string) (*image.Manifest, error) {
	if m := b.fromListing(repo, ref); m != nil {
		return m, nil
	}
	if v, ok := b.read.Load(full(repo) + "@" + ref); ok {
		m := *v.(*image.Manifest) // read already: never a second pull
		return &m, nil
	}
	m, err := b.Backend.Manifest(ctx, full(repo), ref)
	if !errors.Is(err, registry.ErrQuota) {
		b.pulls.Add(1) // sent, and counted, whatever the answer (a 429 is not)
	}
	if err == nil {
		c := *m
		b.read.Store(full(repo)+"@"+m.Digest, &c)
	}
	return m, err
}

// Pulls returns the manifest GETs sent to the registry API: the pulls
// Docker Hub counts against the account's pull limit.
func (b *Backend) Pulls() int64 { return b.pulls.Load() }

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

// Tags lists every tag of repo with the digest it points at, its push
// time (tag_last_pushed, else last_updated) and, where an immutability
// rule of the repository covers it, why Docker Hub refuses to delete it.
// What the listing says of each manifest is kept for Manifest.
func (b *Backend) Tags(ctx context.Context, repo string) ([]image.Tag, error) {
	ns, name, err := split(repo)
	if err != nil {
		return nil, err
	}
	im, err := b.immutable(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	var out []image.Tag
	seen := map[string]bool{}
	path := fmt.Sprintf("/v2/namespaces/%s/repositories/%s/tags?page_size=100", url.PathEscape(ns), url.PathEscape(name))
	err = b.pages(ctx, path, "list tags of "+repo, fmt.Sprintf("read access to repository %q (%s)", ns+"/"+name, DeleteScope),
		func(body []byte) (string, error) {
			var p page[listedTag]
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
				tag := image.Tag{Name: t.Name, Digest: t.Digest, Pushed: pushed}
				if r := im.rule(t.Name); r != "" {
					tag.Protected = immutableReason(r)
				}
				b.learn(ns+"/"+name, t)
				out = append(out, tag)
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
		// Immutable tags "can't be deleted" (tags.md): that tag alone.
		if pe := b.refusedAsImmutable(ctx, repo, tag, err); pe != nil {
			return pe
		}
		// Else the token may not delete here: after a few, asking again
		// per tag only spends requests.
		b.mu.Lock()
		b.refusals[key]++
		if b.refusals[key] >= maxRefusals {
			b.denied[key] = ae
		}
		b.mu.Unlock()
	}
	return err
}

// maxRefusals is how many unexplained refusals of tag deletes a
// repository gets before the rest are not sent.
const maxRefusals = 3

// DeleteDigest removes each of tags that still points at digest, through
// the Hub API, then the untagged manifest through the registry API's
// DELETE by digest. A tag that moved to another digest is not deleted and
// makes the call fail, so that the engine does not report it deleted. A
// tag Docker Hub protects keeps the manifest (*registry.ProtectedError).
// A manifest the registry refuses to delete once its tags are gone is an
// *registry.UntaggedError: the tags are deleted, the manifest stays stored.
func (b *Backend) DeleteDigest(ctx context.Context, repo, digest string, tags []string) error {
	if err := registry.Stopped(ctx); err != nil {
		return err
	}
	ctx = registry.Committed(ctx) // the tags of one digest and the manifest go together
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
	if len(errs) > 0 {
		err := fmt.Errorf("untag %s: %w", digest, errors.Join(errs...))
		if len(done) > 0 {
			return &registry.PartialError{Done: done, Err: err}
		}
		return err
	}
	err := b.Backend.DeleteDigest(ctx, full(repo), digest, nil)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, registry.ErrNotFound):
		if len(done) > 0 {
			return nil // gone with its tags (or by someone else)
		}
		return err
	case errors.Is(err, registry.ErrDeleteDisabled), errors.Is(err, registry.ErrUnauthorized), errors.Is(err, registry.ErrDenied),
		errors.Is(err, registry.ErrProtected):
		// 405 (Docker Hub before 2025-05-28), 401 (a token without the
		// delete action), 403 ("The manifest may still be referenced").
		return &registry.UntaggedError{Done: done, Reason: untaggedReason(err), Err: err}
	}
	if serverError(err) {
		// "you may encounter a 500 Internal Server Error during deletion.
		// The system automatically retries the deletion in the background,
		// so the manifest will eventually be removed" (registry API
		// reference, tag delete, docs PR #24078): wait for it as boot-ui's
		// docker_retention.py does, with HEADs, which are no pulls.
		for _, wait := range queuedPolls {
			if err := b.sleep(ctx, wait); err != nil {
				break
			}
			if ok, herr := b.Exists(ctx, repo, digest); herr == nil && !ok {
				return nil
			}
		}
		return &registry.UntaggedError{Done: done, Err: err,
			Reason: "Docker Hub answered 500 and queues the deletion in the background (\"the manifest will eventually be removed\", registry API docs); it was still stored 30 s later"}
	}
	if len(done) > 0 {
		return &registry.PartialError{Done: done, Err: fmt.Errorf("delete %s after removing its tags: %w", digest, err)}
	}
	return err
}

// queuedPolls are the waits between the HEADs that look for a deletion
// Docker Hub queued (boot-ui: 0, 1, 2, 4, 8, 15 s).
var queuedPolls = []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 15 * time.Second}

// serverError reports a 5xx answer of the registry API.
func serverError(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode >= 500
}

// RawManifest reads a manifest as served through the registry API (a
// GET: one pull, for the undo file's entry).
func (b *Backend) RawManifest(ctx context.Context, repo, digest string) (*image.Raw, error) {
	raw, err := b.Backend.RawManifest(ctx, full(repo), digest)
	if !errors.Is(err, registry.ErrQuota) {
		b.pulls.Add(1)
	}
	return raw, err
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

// untaggedReason says why a manifest stays stored untagged.
func untaggedReason(err error) string {
	switch {
	case errors.Is(err, registry.ErrDeleteDisabled):
		return "Docker Hub's registry API refused to delete it (405: deletes by digest are not enabled there)"
	case errors.Is(err, registry.ErrUnauthorized):
		return "Docker Hub's registry API refused to delete it (401: the token lacks the delete action; an access token with Read, Write, Delete has it)"
	case errors.Is(err, registry.ErrDenied):
		return "Docker Hub's registry API refused to delete it (403: still referenced by a tag or an image, or no delete access)"
	}
	return "Docker Hub's registry API refused to delete it: " + registry.ProtectedReason(err)
}
