// Package connect builds the registry.Backend of a registry kind from its
// Descriptor: the one value in which a vendor package says everything
// tagsweep knows of its registry (how to recognise its host, what it can
// do, how to explain a refusal, how to free space, which keychain, how to
// build its backend). The list of every descriptor is registry/vendors;
// Vendors.New iterates it. Nothing here names a vendor.
package connect

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gobwas/glob"
	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/tagsweep/tagsweep/internal/netutil"
	"github.com/tagsweep/tagsweep/internal/redact"
	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/cache"
	"github.com/tagsweep/tagsweep/internal/registry/oci"
	"github.com/tagsweep/tagsweep/internal/registry/provider"
)

// Descriptor is everything tagsweep knows of one registry kind. Each
// vendor package exports one (its Descriptor variable), and a comment
// beside each rule cites the vendor's docs or the issue it comes from.
type Descriptor struct {
	// Traits are the facts the inputs need (name, hosts, capabilities,
	// hints); config and the CLI read them through vendors.Table.
	provider.Traits
	// Protections are the registry-API answers with which this vendor's
	// registries refuse to delete one item they protect. Every registry
	// API backend knows every vendor's: the answers name themselves (an
	// error code, a status no other refusal uses), and a registry whose
	// host names no vendor (Harbor's never does) answers them the same.
	Protections []oci.Protection
	// Quotas are the registry-API answers with which this vendor's
	// registries say a quota of the caller's is spent (Docker Hub's pull
	// limit): never retried, and what they cover is not sent again.
	Quotas []oci.Quota
	// Keychain is asked for the registry credentials when no username is
	// given, made from the settings of the run (its environment, CA roots
	// and redactor). Nil: the docker config alone (authn.DefaultKeychain).
	Keychain func(Settings) authn.Keychain
	// Build builds the backend from the registry API (Env.Registry) and,
	// where the vendor has one, its own API. Nil: the registry API backend
	// alone, with the inputs' credentials.
	Build func(Env) (*Built, error)
}

// Vendors are the registry kinds tagsweep knows: registry/vendors.All.
// The first is the generic kind, the fallback of provider: auto.
type Vendors []*Descriptor

// Table is the Traits of every kind, in order, for config and the CLI.
func (vs Vendors) Table() provider.Table {
	t := make(provider.Table, len(vs))
	for i, d := range vs {
		t[i] = &d.Traits
	}
	return t
}

func (vs Vendors) lookup(k provider.Kind) *Descriptor {
	for _, d := range vs {
		if d.Kind == k {
			return d
		}
	}
	return nil
}

// Settings are what a backend is built from: the validated inputs and
// the environment.
type Settings struct {
	// Kind is the provider, already resolved from `auto`.
	Kind provider.Kind
	// Host is host[:port]; Scheme is "", "http" or "https" as given.
	Host, Scheme string
	// Insecure allows plain HTTP and unverified TLS (the insecure input).
	Insecure bool
	// Roots are the CA certificates TLS trusts (nil: the system roots).
	Roots *x509.CertPool
	// Concurrency is the concurrency input: the size of the Limiter made
	// when Limiter is nil.
	Concurrency int
	// Limiter bounds the requests in flight of every HTTP stack the
	// backend has, registry API and vendor API together; the engine
	// shares it. Nil: New makes one of size Concurrency.
	Limiter *registry.Limiter
	// UserAgent is sent with every request.
	UserAgent string
	// Username and Password are the inputs (empty when not given).
	Username, Password string
	// APIToken is the input the kind names in Traits.APITokenInput (the
	// GitHub API's github-token): the token of the vendor's own API, given
	// apart from the registry credentials. Only the kind that names the
	// input is given it; no other backend ever sees it.
	APIToken string
	// Repositories are the repository globs: vendor APIs list per owner
	// or namespace, which is their first path segment.
	Repositories []string
	// Getenv reads the environment (GITHUB_TOKEN, GITHUB_API_URL, ...).
	Getenv func(string) string
	// Secrets learns every credential the registry and vendor API clients
	// send and every token they receive (nil: none).
	Secrets *redact.Set
	// CreatedAges: tags are aged by their image's creation time
	// (age-source: created), so a backend that builds the graph from a
	// listing without creation times reads the manifests instead.
	CreatedAges bool
	// Cache keeps manifests and image configs by digest between runs (the
	// cache-dir input; nil: none). Every registry API backend reads
	// through it, the vendors' included.
	Cache *cache.Cache
	// Deletes: the run may delete (not a dry run, not ls), so registry
	// tokens are asked with the delete scope too.
	Deletes bool
}

