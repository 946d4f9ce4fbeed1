package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/registry/vendors"
)

func TestParseRef(t *testing.T) {
	t.Parallel()
	d := "sha256:" + strings.Repeat("ab", 32)
	cases := []struct {
		in   string
		host string
		want Ref
		bad  string // what the error says, when it fails
	}{
		{in: "app:v1", want: Ref{Text: "app:v1", Repository: "app", Tag: "v1"}},
		{in: "team/api", want: Ref{Text: "team/api:latest", Repository: "team/api", Tag: "latest"}},
		{in: "registry.example.com/team/api:v1.2", host: "registry.example.com", want: Ref{Text: "team/api:v1.2", Repository: "team/api", Tag: "v1.2"}},
		{in: "127.0.0.1:5000/app@" + d, host: "127.0.0.1:5000", want: Ref{Text: "app@" + d, Repository: "app", Digest: d}},
		{in: "localhost/app:x", host: "localhost", want: Ref{Text: "app:x", Repository: "app", Tag: "x"}},
		{in: "Registry.Example.COM/app:x", host: "registry.example.com", want: Ref{Text: "app:x", Repository: "app", Tag: "x"}},
		{in: "docker.io/library/nginx:1.25@" + d, host: "docker.io", want: Ref{Text: "library/nginx:1.25@" + d, Repository: "library/nginx", Tag: "1.25", Digest: d}},
		{in: "app@sha256:xyz", bad: "bad digest"},
		{in: "App:v1", bad: "not an image reference"},
		{in: "app:bad!tag", bad: "bad tag"},
		{in: "app:", bad: "bad tag"},
	}
	for _, c := range cases {
		host, got, err := ParseRef(c.in)
		if c.bad != "" {
			if err == nil || !strings.Contains(err.Error(), c.bad) {
				t.Errorf("ParseRef(%q) = %+v, %v; want an error with %q", c.in, got, err, c.bad)
			}
			continue
		}
		if err != nil || host != c.host || got != c.want {
			t.Errorf("ParseRef(%q) = %q %+v %v; want %q %+v", c.in, host, got, err, c.host, c.want)
		}
	}
}

// protect-images: a list or an @file, comments and blank lines ignored,
// references to other registries counted and left out.
func TestProtectImagesInput(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "images.txt")
	if err := os.WriteFile(file, []byte("# what runs\nregistry.example.com/app:v1 nginx:1.25\n\n  ghcr.io/x/y:z # elsewhere\nregistry.example.com/app@sha256:"+strings.Repeat("0", 64)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"@" + file, "registry.example.com/app:v1, nginx:1.25\nghcr.io/x/y:z registry.example.com/app@sha256:" + strings.Repeat("0", 64)} {
		c, err := Load(lookup(map[string]string{"registry": "registry.example.com", "protect-images": v}), false, vendors.Table)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range c.Protect {
			got = append(got, r.Text)
		}
		want := []string{"app:v1", "nginx:1.25", "app@sha256:" + strings.Repeat("0", 64)}
		if diff := cmp.Diff(want, got); diff != "" || c.ProtectElsewhere != 1 {
			t.Errorf("%q: references (-want +got):\n%s elsewhere %d, want 1", v, diff, c.ProtectElsewhere)
		}
	}
}

// TestProtectImagesHostNames: a reference under another name of the same
// registry protects (Docker Hub's four host names are one registry: the
// running image kubectl shows as docker.io/org/app must be kept by a sweep
// of registry-1.docker.io); hosts of one kind that are many registries
// (ACR's *.azurecr.io) and another port of the same host stay elsewhere.
func TestProtectImagesHostNames(t *testing.T) {
	t.Parallel()
	cases := []struct {
		registry, ref string
		here          bool
	}{
		{"registry-1.docker.io", "docker.io/org/app:v1", true},
		{"docker.io", "index.docker.io/org/app:v1", true},
		{"docker.io", "DOCKER.IO/org/app:v1", true},
		{"docker.io", "ghcr.io/org/app:v1", false},
		{"team.azurecr.io", "other.azurecr.io/app:v1", false},
		{"team.azurecr.io", "team.azurecr.io/app:v1", true},
		{"127.0.0.1:5000", "127.0.0.1:5001/app:v1", false},
		{"127.0.0.1:5000", "127.0.0.1:5000/app:v1", true},
	}
	for _, tc := range cases {
		c, err := Load(lookup(map[string]string{"registry": tc.registry, "protect-images": tc.ref}), false, vendors.Table)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.registry, tc.ref, err)
		}
		if here := len(c.Protect) == 1 && c.ProtectElsewhere == 0; here != tc.here {
			t.Errorf("registry %s, protect-images %s: protects here %v (%d refs, %d elsewhere), want %v", tc.registry, tc.ref, here, len(c.Protect), c.ProtectElsewhere, tc.here)
		}
	}
}

// A policy file: defaults filled, lists as YAML lists or strings, labels.
func TestParsePolicy(t *testing.T) {
	t.Parallel()
	raw, rules, err := ParsePolicy([]byte("rules:\n  - tags: pr-*, dev-*\n    exclude-tags: [dev-keep]\n    keep: 2\n  - repositories: [a, b/**]\n    older-than: 2w\n    order-by: semver\n    delete-untagged: true\n    keep-untagged: 4\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []FileRule{
		{Repositories: []string{"**"}, Tags: []string{"pr-*", "dev-*"}, ExcludeTags: []string{"dev-keep"}, Keep: 2, OrderBy: "created"},
		{Repositories: []string{"a", "b/**"}, Tags: []string{"*"}, Keep: 10, OlderThan: "2w", OrderBy: "semver", DeleteUntagged: true, KeepUntagged: 4},
	}
	if diff := cmp.Diff(want, raw); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
	var labels []string
	for _, r := range rules {
		labels = append(labels, r.Label)
	}
	if diff := cmp.Diff([]string{"** pr-*,dev-* !dev-keep", "a,b/** *"}, labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if rules[1].OlderThan.Hours() != 14*24 || rules[1].N != 2 || !rules[1].DeleteUntagged || rules[1].KeepUntagged != 4 {
		t.Errorf("rule 2 = %+v", rules[1])
	}
}

// FuzzParsePolicy: any bytes either parse into numbered rules that match
// some tags, or fail with a message naming where; never a panic.
func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte("rules:\n  - tags: pr-*\n    keep: 2\n"))
	f.Add([]byte("rules:\n  - {repositories: [a, b], older-than: 1w2d, keep-semver: '>=1'}\n"))
	f.Add([]byte("rules: [{kep: 1}]"))
	f.Add([]byte("rules:\n- keep: 1\n  keep: 2\n"))
	f.Add([]byte("\t"))
	f.Fuzz(func(t *testing.T, data []byte) {
		raw, rules, err := ParsePolicy(data)
		if err != nil {
			if err.Error() == "" {
				t.Error("an empty message")
			}
			return
		}
		if len(rules) == 0 || len(raw) != len(rules) {
			t.Fatalf("%d rules, %d as written", len(rules), len(raw))
		}
		for i, r := range rules {
			if r.N != i+1 || len(r.Include) == 0 || len(r.Repositories) == 0 || r.Label == "" {
				t.Errorf("rule %d = %+v", i+1, r)
			}
		}
	})
}
