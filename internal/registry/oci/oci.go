// Package oci is the generic registry backend: the OCI distribution API
// (and the distribution `_catalog` extension) spoken through
// go-containerregistry, which handles auth challenges, Accept sets,
// pagination and retries.
package oci

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/singleflight"

	"github.com/tagsweep/tagsweep/internal/netutil"
	"github.com/tagsweep/tagsweep/internal/redact"
	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/cache"
	"github.com/tagsweep/tagsweep/internal/registry/image"
	"github.com/tagsweep/tagsweep/internal/registry/restapi"
)

// Scheme says how to reach the registry.
type Scheme int

// Schemes.
const (
	// SchemeAuto: TLS, with a plain-HTTP fallback only for loopback hosts
	// or when insecure is set.
	SchemeAuto Scheme = iota
	// SchemeHTTPS: TLS only, never a fallback.
	SchemeHTTPS
	// SchemeHTTP: plain HTTP only.
	SchemeHTTP
)

// Credentials are how the backend authenticates.
type Credentials struct {
	// Username and Password are explicit credentials; when Username is
	// empty the docker config keychain is asked, then anonymous access.
	Username, Password string
	// From names where Username came from, for messages. The default is
	// "the username input".
	From string
}

type options struct {
	scheme       Scheme
	insecure     bool
	roots        *x509.CertPool
	creds        Credentials
	concurrency  int
	userAgent    string
	transport    http.RoundTripper
	maxRetries   int
	retryBase    time.Duration
	retryMax     time.Duration
	keychain     authn.Keychain
	untagFirst   bool
	gcHint       string
	freesSpace   bool
	untaggedHint string
	offHint      string
	protections  []Protection
	quotas       []Quota
	limiter      *registry.Limiter
	secrets      *redact.Set
	cache        *cache.Cache
	deletes      bool
}

// Option configures a Backend.
type Option func(*options) error

// WithScheme sets how the registry is reached. The default is SchemeAuto.
func WithScheme(s Scheme) Option { return func(o *options) error { o.scheme = s; return nil } }

// WithInsecure allows plain HTTP and unverified TLS. The default is false.
func WithInsecure(b bool) Option { return func(o *options) error { o.insecure = b; return nil } }

// WithRoots sets the CA certificates TLS trusts. The default is the system roots.
func WithRoots(p *x509.CertPool) Option { return func(o *options) error { o.roots = p; return nil } }

// WithCredentials sets explicit credentials. The default is the docker
// config keychain, then anonymous.
func WithCredentials(c Credentials) Option {
	return func(o *options) error {
		if (c.Username == "") != (c.Password == "") {
			return errors.New("username and password go together")
		}
		o.creds = c
		return nil
	}
}

// WithConcurrency sets how many requests may be in flight at once: the
// size of the backend's own Limiter (when WithLimiter gives none) and how
// many blob GETs go-containerregistry runs in parallel. The default is 8.
func WithConcurrency(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("concurrency must be at least 1, got %d", n)
		}
		o.concurrency = n
		return nil
	}
}

// WithUserAgent sets the User-Agent. The default is "tagsweep".
func WithUserAgent(ua string) Option { return func(o *options) error { o.userAgent = ua; return nil } }

// WithLimiter makes every request wait for a slot of l, which the caller
// shares with the other HTTP stacks of the run (the vendor REST APIs), so
// that one bound holds for all of them (README, Performance: concurrency).
// The default is a Limiter of the backend's own, of WithConcurrency's size.
func WithLimiter(l *registry.Limiter) Option {
	return func(o *options) error { o.limiter = l; return nil }
}

// WithTransport replaces the HTTP transport under the limiter and retry
// layers (tests). The default is a clone of http.DefaultTransport with the
// TLS settings of the other options.
func WithTransport(t http.RoundTripper) Option {
	return func(o *options) error { o.transport = t; return nil }
}

// WithRateLimitRetries sets how often a 429/503 is retried and how long to
// wait at most, each time. The defaults are 6 retries, 1s base backoff,
// 60s at most per wait.
func WithRateLimitRetries(n int, base, max time.Duration) Option {
	return func(o *options) error {
		if n < 0 || base <= 0 || max < base {
			return fmt.Errorf("bad retry settings %d/%s/%s", n, base, max)
		}
		o.maxRetries, o.retryBase, o.retryMax = n, base, max
		return nil
	}
}

// Describer is an authn.Authenticator that says whose credentials it
// stands for without fetching them. A keychain whose credentials cost
// requests (a cloud's token exchange) returns one, so that nothing is
// sent before the first registry request, which comes after the run has
// checked its outputs; New then takes its description for the log.
type Describer interface {
	Describe() string
}

// WithKeychain sets the keychain asked when no username is given. The
// default is authn.DefaultKeychain (the docker config).
func WithKeychain(k authn.Keychain) Option {
	return func(o *options) error { o.keychain = k; return nil }
}

