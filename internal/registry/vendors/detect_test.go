package vendors

import (
	"testing"

	"github.com/tagsweep/tagsweep/internal/registry/provider"
)

// The kinds README's registries table names (moved here with the
// detection tests from registry/provider, whose table this package is).
const (
	kOCI       provider.Kind = "oci"
	kGHCR      provider.Kind = "ghcr"
	kDockerHub provider.Kind = "dockerhub"
	kHarbor    provider.Kind = "harbor"
	kECR       provider.Kind = "ecr"
	kGAR       provider.Kind = "gar"
	kACR       provider.Kind = "acr"
	kQuay      provider.Kind = "quay"
	kGitLab    provider.Kind = "gitlab"
)

func TestDetect(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]provider.Kind{
		"ghcr.io": kGHCR, "GHCR.IO:443": kGHCR, "docker.io": kDockerHub, "index.docker.io": kDockerHub,
		"registry-1.docker.io": kDockerHub, "123456789012.dkr.ecr.us-east-1.amazonaws.com": kECR,
		"123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn": kECR, "s3.amazonaws.com": kOCI,
		"us-central1-docker.pkg.dev": kGAR, "gcr.io": kGAR, "eu.gcr.io": kGAR, "myreg.azurecr.io": kACR,
		"quay.io": kQuay, "registry.gitlab.com": kGitLab, "harbor.example.com": kOCI, "127.0.0.1:5000": kOCI,
		"[::1]:5000": kOCI, "notghcr.io": kOCI,
	} {
		if got := Table.Detect(host); got != want {
			t.Errorf("Table.Detect(%q) = %s, want %s", host, got, want)
		}
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]provider.Kind{"auto": provider.Auto, " GHCR ": kGHCR, "gcr": kGAR, "harbor": kHarbor} {
		if got, err := Table.Parse(in); err != nil || got != want {
			t.Errorf("Table.Parse(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	if _, err := Table.Parse("nexus"); err == nil {
		t.Error("Parse accepted nexus")
	}
	if Table.Resolve(provider.Auto, "ghcr.io") != kGHCR || Table.Resolve(kOCI, "ghcr.io") != kOCI {
		t.Error("Resolve does not honour an explicit provider or detect auto")
	}
}
