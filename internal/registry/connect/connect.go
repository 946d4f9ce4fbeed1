// Package connect builds the registry.Backend for a registry from the
// inputs: the generic OCI backend with the quirks and credentials of the
// cloud registries, or a vendor backend (GHCR, Docker Hub, Harbor) that
// lists and deletes through the vendor's own API.
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

	"github.com/tagsweep/tagsweep/internal/netutil"
	"github.com/tagsweep/tagsweep/internal/redact"
	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/oci"
	"github.com/tagsweep/tagsweep/internal/registry/provider"
)

// Settings are what a provider is built from: the validated inputs and
// the environment.
type Settings struct {
	// Kind is the provider, already resolved from `auto`.
	Kind provider.Kind
	// Host is host[:port]; Scheme is "", "http" or "https" as given.
	Host, Scheme string
	Insecure     bool
	Roots        *x509.CertPool
	Concurrency  int
	UserAgent    string
	// Username and Password are the inputs (empty when not given).
	Username, Password string
	// Repositories are the repository globs: vendor APIs list per owner
	// or namespace, which is their first path segment.
	Repositories []string
	// Getenv reads the environment (GITHUB_TOKEN, GITHUB_API_URL, ...).
	Getenv func(string) string
	// Secrets learns every credential the registry and vendor API clients
	// send and every token they receive (nil: none).
	Secrets *redact.Set
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
}

// vendor builds a vendor backend over the registry API backend.
type vendor func(s Settings, reg *oci.Backend, creds oci.Credentials) (*Built, error)

// vendors are the vendor backends, by kind (registered by their files).
var vendors = map[provider.Kind]vendor{}

// Error is a problem with the settings a provider needs: the CLI reports
// it as invalid input, naming Input.
type Error struct {
	Input string
	Why   string
}

func (e *Error) Error() string { return e.Input + ": " + e.Why }

// New builds the backend for s.
func New(s Settings) (*Built, error) {
	creds := oci.Credentials{Username: s.Username, Password: s.Password}
	var secrets []string
	if s.Kind == provider.GHCR && creds.Password == "" {
		// GitHub Actions: the workflow's token works for ghcr.io.
		if tok := s.Getenv("GITHUB_TOKEN"); tok != "" {
			creds.Password = tok
			secrets = append(secrets, tok)
		}
	}
	if s.Kind == provider.GHCR && creds.Password != "" && creds.Username == "" {
		// ghcr.io takes any user name with a token.
		creds.Username, creds.From = cmp.Or(s.Getenv("GITHUB_ACTOR"), "tagsweep"), "GITHUB_ACTOR"
	}
	scheme := oci.SchemeAuto
	switch s.Scheme {
	case "http":
		scheme = oci.SchemeHTTP
	case "https":
		scheme = oci.SchemeHTTPS
	}
	opts := []oci.Option{oci.WithScheme(scheme), oci.WithInsecure(s.Insecure), oci.WithConcurrency(s.Concurrency),
		oci.WithUserAgent(s.UserAgent), oci.WithKeychain(Keychain(s.Kind)), oci.WithSecrets(s.Secrets)}
	if s.Roots != nil {
		opts = append(opts, oci.WithRoots(s.Roots))
	}
	if creds.Username != "" {
		opts = append(opts, oci.WithCredentials(creds))
	}
	switch s.Kind {
	case provider.ECR:
		opts = append(opts, oci.WithName("Amazon ECR", "ECR frees the storage of deleted images on its own; lifecycle policies can expire untagged images."))
	case provider.GAR:
		// Artifact Registry refuses to delete a manifest a tag points at.
		opts = append(opts, oci.WithUntagFirst(true), oci.WithName("Google Artifact Registry",
			"Artifact Registry frees the storage of deleted versions on its own; cleanup policies can remove untagged versions."))
	case provider.ACR:
		opts = append(opts, oci.WithName("Azure Container Registry",
			"ACR frees the storage of deleted manifests on its own (with soft delete enabled, after the retention period)."))
	case provider.Quay:
		opts = append(opts, oci.WithName("Quay", "Quay frees the storage after the repository's time machine window (default 2 weeks)."))
	case provider.GitLab:
		opts = append(opts, oci.WithName("GitLab container registry",
			"GitLab.com collects garbage itself; a self-managed instance needs `gitlab-ctl registry-garbage-collect` (or online GC with the metadata database)."))
	}
	reg, err := oci.New(s.Host, opts...)
	if err != nil {
		return nil, err
	}
	if v := vendors[s.Kind]; v != nil {
		b, err := v(s, reg, creds)
		if err != nil {
			return nil, err
		}
		b.Secrets = append(b.Secrets, secrets...)
		return b, nil
	}
	return &Built{Backend: reg, Who: reg.Who(), Requests: func() int64 { return reg.Stats().Requests }, Secrets: secrets}, nil
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
// GitHub token) go to s.Secrets.
func apiClient(s Settings, api *url.URL) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	skip := s.Insecure && strings.EqualFold(api.Host, s.Host)
	t.TLSClientConfig = &tls.Config{RootCAs: s.Roots, InsecureSkipVerify: skip, MinVersion: tls.VersionTLS12} //nolint:gosec // insecure is the user's explicit choice
	t.MaxIdleConnsPerHost = max(s.Concurrency, 2)
	return &http.Client{Transport: redact.Transport(t, s.Secrets), CheckRedirect: sameOrigin}
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