// WithUntagFirst makes DeleteDigest delete the tags it is given before the
// manifest, for registries that refuse to delete a tagged manifest
// (Artifact Registry: 400 GOOGLE_MANIFEST_DANGLING_TAG). A run killed
// between two untags leaves stale tags the next run deletes; killed after
// the last one, it leaves the manifest untagged, which the OCI API cannot
// list (the registry's own cleanup removes it). The default is false.
func WithUntagFirst(b bool) Option { return func(o *options) error { o.untagFirst = b; return nil } }

// WithGCHint sets the garbage-collection hint that Capabilities report:
// how the operator frees the space of deleted manifests on this registry.
// The default is DistributionGCHint.
func WithGCHint(hint string) Option { return func(o *options) error { o.gcHint = hint; return nil } }

// WithFreesSpace says that the registry frees the space of deleted
// manifests on its own (Capabilities().FreesSpace): the summary then names
// no garbage collector. The default is false.
func WithFreesSpace(b bool) Option { return func(o *options) error { o.freesSpace = b; return nil } }

// WithUntaggedHint sets how the registry removes the untagged manifests
// that this API cannot list (Capabilities().UntaggedHint), which a run with
// delete-untagged names once. The default is DistributionUntaggedHint.
func WithUntaggedHint(hint string) Option {
	return func(o *options) error { o.untaggedHint = hint; return nil }
}

// WithProtections sets the error answers to a DELETE that name a per-item
// protection (a lock, an immutability rule): the item is kept as a
// registry.ProtectedError and nothing else is affected. The vendor
// descriptors declare them. The default is none: every 400/405 refusal
// is then a refused method (see deleteRefusal).
func WithProtections(ps ...Protection) Option {
	return func(o *options) error { o.protections = append(o.protections, ps...); return nil }
}

// WithDeletesOffHint sets what to tell the user when the registry refuses
// deletes altogether (405 to a DELETE and to the zero-digest probe), for
// registries that delete through another API (the vendor descriptors
// declare it). The default is the CNCF distribution registry's fix where
// the answer is distribution's, else a generic one.
func WithDeletesOffHint(hint string) Option {
	return func(o *options) error { o.offHint = hint; return nil }
}

// WithCache makes the backend read manifests and image configs from c by
// digest, and store those it reads from the registry there (the cache-dir
// input): a tag is resolved with a HEAD, and only a digest the cache does
// not hold is read with a GET. The default is no cache: a tag is read with
// one GET.
func WithCache(c *cache.Cache) Option { return func(o *options) error { o.cache = c; return nil } }

// WithDeletes says the run may delete: each repository's token is asked
// with the delete scope as well as pull, so that its reads and its deletes
// share one token. Without it a token is asked for pull, and a DELETE
// (the dry run's probes) widens it when the registry's challenge asks.
// The default is false.
func WithDeletes(b bool) Option { return func(o *options) error { o.deletes = b; return nil } }

// WithSecrets makes the backend add to s every credential it sends and
// every token it receives (redact.Transport at the bottom of its HTTP
// stack), so that what the registry echoes of them is never printed. The
// default is none.
func WithSecrets(s *redact.Set) Option { return func(o *options) error { o.secrets = s; return nil } }

// Backend talks to one registry through the OCI distribution API.
type Backend struct {
	host string
	reg  name.Registry
	auth authn.Authenticator
	who  string
	// rt is the stack under the authentication (retries of ggcr's
	// transient codes, user agent); split sends reads through a retry of
	// lost connections too (byMethod); base is the stack under both.
	rt, split, base http.RoundTripper
	ua              string
	jobs            int
	deletes         bool
	stats           *Stats

	clients sync.Map // scope + " " + repo -> *lazyClient (restore's uploads)
	// The connection layer (session.go): the registry's challenge, pinged
	// once; the transport every repository shares where the registry
	// takes no token; each repository's conn.
	pingMu   sync.Mutex
	pinged   *transport.Challenge
	pings    map[string]pingAnswer
	sharedMu sync.Mutex
	shared   http.RoundTripper
	conns    sync.Map // repo ("" the registry) -> *lazyConn

	cache   *cache.Cache
	fetches singleflight.Group // "repo@digest": one GET of a digest at a time
	created recent             // config digest -> configCreated

	untagFirst   bool
	gcHint       string
	freesSpace   bool
	untaggedHint string
	offHint      string
	protections  []Protection

	tagDelete      atomic.Int32 // 0 unknown, 1 supported, 2 not
	referrers      atomic.Int32 // 0 unknown, 1 supported, 2 not
	deleteDisabled atomic.Pointer[error]
	// offMu serialises the zero-digest probe; deletesOn records that the
	// registry answered it 404 (deletes are on).
	offMu     sync.Mutex
	deletesOn bool
	offMsg    string // why deletes are off, once known

	quota *quotas // nil without quotas
}

var _ registry.Backend = (*Backend)(nil)

