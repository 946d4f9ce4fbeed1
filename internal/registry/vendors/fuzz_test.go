package vendors

// Fuzz targets for the provider input and host detection (issue 5). The
// seed corpus runs with every `go test`; `go test
// ./internal/registry/vendors -run '^$' -fuzz FuzzX -fuzztime 60s` searches
// further.

import (
	"strconv"
	"strings"
	"testing"

	"github.com/tagsweep/tagsweep/internal/registry/provider"
)

// knownKinds are the `provider` values README names.
var knownKinds = []provider.Kind{provider.Auto, kOCI, kGHCR, kDockerHub, kHarbor, kECR, kGAR, kACR, kQuay, kGitLab}

// FuzzParse: Parse accepts exactly the known names and the "gcr" alias, in
// any case and with blanks around, and nothing else.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"auto", " GHCR ", "gcr", "GCR", "harbor", "DockerHub", "\tquay\n", "nexus", "", " ",
		"docker-hub", "ghcr.io", "oci ", "auto,oci", "g\u0131tlab", "doc\u212aerhub", "gar\x00", "ECR", "acr"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := provider.Kind("")
		for _, k := range append(knownKinds, "gcr") {
			// Case-insensitive: Unicode case folding, or lower-casing
			// (which also takes U+0130 "İ" to "i").
			v := strings.TrimSpace(s)
			if strings.EqualFold(v, string(k)) || strings.ToLower(v) == string(k) {
				want = k
			}
		}
		if want == "gcr" {
			want = kGAR
		}
		k, err := Table.Parse(s)
		if want == "" {
			if err == nil {
				t.Fatalf("Table.Parse(%q) = %q, want an error", s, k)
			}
			if k != "" {
				t.Errorf("Table.Parse(%q) = %q with error %v", s, k, err)
			}
			for _, n := range knownKinds {
				if !strings.Contains(err.Error(), string(n)) {
					t.Errorf("Table.Parse(%q): error %q does not name %s", s, err, n)
				}
			}
			return
		}
		if err != nil || k != want {
			t.Fatalf("Table.Parse(%q) = %q, %v; want %q", s, k, err, want)
		}
		if again, err := Table.Parse(string(k)); err != nil || again != k {
			t.Errorf("Table.Parse(%q) = %q, %v; want it back", k, again, err)
		}
		if r := Table.Resolve(k, "registry.example.com"); r == provider.Auto || r == "" {
			t.Errorf("Table.Resolve(%q) = %q", k, r)
		}
	})
}

// vendorDomain says whether host (lower case, without port) lies where the
// detected vendor serves registries: a host outside it must never be taken
// for the vendor (its provider would send the registry's credentials to
// the vendor's API, or speak the vendor's API to a stranger).
func vendorDomain(k provider.Kind, h string) bool {
	suffix := func(ss ...string) bool {
		for _, s := range ss {
			if strings.HasSuffix(h, s) {
				return true
			}
		}
		return false
	}
	switch k {
	case kGHCR:
		return h == "ghcr.io"
	case kDockerHub:
		return h == "docker.io" || h == "registry-1.docker.io" || h == "index.docker.io" || h == "registry.hub.docker.com"
	case kECR:
		return suffix(".amazonaws.com", ".amazonaws.com.cn")
	case kGAR:
		return h == "gcr.io" || suffix(".gcr.io", ".pkg.dev")
	case kACR:
		return suffix(".azurecr.io", ".azurecr.cn", ".azurecr.us")
	case kQuay:
		return h == "quay.io"
	case kGitLab:
		return h == "registry.gitlab.com"
	case kOCI:
		return true
	}
	return false
}

// flipCase changes the ASCII case of the letters whose bit is set in mask
// (DNS names are ASCII case-insensitive; other letters are left alone).
func flipCase(s string, mask uint64) string {
	b := []byte(s)
	for i, c := range b {
		if mask&(1<<(uint(i)%64)) == 0 {
			continue
		}
		switch {
		case c >= 'a' && c <= 'z':
			b[i] = c - 'a' + 'A'
		case c >= 'A' && c <= 'Z':
			b[i] = c - 'A' + 'a'
		}
	}
	return string(b)
}

// FuzzDetect: Detect gives a concrete provider for any host, the same
// whatever the ASCII case and with or without a port, and a vendor only for
// hosts in the vendor's domain.
func FuzzDetect(f *testing.F) {
	for _, h := range []string{"ghcr.io", "GHCR.IO", "docker.io", "index.docker.io", "registry-1.docker.io",
		"registry.hub.docker.com", "123456789012.dkr.ecr.us-east-1.amazonaws.com",
		"123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", "s3.amazonaws.com", "us-central1-docker.pkg.dev", "gcr.io",
		"eu.gcr.io", "myreg.azurecr.io", "myreg.azurecr.cn", "myreg.azurecr.us", "quay.io", "registry.gitlab.com",
		"harbor.example.com", "127.0.0.1", "[::1]", "notghcr.io", "ghcr.io.evil.example", "evilgcr.io",
		"gcr.io.example.com", "quay.io.", "dkr.ecr.amazonaws.com", ".azurecr.io", "", "[", "]", ":", "a:b"} {
		f.Add(h, uint16(5000), uint64(0))
		f.Add(h, uint16(443), uint64(0x5555555555555555))
	}
	f.Fuzz(func(t *testing.T, host string, port uint16, mask uint64) {
		k := Table.Detect(host)
		known := false
		for _, n := range knownKinds {
			known = known || (n == k && n != provider.Auto)
		}
		if !known {
			t.Fatalf("Table.Detect(%q) = %q", host, k)
		}
		if again := Table.Detect(flipCase(host, mask)); again != k {
			t.Errorf("Table.Detect(%q) = %s but Table.Detect(%q) = %s", host, k, flipCase(host, mask), again)
		}
		if Table.Resolve(provider.Auto, host) != k || Table.Resolve("", host) != k {
			t.Errorf("Table.Resolve(auto, %q) = %s, Detect says %s", host, Table.Resolve(provider.Auto, host), k)
		}
		// A host without a port: adding one changes nothing.
		bare := !strings.Contains(host, ":") ||
			(strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") && strings.Count(host, "]") == 1)
		if !bare {
			return
		}
		for _, p := range []string{":" + strconv.Itoa(int(port)), ":"} {
			if got := Table.Detect(host + p); got != k {
				t.Errorf("Table.Detect(%q) = %s but Table.Detect(%q) = %s", host, k, host+p, got)
			}
		}
		if h := strings.ToLower(host); !vendorDomain(k, h) {
			t.Errorf("Table.Detect(%q) = %s, a host outside that vendor's domain", host, k)
		}
	})
}
