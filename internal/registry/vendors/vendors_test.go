package vendors

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/tagsweep/tagsweep/internal/config"
	"github.com/tagsweep/tagsweep/internal/registry/connect"
	"github.com/tagsweep/tagsweep/internal/registry/provider"
)

// keychain is what New asks of d when no username is given, in an
// environment without cloud credentials (the docker config is the
// process's DOCKER_CONFIG).
func keychain(d *connect.Descriptor) authn.Keychain {
	if d.Keychain == nil {
		return authn.DefaultKeychain
	}
	return d.Keychain(connect.Settings{Getenv: func(string) string { return "" }})
}

// The docker config wins over a cloud's credential helper: what the user
// set up is what is used. (Moved from registry/connect with the keychains.)
func TestKeychainDockerConfigFirst(t *testing.T) {
	dir := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte("AWS:from-docker-config"))
	cfg := `{"auths":{"123456789012.dkr.ecr.eu-west-1.amazonaws.com":{"auth":"` + auth + `"}}}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
	for _, k := range []provider.Kind{kECR, kGAR, kACR, kOCI} {
		reg, err := name.NewRegistry("123456789012.dkr.ecr.eu-west-1.amazonaws.com")
		if err != nil {
			t.Fatal(err)
		}
		a, err := keychain(descriptor(t, k)).Resolve(reg)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		c, err := a.Authorization()
		if err != nil {
			t.Fatal(err)
		}
		if c.Username != "AWS" || c.Password != "from-docker-config" {
			t.Errorf("%s keychain: %+v, want the docker config entry", k, c)
		}
	}
	// No docker config entry and no cloud identity: anonymous, no error.
	other, _ := name.NewRegistry("europe-docker.pkg.dev")
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", filepath.Join(dir, "missing.json"))
	t.Setenv("PATH", dir) // no gcloud
	a, err := keychain(descriptor(t, kACR)).Resolve(other)
	if err != nil || a != authn.Anonymous {
		t.Errorf("ACR keychain for a foreign host = %v, %v; want anonymous", a, err)
	}
}

func descriptor(t *testing.T, k provider.Kind) *connect.Descriptor {
	t.Helper()
	for _, d := range All {
		if d.Kind == k {
			return d
		}
	}
	t.Fatalf("no descriptor of kind %s", k)
	return nil
}

// ghcr.io: the workflow's GITHUB_TOKEN is used when no password is
// given, with GITHUB_ACTOR as the user name, and must be masked. (Moved
// from registry/connect: the rule is GHCR's descriptor's now.)
func TestGHCRTokenFromEnvironment(t *testing.T) {
	t.Parallel()
	env := map[string]string{"GITHUB_TOKEN": "ghs_secret", "GITHUB_ACTOR": "octocat", "GITHUB_REPOSITORY_OWNER": "acme"}
	b, err := All.New(connect.Settings{Kind: kGHCR, Host: "127.0.0.1:1", Concurrency: 2, Repositories: []string{"**"},
		Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal([]string{"ghs_secret"}, b.Secrets) {
		t.Errorf("secrets to mask = %v, want the GITHUB_TOKEN", b.Secrets)
	}
	if strings.Contains(b.Who, "ghs_secret") || !strings.Contains(b.Who, `user "octocat" (from GITHUB_ACTOR)`) || !strings.Contains(b.Who, "GITHUB_TOKEN") {
		t.Errorf("Who = %q: want the actor and never the token", b.Who)
	}
}

// TestList: one descriptor per kind, the generic one first (the fallback
// of auto, claiming no host), every kind named by the provider input's
// description and README's registries table, and the capabilities README
// states for each.
func TestList(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var about string
	for _, in := range config.Inputs {
		if in.Name == "provider" {
			about = in.Description
		}
	}
	var kinds []provider.Kind
	for i, d := range All {
		if slices.Contains(kinds, d.Kind) {
			t.Errorf("kind %s listed twice", d.Kind)
		}
		kinds = append(kinds, d.Kind)
		if (i == 0) != (d.Hosts == nil && d.Kind == kOCI) {
			t.Errorf("entry %d (%s): the generic kind, without hosts, must come first", i, d.Kind)
		}
		if d.About == "" || d.GCHint == "" {
			t.Errorf("%s: no About or GCHint", d.Kind)
		}
		if !strings.Contains(about, string(d.Kind)) {
			t.Errorf("the provider input's description does not name %s: %q", d.Kind, about)
		}
		if !strings.Contains(string(readme), "| `"+string(d.Kind)+"`") {
			t.Errorf("README's registries table has no row for provider `%s`", d.Kind)
		}
	}
	if diff := cmp.Diff([]provider.Kind{kOCI, kGHCR, kDockerHub, kHarbor, kECR, kGAR, kACR, kQuay, kGitLab}, kinds); diff != "" {
		t.Errorf("kinds (-want +got):\n%s", diff)
	}
	// README: push times on GHCR, Docker Hub and Harbor; lower-case names
	// on GHCR and Docker Hub; a token alone on GHCR; untagged listing on
	// GHCR and Harbor; untag before delete on Artifact Registry.
	for _, c := range []struct {
		what string
		has  func(provider.Caps) bool
		want []provider.Kind
	}{
		{"push time", func(c provider.Caps) bool { return c.PushTime }, []provider.Kind{kGHCR, kDockerHub, kHarbor}},
		{"lower-case names", func(c provider.Caps) bool { return c.LowerCaseNames }, []provider.Kind{kGHCR, kDockerHub}},
		{"token only", func(c provider.Caps) bool { return c.TokenOnly }, []provider.Kind{kGHCR}},
		{"lists untagged", func(c provider.Caps) bool { return c.ListsUntagged }, []provider.Kind{kGHCR, kHarbor}},
		{"untag first", func(c provider.Caps) bool { return c.UntagFirst }, []provider.Kind{kGAR}},
	} {
		if diff := cmp.Diff(c.want, Table.With(c.has)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.what, diff)
		}
	}
}