// New returns a backend for host ("host[:port]", no scheme).
func New(host string, opts ...Option) (*Backend, error) {
	o := options{concurrency: 8, userAgent: "tagsweep", maxRetries: 6, retryBase: time.Second, retryMax: 60 * time.Second, keychain: authn.DefaultKeychain}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	var nopts []name.Option
	if o.insecure || o.scheme == SchemeHTTP {
		nopts = append(nopts, name.Insecure)
	}
	reg, err := name.NewRegistry(host, append(nopts, name.StrictValidation)...)
	if err != nil {
		return nil, fmt.Errorf("registry %q: %w", host, err)
	}
	b := &Backend{host: host, reg: reg, stats: &Stats{}, untagFirst: o.untagFirst, gcHint: cmp.Or(o.gcHint, DistributionGCHint),
		freesSpace: o.freesSpace, untaggedHint: cmp.Or(o.untaggedHint, DistributionUntaggedHint), offHint: o.offHint, protections: o.protections,
		cache: o.cache, deletes: o.deletes}

	// Credentials: explicit, else the keychain, else anonymous.
	switch {
	case o.creds.Username != "":
		b.auth = &authn.Basic{Username: o.creds.Username, Password: o.creds.Password}
		b.who = fmt.Sprintf("user %q (from %s)", o.creds.Username, cmp.Or(o.creds.From, "the username input"))
	default:
		a, err := o.keychain.Resolve(reg)
		if err != nil {
			return nil, fmt.Errorf("read docker config credentials for %s: %w", host, err)
		}
		b.auth, b.who = a, fmt.Sprintf("anonymous access (no username input and no docker config entry for %s)", host)
		if d, ok := a.(Describer); ok {
			b.who = d.Describe() // its credentials are fetched at the first request
		} else if cfg, err := a.Authorization(); err == nil && cfg != nil && a != authn.Anonymous {
			switch {
			case cfg.Username != "":
				b.who = fmt.Sprintf("user %q (from the docker config)", cfg.Username)
			case cfg.IdentityToken != "" || cfg.RegistryToken != "" || cfg.Auth != "":
				b.who = "a token (from the docker config)"
			}
		}
	}

	rt := o.transport
	if rt == nil {
		rt = baseTransport(o.roots, o.insecure, o.concurrency)
	}
	// At the bottom: it sees every header ggcr's auth layers set and every
	// token answer before ggcr reads it.
	rt = redact.Transport(rt, o.secrets)
	pin := ""
	switch {
	case o.scheme == SchemeHTTP:
		pin = "http"
	case o.scheme == SchemeHTTPS:
		pin = "https"
	case o.insecure || netutil.IsLoopback(host):
		// ggcr's https-then-http fallback is allowed here.
	default:
		pin = "https"
	}
	hint := ""
	if pin == "https" {
		hint = plainHTTPHint(host, o.scheme == SchemeHTTPS)
	}
	rt = &pinScheme{host: reg.RegistryStr(), scheme: pin, ggcrScheme: reg.Scheme(), plainHint: hint, next: rt}
	// Under the backoff: a spent quota's 429 is never retried.
	rt = newQuotas(rt, o.quotas)
	if q, ok := rt.(*quotas); ok {
		b.quota = q
	}
	if o.limiter == nil {
		o.limiter = registry.NewLimiter(o.concurrency)
	}
	rt = o.limiter.Transport(rt)
	rt = &backoff{next: rt, maxRetries: o.maxRetries, base: o.retryBase, maxWait: o.retryMax, stats: b.stats, sleep: sleepCtx}
	// ggcr retries the transient codes; 429 and 503 are ours (Retry-After).
	retryCodes := []int{http.StatusRequestTimeout, http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout, 499, 522}
	b.base, b.ua, b.jobs = rt, o.userAgent, o.concurrency
	b.rt = transport.NewUserAgent(transport.NewRetry(rt, transport.WithRetryStatusCodes(retryCodes...)), o.userAgent)
	read := transport.NewUserAgent(transport.NewRetry(rt, transport.WithRetryPredicate(readRetryable), transport.WithRetryStatusCodes(retryCodes...)), o.userAgent)
	b.split = &byMethod{read: read, write: b.rt}
	return b, nil
}

// Who describes the credentials in use, never the secret.
func (b *Backend) Who() string { return b.who }

// Stats returns the request counters.
func (b *Backend) Stats() Stats {
	return Stats{Requests: atomic.LoadInt64(&b.stats.Requests), RateLimits: atomic.LoadInt64(&b.stats.RateLimits)}
}

// Capabilities describes the registry.
func (b *Backend) Capabilities() registry.Capabilities {
	return registry.Capabilities{GCHint: b.gcHint, FreesSpace: b.freesSpace, UntaggedHint: b.untaggedHint}
}

// GenericUntaggedHint is what delete-untagged says on a registry whose
// API cannot list untagged manifests and whose kind names no way of its
// own to remove them.
const GenericUntaggedHint = "this registry's API lists tags only, so tagsweep cannot see its untagged manifests; " +
	"the registry's own cleanup removes them (see how it frees space, at the end)"

