package gar

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"

	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/image"
	"github.com/tagsweep/tagsweep/internal/registry/oci"
	"github.com/tagsweep/tagsweep/internal/registry/restapi"
)

// ImmutableReason is the reason every tag of a repository with immutable
// tags is kept with.
const ImmutableReason = "immutable tags on Artifact Registry (the repository's immutableTags setting: no tag may be deleted or moved, no tagged image deleted)"

// Backend is Artifact Registry: the registry API of oci.Backend (tags
// deleted before their manifest), with the repository's immutable-tags
// setting read from the Artifact Registry API
// (GET /v1/projects/{p}/locations/{l}/repositories/{r}, field
// dockerConfig.immutableTags: "prevents all tags from being modified,
// moved or deleted", googleapis Google.Apis.ArtifactRegistry.v1
// DockerRepositoryConfig; the product docs add that a tagged image
// cannot be deleted either: cloud.google.com/artifact-registry/docs/
// repositories/update-repo-settings). In such a repository every tag is
// kept with ImmutableReason, from the listing, so the dry run says so
// and nothing is sent to be refused.
//
// The setting is read with the registry's own credential: a Google
// access token (user oauth2accesstoken, as gcloud's helper gives, or
// _token, as Google's keychain gives), or a token for its
// service-account key (_json_key, _json_key_base64). Where it cannot be
// read (gcr.io, a missing permission), the repository is planned as
// mutable and a refused tag delete keeps the image (RefusedReason). It is
// safe for concurrent use.
type Backend struct {
	*oci.Backend
	api      *restapi.Client
	location string

	http     *http.Client
	keyOnce  sync.Once
	keys     oauth2.TokenSource // from a service-account key
	keyErr   error
	mu       sync.Mutex
	settings map[string]*setting // projects/p/locations/l/repositories/r
}

type setting struct {
	once      sync.Once
	immutable bool
	err       error
}

var _ registry.Backend = (*Backend)(nil)

// Options configures New.
type Options struct {
	// Registry is the registry API backend.
	Registry *oci.Backend
	// API is the Artifact Registry API base, e.g.
	// https://artifactregistry.googleapis.com.
	API *url.URL
	// Location is the repository location (us-central1), from the host
	// LOCATION-docker.pkg.dev; "" reads no setting.
	Location string
	// HTTP sends the API requests; nil is http.DefaultClient.
	HTTP *http.Client
	// UserAgent is sent to the API.
	UserAgent string
}

// New returns the Artifact Registry backend.
func New(o Options) (*Backend, error) {
	if o.Registry == nil {
		return nil, errors.New("gar: the registry API backend is required")
	}
	base, err := restapi.BaseURL("gar", o.API)
	if err != nil {
		return nil, err
	}
	b := &Backend{Backend: o.Registry, location: o.Location, settings: map[string]*setting{}, http: cmp.Or(o.HTTP, http.DefaultClient)}
	b.api = &restapi.Client{Base: base, HTTP: o.HTTP, UserAgent: o.UserAgent, Auth: func(ctx context.Context, req *http.Request) error {
		tok, err := b.token(ctx)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		return nil
	}}
	return b, nil
}

// errNoToken: the registry credential gives no Google access token.
var errNoToken = errors.New("the registry credential is neither a Google access token (user oauth2accesstoken or _token) nor a service-account key (_json_key, _json_key_base64)")

// cloudPlatform is the OAuth scope of the Artifact Registry API
// (cloud.google.com/artifact-registry/docs/reference/rest).
const cloudPlatform = "https://www.googleapis.com/auth/cloud-platform"

// token is the access token for the API: the registry password where it
// is one; for a service-account key (docker login -u _json_key, or
// _json_key_base64: cloud.google.com/artifact-registry/docs/docker/
// authentication#json-key) a token the key's token_uri grants, cached
// until it expires. Only keys of type service_account are read.
func (b *Backend) token(ctx context.Context) (string, error) {
	cfg, err := b.Backend.Authorization(ctx)
	if err != nil {
		return "", err
	}
	if cfg == nil || cfg.Password == "" {
		return "", errNoToken
	}
	switch cfg.Username {
	case "oauth2accesstoken", "_token":
		return cfg.Password, nil
	case "_json_key", "_json_key_base64":
	default:
		return "", errNoToken
	}
	b.keyOnce.Do(func() {
		key := []byte(cfg.Password)
		if cfg.Username == "_json_key_base64" {
			if key, b.keyErr = base64.StdEncoding.DecodeString(strings.TrimSpace(cfg.Password)); b.keyErr != nil {
				b.keyErr = fmt.Errorf("the _json_key_base64 password is not base64: %w", b.keyErr)
				return
			}
		}
		tctx := context.WithValue(context.Background(), oauth2.HTTPClient, b.http)
		creds, err := google.CredentialsFromJSONWithType(tctx, key, google.ServiceAccount, cloudPlatform)
		if err != nil {
			b.keyErr = fmt.Errorf("the service-account key is not usable: %w", err)
			return
		}
		b.keys = creds.TokenSource
	})
	if b.keyErr != nil {
		return "", b.keyErr
	}
	tok, err := b.keys.Token()
	if err != nil {
		return "", fmt.Errorf("get an access token for the service-account key: %w", err)
	}
	return tok.AccessToken, nil
}

