// Package ghcr is the backend for the GitHub Container Registry (ghcr.io).
//
// GHCR serves the OCI registry API for reading and pushing, but answers every
// DELETE there with 405 UNSUPPORTED (skopeo#1880, fluxcd/pkg#328). It deletes
// through the GitHub REST API instead, where a package is a repository and a
// package version is one manifest digest with its tags:
//
//	GET    /users/{owner}                                   "type": "User" | "Organization"
//	GET    /{orgs|users}/{owner}/packages?package_type=container
//	GET    /{orgs|users}/{owner}/packages/container/{package}/versions?state=active
//	DELETE /{orgs|users}/{owner}/packages/container/{package}/versions/{id}   204
//
// (docs.github.com/rest/packages/packages). A package name may contain '/',
// sent as %2F. Deleting a version deletes all its tags; GHCR cannot remove a
// single tag of a shared digest, so DeleteTag first moves the tag onto a
// placeholder image of its own (oci.Backend.PushPlaceholder) and deletes
// that placeholder's version. A run killed between the two leaves the tag on
// the placeholder, whose manifest carries image.AnnotationPlaceholder:
// the next run reads it as Manifest.Placeholder, and the planner deletes the
// tag as a leftover (policy.ReasonPlaceholder) instead of ranking it as the
// package's newest push.
//
// Manifests, index children, referrers, Resolve and Exists still go through
// the registry API (the embedded *oci.Backend): the REST API does not expose
// the index graph, which is why every untagged version (platform images,
// buildx attestations) must be kept while a kept index lists it
// (actions/delete-package-versions#90, snok/container-retention-policy#43).
package ghcr

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/image"
	"github.com/tagsweep/tagsweep/internal/registry/oci"
	"github.com/tagsweep/tagsweep/internal/registry/restapi"
)

// APIVersion is the GitHub REST API version tagsweep asks for.
const APIVersion = "2022-11-28"

// Options configure New.
type Options struct {
	// Registry is the registry API of ghcr.io (in tests: the in-process registry).
	Registry *oci.Backend
	// API is the GitHub API base: GITHUB_API_URL or https://api.github.com
	// (GitHub Enterprise Server: https://HOST/api/v3).
	API *url.URL
	// Token is sent as "Authorization: Bearer <token>" to the API.
	Token string
	// Owners are the users or organizations whose packages Repositories lists.
	Owners []string
	// HTTP sends the API requests (TLS settings already applied); nil means
	// http.DefaultClient.
	HTTP *http.Client
	// UserAgent is sent to the API.
	UserAgent string
	// TokenSource names where the token came from, for error messages
	// (e.g. "the password input", "GITHUB_TOKEN"); never the token itself.
	// Empty: "the password input or GITHUB_TOKEN".
	TokenSource string
}

// Backend is a registry.Backend for GHCR: the registry API for reading
// (embedded), the GitHub REST API for listing and deleting.
type Backend struct {
	*oci.Backend
	api    *restapi.Client
	owners []string
	who    string

	// findTries and findWait bound the wait for a pushed placeholder to
	// show up in the versions listing (the listing may lag the push).
	findTries int
	findWait  time.Duration
	sleep     func(ctx context.Context, d time.Duration) error

	// retag points tag at digest again (restores a tag whose placeholder
	// could not be deleted); nil when the registry backend cannot.
	retag func(ctx context.Context, repo, tag, digest string) error
	// scopes are the token's classic scopes from the last X-OAuth-Scopes
	// header; nil when GitHub sent none (GITHUB_TOKEN, fine-grained, app).
	scopes atomic.Pointer[[]string]

	mu    sync.Mutex
	kinds map[string]*ownerKind // lower-case owner -> its kind, looked up once
	pkgs  map[string]*pkg       // lower-case repository -> its versions
}

var (
	_ registry.Backend        = (*Backend)(nil)
	_ registry.UntaggedLister = (*Backend)(nil)
)

type ownerKind struct {
	once sync.Once
	kind string // "orgs" or "users"
	err  error
}

// pkg is one container package (a repository) and what tagsweep knows of
// its versions.
type pkg struct {
	repo, owner, name string

	mu      sync.Mutex
	ids     map[string]int64 // digest -> version id, tagged and untagged
	refresh sync.Mutex       // one listing at a time
	denied  error            // a delete refused for lack of permission: the others will be too

	// untagged are the digests of the versions without a tag, as of the
	// last Tags (nil: not listed yet); guarded by mu.
	untagged []string

	// Until a delete in the package succeeded, deletes go one at a time:
	// a token without permission gets one refusal, not one per worker, and
	// no second tag is moved onto a placeholder before the first is known
	// to be deletable.
	first  sync.Mutex
	proven atomic.Bool
}

