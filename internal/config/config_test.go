package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/policy"
	"github.com/tagsweep/tagsweep/internal/registry/provider"
	"github.com/tagsweep/tagsweep/internal/registry/vendors"
)

// The provider kinds README's registries table names; registry/vendors
// declares them.
const (
	kindOCI       provider.Kind = "oci"
	kindGHCR      provider.Kind = "ghcr"
	kindDockerHub provider.Kind = "dockerhub"
	kindHarbor    provider.Kind = "harbor"
	kindECR       provider.Kind = "ecr"
	kindGAR       provider.Kind = "gar"
	kindACR       provider.Kind = "acr"
	kindQuay      provider.Kind = "quay"
	kindGitLab    provider.Kind = "gitlab"
)

func lookup(m map[string]string) Lookup { return func(n string) string { return m[n] } }

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load(lookup(map[string]string{"registry": "registry.example.com"}), false, vendors.Table)
	if err != nil {
		t.Fatal(err)
	}
	got := []any{c.Host, c.Scheme, c.Repositories, c.Keep, c.OlderThan, c.IncludeTags, c.ExcludeTags, c.KeepSemver, c.OrderBy, c.DryRun, c.Concurrency, c.Insecure, c.DeleteOrphans}
	want := []any{"registry.example.com", "", []string{"**"}, 10, time.Duration(0), []string{"*"}, []string{}, "", "created", false, 8, false, false}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