// APIRequests counts the requests sent to the Artifact Registry API.
func (b *Backend) APIRequests() int64 { return b.api.Requests() }

// arRepository is the Artifact Registry repository holding repo
// ("PROJECT/REPOSITORY/IMAGE..." on LOCATION-docker.pkg.dev), as its
// resource name; "" when repo is not one.
func (b *Backend) arRepository(repo string) string {
	parts := strings.SplitN(repo, "/", 3)
	if b.location == "" || len(parts) < 3 || parts[0] == "" || parts[1] == "" {
		return ""
	}
	return "projects/" + parts[0] + "/locations/" + b.location + "/repositories/" + parts[1]
}

// Immutable reports whether repo's Artifact Registry repository has
// immutable tags, read once per repository. An error says why it could
// not be read.
func (b *Backend) Immutable(ctx context.Context, repo string) (bool, error) {
	name := b.arRepository(repo)
	if name == "" {
		return false, nil
	}
	b.mu.Lock()
	s := b.settings[name]
	if s == nil {
		s = &setting{}
		b.settings[name] = s
	}
	b.mu.Unlock()
	s.once.Do(func() {
		if _, err := b.token(ctx); err != nil {
			s.err = fmt.Errorf("read the settings of %s: %w", name, err)
			return
		}
		var body struct {
			DockerConfig struct {
				ImmutableTags bool `json:"immutableTags"`
			} `json:"dockerConfig"`
		}
		if _, err := b.api.GetJSON(ctx, "/v1/"+name, &body); err != nil {
			s.err = fmt.Errorf("read the settings of %s: %w", name, err)
			return
		}
		s.immutable = body.DockerConfig.ImmutableTags
	})
	return s.immutable, s.err
}

// Tags lists repo's tags through the registry API; in a repository with
// immutable tags every tag is Protected with ImmutableReason. A setting
// that cannot be read leaves the tags as they are (the deletes then meet
// Artifact Registry's own refusal).
func (b *Backend) Tags(ctx context.Context, repo string) ([]image.Tag, error) {
	tags, err := b.Backend.Tags(ctx, repo)
	if err != nil {
		return nil, err
	}
	if imm, _ := b.Immutable(ctx, repo); imm {
		for i := range tags {
			tags[i].Protected = ImmutableReason
		}
	}
	return tags, nil
}

// RefusedReason is the reason an item is kept with when Artifact
// Registry refuses to remove a tag in a repository whose setting could
// not be read: AR deletes single tags everywhere else (202,
// genuinetools/reg#136), so a refusal is the repository's immutable tags
// (whose wire answer is not documented), never a missing feature.
const RefusedReason = "refused by Artifact Registry (a repository with immutable tags refuses to remove or move tags)"

// TagDeleteSupported is true: Artifact Registry deletes a single tag
// with the registry API's DELETE by tag (genuinetools/reg#136). No
// request is sent, and a refusal in one repository (immutable tags)
// does not turn tag deletes off for the others.
func (b *Backend) TagDeleteSupported(context.Context, string) (bool, error) { return true, nil }

// DeleteTag deletes one tag through the registry API; a refusal that
// is not an error of the request (401/403, 404, 429) keeps the tag with
// RefusedReason instead of failing.
func (b *Backend) DeleteTag(ctx context.Context, repo, tag string) error {
	return refused(b.Backend.DeleteTag(ctx, repo, tag))
}

// DeleteDigest deletes every tag of digest, then the digest; a tag
// refused as in DeleteTag, before any went, keeps the manifest with
// RefusedReason.
func (b *Backend) DeleteDigest(ctx context.Context, repo, digest string, tags []string) error {
	err := b.Backend.DeleteDigest(ctx, repo, digest, tags)
	var pe *registry.PartialError
	if errors.As(err, &pe) {
		return err // some tags went: what happened is told as it is
	}
	return refused(err)
}

func refused(err error) error {
	if errors.Is(err, registry.ErrTagDeleteUnsupported) {
		return &registry.ProtectedError{Reason: RefusedReason, Err: err}
	}
	return err
}