// gate waits for the package's turn while no delete has succeeded yet.
func (p *pkg) gate() (release func()) {
	if p.proven.Load() {
		return func() {}
	}
	p.first.Lock()
	return p.first.Unlock
}

// New returns the GHCR backend.
func New(o Options) (*Backend, error) {
	if o.Registry == nil {
		return nil, errors.New("ghcr: no registry backend")
	}
	if o.API == nil || o.API.Scheme == "" || o.API.Host == "" {
		return nil, errors.New("ghcr: the GitHub API URL must be absolute (GITHUB_API_URL, e.g. https://api.github.com)")
	}
	if o.Token == "" {
		return nil, errors.New("ghcr: the GitHub API needs a token (the password input or GITHUB_TOKEN) with read:packages and delete:packages")
	}
	src := o.TokenSource
	if src == "" {
		src = "the password input or GITHUB_TOKEN"
	}
	base := *o.API
	base.Path = strings.TrimSuffix(base.Path, "/")
	base.RawPath = ""
	token := o.Token
	b := &Backend{
		Backend: o.Registry,
		api: &restapi.Client{
			Base: &base,
			HTTP: o.HTTP,
			Auth: func(_ context.Context, req *http.Request) error {
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("X-GitHub-Api-Version", APIVersion)
				return nil
			},
			UserAgent: o.UserAgent,
			// GitHub signals exhausted and secondary limits with 403.
			Forbidden403Limits: true,
		},
		who:       "the GitHub token (from " + src + ")",
		findTries: 6,
		findWait:  500 * time.Millisecond,
		kinds:     map[string]*ownerKind{},
		pkgs:      map[string]*pkg{},
	}
	if rt, ok := any(o.Registry).(retagger); ok {
		b.retag = rt.TagDigest
	}
	for _, ow := range o.Owners {
		if ow = strings.ToLower(strings.TrimSpace(ow)); ow != "" && !contains(b.owners, ow) {
			b.owners = append(b.owners, ow)
		}
	}
	return b, nil
}

// retagger is a registry backend that can point a tag at an existing manifest.
type retagger interface {
	TagDigest(ctx context.Context, repo, tag, digest string) error
}

// Who describes the credentials: the registry's and the API token's, never a secret.
func (b *Backend) Who() string {
	return b.Backend.Who() + "; " + b.who + " for the GitHub API"
}

// APIRequests returns how many requests were sent to the GitHub API.
func (b *Backend) APIRequests() int64 { return b.api.Requests() }

// Capabilities describes GHCR, as its Descriptor says.
func (b *Backend) Capabilities() registry.Capabilities {
	return registry.Capabilities{GCHint: Descriptor.GCHint, Pushed: Descriptor.Caps.PushTime, ListsUntagged: Descriptor.Caps.ListsUntagged}
}

// TagDeleteSupported is true: DeleteTag moves the tag onto a placeholder
// and deletes that. No request is sent.
func (b *Backend) TagDeleteSupported(context.Context, string) (bool, error) { return true, nil }

// Repositories lists the container packages of every owner, as
// "owner/package" in lower case, sorted.
func (b *Backend) Repositories(ctx context.Context) ([]string, error) {
	if len(b.owners) == 0 {
		return nil, errors.New("ghcr: no owner to list the packages of: give repositories as OWNER/PACKAGE or OWNER/** globs")
	}
	seen := map[string]bool{}
	var out []string
	for _, owner := range b.owners {
		kind, err := b.kind(ctx, owner)
		if err != nil {
			return nil, err
		}
		next := "/" + kind + "/" + url.PathEscape(owner) + "/packages?package_type=container&per_page=100"
		err = b.pages(ctx, next, func(body []byte) error {
			var pkgs []struct {
				Name string `json:"name"`
			}
			if err := json.Unmarshal(body, &pkgs); err != nil {
				return err
			}
			for _, p := range pkgs {
				r := strings.ToLower(owner + "/" + p.Name)
				if p.Name != "" && !seen[r] {
					seen[r] = true
					out = append(out, r)
				}
			}
			return nil
		})
		if err != nil {
			return nil, b.apiErr(err, fmt.Sprintf("list the container packages of %s", owner),
				"read:packages (classic PAT), or a GITHUB_TOKEN with `permissions: packages: read`")
		}
	}
	sort.Strings(out)
	return out, nil
}

