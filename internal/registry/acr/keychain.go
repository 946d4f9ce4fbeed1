package acr

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/tagsweep/tagsweep/internal/redact"
	"github.com/tagsweep/tagsweep/internal/registry/connect"
)

// The keychain gets ACR credentials from Azure AD the way ACR documents
// it (Azure/acr docs/AAD-OAuth.md, "Exchanging AAD credentials for an ACR
// refresh token"): an AAD access token for Azure Resource Manager, from the
// identity the environment names, is exchanged with
// POST https://<registry>/oauth2/exchange (grant_type=access_token,
// service, tenant, access_token) for an ACR refresh token, which is the
// password of the user 00000000-0000-0000-0000-000000000000 (what
// `az acr login --expose-token` prints); go-containerregistry then trades
// it at the registry's token endpoint like any password.
//
// The identities are those chrismellard/docker-credential-acr-env (the
// helper tagsweep used before, pkg/token/token.go) reads, in its order:
//  1. a service principal's secret: AZURE_CLIENT_ID, AZURE_CLIENT_SECRET,
//     AZURE_TENANT_ID;
//  2. a federated token (workload identity: AKS, GitHub OIDC):
//     AZURE_FEDERATED_TOKEN or the file AZURE_FEDERATED_TOKEN_FILE, with
//     AZURE_CLIENT_ID and AZURE_TENANT_ID;
//  3. a managed identity (AZURE_CLIENT_ID, if set, names a user-assigned
//     one). Unlike the helper, only where the environment names one:
//     IDENTITY_ENDPOINT or MSI_ENDPOINT (App Service, Functions, Container
//     Apps, Arc, Cloud Shell set them) or AZURE_CLIENT_ID alone (a
//     user-assigned identity through the instance metadata service, as on
//     AKS nodes and VMs). Probing the metadata service unasked would stall
//     every run outside Azure.
//
// AZURE_AUTHORITY_HOST names another cloud's Azure AD (China, US
// Government, or any https host: instance discovery is then skipped), as
// azidentity reads it.

// nullUser is the user name of an ACR refresh token.
const nullUser = "00000000-0000-0000-0000-000000000000"

// refreshFor is how long a refresh token is used before a new exchange
// (ACR's last three hours).
const refreshFor = time.Hour

// exchangeTimeout bounds getting a refresh token, AAD included (the
// helper's 30 s).
const exchangeTimeout = 30 * time.Second

// keychain is ACR's keychain after the docker config.
func keychain(s connect.Settings) authn.Keychain {
	getenv := s.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.TLSClientConfig = &tls.Config{RootCAs: s.Roots, MinVersion: tls.VersionTLS12}
	client := &http.Client{Transport: redact.Transport(base, s.Secrets), Timeout: exchangeTimeout}
	return authn.NewMultiKeychain(authn.DefaultKeychain, &azureKeychain{getenv: getenv, client: client, secrets: s.Secrets})
}

// azureKeychain resolves a registry to an exchange of the environment's
// Azure identity, or anonymous where the environment names none.
type azureKeychain struct {
	getenv  func(string) string
	client  *http.Client
	secrets *redact.Set
}

// Resolve returns the registry's exchange, which sends nothing until the
// first registry request asks for its credentials.
func (k *azureKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	id, ok := k.identity()
	if !ok {
		return authn.Anonymous, nil
	}
	return &exchange{k: k, id: id, host: target.RegistryStr()}, nil
}

// identity is the Azure identity the environment names.
type identity struct {
	kind                     string // "secret", "federated", "managed"
	tenant, client           string
	secret, token, tokenFile string
}

func (k *azureKeychain) identity() (identity, bool) {
	get := func(n string) string { return strings.TrimSpace(k.getenv(n)) }
	id := identity{tenant: get("AZURE_TENANT_ID"), client: get("AZURE_CLIENT_ID"), secret: get("AZURE_CLIENT_SECRET"),
		token: get("AZURE_FEDERATED_TOKEN"), tokenFile: get("AZURE_FEDERATED_TOKEN_FILE")}
	switch {
	case id.client != "" && id.secret != "" && id.tenant != "":
		id.kind = "secret"
	case id.client != "" && id.tenant != "" && (id.token != "" || id.tokenFile != ""):
		id.kind = "federated"
	case get("IDENTITY_ENDPOINT") != "" || get("MSI_ENDPOINT") != "" || (id.client != "" && id.secret == "" && id.token == "" && id.tokenFile == ""):
		id.kind = "managed"
	default:
		return identity{}, false
	}
	return id, true
}