// DistributionUntaggedHint is how the CNCF distribution registry removes
// the untagged manifests its API cannot list: its garbage collector
// (distribution docs, "Garbage collection").
const DistributionUntaggedHint = "the OCI distribution API lists tags only, so tagsweep cannot see untagged manifests here; " +
	"the CNCF distribution registry removes them with `registry garbage-collect --delete-untagged <config>`"

// DistributionGCHint is how the CNCF distribution registry, the reference
// implementation of the API this backend speaks, frees the space of
// deleted manifests.
const DistributionGCHint = "CNCF distribution registry: `registry garbage-collect --delete-untagged /etc/docker/registry/config.yml` " +
	"(registry 2.8: leave out `--delete-untagged`, which breaks multi-arch images there; tagsweep already deleted the untagged children it could)."

func (b *Backend) repo(r string) name.Repository {
	return b.reg.Repo(strings.Split(r, "/")...)
}

// Repositories lists the catalog (paginated by ggcr, following Link).
func (b *Backend) Repositories(ctx context.Context) ([]string, error) {
	var repos []string
	err := readAgain(ctx, func() error {
		c, err := b.conn(ctx, "")
		if err != nil {
			return err
		}
		repos, err = c.puller.Catalog(ctx, b.reg)
		if pageSizeRefused(err) {
			repos, err = c.unpaged.Catalog(ctx, b.reg)
		}
		return err
	})
	if err != nil {
		err = b.classify(err, "catalog access (registry:catalog:*)", "list repositories")
		if errors.Is(err, registry.ErrNotFound) {
			// olareg and GHCR answer 404: the catalog is an optional
			// extension of the distribution API, not part of the OCI spec.
			return nil, fmt.Errorf("the registry does not serve the catalog (GET /v2/_catalog answered 404), so globs cannot be matched: "+
				"list the repositories by name in `repositories` (e.g. team/api, without * or **): %w", err)
		}
		return nil, err
	}
	return repos, nil
}

// pageSizeRefused reports a registry refusing the page size asked for
// (distribution answers 400 PAGINATION_NUMBER_INVALID when n exceeds its
// configured maxentries): the listing is asked again without n, letting
// the registry pick its page size and following its Link header.
func pageSizeRefused(err error) bool {
	var te *transport.Error
	if !errors.As(err, &te) || te.StatusCode != http.StatusBadRequest {
		return false
	}
	for _, d := range te.Errors {
		if d.Code == "PAGINATION_NUMBER_INVALID" {
			return true
		}
	}
	return false
}

// Tags lists every tag of repo: names only, the OCI tag list tells no more.
func (b *Backend) Tags(ctx context.Context, repo string) ([]image.Tag, error) {
	names, err := b.TagNames(ctx, repo)
	if err != nil {
		return nil, err
	}
	out := make([]image.Tag, len(names))
	for i, n := range names {
		out[i].Name = n
	}
	return out, nil
}

// TagNames lists every tag name of repo (paginated by ggcr, following Link).
func (b *Backend) TagNames(ctx context.Context, repo string) ([]string, error) {
	r := b.repo(repo)
	var tags []string
	err := readAgain(ctx, func() error {
		c, err := b.conn(ctx, repo)
		if err != nil {
			return err
		}
		tags, err = c.puller.List(ctx, r)
		if pageSizeRefused(err) {
			tags, err = c.unpaged.List(ctx, r)
		}
		return err
	})
	if err != nil {
		return nil, b.classify(err, fmt.Sprintf("pull on repository %q", repo), "list tags")
	}
	return tags, nil
}

func (b *Backend) ref(repo, ref string) name.Reference {
	r := b.repo(repo)
	if strings.Contains(ref, ":") {
		return r.Digest(ref)
	}
	return r.Tag(ref)
}

// Resolve HEADs a tag with the full Accept set.
func (b *Backend) Resolve(ctx context.Context, repo, tag string) (string, error) {
	d, err := b.head(ctx, repo, tag)
	if err != nil {
		return "", b.classify(err, fmt.Sprintf("pull on repository %q", repo), "resolve "+tag)
	}
	return d.Digest.String(), nil
}

// head HEADs ref (a tag or a digest) in repo with the full Accept set.
func (b *Backend) head(ctx context.Context, repo, ref string) (*v1.Descriptor, error) {
	var d *v1.Descriptor
	err := readAgain(ctx, func() error {
		c, err := b.conn(ctx, repo)
		if err != nil {
			return err
		}
		d, err = c.puller.Head(ctx, b.ref(repo, ref))
		return err
	})
	return d, err
}

