package registrytest

import (
	"context"
	"fmt"
	"github.com/google/go-containerregistry/pkg/authn"
	"os"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// Created is the creation time of every image the suite seeds.
var Created = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// registryStore is a Store over a registry's own API (plain HTTP, no
// credentials), through testregistry's helpers.
type registryStore struct{ addr string }

// RegistryStore returns a Store that seeds and reads the registry API at
// addr ("127.0.0.1:PORT") directly: any of testregistry's servers, also
// the one behind a vendor replica (its hooks let reads and pushes through).
func RegistryStore(addr string) Store { return registryStore{addr: addr} }

func (s registryStore) ref(repo, sep, ref string) string { return s.addr + "/" + repo + sep + ref }

// Image pushes the image of seed as repo:tag.
func (s registryStore) Image(ctx context.Context, repo, tag string, seed int64) (string, error) {
	h, err := testregistry.PushImage(ctx, s.ref(repo, ":", tag), imageSpec(seed, nil))
	return h.String(), err
}

func imageSpec(seed int64, p *v1.Platform) testregistry.ImageSpec {
	return testregistry.ImageSpec{Seed: seed, Created: Created.Add(time.Duration(seed) * time.Minute), Layers: -1, Platform: p}
}

// Index pushes an index over one image per seed (linux, a platform each) as repo:tag.
func (s registryStore) Index(ctx context.Context, repo, tag string, seeds ...int64) (string, []string, error) {
	arch := []string{"amd64", "arm64", "s390x", "ppc64le"}
	var spec testregistry.IndexSpec
	var kids []string
	for i, seed := range seeds {
		img, err := testregistry.BuildImage(imageSpec(seed, &v1.Platform{OS: "linux", Architecture: arch[i%len(arch)]}))
		if err != nil {
			return "", nil, err
		}
		d, err := img.Digest()
		if err != nil {
			return "", nil, err
		}
		spec.Children = append(spec.Children, img)
		kids = append(kids, d.String())
	}
	h, err := testregistry.PushIndex(ctx, s.ref(repo, ":", tag), spec)
	return h.String(), kids, err
}

// Tag puts tag on the manifest digest.
func (s registryStore) Tag(ctx context.Context, repo, tag, digest string) error {
	return testregistry.Tag(ctx, s.ref(repo, ":", tag), s.ref(repo, "@", digest))
}

// Referrer pushes an SBOM-like artifact whose subject is subject, without a fallback tag.
func (s registryStore) Referrer(ctx context.Context, repo, subject string, seed int64) (string, error) {
	desc, err := testregistry.Descriptor(ctx, s.ref(repo, "@", subject))
	if err != nil {
		return "", err
	}
	h, err := testregistry.PushReferrer(ctx, s.addr+"/"+repo, desc, "application/vnd.example.sbom.v1+json", seed, "",
		testregistry.WithoutFallbackTag())
	return h.String(), err
}

// Tags lists repo and resolves each tag (HEAD, full Accept set).
func (s registryStore) Tags(ctx context.Context, repo string) (map[string]string, error) {
	names, err := testregistry.ListTags(ctx, s.addr+"/"+repo)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, n := range names {
		d, err := testregistry.Digest(ctx, s.ref(repo, ":", n))
		if err != nil {
			return nil, fmt.Errorf("resolve %s:%s: %w", repo, n, err)
		}
		out[n] = d.String()
	}
	return out, nil
}

// Exists HEADs repo@digest.
func (s registryStore) Exists(ctx context.Context, repo, digest string) (bool, error) {
	return testregistry.Exists(ctx, s.ref(repo, "@", digest))
}

// NoKeychain is a keychain that finds nothing, so that the machine's
// docker config stays out of a test.
var NoKeychain authn.Keychain = noKeychain{}

type noKeychain struct{}

func (noKeychain) Resolve(authn.Resource) (authn.Authenticator, error) { return authn.Anonymous, nil }

// Distribution starts the in-process CNCF distribution v3 registry with
// deletes enabled, closed with t.
func Distribution(t *testing.T) *testregistry.Registry {
	t.Helper()
	r, err := testregistry.New(context.Background(), testregistry.Options{DeleteEnabled: true, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// RequireRegistry28Env makes a missing distribution 2.8 binary fatal
// instead of a skip when set to 1 (.ci/run sets it after installing
// Debian's docker-registry).
const RequireRegistry28Env = "TAGSWEEP_REQUIRE_REGISTRY28"

// Registry28 starts a CNCF distribution 2.8 registry (Debian's
// docker-registry, testregistry.StartLegacy) with deletes enabled, closed
// with t. Without the binary the test is skipped, unless
// TAGSWEEP_REQUIRE_REGISTRY28=1 makes that fatal.
func Registry28(t *testing.T) *testregistry.Process {
	t.Helper()
	bin := testregistry.LegacyBinary()
	if bin == "" {
		if os.Getenv(RequireRegistry28Env) == "1" {
			t.Fatal(RequireRegistry28Env + "=1 but no distribution 2.8 binary (install docker-registry or set " + testregistry.LegacyBinaryEnv + ")")
		}
		t.Skip("no distribution 2.8 binary (docker-registry); set " + testregistry.LegacyBinaryEnv)
	}
	p, err := testregistry.StartLegacy(context.Background(), bin, testregistry.Options{DeleteEnabled: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}
