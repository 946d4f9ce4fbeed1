// Package ghcr is the backend for the GitHub Container Registry (ghcr.io).
//
// GHCR serves the OCI registry API for reading and pushing, but answers every
// DELETE there with 405 UNSUPPORTED (skopeo#1880, fluxcd/pkg#328). It deletes
// through the GitHub REST API instead, where a package is a repository and a
// package version is one manifest digest with its tags:
//
//	GET    /users/{owner}                                   "type": "User" | "Organization"
//	GET    /user                                            "login" (the token's own user)
//	GET    /{orgs/{owner}|users/{owner}|user}/packages?package_type=container
//	GET    /{orgs/{owner}|users/{owner}|user}/packages/container/{package}/versions?state=active
//	DELETE /{orgs/{owner}|users/{owner}|user}/packages/container/{package}/versions/{id}   204
//
// (docs.github.com/rest/packages/packages). An organization's packages go
// through /orgs/{org}; the token's own user's through /user, which serves
// its private packages too (GitHub documents /users/{username}/... for
// public packages); any other user's through /users/{username}. A package
// name may contain '/', sent as %2F. Deleting a version deletes all its tags; GHCR cannot remove a
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
	// ActionsOwner is the owner of the workflow's repository
	// (GITHUB_REPOSITORY_OWNER). With an installation token (ghs_…, the
	// workflow's GITHUB_TOKEN among them), which cannot ask GET /user,
	// GitHub's /user routes act on the installation's account: this owner.
	ActionsOwner string
}

// TokenKind is what a GitHub token is, by its prefix (github.blog,
// "Authentication token format updates are generally available",
// 2021-03-31; fine-grained tokens start github_pat_).
type TokenKind int

// Token kinds.
const (
	// TokenOther: no known prefix (an old 40-hex token, a GHES one).
	TokenOther TokenKind = iota
	// TokenClassic: ghp_, a personal access token (classic).
	TokenClassic
	// TokenOAuth: gho_, an OAuth app token.
	TokenOAuth
	// TokenUserToServer: ghu_, a GitHub App's user token.
	TokenUserToServer
	// TokenInstallation: ghs_, a GitHub App installation token; the
	// workflow's GITHUB_TOKEN is one. Since 2026-04-27 they may be a
	// ghs_APPID_JWT of about 520 characters ("Generating an installation
	// access token for a GitHub App").
	TokenInstallation
	// TokenFineGrained: github_pat_, a fine-grained personal access token,
	// which GitHub Packages does not accept ("GitHub Packages only
	// supports authentication using a personal access token (classic)").
	TokenFineGrained
)

// KindOf tells a token's kind by its prefix.
func KindOf(token string) TokenKind {
	switch {
	case strings.HasPrefix(token, "github_pat_"):
		return TokenFineGrained
	case strings.HasPrefix(token, "ghs_"):
		return TokenInstallation
	case strings.HasPrefix(token, "ghp_"):
		return TokenClassic
	case strings.HasPrefix(token, "gho_"):
		return TokenOAuth
	case strings.HasPrefix(token, "ghu_"):
		return TokenUserToServer
	}
	return TokenOther
}

// String names the kind for messages (never the token).
func (k TokenKind) String() string {
	switch k {
	case TokenClassic:
		return "a classic personal access token, ghp_…"
	case TokenOAuth:
		return "an OAuth token, gho_…"
	case TokenUserToServer:
		return "a GitHub App user token, ghu_…"
	case TokenInstallation:
		return "an installation token, ghs_…: the workflow's GITHUB_TOKEN or a GitHub App's"
	case TokenFineGrained:
		return "a fine-grained personal access token, github_pat_…"
	}
	return "a token"
}

// FineGrainedFix is what a fine-grained token is told, before any
// request and when GitHub refuses one (403 "Resource not accessible by
// personal access token").
const FineGrainedFix = "GitHub Packages does not accept fine-grained tokens: use GITHUB_TOKEN or a classic PAT"

// ListFix is what a token that GitHub will not let list packages is told
// (400 "Invalid argument." to GET …/packages?package_type=container, as
// the workflow's GITHUB_TOKEN gets: cli/cli#9606, snok/container-retention-policy#27).
const ListFix = "the workflow's GITHUB_TOKEN cannot list packages: name them in `repositories` (owner/name), " +
	"or use a classic PAT with read:packages and delete:packages"

// GitHub's own words the backend tells answers apart by (docs and peers'
// reports cited in ghcrtest/testdata/README.md).
const (
	msgVersionNotFound = "Package version not found."
	msgInvalidArgument = "Invalid argument."
	msgFineGrained     = "Resource not accessible by personal access token"
	msgIntegration     = "Resource not accessible by integration"
	msgLastTagged      = "You cannot delete the last tagged version of a package"
)