// Exists HEADs a digest.
func (b *Backend) Exists(ctx context.Context, repo, digest string) (bool, error) {
	_, err := b.Resolve(ctx, repo, digest)
	if errors.Is(err, registry.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Manifest GETs a manifest with the full Accept set; for an image with an
// image config it also GETs the config to read `created`.
func (b *Backend) Manifest(ctx context.Context, repo, ref string) (*image.Manifest, error) {
	var m *image.Manifest
	err := readAgain(ctx, func() (err error) {
		m, err = b.manifest(ctx, repo, ref)
		return err
	})
	return m, err
}

// readAgain runs read, an idempotent read, again when its answer was cut
// off (the connection reset or closed mid-body: unexpected EOF), up to 4
// times with a short backoff. HTTP statuses are the transports' business
// (retries, Retry-After); this covers what they cannot see, a body that
// breaks off after the headers.
func readAgain(ctx context.Context, read func() error) error {
	var err error
	for attempt := range 4 {
		if err = read(); err == nil || !cutOff(err) || ctx.Err() != nil {
			return err
		}
		wait := time.Duration(100<<attempt) * time.Millisecond
		if serr := restapi.Sleep(ctx, wait+time.Duration(mrand.Int64N(int64(wait)/2))); serr != nil {
			return err
		}
	}
	return err
}

// cutOff reports whether err is a connection lost mid-answer: by the
// errors' types (net/http and go-containerregistry wrap them with %w),
// never by their wording.
func cutOff(err error) bool {
	var te *transport.Error
	if errors.As(err, &te) {
		return false
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func (b *Backend) manifest(ctx context.Context, repo, ref string) (*image.Manifest, error) {
	need := fmt.Sprintf("pull on repository %q", repo)
	digest, mt, raw, err := b.fetch(ctx, repo, ref)
	if err != nil {
		return nil, b.classify(err, need, "get manifest "+ref)
	}
	m := &image.Manifest{Digest: digest, MediaType: mt, Size: int64(len(raw))}
	switch mediaType := types.MediaType(mt); {
	case mediaType.IsIndex():
		im, err := v1.ParseIndexManifest(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("parse index %s: %w", ref, err)
		}
		m.ArtifactType = im.ArtifactType
		m.Created = registry.ParseTime(im.Annotations[image.AnnotationCreated])
		if im.Subject != nil {
			m.Subject = im.Subject.Digest.String()
		}
		m.ChildInfo = map[string]string{}
		for _, c := range im.Manifests {
			d := c.Digest.String()
			m.Children = append(m.Children, d)
			switch {
			case c.Annotations[image.AnnotationReferenceType] == image.ReferenceTypeAttestation:
				m.ChildInfo[d] = "attestation"
			case c.Platform != nil:
				m.ChildInfo[d] = c.Platform.String()
			}
		}
	case mediaType.IsImage() || mediaType == types.OCIManifestSchema1:
		mf, err := v1.ParseManifest(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("parse manifest %s: %w", ref, err)
		}
		if mf.Subject != nil {
			m.Subject = mf.Subject.Digest.String()
		}
		// Only tagsweep's own placeholder: the marker on an image without
		// layers (a marked image with content is an image, whatever it says).
		m.Placeholder = mf.Annotations[image.AnnotationPlaceholder] == image.PlaceholderMarker && len(mf.Layers) == 0
		m.Blobs = append(m.Blobs, image.Blob{Digest: mf.Config.Digest.String(), Size: mf.Config.Size})
		for _, l := range mf.Layers {
			m.Blobs = append(m.Blobs, image.Blob{Digest: l.Digest.String(), Size: l.Size})
		}
		// The age of an image is its config's created; an artifact (a
		// config without created: Helm charts, oras pushes) is dated by
		// its org.opencontainers.image.created annotation. A config that
		// is no image config (Helm's, oras' empty one) is not fetched:
		// none of them carries created.
		cmt := string(mf.Config.MediaType)
		annotated := registry.ParseTime(mf.Annotations[image.AnnotationCreated])
		if cmt != image.MediaTypeOCIConfig && cmt != image.MediaTypeDockerConfig {
			m.Created = annotated
			m.ArtifactType = cmp.Or(string(mf.ArtifactType), cmt)
			break
		}
		own, err := b.configCreated(ctx, repo, mf.Config.Digest.String())
		if err != nil {
			return nil, b.classify(err, need, "get config of "+ref)
		}
		if own.set {
			m.Created = own.at
		} else {
			m.Created = annotated
		}
	default:
		// schema 1 and unknown types: digest only, age unknown.
	}
	return m, nil
}

// configCreated is what an image config says of its creation: set is
// false when it has no created (absent, null or ""), and at is zero when
// created is not a time.
type configCreated struct {
	at  time.Time
	set bool
}

// configFields reads the fields tagsweep uses of an image config (none of
// a config that does not parse).
func configFields(config []byte) cache.Config {
	var cfg cache.Config
	if json.Unmarshal(config, &cfg) != nil {
		return cache.Config{}
	}
	return cfg
}

// createdOf is what the fields of a config say of its creation.
func createdOf(cfg cache.Config) configCreated {
	if cfg.Created == nil || *cfg.Created == "" {
		return configCreated{}
	}
	return configCreated{at: registry.ParseTime(*cfg.Created), set: true}
}

// Referrers lists the referrers of digest through the OCI 1.1 API. The
// answer "no such API" is remembered for the registry: the tag schema
// (sha256-<hex> tags, which the engine sees in the tag list) applies then.
func (b *Backend) Referrers(ctx context.Context, repo, digest string) ([]string, error) {
	if b.referrers.Load() == 2 {
		return nil, registry.ErrReferrersUnsupported
	}
	r := b.repo(repo)
	var idx v1.ImageIndex
	err := readAgain(ctx, func() error {
		c, err := b.conn(ctx, repo)
		if err != nil {
			return err
		}
		idx, err = remote.Referrers(r.Digest(digest), remote.Reuse(c.puller), remote.WithContext(ctx))
		if err == nil {
			_, err = idx.IndexManifest()
		}
		return err
	})
	if err == nil {
		var im *v1.IndexManifest
		if im, err = idx.IndexManifest(); err == nil {
			b.referrers.Store(1)
			var out []string
			for _, d := range im.Manifests {
				out = append(out, d.Digest.String())
			}
			return out, nil
		}
	}
	var te *transport.Error
	var ue *url.Error
	switch {
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case errors.As(err, &te), errors.As(err, &ue), cutOff(err):
		// A lost connection says nothing about the API's existence.
		return nil, b.classify(err, fmt.Sprintf("pull on repository %q", repo), "list referrers of "+digest)
	}
	// ggcr answers 404/400/406 or a non-index body, with the tag fallback
	// off, with a plain error: the registry has no referrers API.
	b.referrers.Store(2)
	return nil, registry.ErrReferrersUnsupported
}

type lazyClient struct {
	mu     sync.Mutex
	client *http.Client
}

// client returns an HTTP client authorised for scope (an action: pull,
// push, delete) on repo, built once per repository and scope, on the
// run's one ping (restore's uploads ask for push, which reads and deletes
// never need; they go through conn).
func (b *Backend) client(ctx context.Context, repo, scope string) (*http.Client, error) {
	v, _ := b.clients.LoadOrStore(scope+" "+repo, &lazyClient{})
	lc := v.(*lazyClient)
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.client != nil {
		return lc.client, nil
	}
	tr, err := b.authenticatedAs(ctx, repo, scope)
	if err != nil {
		return nil, err
	}
	lc.client = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return lc.client, nil
}

// HostClient returns an HTTP client for an API the registry serves on
// its own host beside the registry API (a vendor's metadata API under
// another path), authorised the way the registry API is: the same
// credentials, and where the registry hands out tokens, a token for
// repo with the given actions (scope repository:<repo>:<actions>; a
// challenge asking for more is followed). It also returns the host's
// base URL (scheme and host). Its requests are bounded by the Limiter,
// retried and counted like the registry API's. It is built once per
// repository and action set.
func (b *Backend) HostClient(ctx context.Context, repo string, actions ...string) (*http.Client, *url.URL, error) {
	c, err := b.client(ctx, repo, strings.Join(actions, ","))
	if err != nil {
		return nil, nil, b.classify(err, fmt.Sprintf("%s on repository %q", strings.Join(actions, ", "), repo), "authenticate")
	}
	return c, &url.URL{Scheme: b.reg.Scheme(), Host: b.reg.RegistryStr()}, nil
}

// Authorization returns the credentials the registry API sends (from the
// inputs, the keychain, or anonymous), for a vendor API that takes the
// same ones: Artifact Registry's registry password is a Google access
// token (user "oauth2accesstoken" or "_token").
func (b *Backend) Authorization(ctx context.Context) (*authn.AuthConfig, error) {
	return authn.Authorization(ctx, b.auth)
}

// Classify maps an error answer of the registry's host (a
// *transport.Error, as transport.CheckError makes from a response) to
// the sentinels the way registry API answers are: 401/403 an AuthError
// naming the credentials and need, 404 ErrNotFound, 429/503 after the
// retries ErrRateLimited; op prefixes the error.
func (b *Backend) Classify(err error, need, op string) error { return b.classify(err, need, op) }

// remove sends DELETE /v2/<repo>/manifests/<ref> and finds out what
// happened when the answer is lost (connection reset or closed after the
// request was sent) or is a 5xx: a HEAD tells whether the manifest or tag
// is gone. If
// it is, the deletion happened. A digest still there is deleted again (a
// digest names one manifest, so the retry deletes only what was meant);
// a tag still there is not, since it may have been pushed again.
func (b *Backend) remove(ctx context.Context, repo, ref string) error {
	for attempt := 1; ; attempt++ {
		err := b.sendDelete(ctx, repo, ref)
		var te *transport.Error
		if err == nil || (errors.As(err, &te) && te.StatusCode < 500) || ctx.Err() != nil || registry.Stopped(ctx) != nil {
			return err
		}
		// No answer, or a 5xx after the transport's retries (a gateway
		// may answer 502 for a DELETE the registry carried out).
		_, herr := b.head(ctx, repo, ref)
		if errors.As(herr, &te) && te.StatusCode == http.StatusNotFound {
			return nil // gone: the lost answer was a success
		}
		if herr != nil || !strings.HasPrefix(ref, "sha256:") || attempt == 3 {
			return fmt.Errorf("%w (the answer was lost; %s is still there)", err, ref)
		}
	}
}

// sendDelete sends one DELETE /v2/<repo>/manifests/<ref>.
func (b *Backend) sendDelete(ctx context.Context, repo, ref string) error {
	if err := registry.Stopped(ctx); err != nil {
		return err
	}
	c, err := b.conn(ctx, repo)
	if err != nil {
		return err
	}
	u := url.URL{Scheme: b.reg.Scheme(), Host: b.reg.RegistryStr(), Path: fmt.Sprintf("/v2/%s/manifests/%s", repo, ref)}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	defer io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if err := transport.CheckError(resp, http.StatusOK, http.StatusAccepted, http.StatusNoContent); err != nil {
		return &deleteAnswer{err: err, header: resp.Header}
	}
	return nil
}

// PushPlaceholder pushes a tiny image of its own (an empty config and
// no layers, made unique by an annotation) to repo:tag and returns its
// digest. Moving a tag onto a manifest nothing else uses is how a single
// tag of a shared digest is removed on registries that delete only
// manifests (GHCR): the placeholder is deleted afterwards, and the tag
// with it. It needs push access to repo.
//
// The manifest carries image.AnnotationPlaceholder, which Manifest
// reads back as Manifest.Placeholder: a run stopped between the push and
// the delete leaves the tag on a placeholder, and the next run recognises
// it as that leftover instead of ranking it as the newest push. The marker
// is a manifest annotation only, not a config label: reading it costs no
// config GET, every placeholder shares the one empty config blob, and a
// label would be inherited by any image built FROM the tag.
func (b *Backend) PushPlaceholder(ctx context.Context, repo, tag string) (string, error) {
	var rnd [16]byte
	_, _ = rand.Read(rnd[:])
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img = mutate.Annotations(img, map[string]string{
		"org.opencontainers.image.description": "tagsweep placeholder: removes a single tag; deleted right after " +
			"(a tag left on it is the leftover of an interrupted run, which the next run deletes)",
		image.AnnotationPlaceholder: image.PlaceholderMarker,
		"dev.tagsweep.nonce":        hex.EncodeToString(rnd[:]),
	}).(v1.Image)
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	ref := b.repo(repo).Tag(tag)
	if err := remote.Write(ref, img, remote.WithContext(ctx), remote.WithAuth(b.auth), remote.WithTransport(b.base), remote.WithUserAgent(b.ua)); err != nil {
		return "", b.classify(err, fmt.Sprintf("push on repository %q (to move tag %s off a shared digest)", repo, tag), "push placeholder to "+tag)
	}
	return d.String(), nil
}

// TagDigest points repo:tag at the existing manifest digest (a manifest
// PUT of the same bytes under the tag): how a tag moved onto a
// placeholder is put back when the placeholder cannot be deleted.
func (b *Backend) TagDigest(ctx context.Context, repo, tag, digest string) error {
	need := fmt.Sprintf("push on repository %q (to point tag %s back at %s)", repo, tag, digest)
	var desc *remote.Descriptor
	err := readAgain(ctx, func() error {
		c, err := b.conn(ctx, repo)
		if err != nil {
			return err
		}
		desc, err = c.puller.Get(ctx, b.repo(repo).Digest(digest))
		return err
	})
	if err != nil {
		return b.classify(err, need, "get manifest "+digest)
	}
	if err := remote.Tag(b.repo(repo).Tag(tag), desc, remote.WithContext(ctx), remote.WithAuth(b.auth), remote.WithTransport(b.base), remote.WithUserAgent(b.ua)); err != nil {
		return b.classify(err, need, "tag "+digest+" as "+tag)
	}
	return nil
}

// TagDeleteSupported asks once per registry whether DELETE by tag works,
// by deleting a tag name that does not exist: a registry that can delete
// tags answers 404 MANIFEST_UNKNOWN, one that cannot answers 400 (CNCF
// registry 2.8: DIGEST_INVALID, distribution#3234) or 405 (UNSUPPORTED).
// Nothing is deleted either way. A 405 is followed by the zero-digest
// probe (deletesOff), which tells a registry with deletes off altogether.
func (b *Backend) TagDeleteSupported(ctx context.Context, repo string) (bool, error) {
	switch b.tagDelete.Load() {
	case 1:
		return true, nil
	case 2:
		if p := b.deleteDisabled.Load(); p != nil {
			return false, *p
		}
		return false, nil
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	err := b.sendDelete(ctx, repo, "tagsweep-probe-"+hex.EncodeToString(rnd[:]))
	var te *transport.Error
	kind, _ := b.deleteRefusal(err)
	switch {
	case err == nil, errors.As(err, &te) && te.StatusCode == http.StatusNotFound:
		b.tagDelete.Store(1)
		return true, nil
	case kind == itemProtected:
		// The repository itself is protected (an ACR repository lock):
		// that says nothing about the registry, so nothing is remembered;
		// this repository deletes no single tag.
		return false, nil
	case kind == methodRefused && te.StatusCode == http.StatusMethodNotAllowed:
		// 405 to a tag delete: single tags are unsupported, or deletes are
		// off altogether (distribution >= 3.1.1 checks on the tag path too).
		b.tagDelete.Store(2)
		if off := b.deletesOff(ctx, repo, err); off != nil {
			return false, off
		}
		return false, nil
	case kind == methodRefused:
		b.tagDelete.Store(2)
		return false, nil
	}
	return false, b.classify(err, fmt.Sprintf("delete on repository %q", repo), "probe tag deletion")
}

// DeleteTag deletes one tag (OCI 1.1 DELETE by tag). A tag the registry
// protects is a registry.ProtectedError for that tag alone; a refusal
// naming no protection (400, 405) means the registry cannot delete single
// tags, which is remembered.
func (b *Backend) DeleteTag(ctx context.Context, repo, tag string) error {
	err := b.remove(ctx, repo, tag)
	switch kind, reason := b.deleteRefusal(err); kind {
	case itemProtected:
		return &registry.ProtectedError{Reason: reason, Err: fmt.Errorf("delete tag %s: %w", tag, err)}
	case methodRefused:
		b.tagDelete.Store(2)
		return registry.Mark(registry.ErrTagDeleteUnsupported, fmt.Errorf("delete tag %s: %w", tag, err))
	}
	if err != nil {
		return b.classify(err, fmt.Sprintf("delete on repository %q", repo), "delete tag "+tag)
	}
	return nil
}

// DeleteDigest deletes a manifest by digest. A registry found to refuse
// deletes altogether is remembered, so later calls fail without a request.
// The OCI API deletes the tags with the manifest; tags are deleted first
// only WithUntagFirst.
func (b *Backend) DeleteDigest(ctx context.Context, repo, digest string, tags []string) error {
	if p := b.deleteDisabled.Load(); p != nil {
		return *p
	}
	if b.untagFirst && len(tags) > 0 {
		if err := registry.Stopped(ctx); err != nil {
			return err
		}
		ctx = registry.Committed(ctx) // untag and delete go together
		var done []string
		for _, t := range tags {
			if err := b.DeleteTag(ctx, repo, t); err != nil && !errors.Is(err, registry.ErrNotFound) {
				return partial(done, fmt.Errorf("untag before deleting %s: %w", digest, err))
			}
			done = append(done, t)
		}
		if err := b.deleteManifest(ctx, repo, digest); err != nil {
			return partial(done, fmt.Errorf("%w: its tags are gone, the untagged manifest stays", err))
		}
		return nil
	}
	return b.deleteManifest(ctx, repo, digest)
}

// partial wraps err in a registry.PartialError when some tags went.
func partial(done []string, err error) error {
	if len(done) == 0 {
		return err
	}
	return &registry.PartialError{Done: done, Err: err}
}

// deleteManifest sends the DELETE of a digest. A manifest the registry
// protects is a registry.ProtectedError for that manifest alone. A 405
// naming no protection marks the registry delete-disabled only when the
// zero-digest probe is refused too; otherwise it fails this manifest.
func (b *Backend) deleteManifest(ctx context.Context, repo, digest string) error {
	err := b.remove(ctx, repo, digest)
	var te *transport.Error
	switch kind, reason := b.deleteRefusal(err); {
	case kind == itemProtected:
		return &registry.ProtectedError{Reason: reason, Err: fmt.Errorf("delete %s: %w", digest, err)}
	case kind == methodRefused && errors.As(err, &te) && te.StatusCode == http.StatusMethodNotAllowed:
		if off := b.deletesOff(ctx, repo, err); off != nil {
			return fmt.Errorf("%w (delete %s)", off, digest)
		}
		return fmt.Errorf("delete %s: the registry refused to delete this manifest (405), though it deletes others: %w", digest, err)
	}
	if err != nil {
		return b.classify(err, fmt.Sprintf("delete on repository %q", repo), "delete "+digest)
	}
	return nil
}

// classify maps a registry error to the sentinels, once, here. The
// refusals of a DELETE (protections, unsupported deletes) are told apart
// before, by deleteRefusal.
func (b *Backend) classify(err error, need, op string) error {
	if err == nil {
		return nil
	}
	var qe *QuotaError
	if errors.As(err, &qe) {
		return fmt.Errorf("%s: %w", op, qe)
	}
	var te *transport.Error
	if !errors.As(err, &te) {
		return fmt.Errorf("%s: %w", op, err)
	}
	detail := ""
	for _, d := range te.Errors {
		if d.Message != "" {
			detail = string(d.Code) + " " + d.Message
			break
		}
	}
	if ae := registry.Auth(te.StatusCode, b.who, need, detail); ae != nil {
		return fmt.Errorf("%s: %w", op, ae)
	}
	switch te.StatusCode {
	case http.StatusNotFound:
		return registry.Mark(registry.ErrNotFound, fmt.Errorf("%s: %w", op, err))
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return registry.Mark(registry.ErrRateLimited, fmt.Errorf("%s: still refused after retries: %w", op, err))
	}
	return fmt.Errorf("%s: %w", op, err)
}