func TestValues(t *testing.T) {
	t.Parallel()
	c, err := Load(lookup(map[string]string{
		"registry": "https://Registry.Example.com:5000/", "repositories": "team/*\n app ,\n\nother/**",
		"keep": "3", "older-than": "2w", "include-tags": "pr-*,sha-*", "exclude-tags": "latest\nmain",
		"keep-semver": ">=2.0.0", "order-by": "semver", "dry-run": "true", "concurrency": "4",
		"username": "bot", "password": " s3cret ", "delete-orphans": "yes", "summary-file": "out/summary.md",
	}), false, vendors.Table)
	if err != nil {
		t.Fatal(err)
	}
	got := []any{c.Host, c.Scheme, c.Repositories, c.Keep, c.OlderThan, c.IncludeTags, c.ExcludeTags, c.KeepSemver, c.OrderBy, c.DryRun, c.Concurrency, c.Username, c.Password, c.DeleteOrphans, c.SummaryFile}
	want := []any{"registry.example.com:5000", "https", []string{"team/*", "app", "other/**"}, 3, 14 * 24 * time.Hour, []string{"pr-*", "sha-*"}, []string{"latest", "main"}, ">=2.0.0", "semver", true, 4, "bot", " s3cret ", true, "out/summary.md"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
	if c.Rules.KeepSemver == nil || c.Rules.Keep != 3 || c.Rules.OrderBy != "semver" || len(c.Rules.Include) != 2 {
		t.Errorf("rules not built: %+v", c.Rules)
	}
}

func TestProvider(t *testing.T) {
	t.Parallel()
	cases := []struct {
		registry, provider, ageSource string
		want                          provider.Kind
		wantAge                       policy.AgeSource
	}{
		{"ghcr.io", "", "", kindGHCR, policy.AgeAuto},
		{"https://GHCR.io", "auto", "pushed", kindGHCR, policy.AgePushed},
		{"docker.io", "", "created", kindDockerHub, policy.AgeCreated},
		{"registry-1.docker.io", "", "", kindDockerHub, policy.AgeAuto},
		{"123456789012.dkr.ecr.eu-west-1.amazonaws.com", "", "", kindECR, policy.AgeAuto},
		{"europe-docker.pkg.dev", "", "", kindGAR, policy.AgeAuto},
		{"eu.gcr.io", "", "", kindGAR, policy.AgeAuto},
		{"myreg.azurecr.io", "", "", kindACR, policy.AgeAuto},
		{"quay.io", "", "", kindQuay, policy.AgeAuto},
		{"registry.gitlab.com", "", "", kindGitLab, policy.AgeAuto},
		{"harbor.example.com", "", "", kindOCI, policy.AgeAuto},
		{"harbor.example.com", "Harbor", "pushed", kindHarbor, policy.AgePushed},
		{"127.0.0.1:5000", "ghcr", "", kindGHCR, policy.AgeAuto},
		{"ghcr.io", "oci", "", kindOCI, policy.AgeAuto},
		{"gcr.io", "gcr", "", kindGAR, policy.AgeAuto},
	}
	for _, tc := range cases {
		c, err := Load(lookup(map[string]string{"registry": tc.registry, "provider": tc.provider, "age-source": tc.ageSource}), false, vendors.Table)
		if err != nil {
			t.Errorf("%s provider=%q: %v", tc.registry, tc.provider, err)
			continue
		}
		if c.Provider != tc.want || c.AgeSource != tc.wantAge || c.Rules.AgeSource != tc.wantAge {
			t.Errorf("%s provider=%q age-source=%q: got %s/%s (rules %s), want %s/%s", tc.registry, tc.provider, tc.ageSource, c.Provider, c.AgeSource, c.Rules.AgeSource, tc.want, tc.wantAge)
		}
	}
	// GHCR and Docker Hub names are lower case: so are the globs there.
	c, err := Load(lookup(map[string]string{"registry": "ghcr.io", "repositories": "MyOrg/**,MyOrg/App"}), false, vendors.Table)
	if err != nil || !cmp.Equal([]string{"myorg/**", "myorg/app"}, c.Repositories) {
		t.Errorf("ghcr repositories = %v, %v", c.Repositories, err)
	}
	c, err = Load(lookup(map[string]string{"registry": "registry.example.com", "repositories": "Team/App"}), false, vendors.Table)
	if err != nil || !cmp.Equal([]string{"Team/App"}, c.Repositories) {
		t.Errorf("oci repositories = %v, %v", c.Repositories, err)
	}
	// ghcr.io takes a token without a user name; other registries do not.
	if _, err := Load(lookup(map[string]string{"registry": "ghcr.io", "password": "tok"}), false, vendors.Table); err != nil {
		t.Errorf("ghcr with a token alone: %v", err)
	}
	if _, err := Load(lookup(map[string]string{"registry": "harbor.example.com", "provider": "harbor", "password": "tok"}), false, vendors.Table); err == nil {
		t.Error("harbor with a password alone was accepted")
	}
}

func TestShardMaxDeletionsTimeout(t *testing.T) {
	t.Parallel()
	c, err := Load(lookup(map[string]string{"registry": "r.example.com", "shard": " 3 / 8 ", "max-deletions": "250", "timeout": "1d"}), false, vendors.Table)
	if err != nil {
		t.Fatal(err)
	}
	if c.Shard != 3 || c.Shards != 8 || c.MaxDeletions != 250 || c.Timeout != 24*time.Hour || c.TimeoutText != "1d" {
		t.Errorf("got shard %d/%d, max-deletions %d, timeout %s (%q)", c.Shard, c.Shards, c.MaxDeletions, c.Timeout, c.TimeoutText)
	}
	c, err = Load(lookup(map[string]string{"registry": "r.example.com"}), false, vendors.Table)
	if err != nil || c.Shards != 0 || c.MaxDeletions != 0 || c.Timeout != 0 {
		t.Errorf("defaults: %+v, %v", c, err)
	}
}

func TestInvalid(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := map[string]string{"registry": "127.0.0.1:5000", "report-file": "out/report.json"}
	cases := []struct {
		name, input, value string
		want               string
	}{
		{"missing registry", "registry", "", `registry: "" is required`},
		{"registry with a path", "registry", "ghcr.io/owner", `registry: "ghcr.io/owner" is not host[:port]`},
		{"registry with a bad scheme", "registry", "ftp://x", `registry: "ftp://x" has an unknown scheme`},
		{"plain http to a remote host", "registry", "http://registry.example.com", `registry: "http://registry.example.com" uses plain HTTP to a non-loopback host; set insecure: true`},
		{"keep not a number", "keep", "ten", `keep: "ten" is not a whole number`},
		{"keep negative", "keep", "-1", `keep: "-1" is not a whole number`},
		{"older-than", "older-than", "30 days", `older-than: "30 days" is not a duration`},
		{"order-by", "order-by", "name", `order-by: "name" must be created or semver`},
		{"keep-semver", "keep-semver", ">=banana", `keep-semver: ">=banana" is not a semver constraint`},
		{"dry-run", "dry-run", "maybe", `dry-run: "maybe" is not a boolean`},
		{"concurrency zero", "concurrency", "0", `concurrency: "0" is not a whole number from 1`},
		{"include glob", "include-tags", "v[1", `include-tags: "v[1" is not a valid glob`},
		{"repositories glob", "repositories", "team/{a", `repositories: "team/{a" is not a valid glob`},
		{"ca-file missing", "ca-file", filepath.Join(dir, "nope.pem"), "ca-file: \"" + filepath.Join(dir, "nope.pem") + "\" does not exist"},
		{"ca-file not PEM", "ca-file", notPEM, "ca-file: \"" + notPEM + "\" holds no PEM certificate"},
		{"password without username", "password", "x", `username: "" is required when password is set`},
		{"username without password", "username", "bot", `password: "" is required when username is set`},
		{"provider unknown", "provider", "artifactory", `provider: "artifactory" is not a provider (one of acr, auto, dockerhub, ecr, gar, ghcr, gitlab, harbor, oci, quay)`},
		{"age-source unknown", "age-source", "pulled", `age-source: "pulled" must be auto, created or pushed`},
		{"shard not i/n", "shard", "2", `shard: "2" is not i/n`},
		{"shard beyond n", "shard", "5/4", `shard: "5/4" must have i from 0 to 4 (0-based: 0 to 3; 1-based: 1 to 4)`},
		{"shard n zero", "shard", "0/0", `shard: "0/0" must have n from 1 to 10000`},
		{"shard negative", "shard", "-1/4", `shard: "-1/4" must have i from 0 to 4`},
		{"max-deletions", "max-deletions", "many", `max-deletions: "many" is not a whole number`},
		{"timeout", "timeout", "forever", `timeout: "forever" is not a duration`},
		{"delete-untagged", "delete-untagged", "maybe", `delete-untagged: "maybe" is not a boolean`},
		{"keep-untagged", "keep-untagged", "-2", `keep-untagged: "-2" is not a whole number`},
		{"older-than overflowing", "older-than", "30501w", `older-than: "30501w" is too long`},
		{"older-than overflowing with a Go duration", "older-than", "15000w2562047h", `older-than: "15000w2562047h" is too long`},
		{"registry without a host", "registry", ":5000", `registry: ":5000" is not host[:port]`},
		{"registry bare IPv6", "registry", "::1", `registry: "::1" is not host[:port]`},
		{"summary-file is the report-file", "summary-file", "out/./report.json", `summary-file: "out/./report.json" is also the report-file: name two files`},
		{"age-source pushed without push times", "age-source", "pushed", `age-source: "pushed" needs a provider that reports push times (ghcr, dockerhub, harbor); the oci provider does not`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := map[string]string{}
			for k, v := range base {
				m[k] = v
			}
			m[tc.input] = tc.value
			_, err := Load(lookup(m), false, vendors.Table)
			if err == nil {
				t.Fatalf("Load accepted %s=%q", tc.input, tc.value)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Errorf("error %v is not an *InputError", err)
			}
		})
	}
}

func TestEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	_, err := Load(lookup(map[string]string{"registry": "x", "keep": "a", "order-by": "b"}), false, vendors.Table)
	for _, want := range []string{"keep:", "order-by:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v misses %s", err, want)
		}
	}
}

func TestPlainHTTP(t *testing.T) {
	t.Parallel()
	for reg, ok := range map[string]bool{
		"http://127.0.0.1:5000": true, "http://localhost:5000": true, "http://[::1]:5000": true,
		"http://10.0.0.5:5000": false, "http://registry.internal": false,
	} {
		_, err := Load(lookup(map[string]string{"registry": reg}), false, vendors.Table)
		if (err == nil) != ok {
			t.Errorf("%s: err = %v, want ok=%v", reg, err, ok)
		}
		if _, err := Load(lookup(map[string]string{"registry": reg, "insecure": "true"}), false, vendors.Table); err != nil {
			t.Errorf("%s with insecure: %v", reg, err)
		}
	}
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	for in, want := range map[string]time.Duration{
		"30d": 30 * day, "2w": 14 * day, "36h": 36 * time.Hour, "1w3d": 10 * day, "1d12h": 36 * time.Hour, "90m": 90 * time.Minute, "0": 0,
	} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "30", "3 days", "-1h", "1y", "w2"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) accepted", in)
		}
	}
}