// Backend is a registry.Backend for GHCR: the registry API for reading
// (embedded), the GitHub REST API for listing and deleting.
type Backend struct {
	*oci.Backend
	api    *restapi.Client
	owners []string
	who    string
	token  TokenKind
	pace   *pacer
	// actionsOwner is Options.ActionsOwner, lower case.
	actionsOwner string
	// self is the token's own user (lower case), asked once; "" when it
	// has none or GitHub would not say.
	selfOnce sync.Once
	self     string

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
	// probed: lower-case owner -> the route its packages answered on,
	// where the owner lookup is not served (base).
	probed map[string]string
	pkgs   map[string]*pkg // lower-case repository -> its versions
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

	// untagged are the versions without a tag, as of the last Tags (nil:
	// not listed yet); guarded by mu.
	untagged []image.Untagged

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
		who:          "the GitHub token from " + src + " (" + KindOf(o.Token).String() + ")",
		token:        KindOf(o.Token),
		actionsOwner: strings.ToLower(strings.TrimSpace(o.ActionsOwner)),
		findTries:    6,
		findWait:     500 * time.Millisecond,
		kinds:        map[string]*ownerKind{},
		probed:       map[string]string{},
		pkgs:         map[string]*pkg{},
	}
	b.pace = newPacer(b.now, b.wait, b.api.Budget)
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
	return registry.Capabilities{GCHint: Descriptor.GCHint, FreesSpace: Descriptor.Caps.FreesSpace, Pushed: Descriptor.Caps.PushTime,
		ListsUntagged: Descriptor.Caps.ListsUntagged, LastTagged: Descriptor.LastTagged}
}

