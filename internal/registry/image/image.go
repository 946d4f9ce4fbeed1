// Package image is tagsweep's model of what a registry stores: manifests,
// the blobs they reference, tags as a registry lists them, and the media
// types and annotations tagsweep recognises. It is a leaf: the planner
// (internal/policy) imports it and nothing else of the registry layer.
package image

import "time"

// Media types tagsweep recognises. The full Accept set sent when resolving a
// tag is the four image types below (plus schema 1, which ggcr adds).
const (
	MediaTypeOCIIndex            = "application/vnd.oci.image.index.v1+json"
	MediaTypeOCIManifest         = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeDockerList          = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerManifest      = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeOCIConfig           = "application/vnd.oci.image.config.v1+json"
	MediaTypeDockerConfig        = "application/vnd.docker.container.image.v1+json"
	AnnotationCreated            = "org.opencontainers.image.created"
	AnnotationReferenceType      = "vnd.docker.reference.type"
	ReferenceTypeAttestation     = "attestation-manifest"
	AnnotationReferenceDigest    = "vnd.docker.reference.digest"
	MediaTypeOCIEmpty            = "application/vnd.oci.empty.v1+json"
	MediaTypeCosignSimpleSigning = "application/vnd.dev.cosign.simplesigning.v1+json"
)

// AnnotationPlaceholder marks, with the value PlaceholderMarker, the
// manifest of a placeholder image: the tiny image (an empty config, no
// layers) that tagsweep pushes onto a tag to take it off a shared digest on
// a registry that deletes only whole manifests (GHCR), and deletes right
// after. A tag still on one is the leftover of a run that stopped between
// the push and the delete. Every backend that reads a manifest with this
// annotation (and no layers) reports it as Manifest.Placeholder.
const (
	AnnotationPlaceholder = "dev.tagsweep.placeholder"
	PlaceholderMarker     = "true"
)

// IsIndex reports whether mediaType is an OCI image index or a Docker manifest list.
func IsIndex(mediaType string) bool {
	return mediaType == MediaTypeOCIIndex || mediaType == MediaTypeDockerList
}

// Blob is a content-addressed blob a manifest references (config or layer).
type Blob struct {
	Digest string
	Size   int64
}

// Manifest is one manifest stored in a repository, as tagsweep needs it.
type Manifest struct {
	// Digest is the sha256 of the stored manifest bytes.
	Digest string
	// MediaType is the manifest's media type.
	MediaType string
	// Size is the size of the manifest itself in bytes.
	Size int64
	// ArtifactType is the OCI artifactType (or config media type of a
	// non-image artifact); empty for plain images.
	ArtifactType string
	// Created is the raw creation time: the config "created" for an image,
	// the org.opencontainers.image.created annotation for an index or an
	// artifact. Zero when absent. The planner decides whether it is plausible.
	Created time.Time
	// Subject is the digest of the manifest this one refers to (OCI 1.1
	// "subject"), empty when none.
	Subject string
	// Children are the digests an index lists, in order (platform images,
	// nested indexes, buildx attestation manifests). Empty for images.
	Children []string
	// ChildInfo describes each child (platform or attestation), keyed by digest.
	ChildInfo map[string]string
	// Blobs are the config and layer blobs of an image manifest.
	Blobs []Blob
	// Placeholder reports a tagsweep placeholder image: an image manifest
	// with no layers and the AnnotationPlaceholder annotation. The planner
	// never ranks a tag on one; it deletes it as a leftover.
	Placeholder bool
}

// IsIndex reports whether m is an index.
func (m *Manifest) IsIndex() bool { return IsIndex(m.MediaType) }

// Raw is a manifest as the registry serves it: its bytes, whose sha256 is
// its digest, and its media type (the Content-Type).
type Raw struct {
	MediaType string
	Bytes     []byte
}

// Tag is one tag as the registry lists it. The OCI tag list gives only
// the name; vendor listing APIs also give the digest, the push time and
// whether the registry protects the tag.
type Tag struct {
	Name string
	// Digest is the manifest the listing says the tag points at; empty
	// when the listing does not tell (the engine then resolves the tag).
	Digest string
	// Pushed is when the registry says the tag was pushed; zero when it
	// does not tell.
	Pushed time.Time
	// Protected, when not empty, says why the registry refuses to delete
	// the tag (an immutability rule): the tag is kept with this reason.
	Protected string
}

// Names returns the names of tags.
func Names(tags []Tag) []string {
	out := make([]string, len(tags))
	for i, t := range tags {
		out[i] = t.Name
	}
	return out
}

// Untagged is a manifest without a tag, as a registry that can list them
// lists it (GHCR's package versions without tags; Harbor's artifacts
// without tags): its digest and when the registry says it was pushed.
type Untagged struct {
	Digest string
	// Pushed is the registry's push time; zero when it does not tell.
	Pushed time.Time
}
