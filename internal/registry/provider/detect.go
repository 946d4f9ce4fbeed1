// Package provider names the registry kinds tagsweep knows and detects
// them from the registry host. It is pure; registry/connect builds the
// backend for a kind.
package provider

import (
	"fmt"
	"sort"
	"strings"
)

// Kind names a provider, as the `provider` input spells it.
type Kind string

// Providers.
const (
	Auto      Kind = "auto"
	OCI       Kind = "oci"
	GHCR      Kind = "ghcr"
	DockerHub Kind = "dockerhub"
	Harbor    Kind = "harbor"
	ECR       Kind = "ecr"
	GAR       Kind = "gar" // Google Artifact Registry, and gcr.io (served by it)
	ACR       Kind = "acr"
	Quay      Kind = "quay"
	GitLab    Kind = "gitlab"
)

// kinds are the accepted `provider` values.
var kinds = map[Kind]string{
	Auto:      "from the registry host",
	OCI:       "the OCI distribution API only",
	GHCR:      "GitHub Container Registry: GitHub Packages REST API",
	DockerHub: "Docker Hub: Hub API",
	Harbor:    "Harbor: Harbor REST API",
	ECR:       "Amazon ECR: OCI API, AWS credentials",
	GAR:       "Google Artifact Registry / gcr.io: OCI API, Google credentials, untag before delete",
	ACR:       "Azure Container Registry: OCI API, Azure credentials",
	Quay:      "Quay: OCI API",
	GitLab:    "GitLab container registry: OCI API",
}

// Parse reads a `provider` value; "gcr" is accepted for GAR.
func Parse(v string) (Kind, error) {
	k := Kind(strings.ToLower(strings.TrimSpace(v)))
	if k == "gcr" {
		k = GAR
	}
	if _, ok := kinds[k]; ok {
		return k, nil
	}
	var names []string
	for n := range kinds {
		names = append(names, string(n))
	}
	sort.Strings(names)
	return "", fmt.Errorf("is not a provider (one of %s)", strings.Join(names, ", "))
}

// Detect picks the provider for a registry host ("host[:port]").
func Detect(host string) Kind {
	h := strings.ToLower(host)
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	switch {
	case h == "ghcr.io":
		return GHCR
	case h == "docker.io" || h == "registry-1.docker.io" || h == "index.docker.io" || h == "registry.hub.docker.com":
		return DockerHub
	case strings.HasSuffix(h, ".amazonaws.com") && strings.Contains(h, ".dkr.ecr."),
		strings.HasSuffix(h, ".amazonaws.com.cn") && strings.Contains(h, ".dkr.ecr."):
		return ECR
	case strings.HasSuffix(h, "-docker.pkg.dev"), h == "gcr.io", strings.HasSuffix(h, ".gcr.io"):
		return GAR
	case strings.HasSuffix(h, ".azurecr.io"), strings.HasSuffix(h, ".azurecr.cn"), strings.HasSuffix(h, ".azurecr.us"):
		return ACR
	case h == "quay.io":
		return Quay
	case h == "registry.gitlab.com":
		return GitLab
	}
	return OCI
}

// Resolve turns `auto` into the detected provider.
func Resolve(k Kind, host string) Kind {
	if k == Auto || k == "" {
		return Detect(host)
	}
	return k
}

// HasPushTime reports whether the provider's listing gives push times
// (age-source: pushed).
func HasPushTime(k Kind) bool {
	return k == GHCR || k == DockerHub || k == Harbor
}