// Pacing says how DELETEs were held back since the last call (see
// pace.go), "" when none was.
func (b *Backend) Pacing() string { return b.pace.said() }

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
		base, err := b.base(ctx, owner, "/packages?package_type=container&per_page=1")
		if err != nil {
			return nil, err
		}
		next := base + "/packages?package_type=container&per_page=100"
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
		var se *restapi.StatusError
		if errors.As(err, &se) && se.Status == http.StatusBadRequest && se.Message == msgInvalidArgument {
			// GitHub refuses the listing to the workflow's token (and,
			// untested, maybe to other installation tokens, which its docs
			// say may list), though it may read and delete a named package.
			return nil, registry.Mark(registry.ErrDenied, fmt.Errorf("GitHub API: list the container packages of %s: GitHub answered 400 %q to %s: %s",
				owner, se.Message, b.who, ListFix))
		}
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
// with the version's digest and its push time (pushedAt).
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
	untagged := []image.Untagged{}
	for _, v := range vs {
		pushed := pushedAt(v)
		if len(v.Metadata.Container.Tags) == 0 {
			untagged = append(untagged, image.Untagged{Digest: v.Name, Pushed: pushed})
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

// pushedAt is a version's push time: updated_at, else created_at. GitHub
// documents neither field's meaning. created_at is when the digest was
// first pushed (a tag moved onto an existing digest makes no new version:
// numberly/vault-db-injector#78); updated_at equals it on a fresh version
// (renovatebot/renovate#39064) and moves later for reasons GitHub does not
// give (its own example has updated_at months after created_at, the same
// on two versions). The later of the two ages a version no older than
// either says.
func pushedAt(v version) time.Time {
	if t := registry.ParseTime(v.UpdatedAt); !t.IsZero() {
		return t
	}
	return registry.ParseTime(v.CreatedAt)
}

// Untagged returns the package's versions without a tag (platform images,
// attestations, images whose tag moved, referrers), with their push times
// (pushedAt), as of the last Tags listing; it lists the versions when
// there was none.
func (b *Backend) Untagged(ctx context.Context, repo string) ([]image.Untagged, error) {
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
	return append([]image.Untagged(nil), u...), nil
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
	if err := b.pace.wait(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
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
	case se.Status == http.StatusNotFound && se.Message == msgVersionNotFound:
		// The package is there and the version is not: deleted by someone
		// else since the listing, or by this DELETE's first attempt whose
		// answer was lost (a 500, then 404: dataaxiom/ghcr-cleanup-action#74).
		p.forget(digest)
		return registry.Mark(registry.ErrNotFound, fmt.Errorf("%s: GitHub answered 404 %q: already deleted", op, se.Message))
	case se.Status == http.StatusNotFound:
		// "Package not found." to the DELETE of a version just listed is
		// how GitHub hides what the token may not delete
		// (vlaurin/action-ghcr-prune#4, canonical/authd#1376,
		// dataaxiom/ghcr-cleanup-action#147: "GitHub returns 404 instead
		// of 403"). The listing tells it from a package deleted meanwhile.
		if _, lerr := b.listVersions(ctx, p, ""); lerr == nil {
			if _, still := p.id(digest); !still {
				return registry.Mark(registry.ErrNotFound, fmt.Errorf("%s: already deleted", op))
			}
		}
		e := &permissionError{op: op, who: b.who, status: se.Status, message: se.Message, scopes: se.Header.Values("X-OAuth-Scopes")}
		p.deny(e)
		return e
	case se.Status == http.StatusBadRequest && strings.HasPrefix(se.Message, msgLastTagged):
		// The planner keeps the newest tagged version when it would delete
		// them all (Descriptor.LastTagged); GitHub refuses one it did not
		// see coming (a tag deleted by someone else meanwhile): kept, the
		// rule's, not a failure (kairos-io/kairos#4723, posit-dev/positron#15764).
		return &registry.ProtectedError{Reason: Descriptor.LastTagged, Err: fmt.Errorf("%s: GitHub answered 400 %q", op, se.Message)}
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
		var se *restapi.StatusError
		switch {
		case errors.As(err, &se) && se.Status == http.StatusNotFound:
			// The owner lookup is not served (a packages-only API, a
			// proxy): "" has base find the owner's packages by trying the
			// routes in turn. On GitHub an owner that does not exist has
			// no packages either, and the packages route says so.
			k.kind = ""
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

// versionsPath is {base}/packages/container/{package}/versions; a '/' in
// the package name is sent as %2F.
func (b *Backend) versionsPath(ctx context.Context, p *pkg) (string, error) {
	base, err := b.base(ctx, p.owner, "/packages/container/"+url.PathEscape(p.name)+"/versions?per_page=1")
	if err != nil {
		return "", err
	}
	return base + "/packages/container/" + url.PathEscape(p.name) + "/versions", nil
}

// base is where the owner's packages are: /orgs/{org} for an
// organization, /user for the token's own user (its private packages
// too), /users/{username} for any other user (GitHub documents those
// routes for public packages).
//
// Where the owner lookup is not served, the routes are tried in that
// order with probe (a path under the base, one item a page) and the first
// that does not answer 404 is the owner's, remembered; when every one
// does, the last, whose 404 the caller then reports.
func (b *Backend) base(ctx context.Context, owner, probe string) (string, error) {
	kind, err := b.kind(ctx, owner)
	if err != nil {
		return "", err
	}
	if kind == "users" && strings.EqualFold(owner, b.user(ctx)) {
		return "/user", nil
	}
	if kind != "" {
		return "/" + kind + "/" + url.PathEscape(owner), nil
	}
	self := strings.EqualFold(owner, b.user(ctx))
	key := strings.ToLower(owner)
	b.mu.Lock()
	found := b.probed[key]
	b.mu.Unlock()
	if found != "" {
		return found, nil
	}
	routes := []string{"/orgs/" + url.PathEscape(owner)}
	if self {
		routes = append(routes, "/user")
	}
	routes = append(routes, "/users/"+url.PathEscape(owner))
	for _, route := range routes {
		_, err := b.api.Do(ctx, http.MethodGet, route+probe, nil)
		var se *restapi.StatusError
		if errors.As(err, &se) && se.Status == http.StatusNotFound {
			continue
		}
		if err != nil {
			return "", b.apiErr(err, fmt.Sprintf("find the packages of the GitHub owner %s", owner), "read access to the GitHub API")
		}
		b.mu.Lock()
		b.probed[key] = route
		b.mu.Unlock()
		return route, nil
	}
	return routes[len(routes)-1], nil
}

// user is the token's own user (lower case), asked once: GET /user for a
// personal, OAuth or user token; for an installation token, which GET
// /user refuses (dataaxiom/ghcr-cleanup-action src/octokit-client.ts: "the
// endpoint 403s"), the workflow repository's owner, on whose account
// GitHub's /user routes act for it. "" when there is none.
func (b *Backend) user(ctx context.Context) string {
	b.selfOnce.Do(func() {
		if b.token == TokenInstallation {
			b.self = b.actionsOwner
			return
		}
		var u struct {
			Login string `json:"login"`
		}
		resp, err := b.api.GetJSON(ctx, "/user", &u)
		if err == nil {
			b.noteScopes(resp.Header)
			b.self = strings.ToLower(u.Login)
		}
	})
	return b.self
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

// now is the REST client's clock (tests share a fake one with the replica).
func (b *Backend) now() time.Time {
	if b.api.Now != nil {
		return b.api.Now()
	}
	return time.Now()
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
	switch {
	case se.Status == http.StatusForbidden && se.Message == msgFineGrained:
		return registry.Mark(registry.ErrDenied, fmt.Errorf("GitHub API: %s: GitHub answered 403 %q to %s: %s", op, se.Message, b.who, FineGrainedFix))
	case se.Status == http.StatusForbidden && se.Message == msgIntegration:
		// GITHUB_TOKEN on /users/{u}/… of a private package
		// (dataaxiom/ghcr-cleanup-action#28), or without the grant.
		return registry.Mark(registry.ErrDenied, fmt.Errorf("GitHub API: %s: GitHub answered 403 %q to %s: it needs %s", op, se.Message, b.who, need))
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