// Built is a ready backend and what the CLI reports about it.
type Built struct {
	Backend registry.Backend
	// Who describes the credentials in use, never the secret.
	Who string
	// Requests counts the requests sent so far (registry and vendor API).
	Requests func() int64
	// Secrets are secrets the provider found on its own (GITHUB_TOKEN),
	// which the caller must mask too.
	Secrets []string
	// Pulls counts the requests the registry counts against a pull limit
	// (Docker Hub's manifest GETs); nil where the registry has none.
	Pulls func() int64
}

// Env is what a Descriptor's Build is given: the settings, with Limiter
// set, and the registry API backend to build on.
type Env struct {
	Settings
	// Credentials are the registry credentials of the inputs (no
	// Username: the keychain, then anonymous).
	Credentials oci.Credentials

	registry func(oci.Credentials) (*oci.Backend, error)
}

// Registry builds the registry API backend of the host with creds (which
// may differ from Credentials: GHCR takes GITHUB_TOKEN), with the kind's
// keychain, GC hint and untag-first rule and every vendor's protections,
// its requests bounded by the shared Limiter.
func (e Env) Registry(creds oci.Credentials) (*oci.Backend, error) { return e.registry(creds) }

// APIURL is a vendor API base: the environment variable env, else def.
// Plain HTTP to a non-loopback host is refused unless insecure is set.
func (e Env) APIURL(env, def string) (*url.URL, error) { return apiURL(e.Settings, env, def) }

// APIClient is the HTTP client for the vendor API at api: the TLS settings
// of the inputs, redirects only on the API's own origin, the secrets it
// sends and receives learnt, and every request bounded by the shared
// Limiter.
func (e Env) APIClient(api *url.URL) *http.Client { return apiClient(e.Settings, api) }

// Owners returns the first path segment of every repository glob (lower
// case), the owner or namespace a vendor API lists by; a glob whose first
// segment is a pattern takes fallback, and without one is an *Error
// naming what it must name.
func (e Env) Owners(fallback, what string) ([]string, error) {
	return owners(e.Repositories, fallback, what)
}

// Error is a problem with the settings a provider needs: the CLI reports
// it as invalid input, naming Input.
type Error struct {
	Input string
	Why   string
}

func (e *Error) Error() string { return e.Input + ": " + e.Why }

// New builds the backend of s.Kind, which must be one of vs.
func (vs Vendors) New(s Settings) (*Built, error) {
	d := vs.lookup(s.Kind)
	if d == nil {
		return nil, &Error{Input: "provider", Why: fmt.Sprintf("%q is not a provider this build knows", s.Kind)}
	}
	if s.Limiter == nil {
		s.Limiter = registry.NewLimiter(s.Concurrency)
	}
	if d.APITokenInput == "" {
		s.APIToken = "" // another kind's API token is never this backend's
	}
	scheme := oci.SchemeAuto
	switch s.Scheme {
	case "http":
		scheme = oci.SchemeHTTP
	case "https":
		scheme = oci.SchemeHTTPS
	}
	var keychain authn.Keychain = authn.DefaultKeychain
	if d.Keychain != nil {
		keychain = d.Keychain(s)
	}
	opts := []oci.Option{oci.WithScheme(scheme), oci.WithInsecure(s.Insecure), oci.WithConcurrency(s.Concurrency),
		oci.WithLimiter(s.Limiter), oci.WithUserAgent(s.UserAgent), oci.WithKeychain(keychain), oci.WithSecrets(s.Secrets),
		oci.WithUntagFirst(d.Caps.UntagFirst), oci.WithCache(s.Cache), oci.WithDeletes(s.Deletes)}
	if d.GCHint != "" {
		opts = append(opts, oci.WithGCHint(d.GCHint))
	}
	opts = append(opts, oci.WithFreesSpace(d.Caps.FreesSpace))
	switch {
	case d.UntaggedHint != "":
		opts = append(opts, oci.WithUntaggedHint(d.UntaggedHint))
	case d.GCHint != "":
		// A vendor that says how it frees space but not how it removes
		// untagged manifests: not the CNCF registry's command.
		opts = append(opts, oci.WithUntaggedHint(oci.GenericUntaggedHint))
	}
	for _, v := range vs {
		opts = append(opts, oci.WithProtections(v.Protections...))
	}
	// The host's own vendor's quotas, whatever the provider input.
	if h := vs.lookup(vs.Table().Detect(s.Host)); h != nil && h != d {
		opts = append(opts, oci.WithQuotas(h.Quotas...))
	}
	opts = append(opts, oci.WithQuotas(d.Quotas...))
	// Whatever the provider input: the host's own vendor explains a
	// registry API that refuses every DELETE (provider: oci on ghcr.io).
	if h := vs.lookup(vs.Table().In(s.Getenv).Detect(s.Host)); h != nil && h.DeletesOffHint != "" {
		opts = append(opts, oci.WithDeletesOffHint(h.DeletesOffHint))
	}
	if s.Roots != nil {
		opts = append(opts, oci.WithRoots(s.Roots))
	}
	env := Env{Settings: s, Credentials: oci.Credentials{Username: s.Username, Password: s.Password}}
	env.registry = func(c oci.Credentials) (*oci.Backend, error) {
		o := opts
		if c.Username != "" {
			o = append(o[:len(o):len(o)], oci.WithCredentials(c))
		}
		return oci.New(s.Host, o...)
	}
	if d.Build != nil {
		return d.Build(env)
	}
	reg, err := env.Registry(env.Credentials)
	if err != nil {
		return nil, err
	}
	return &Built{Backend: reg, Who: reg.Who(), Requests: func() int64 { return reg.Stats().Requests }}, nil
}

