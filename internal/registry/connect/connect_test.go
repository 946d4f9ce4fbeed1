package connect

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestOwners(t *testing.T) {
	t.Parallel()
	got, err := owners([]string{"Acme/**", "acme/api", "octo/*", "solo"}, "", "owner")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"acme", "octo", "solo"}, got); diff != "" {
		t.Errorf("owners (-want +got):\n%s", diff)
	}
	got, err = owners([]string{"**", "acme/x"}, "fallback-org", "owner")
	if err != nil || !cmp.Equal([]string{"fallback-org", "acme"}, got) {
		t.Errorf("owners with a fallback = %v, %v", got, err)
	}
	_, err = owners([]string{"*/api"}, "", "owner")
	var pe *Error
	if !errors.As(err, &pe) || pe.Input != "repositories" || !strings.Contains(err.Error(), `"*/api": the first segment must name the owner`) {
		t.Errorf("owners of a wildcard owner without fallback: %v", err)
	}
}

func TestAPIURL(t *testing.T) {
	t.Parallel()
	env := func(v string) func(string) string { return func(string) string { return v } }
	cases := []struct {
		value    string
		insecure bool
		want     string // URL, or the error text
	}{
		{"", false, "https://api.github.com"},
		{"https://ghe.example.com/api/v3/", false, "https://ghe.example.com/api/v3"},
		{"http://127.0.0.1:8080", false, "http://127.0.0.1:8080"},
		{"http://ghe.example.com/api/v3", false, `GITHUB_API_URL: "http://ghe.example.com/api/v3" uses plain HTTP to a non-loopback host`},
		{"http://ghe.example.com/api/v3", true, "http://ghe.example.com/api/v3"},
		{"ftp://x", false, `GITHUB_API_URL: "ftp://x" is not an http(s) URL`},
	}
	for _, tc := range cases {
		u, err := apiURL(Settings{Getenv: env(tc.value), Insecure: tc.insecure}, "GITHUB_API_URL", "https://api.github.com")
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			got = u.String()
		}
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("apiURL(%q, insecure=%v) = %q, want %q", tc.value, tc.insecure, got, tc.want)
		}
	}
}

// The vendor API client never follows a redirect off the API's origin
// (a downgrade to http, another host): the token would go with it.
func TestAPIClientRedirects(t *testing.T) {
	t.Parallel()
	var leaked atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			leaked.Add(1)
		}
	}))
	defer other.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, other.URL+"/x", http.StatusTemporaryRedirect)
		case "/here":
			http.Redirect(w, r, "/final", http.StatusFound)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer api.Close()
	u, _ := url.Parse(api.URL)
	c := apiClient(Settings{Concurrency: 2}, u)
	req, _ := http.NewRequest(http.MethodGet, api.URL+"/away", nil)
	req.Header.Set("Authorization", "Bearer secret")
	if _, err := c.Do(req); err == nil || !strings.Contains(err.Error(), "refusing a redirect") {
		t.Errorf("redirect to another host: %v", err)
	}
	req, _ = http.NewRequest(http.MethodGet, api.URL+"/here", nil)
	if resp, err := c.Do(req); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Errorf("same-origin redirect: %v %v", resp, err)
	}
	if leaked.Load() != 0 {
		t.Error("the token reached the other host")
	}
}