// version is a package version as the API lists it.
type version struct {
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
	Metadata  struct {
		Container struct {
			Tags []string `json:"tags"`
		} `json:"container"`
	} `json:"metadata"`
}

// Tags lists the package's versions and returns one tag per version tag,
// with the version's digest and its push time (updated_at, else created_at).
func (b *Backend) Tags(ctx context.Context, repo string) ([]image.Tag, error) {
	p, err := b.pkg(repo)
	if err != nil {
		return nil, err
	}
	vs, err := b.listVersions(ctx, p, "")
	if err != nil {
		return nil, err
	}
	var out []image.Tag
	seen := map[string]bool{}
	untagged := []string{}
	for _, v := range vs {
		pushed := registry.ParseTime(v.UpdatedAt)
		if pushed.IsZero() {
			pushed = registry.ParseTime(v.CreatedAt)
		}
		if len(v.Metadata.Container.Tags) == 0 {
			untagged = append(untagged, v.Name)
		}
		for _, t := range v.Metadata.Container.Tags {
			if seen[t] {
				continue // moved while the pages were read: the newest wins
			}
			seen[t] = true
			out = append(out, image.Tag{Name: t, Digest: v.Name, Pushed: pushed})
		}
	}
	p.mu.Lock()
	p.untagged = untagged
	p.mu.Unlock()
	return out, nil
}

// Untagged returns the digests of the package's versions without a tag
// (platform images, attestations, images whose tag moved), as of the last
// Tags listing; it lists the versions when there was none.
func (b *Backend) Untagged(ctx context.Context, repo string) ([]string, error) {
	p, err := b.pkg(repo)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	u := p.untagged
	p.mu.Unlock()
	if u == nil {
		if _, err := b.Tags(ctx, repo); err != nil {
			return nil, err
		}
		p.mu.Lock()
		u = p.untagged
		p.mu.Unlock()
	}
	return append([]string(nil), u...), nil
}

// DeleteDigest deletes the package version of digest (all its tags go).
func (b *Backend) DeleteDigest(ctx context.Context, repo, digest string, _ []string) error {
	p, err := b.pkg(repo)
	if err != nil {
		return err
	}
	defer p.gate()()
	if e := p.deniedErr(); e != nil {
		return fmt.Errorf("delete %s of %s: not tried, an earlier delete in the package was refused: %w", digest, p.repo, e)
	}
	if err := registry.Stopped(ctx); err != nil {
		return err
	}
	ctx = registry.Committed(ctx)
	id, ok := p.id(digest)
	if !ok {
		if _, err := b.listVersions(ctx, p, ""); err != nil {
			return err
		}
		if id, ok = p.id(digest); !ok {
			return registry.Mark(registry.ErrNotFound, fmt.Errorf("delete %s from %s: no such package version (already deleted)", digest, repo))
		}
	}
	return b.deleteVersion(ctx, p, digest, id)
}

