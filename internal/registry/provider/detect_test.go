package provider

import "testing"

func TestDetect(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]Kind{
		"ghcr.io": GHCR, "GHCR.IO:443": GHCR, "docker.io": DockerHub, "index.docker.io": DockerHub,
		"registry-1.docker.io": DockerHub, "123456789012.dkr.ecr.us-east-1.amazonaws.com": ECR,
		"123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn": ECR, "s3.amazonaws.com": OCI,
		"us-central1-docker.pkg.dev": GAR, "gcr.io": GAR, "eu.gcr.io": GAR, "myreg.azurecr.io": ACR,
		"quay.io": Quay, "registry.gitlab.com": GitLab, "harbor.example.com": OCI, "127.0.0.1:5000": OCI,
		"[::1]:5000": OCI, "notghcr.io": OCI,
	} {
		if got := Detect(host); got != want {
			t.Errorf("Detect(%q) = %s, want %s", host, got, want)
		}
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Kind{"auto": Auto, " GHCR ": GHCR, "gcr": GAR, "harbor": Harbor} {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	if _, err := Parse("nexus"); err == nil {
		t.Error("Parse accepted nexus")
	}
	if Resolve(Auto, "ghcr.io") != GHCR || Resolve(OCI, "ghcr.io") != OCI {
		t.Error("Resolve does not honour an explicit provider or detect auto")
	}
}
