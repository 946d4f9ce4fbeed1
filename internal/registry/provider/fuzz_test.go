package provider

// Fuzz targets for the provider input and host detection (issue 5). The
// seed corpus runs with every `go test`; `go test
// ./internal/registry/provider -run '^$' -fuzz FuzzX -fuzztime 60s` searches
// further.

import (
	"strconv"
	"strings"
	"testing"
)

// knownKinds are the `provider` values the contract and README name.
var knownKinds = []Kind{Auto, OCI, GHCR, DockerHub, Harbor, ECR, GAR, ACR, Quay, GitLab}

// FuzzParse: Parse accepts exactly the known names and the "gcr" alias, in
// any case and with blanks around, and nothing else.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"auto", " GHCR ", "gcr", "GCR", "harbor", "DockerHub", "\tquay\n", "nexus", "", " ",
		"docker-hub", "ghcr.io", "oci ", "auto,oci", "g\u0131tlab", "doc\u212aerhub", "gar\x00", "ECR", "acr"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := Kind("")
		for _, k := range append(knownKinds, "gcr") {
			// Case-insensitive: Unicode case folding, or lower-casing
			// (which also takes U+0130 "İ" to "i").
			v := strings.TrimSpace(s)
			if strings.EqualFold(v, string(k)) || strings.ToLower(v) == string(k) {
				want = k
			}
		}
		if want == "gcr" {
			want = GAR
		}
		k, err := Parse(s)
		if want == "" {
			if err == nil {
				t.Fatalf("Parse(%q) = %q, want an error", s, k)
			}
			if k != "" {
				t.Errorf("Parse(%q) = %q with error %v", s, k, err)
			}
			for _, n := range knownKinds {
				if !strings.Contains(err.Error(), string(n)) {
					t.Errorf("Parse(%q): error %q does not name %s", s, err, n)
				}
			}
			return
		}
		if err != nil || k != want {
			t.Fatalf("Parse(%q) = %q, %v; want %q", s, k, err, want)
		}
		if again, err := Parse(string(k)); err != nil || again != k {
			t.Errorf("Parse(%q) = %q, %v; want it back", k, again, err)
		}
		if r := Resolve(k, "registry.example.com"); r == Auto || r == "" {
			t.Errorf("Resolve(%q) = %q", k, r)
		}
	})
}

// vendorDomain says whether host (lower case, without port) lies where the
// detected vendor serves registries: a host outside it must never be taken
// for the vendor (its provider would send the registry's credentials to
// the vendor's API, or speak the vendor's API to a stranger).
func vendorDomain(k Kind, h string) bool {
	suffix := func(ss ...string) bool {
		for _, s := range ss {
			if strings.HasSuffix(h, s) {
				return true
			}
		}
		return false
	}
	switch k {
	case GHCR:
		return h == "ghcr.io"
	case DockerHub:
		return h == "docker.io" || h == "registry-1.docker.io" || h == "index.docker.io" || h == "registry.hub.docker.com"
	case ECR:
		return suffix(".amazonaws.com", ".amazonaws.com.cn")
	case GAR:
		return h == "gcr.io" || suffix(".gcr.io", ".pkg.dev")
	case ACR:
		return suffix(".azurecr.io", ".azurecr.cn", ".azurecr.us")
	case Quay:
		return h == "quay.io"
	case GitLab:
		return h == "registry.gitlab.com"
	case OCI:
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
		k := Detect(host)
		known := false
		for _, n := range knownKinds {
			known = known || (n == k && n != Auto)
		}
		if !known {
			t.Fatalf("Detect(%q) = %q", host, k)
		}
		if again := Detect(flipCase(host, mask)); again != k {
			t.Errorf("Detect(%q) = %s but Detect(%q) = %s", host, k, flipCase(host, mask), again)
		}
		if Resolve(Auto, host) != k || Resolve("", host) != k {
			t.Errorf("Resolve(auto, %q) = %s, Detect says %s", host, Resolve(Auto, host), k)
		}
		// A host without a port: adding one changes nothing.
		bare := !strings.Contains(host, ":") ||
			(strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") && strings.Count(host, "]") == 1)
		if !bare {
			return
		}
		for _, p := range []string{":" + strconv.Itoa(int(port)), ":"} {
			if got := Detect(host + p); got != k {
				t.Errorf("Detect(%q) = %s but Detect(%q) = %s", host, k, host+p, got)
			}
		}
		if h := strings.ToLower(host); !vendorDomain(k, h) {
			t.Errorf("Detect(%q) = %s, a host outside that vendor's domain", host, k)
		}
	})
}
