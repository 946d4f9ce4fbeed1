package acr

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/tagsweep/tagsweep/internal/redact"
	"github.com/tagsweep/tagsweep/internal/registry/connect"
)

// replica stands in for Azure AD and for the registry's /oauth2/exchange
// on one TLS server on 127.0.0.1 (Azure AD must be https). Azure AD: the
// tenant's OpenID configuration and its v2.0 token endpoint, as MSAL asks
// them (microsoft-authentication-library-for-go, TenantDiscoveryResponse;
// client credentials answer {"token_type","expires_in","access_token"}).
// The registry: POST /oauth2/exchange answering {"refresh_token"}
// (Azure/acr docs/AAD-OAuth.md).
type replica struct {
	srv *httptest.Server

	mu       sync.Mutex
	log      []string     // "METHOD path" of every request
	aad      []url.Values // the token requests' forms
	exchange []url.Values // the exchanges' forms
	refuse   int          // status the exchange answers (0: 200)
}

const (
	tenant       = "72f988bf-0000-0000-0000-2d7cd011db47"
	aadToken     = "aad-access-token-Kq3zT"
	refreshToken = "acr-refresh-token-Vw8pL"
)

func newReplica(t *testing.T) *replica {
	t.Helper()
	r := &replica{}
	r.srv = httptest.NewTLSServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *replica) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, req.Method+" "+req.URL.Path)
	base := r.srv.URL
	switch {
	case req.Method == http.MethodGet && req.URL.Path == "/"+tenant+"/v2.0/.well-known/openid-configuration":
		json.NewEncoder(w).Encode(map[string]string{
			"token_endpoint":         base + "/" + tenant + "/oauth2/v2.0/token",
			"authorization_endpoint": base + "/" + tenant + "/oauth2/v2.0/authorize",
			"issuer":                 base + "/" + tenant + "/v2.0",
		})
	case req.Method == http.MethodPost && req.URL.Path == "/"+tenant+"/oauth2/v2.0/token":
		req.ParseForm()
		r.aad = append(r.aad, req.PostForm)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":%q}`, aadToken)
	case req.Method == http.MethodPost && req.URL.Path == "/oauth2/exchange":
		req.ParseForm()
		r.exchange = append(r.exchange, req.PostForm)
		if r.refuse != 0 {
			w.WriteHeader(r.refuse)
			fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"the access token is not valid"}]}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"refresh_token":%q}`, refreshToken)
	default:
		http.NotFound(w, req)
	}
}

func (r *replica) host() string { return strings.TrimPrefix(r.srv.URL, "https://") }

func (r *replica) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log...)
}

// settings are a run's settings with the Azure variables env, trusting
// the replica's certificate.
func (r *replica) settings(env map[string]string, secrets *redact.Set) connect.Settings {
	pool := x509.NewCertPool()
	pool.AddCert(r.srv.Certificate())
	return connect.Settings{Getenv: func(k string) string { return env[k] }, Roots: pool, Secrets: secrets}
}

func (r *replica) resolve(t *testing.T, s connect.Settings) authn.Authenticator {
	t.Helper()
	reg, err := name.NewRegistry(r.host())
	if err != nil {
		t.Fatal(err)
	}
	a, err := Descriptor.Keychain(s).Resolve(reg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestExchangeClientSecret: with a service principal's secret in the
// environment the keychain sends nothing when resolved (the log line has
// its description), and at the first request gets an Azure AD token for
// Resource Manager with the client credentials, exchanges it at the
// registry's /oauth2/exchange, and answers the refresh token as the
// password of 00000000-…; the next request reuses it. Every token and the
// client secret are learnt by the redactor.
func TestExchangeClientSecret(t *testing.T) {
	t.Parallel()
	r := newReplica(t)
	secrets := redact.NewSet()
	const secret = "sp-client-secret-Zr9"
	s := r.settings(map[string]string{"AZURE_CLIENT_ID": "app-1234", "AZURE_CLIENT_SECRET": secret, "AZURE_TENANT_ID": tenant,
		"AZURE_AUTHORITY_HOST": r.srv.URL}, secrets)
	a := r.resolve(t, s)
	d, ok := a.(interface{ Describe() string })
	if !ok || !strings.Contains(d.Describe(), `Azure service principal "app-1234"`) {
		t.Fatalf("resolved to %T %v, want an exchange that describes the service principal", a, a)
	}
	if got := r.requests(); len(got) != 0 {
		t.Errorf("resolving sent %v, want nothing before the first registry request", got)
	}
	for range 2 {
		cfg, err := a.Authorization()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Username != nullUser || cfg.Password != refreshToken {
			t.Errorf("credentials %q / %q, want %q and the refresh token", cfg.Username, cfg.Password, nullUser)
		}
	}
	if diff := cmp.Diff([]string{"GET /" + tenant + "/v2.0/.well-known/openid-configuration", "POST /" + tenant + "/oauth2/v2.0/token", "POST /oauth2/exchange"},
		r.requests()); diff != "" {
		t.Errorf("requests (-want +got), the second Authorization must reuse the token:\n%s", diff)
	}
	form := r.aad[0]
	for k, v := range map[string]string{"grant_type": "client_credentials", "client_id": "app-1234", "client_secret": secret} {
		if form.Get(k) != v {
			t.Errorf("Azure AD token request %s = %q, want %q", k, form.Get(k), v)
		}
	}
	if scope := strings.Fields(form.Get("scope")); len(scope) == 0 || scope[0] != "https://management.azure.com/.default" {
		t.Errorf("Azure AD token request scope %q, want Resource Manager's (MSAL adds openid and the like)", form.Get("scope"))
	}
	want := url.Values{"grant_type": {"access_token"}, "service": {r.host()}, "tenant": {tenant}, "access_token": {aadToken}}
	if diff := cmp.Diff(want, r.exchange[0]); diff != "" {
		t.Errorf("exchange form (-want +got):\n%s", diff)
	}
	for _, tok := range []string{aadToken, refreshToken, secret} {
		if got := secrets.String("echo " + tok); got != "echo ***" {
			t.Errorf("the redactor does not know %q: %q", tok, got)
		}
	}
}

// TestExchangeFederatedToken: workload identity (AKS, GitHub OIDC): the
// federated token in AZURE_FEDERATED_TOKEN_FILE is sent as the client
// assertion, read when the token is asked for.
func TestExchangeFederatedToken(t *testing.T) {
	t.Parallel()
	r := newReplica(t)
	file := filepath.Join(t.TempDir(), "azure-identity-token")
	if err := os.WriteFile(file, []byte("eyJhbGciOi.federated.token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := r.resolve(t, r.settings(map[string]string{"AZURE_CLIENT_ID": "wi-5678", "AZURE_TENANT_ID": tenant,
		"AZURE_FEDERATED_TOKEN_FILE": file, "AZURE_AUTHORITY_HOST": r.srv.URL}, nil))
	cfg, err := a.Authorization()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Password != refreshToken {
		t.Errorf("password %q, want the refresh token", cfg.Password)
	}
	form := r.aad[0]
	if form.Get("client_assertion") != "eyJhbGciOi.federated.token" || form.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" ||
		form.Get("client_id") != "wi-5678" || form.Has("client_secret") {
		t.Errorf("Azure AD token request %v, want the federated token as a jwt-bearer assertion", form)
	}
}

// TestExchangeRefused: a registry that refuses the exchange fails the
// credentials with its status and what the identity needs.
func TestExchangeRefused(t *testing.T) {
	t.Parallel()
	r := newReplica(t)
	r.refuse = http.StatusUnauthorized
	a := r.resolve(t, r.settings(map[string]string{"AZURE_CLIENT_ID": "app-1234", "AZURE_CLIENT_SECRET": "s3cret-value", "AZURE_TENANT_ID": tenant,
		"AZURE_AUTHORITY_HOST": r.srv.URL}, nil))
	_, err := a.Authorization()
	if err == nil || !strings.Contains(err.Error(), "answered 401 Unauthorized") || !strings.Contains(err.Error(), "AcrPull") {
		t.Errorf("Authorization = %v, want the 401 and the roles the identity needs", err)
	}
}

// TestIdentityFromEnvironment: which identity the environment names, in
// the helper's order; none (anonymous, nothing sent) when it names none,
// the metadata service never probed unasked.
func TestIdentityFromEnvironment(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		env  map[string]string
		want string // "" : anonymous
	}{
		{"nothing", nil, ""},
		{"a tenant alone", map[string]string{"AZURE_TENANT_ID": tenant}, ""},
		{"secret", map[string]string{"AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "s", "AZURE_TENANT_ID": tenant}, "secret"},
		{"secret wins over a federated token", map[string]string{"AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "s", "AZURE_TENANT_ID": tenant, "AZURE_FEDERATED_TOKEN": "j"}, "secret"},
		{"federated token", map[string]string{"AZURE_CLIENT_ID": "c", "AZURE_TENANT_ID": tenant, "AZURE_FEDERATED_TOKEN": "j"}, "federated"},
		{"federated token file", map[string]string{"AZURE_CLIENT_ID": "c", "AZURE_TENANT_ID": tenant, "AZURE_FEDERATED_TOKEN_FILE": "/f"}, "federated"},
		{"user-assigned managed identity", map[string]string{"AZURE_CLIENT_ID": "c"}, "managed"},
		{"App Service's identity endpoint", map[string]string{"IDENTITY_ENDPOINT": "http://127.0.0.1:1/msi"}, "managed"},
		{"Cloud Shell's MSI endpoint", map[string]string{"MSI_ENDPOINT": "http://127.0.0.1:1/msi"}, "managed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k := &azureKeychain{getenv: func(n string) string { return tc.env[n] }}
			id, ok := k.identity()
			if got := map[bool]string{true: id.kind}[ok]; got != tc.want {
				t.Errorf("identity %q, want %q", got, tc.want)
			}
			reg, _ := name.NewRegistry("myreg.azurecr.io")
			if a, err := k.Resolve(reg); err != nil || (tc.want == "") != (a == authn.Anonymous) {
				t.Errorf("Resolve = %v, %v", a, err)
			}
		})
	}
}

// TestDockerConfigFirst: a docker config entry for the registry wins over
// the Azure identity of the environment, and then nothing is sent to Azure
// AD or to the exchange.
func TestDockerConfigFirst(t *testing.T) {
	r := newReplica(t)
	dir := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte("admin-user:from-docker-config"))
	cfg := `{"auths":{"` + r.host() + `":{"auth":"` + auth + `"}}}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
	a := r.resolve(t, r.settings(map[string]string{"AZURE_CLIENT_ID": "app-1234", "AZURE_CLIENT_SECRET": "s3cret-value", "AZURE_TENANT_ID": tenant,
		"AZURE_AUTHORITY_HOST": r.srv.URL}, nil))
	c, err := a.Authorization()
	if err != nil {
		t.Fatal(err)
	}
	if c.Username != "admin-user" || c.Password != "from-docker-config" {
		t.Errorf("credentials %+v, want the docker config entry", c)
	}
	if got := r.requests(); len(got) != 0 {
		t.Errorf("requests %v, want none to Azure AD or the exchange", got)
	}
}

// TestBackendSendsNothingBeforeTheRun: the ACR backend built with the
// Azure identity says whose credentials it will use and has sent nothing
// (the run checks its outputs before the first request).
func TestBackendSendsNothingBeforeTheRun(t *testing.T) {
	t.Parallel()
	r := newReplica(t)
	s := r.settings(map[string]string{"AZURE_CLIENT_ID": "app-1234", "AZURE_CLIENT_SECRET": "s3cret-value", "AZURE_TENANT_ID": tenant,
		"AZURE_AUTHORITY_HOST": r.srv.URL}, redact.NewSet())
	s.Kind, s.Host, s.Concurrency = "acr", r.host(), 2
	b, err := connect.Vendors{&Descriptor}.New(s)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.Who, `Azure service principal "app-1234"`) {
		t.Errorf("who = %q, want the service principal", b.Who)
	}
	if got := r.requests(); len(got) != 0 {
		t.Errorf("building the backend sent %v, want nothing", got)
	}
}