// apiURL reads a vendor API base from the environment variable env, else
// def, and refuses plain HTTP to a non-loopback host unless insecure.
func apiURL(s Settings, env, def string) (*url.URL, error) {
	v := cmp.Or(strings.TrimSpace(s.Getenv(env)), def)
	u, err := url.Parse(strings.TrimSuffix(v, "/"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, &Error{Input: env, Why: fmt.Sprintf("%q is not an http(s) URL", v)}
	}
	if u.Scheme == "http" && !s.Insecure && !netutil.IsLoopback(u.Host) {
		return nil, &Error{Input: env, Why: fmt.Sprintf("%q uses plain HTTP to a non-loopback host; credentials are never sent that way unless insecure is set", v)}
	}
	return u, nil
}

// apiClient is the HTTP client for a vendor API: the system roots plus
// ca-file; no TLS verification only when insecure and the API is on the
// registry's own host. Its bearer tokens (Docker Hub's login answer, the
// GitHub token) go to s.Secrets; its requests wait for s.Limiter.
func apiClient(s Settings, api *url.URL) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	skip := s.Insecure && strings.EqualFold(api.Host, s.Host)
	t.TLSClientConfig = &tls.Config{RootCAs: s.Roots, InsecureSkipVerify: skip, MinVersion: tls.VersionTLS12} //nolint:gosec // insecure is the user's explicit choice
	t.MaxIdleConnsPerHost = max(s.Concurrency, 2)
	return &http.Client{Transport: s.Limiter.Transport(redact.Transport(t, s.Secrets)), CheckRedirect: sameOrigin}
}

// sameOrigin refuses a redirect that leaves the API's scheme and host:
// Go would re-send the Authorization header (and a login's body) to it.
func sameOrigin(req *http.Request, via []*http.Request) error {
	first := via[0].URL
	if req.URL.Scheme != first.Scheme || !strings.EqualFold(req.URL.Host, first.Host) {
		return fmt.Errorf("refusing a redirect from %s://%s to %s://%s: credentials stay on the API's own origin", first.Scheme, first.Host, req.URL.Scheme, req.URL.Host)
	}
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}

// owners returns the first path segment of every repository glob, the
// owner or namespace vendor APIs list by. A glob whose first segment is
// not a literal name falls back to fallback; with no fallback it is an
// error naming what to set.
func owners(globs []string, fallback, what string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, g := range globs {
		first, _, _ := strings.Cut(g, "/")
		if glob.QuoteMeta(first) != first || first == "" {
			if fallback == "" {
				return nil, &Error{Input: "repositories", Why: fmt.Sprintf("%q: the first segment must name the %s (e.g. %s/**), since the registry has no catalog", g, what, "my-org")}
			}
			first = fallback
		}
		first = strings.ToLower(first)
		if !seen[first] {
			seen[first] = true
			out = append(out, first)
		}
	}
	return out, nil
}