// DeleteTag removes one tag and leaves its manifest: GHCR deletes only
// whole versions, so the tag is moved onto a placeholder image of its own,
// and the placeholder's version is deleted.
//
// Moving the tag is the one change made before GitHub says whether the
// token may delete: a classic token whose scopes lack delete:packages is
// refused before anything moves; otherwise, when the placeholder's version
// cannot be deleted, the tag is pointed back at its image where the
// registry backend can (TagDigest), and the error names both digests.
func (b *Backend) DeleteTag(ctx context.Context, repo, tag string) error {
	p, err := b.pkg(repo)
	if err != nil {
		return err
	}
	defer p.gate()()
	if e := p.deniedErr(); e != nil {
		return fmt.Errorf("delete tag %s of %s: not tried, an earlier delete in the package was refused: %w", tag, p.repo, e)
	}
	if err := registry.Stopped(ctx); err != nil {
		return err
	}
	ctx = registry.Committed(ctx) // placeholder push and version delete go together
	if sc := b.scopes.Load(); sc != nil && !contains(*sc, "delete:packages") {
		return &permissionError{op: fmt.Sprintf("delete tag %s of %s (not moved)", tag, p.repo), who: b.who, scopes: *sc, noScope: true}
	}
	was, err := b.Resolve(ctx, p.repo, tag)
	if err != nil {
		return err // ErrNotFound: the tag is gone already
	}
	d, err := b.PushPlaceholder(ctx, p.repo, tag)
	if err != nil {
		if errors.Is(err, registry.ErrDenied) || errors.Is(err, registry.ErrUnauthorized) {
			return fmt.Errorf("delete tag %s: GHCR removes a single tag by moving it onto a placeholder image, which needs push access: "+
				"the registry credentials need write:packages (classic PAT), or a GITHUB_TOKEN with `permissions: packages: write`: %w", tag, err)
		}
		// Never ErrNotFound here: the engine would count the tag as gone.
		return fmt.Errorf("delete tag %s: push a placeholder onto it: %v", tag, err)
	}
	var id int64
	var ok bool
	for try := 0; try < b.findTries && !ok; try++ {
		if try > 0 {
			if err := b.wait(ctx, b.findWait*time.Duration(try)); err != nil {
				return b.moved(ctx, p, tag, was, d, err)
			}
		}
		if _, err := b.listVersions(ctx, p, d); err != nil {
			return b.moved(ctx, p, tag, was, d, err)
		}
		id, ok = p.id(d)
	}
	if !ok {
		return b.moved(ctx, p, tag, was, d, fmt.Errorf("no package version with the placeholder's digest was listed after %d tries", b.findTries))
	}
	if err := b.deleteVersion(ctx, p, d, id); err != nil && !errors.Is(err, registry.ErrNotFound) {
		return b.moved(ctx, p, tag, was, d, err)
	}
	return nil
}

// moved explains a tag left on its placeholder, after pointing it back at
// its image where the registry backend can.
func (b *Backend) moved(ctx context.Context, p *pkg, tag, was, placeholder string, cause error) error {
	if b.retag != nil {
		if rerr := b.retag(context.WithoutCancel(ctx), p.repo, tag, was); rerr == nil {
			return &movedError{msg: fmt.Sprintf("delete tag %s of %s: not deleted, the tag points at %s again (the placeholder %s stays as an untagged package version)",
				tag, p.repo, was, placeholder), err: cause}
		} else {
			cause = errors.Join(cause, fmt.Errorf("pointing the tag back at %s: %w", was, rerr))
		}
	}
	return &movedError{msg: fmt.Sprintf("delete tag %s of %s: it now points at a placeholder image %s instead of %s; "+
		"delete the placeholder's package version (which removes the tag) or tag %s again", tag, p.repo, placeholder, was, was), err: cause}
}

// movedError keeps the cause's sentinels (ErrDenied, ErrRateLimited) but
// never ErrNotFound, which would count the tag as deleted.
type movedError struct {
	msg string
	err error
}

func (e *movedError) Error() string { return e.msg + ": " + e.err.Error() }
func (e *movedError) Unwrap() error {
	if errors.Is(e.err, registry.ErrNotFound) {
		return nil
	}
	return e.err
}

// deleteVersion sends the DELETE and explains a refusal.
func (b *Backend) deleteVersion(ctx context.Context, p *pkg, digest string, id int64) error {
	op := fmt.Sprintf("delete package version %d (%s) of %s", id, digest, p.repo)
	path, err := b.versionsPath(ctx, p)
	if err != nil {
		return err
	}
	_, err = b.api.Do(ctx, http.MethodDelete, path+"/"+strconv.FormatInt(id, 10), nil)
	if err == nil {
		p.forget(digest)
		p.proven.Store(true)
		return nil
	}
	var se *restapi.StatusError
	if !errors.As(err, &se) || errors.Is(err, restapi.ErrRateLimited) {
		return b.apiErr(err, op, deleteNeed)
	}
	switch {
	case se.Status == http.StatusNotFound:
		// GitHub answers "Package not found." both when the version is
		// gone (a retried DELETE that had succeeded, dataaxiom/ghcr-cleanup-action#74)
		// and when the token may not delete it (vlaurin/action-ghcr-prune#4, #64).
		// The listing tells which; a version still listed was not deleted.
		if _, lerr := b.listVersions(ctx, p, ""); lerr == nil {
			if _, still := p.id(digest); !still {
				return registry.Mark(registry.ErrNotFound, fmt.Errorf("%s: already deleted", op))
			}
		}
		e := &permissionError{op: op, who: b.who, status: se.Status, message: se.Message, scopes: se.Header.Values("X-OAuth-Scopes")}
		p.deny(e)
		return e
	case (se.Status == http.StatusBadRequest || se.Status == http.StatusForbidden) && strings.Contains(strings.ToLower(se.Message), "download"):
		// docs.github.com "Deleting and restoring a package": a version of a
		// public package with more than 5,000 downloads cannot be deleted.
		return registry.Mark(registry.ErrProtected,
			fmt.Errorf("GitHub refuses to delete package version %d (%s): %s (public package versions with more than 5,000 downloads can only be deleted by GitHub support)", id, digest, se.Message))
	case se.Status == http.StatusBadRequest:
		return fmt.Errorf("%s: GitHub refused (%d): %s", op, se.Status, cmp.Or(se.Message, "no message"))
	}
	return b.apiErr(err, op, deleteNeed)
}