func TestList(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in string
		want     []string
	}{
		{"newlines and commas, trimmed", " a,\n\nb ,, c d \n", []string{"a", "b", "c d"}},
		{"a comma inside braces is one glob", "v{1,2}.*", []string{"v{1,2}.*"}},
		{"braces among other items", "latest, v{1,2}.*,\nrc-{a,b}", []string{"latest", "v{1,2}.*", "rc-{a,b}"}},
		{"nested braces", "{a,{b,c}}-x,y", []string{"{a,{b,c}}-x", "y"}},
		{"an escaped brace opens nothing", `\{a,b}`, []string{`\{a`, "b}"}},
		{"a stray closing brace", "a},b", []string{"a}", "b"}},
		{"an open brace runs to the end of its line only", "x{a,b\ny,z", []string{"x{a,b", "y", "z"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, List(tc.in)); diff != "" {
				t.Errorf("List(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

// exclude-tags: v{1,2}.* is one glob that excludes v1.x and v2.x, and a
// brace left open is invalid input naming the whole glob.
func TestBraceGlobInput(t *testing.T) {
	t.Parallel()
	c, err := Load(lookup(map[string]string{"registry": "r.example", "exclude-tags": "v{1,2}.*, latest"}), false, vendors.Table)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"v{1,2}.*", "latest"}, c.ExcludeTags); diff != "" {
		t.Errorf("exclude-tags (-want +got):\n%s", diff)
	}
	for tag, excluded := range map[string]bool{"v1.0": true, "v2.3": true, "v3.0": false, "latest": true, "2.*": false} {
		got := false
		for _, g := range c.Rules.Exclude {
			got = got || g.Match(tag)
		}
		if got != excluded {
			t.Errorf("%s excluded = %v, want %v", tag, got, excluded)
		}
	}
	_, err = Load(lookup(map[string]string{"registry": "r.example", "exclude-tags": "v{1,2.*"}), false, vendors.Table)
	if err == nil || !strings.Contains(err.Error(), `exclude-tags: "v{1,2.*" is not a valid glob`) {
		t.Errorf("open brace: error %v, want the whole glob named", err)
	}
}

// TestGitHubTokenOnlyForGHCR: github-token is read only for the provider
// that names it (ghcr): the runner sets it for every step from action.yml's
// default, and another registry's backend must never be given it.
func TestGitHubTokenOnlyForGHCR(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		registry, provider, want string
	}{
		{"ghcr.io", "", "ghs_token123456789"},
		{"registry.example.com", "ghcr", "ghs_token123456789"},
		{"registry.example.com", "", ""},
		{"ghcr.io", "oci", ""},
		{"docker.io", "", ""},
	} {
		c, err := Load(lookup(map[string]string{"registry": tc.registry, "provider": tc.provider, "repositories": "octo/app",
			"github-token": " ghs_token123456789 "}), true, vendors.Table)
		if err != nil {
			t.Fatalf("%s/%s: %v", tc.registry, tc.provider, err)
		}
		if c.APIToken != tc.want {
			t.Errorf("%s, provider %q: APIToken %q, want %q", tc.registry, tc.provider, c.APIToken, tc.want)
		}
	}
}