// credential is the azidentity credential of the identity, over k's
// client, in the cloud AZURE_AUTHORITY_HOST names, and the scope to ask.
func (k *azureKeychain) credential(id identity) (azcore.TokenCredential, string, error) {
	c := cloudOf(strings.TrimSpace(k.getenv("AZURE_AUTHORITY_HOST")))
	opts := policy.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: c.authority}, Transport: k.client}
	scope := c.resourceManager + "/.default"
	switch id.kind {
	case "secret":
		cred, err := azidentity.NewClientSecretCredential(id.tenant, id.client, id.secret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: !c.known})
		return cred, scope, err
	case "federated":
		assertion := func(context.Context) (string, error) {
			if id.token != "" {
				return id.token, nil
			}
			b, err := os.ReadFile(id.tokenFile) // read again each time: the kubelet rotates it
			return strings.TrimSpace(string(b)), err
		}
		cred, err := azidentity.NewClientAssertionCredential(id.tenant, id.client, assertion,
			&azidentity.ClientAssertionCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: !c.known})
		return cred, scope, err
	}
	mo := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: opts}
	if id.client != "" {
		mo.ID = azidentity.ClientID(id.client)
	}
	cred, err := azidentity.NewManagedIdentityCredential(mo)
	return cred, scope, err
}

// azureCloud is an Azure cloud: its Azure AD, and the Azure Resource
// Manager audience whose tokens ACR exchanges (the helper asked for the
// same: go-autorest's ResourceManagerEndpoint).
type azureCloud struct {
	authority, resourceManager string
	// known clouds serve Azure AD's instance discovery.
	known bool
}

var clouds = []azureCloud{
	{"https://login.microsoftonline.com/", "https://management.azure.com", true},
	{"https://login.chinacloudapi.cn/", "https://management.chinacloudapi.cn", true},
	{"https://login.microsoftonline.us/", "https://management.usgovcloudapi.net", true},
}

// cloudOf is the cloud whose Azure AD is host ("": the public cloud).
// Another host is a cloud of its own with the public Resource Manager
// audience, without instance discovery (which would ask
// login.microsoftonline.com about it).
func cloudOf(host string) azureCloud {
	if host == "" {
		return clouds[0]
	}
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	for _, c := range clouds {
		if strings.TrimSuffix(c.authority, "/") == strings.TrimSuffix(host, "/") {
			return c
		}
	}
	return azureCloud{authority: host, resourceManager: clouds[0].resourceManager}
}

// exchange is the credentials of one registry: a refresh token got from
// the registry's /oauth2/exchange at the first request, then reused.
type exchange struct {
	k    *azureKeychain
	id   identity
	host string

	mu      sync.Mutex
	token   string
	expires time.Time
}

// Describe says whose credentials these are, without fetching them.
func (e *exchange) Describe() string {
	switch e.id.kind {
	case "secret":
		return fmt.Sprintf("Azure service principal %q (AZURE_CLIENT_ID, AZURE_CLIENT_SECRET), exchanged for an ACR token", e.id.client)
	case "federated":
		return fmt.Sprintf("Azure workload identity %q (a federated token), exchanged for an ACR token", e.id.client)
	}
	if e.id.client != "" {
		return fmt.Sprintf("Azure managed identity %q, exchanged for an ACR token", e.id.client)
	}
	return "the Azure managed identity, exchanged for an ACR token"
}

// Authorization implements authn.Authenticator.
func (e *exchange) Authorization() (*authn.AuthConfig, error) {
	return e.AuthorizationContext(context.Background())
}

// AuthorizationContext returns the refresh token as the password of
// nullUser, exchanging a new one when it is older than refreshFor.
func (e *exchange) AuthorizationContext(ctx context.Context) (*authn.AuthConfig, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.token == "" || time.Now().After(e.expires) {
		tok, err := e.refresh(ctx)
		if err != nil {
			return nil, err
		}
		e.token, e.expires = tok, time.Now().Add(refreshFor)
	}
	return &authn.AuthConfig{Username: nullUser, Password: e.token}, nil
}

// refresh gets an AAD token and exchanges it for a refresh token.
func (e *exchange) refresh(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, exchangeTimeout)
	defer cancel()
	cred, scope, err := e.k.credential(e.id)
	if err != nil {
		return "", fmt.Errorf("%s: %w", e.Describe(), err)
	}
	aad, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
	if err != nil {
		return "", fmt.Errorf("get an Azure AD token for %s: %w", e.Describe(), err)
	}
	e.k.secrets.Add(aad.Token)
	form := url.Values{"grant_type": {"access_token"}, "service": {e.host}, "access_token": {aad.Token}}
	if e.id.tenant != "" {
		form.Set("tenant", e.id.tenant)
	}
	u := "https://" + e.host + "/oauth2/exchange"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := e.k.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("ACR token exchange: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", fmt.Errorf("ACR token exchange: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("ACR token exchange: POST %s answered %s: %s (the identity needs AcrPull, AcrDelete or a role with their actions on the registry)",
			u, resp.Status, strings.TrimSpace(string(body[:min(len(body), 300)])))
	}
	var out struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.RefreshToken == "" {
		return "", errors.New("ACR token exchange: POST " + u + " answered without a refresh_token")
	}
	e.k.secrets.Add(out.RefreshToken)
	return out.RefreshToken, nil
}