const deleteNeed = "delete:packages (classic PAT) or admin access to the package; a GITHUB_TOKEN needs " +
	"`permissions: packages: write` and the package must grant this repository Admin access (package settings > Manage Actions access)"

// listVersions lists the package's active versions, all pages (until want
// is found, when want is set: the newest versions come first), and
// records their ids.
func (b *Backend) listVersions(ctx context.Context, p *pkg, want string) ([]version, error) {
	p.refresh.Lock()
	defer p.refresh.Unlock()
	path, err := b.versionsPath(ctx, p)
	if err != nil {
		return nil, err
	}
	var all []version
	ids := map[string]int64{}
	found := false
	errFound := errors.New("found")
	err = b.pages(ctx, path+"?per_page=100&state=active", func(body []byte) error {
		var vs []version
		if err := json.Unmarshal(body, &vs); err != nil {
			return err
		}
		for _, v := range vs {
			if v.Name == "" {
				continue
			}
			if _, dup := ids[v.Name]; !dup {
				ids[v.Name] = v.ID
			}
			found = found || v.Name == want
		}
		all = append(all, vs...)
		if found {
			return errFound
		}
		return nil
	})
	if err != nil && !errors.Is(err, errFound) {
		return nil, b.apiErr(err, "list the versions of package "+p.repo,
			"read:packages (classic PAT), or a GITHUB_TOKEN with `permissions: packages: read` and access to the package")
	}
	p.mu.Lock()
	if found {
		for d, id := range ids { // a partial listing adds, never forgets
			p.ids[d] = id
		}
	} else {
		p.ids = ids
	}
	p.mu.Unlock()
	return all, nil
}

// pages GETs path and every rel="next" page after it, noting the token's
// scopes of each answer.
func (b *Backend) pages(ctx context.Context, path string, each func(body []byte) error) error {
	var page string
	get := func(ctx context.Context, path string) (*restapi.Response, error) {
		page = path
		return b.api.Do(ctx, http.MethodGet, path, nil)
	}
	return restapi.Pages(ctx, path, get, func(resp *restapi.Response) (string, error) {
		b.noteScopes(resp.Header)
		if err := each(resp.Body); err != nil {
			var se *json.SyntaxError
			var te *json.UnmarshalTypeError
			if errors.As(err, &se) || errors.As(err, &te) {
				return "", fmt.Errorf("GET %s: bad JSON: %w", page, err)
			}
			return "", err
		}
		return restapi.NextLink(resp.Header), nil
	})
}

// noteScopes records the token's classic scopes (X-OAuth-Scopes) of an answer.
func (b *Backend) noteScopes(h http.Header) {
	v, ok := h[http.CanonicalHeaderKey("X-OAuth-Scopes")]
	if !ok {
		b.scopes.Store(nil)
		return
	}
	list := strings.Split(scopeList(v), ", ")
	if len(list) == 1 && list[0] == "" {
		list = []string{}
	}
	b.scopes.Store(&list)
}

// kind decides once per owner whether it is an organization or a user.
func (b *Backend) kind(ctx context.Context, owner string) (string, error) {
	owner = strings.ToLower(owner)
	b.mu.Lock()
	k := b.kinds[owner]
	if k == nil {
		k = &ownerKind{}
		b.kinds[owner] = k
	}
	b.mu.Unlock()
	k.once.Do(func() {
		var u struct {
			Type string `json:"type"`
		}
		resp, err := b.api.GetJSON(ctx, "/users/"+url.PathEscape(owner), &u)
		if err == nil {
			b.noteScopes(resp.Header)
		}
		switch {
		case err != nil:
			k.err = b.apiErr(err, fmt.Sprintf("look up the GitHub owner %s", owner), "read access to the GitHub API")
		case u.Type == "Organization":
			k.kind = "orgs"
		default:
			k.kind = "users"
		}
	})
	if k.err != nil && ctx.Err() == nil {
		// A canceled or rate-limited lookup is not an answer: ask again next time.
		var se *restapi.StatusError
		if !errors.As(k.err, &se) || se.Status != http.StatusNotFound {
			b.mu.Lock()
			if b.kinds[owner] == k {
				delete(b.kinds, owner)
			}
			b.mu.Unlock()
		}
	}
	return k.kind, k.err
}

// versionsPath is /{orgs|users}/{owner}/packages/container/{package}/versions;
// a '/' in the package name is sent as %2F.
func (b *Backend) versionsPath(ctx context.Context, p *pkg) (string, error) {
	kind, err := b.kind(ctx, p.owner)
	if err != nil {
		return "", err
	}
	return "/" + kind + "/" + url.PathEscape(p.owner) + "/packages/container/" + url.PathEscape(p.name) + "/versions", nil
}

// pkg returns the package of repo ("owner/package[/more]").
func (b *Backend) pkg(repo string) (*pkg, error) {
	r := strings.ToLower(strings.Trim(repo, "/"))
	owner, name, ok := strings.Cut(r, "/")
	if !ok || owner == "" || name == "" {
		return nil, fmt.Errorf("ghcr: repository %q is not OWNER/PACKAGE", repo)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.pkgs[r]
	if p == nil {
		p = &pkg{repo: r, owner: owner, name: name, ids: map[string]int64{}}
		b.pkgs[r] = p
	}
	return p, nil
}

func (p *pkg) id(digest string) (int64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	id, ok := p.ids[digest]
	return id, ok
}

func (p *pkg) forget(digest string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.ids, digest)
}

func (p *pkg) deny(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.denied = err
}

func (p *pkg) deniedErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.denied
}

func (b *Backend) wait(ctx context.Context, d time.Duration) error {
	if b.sleep != nil {
		return b.sleep(ctx, d)
	}
	return restapi.Sleep(ctx, d)
}

// apiErr maps a REST API error to the registry sentinels.
func (b *Backend) apiErr(err error, op, need string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, restapi.ErrRateLimited) {
		return registry.Mark(registry.ErrRateLimited, fmt.Errorf("GitHub API: %s: %w", op, err))
	}
	var se *restapi.StatusError
	if !errors.As(err, &se) {
		return fmt.Errorf("GitHub API: %s: %w", op, err)
	}
	detail := se.Message
	if s := se.Header.Values("X-OAuth-Scopes"); len(s) > 0 {
		detail = strings.TrimPrefix(detail+"; the token has the scopes: "+scopeList(s), "; ")
	}
	if ae := registry.Auth(se.Status, b.who, need, detail); ae != nil {
		return fmt.Errorf("GitHub API: %s: %w", op, ae)
	}
	if se.Status == http.StatusNotFound {
		return registry.Mark(registry.ErrNotFound, fmt.Errorf("GitHub API: %s: not found (or %s cannot see it: it needs %s): %w", op, b.who, need, err))
	}
	return fmt.Errorf("GitHub API: %s: %w", op, err)
}

// permissionError is a 404 to the DELETE of a version that is still listed:
// GitHub hides what the token may not delete.
type permissionError struct {
	op, who, message string
	status           int
	scopes           []string // X-OAuth-Scopes values; nil when the header is absent
	noScope          bool     // refused before asking: the scopes lack delete:packages
}

func (e *permissionError) Error() string {
	var msg string
	if e.noScope {
		msg = e.op + ": " + e.who + " lacks the delete:packages scope"
	} else {
		msg = fmt.Sprintf("%s: GitHub answered %d", e.op, e.status)
		if e.message != "" {
			msg += fmt.Sprintf(" (%q)", e.message)
		}
		msg += " although the version is listed: " + e.who + " may not delete it"
	}
	switch {
	case e.scopes == nil:
		msg += " (GitHub did not list its scopes: a GITHUB_TOKEN, fine-grained token or app token)"
	case scopeList(e.scopes) == "":
		msg += " (it has no scopes)"
	default:
		msg += " (it has the scopes: " + scopeList(e.scopes) + ")"
	}
	return msg + ". The token needs " + deleteNeed
}

func (e *permissionError) Unwrap() error { return registry.ErrDenied }

func scopeList(values []string) string {
	var out []string
	for _, v := range values {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return strings.Join(out, ", ")
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
