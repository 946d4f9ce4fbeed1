package testregistry

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// artifact is an OCI 1.1 artifact manifest with a raw config blob. mutate
// cannot set a manifest's artifactType, so the manifest is written by hand
// and wrapped with partial.CompressedToImage.
type artifact struct {
	v1.Image
	raw         []byte
	configLayer v1.Layer
	layer       v1.Layer
}

type artifactCore struct {
	raw    []byte
	config []byte
	blobs  map[v1.Hash]v1.Layer
}

// RawConfigFile implements partial.CompressedImageCore.
func (c *artifactCore) RawConfigFile() ([]byte, error) { return c.config, nil }

// MediaType implements partial.CompressedImageCore.
func (c *artifactCore) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

// RawManifest implements partial.CompressedImageCore.
func (c *artifactCore) RawManifest() ([]byte, error) { return c.raw, nil }

// LayerByDigest implements partial.CompressedImageCore; it also serves the
// config blob.
func (c *artifactCore) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if l, ok := c.blobs[h]; ok {
		return l, nil
	}
	return nil, fmt.Errorf("testregistry: artifact has no blob %s", h)
}

// ArtifactSpec describes an OCI artifact that is not an image, as oras and
// helm push them: an image manifest whose config is no image config (so
// it has no "created"), one layer, and manifest annotations (oras writes
// org.opencontainers.image.created there).
type ArtifactSpec struct {
	// ArtifactType is the manifest's artifactType; "" leaves it out, as
	// helm does (its config media type says what it is).
	ArtifactType string
	// ConfigMediaType is the config's media type. The default is
	// [MediaTypeEmpty].
	ConfigMediaType string
	// Config is the config blob. The default is "{}".
	Config []byte
	// LayerMediaType is the media type of the one layer. The default is
	// ArtifactType.
	LayerMediaType string
	// Seed derives the layer's content.
	Seed int64
	// Annotations are set on the manifest.
	Annotations map[string]string
}

// Media types of the artifacts [HelmChart] and [SBOM] describe: Helm's
// config and chart layer, and the SPDX JSON document type oras users give
// as --artifact-type.
const (
	MediaTypeHelmConfig = "application/vnd.cncf.helm.config.v1+json"
	MediaTypeHelmChart  = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
	MediaTypeSPDXJSON   = "application/spdx+json"
)

// HelmChart is a Helm chart pushed oras-style: the manifest `helm push`
// writes (no artifactType, a Helm config naming the chart, the chart
// archive as the layer) with, when created is not zero, the
// org.opencontainers.image.created annotation (RFC 3339, UTC) that oras
// adds.
func HelmChart(name, version string, created time.Time) ArtifactSpec {
	return ArtifactSpec{
		ConfigMediaType: MediaTypeHelmConfig,
		Config:          []byte(fmt.Sprintf(`{"name":%q,"version":%q,"apiVersion":"v2"}`, name, version)),
		LayerMediaType:  MediaTypeHelmChart,
		Seed:            int64(len(name)) + created.Unix(),
		Annotations:     createdAnnotation(created),
	}
}

// SBOM is an SPDX document as `oras push --artifact-type
// application/spdx+json` stores it, with no subject: the empty config,
// the document as the layer, and (non-zero) created as the
// org.opencontainers.image.created annotation, which oras writes.
func SBOM(created time.Time, seed int64) ArtifactSpec {
	return ArtifactSpec{ArtifactType: MediaTypeSPDXJSON, Seed: seed, Annotations: createdAnnotation(created)}
}

func createdAnnotation(created time.Time) map[string]string {
	if created.IsZero() {
		return nil
	}
	return map[string]string{"org.opencontainers.image.created": created.UTC().Format(time.RFC3339)}
}

// BuildArtifact builds the artifact described by spec without pushing it.
func BuildArtifact(spec ArtifactSpec) (v1.Image, error) {
	return newArtifact(spec, nil)
}

// PushArtifact builds the artifact described by spec and pushes it, with
// its blobs, to ref (a tag or digest reference). It returns its digest.
func PushArtifact(ctx context.Context, ref string, spec ArtifactSpec) (v1.Hash, error) {
	r, err := parseRef(ref)
	if err != nil {
		return v1.Hash{}, err
	}
	art, err := newArtifact(spec, nil)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := remote.Write(r, art, remoteOpts(ctx)...); err != nil {
		return v1.Hash{}, fmt.Errorf("testregistry: push artifact %s: %w", ref, err)
	}
	return art.Digest()
}

// newArtifact builds the artifact of spec, a referrer of subject when
// subject is not nil.
func newArtifact(spec ArtifactSpec, subject *v1.Descriptor) (*artifact, error) {
	if spec.LayerMediaType == "" {
		spec.LayerMediaType = spec.ArtifactType
	}
	if spec.LayerMediaType == "" {
		return nil, fmt.Errorf("testregistry: an artifact needs an artifactType or a layer media type")
	}
	config := spec.Config
	if config == nil {
		config = []byte("{}")
	}
	configLayer := static.NewLayer(config, types.MediaType(cmp.Or(spec.ConfigMediaType, MediaTypeEmpty)))
	sub := ""
	if subject != nil {
		sub = subject.Digest.String()
	}
	payload, err := json.Marshal(map[string]any{
		"artifactType": spec.ArtifactType,
		"subject":      sub,
		"seed":         spec.Seed,
	})
	if err != nil {
		return nil, err
	}
	layer := static.NewLayer(payload, types.MediaType(spec.LayerMediaType))

	cdesc, err := partial.Descriptor(configLayer)
	if err != nil {
		return nil, err
	}
	ldesc, err := partial.Descriptor(layer)
	if err != nil {
		return nil, err
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  spec.ArtifactType,
		Config:        *cdesc,
		Layers:        []v1.Descriptor{*ldesc},
		Subject:       subject,
		Annotations:   maps.Clone(spec.Annotations),
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	img, err := partial.CompressedToImage(&artifactCore{
		raw:    raw,
		config: config,
		blobs:  map[v1.Hash]v1.Layer{cdesc.Digest: configLayer, ldesc.Digest: layer},
	})
	if err != nil {
		return nil, err
	}
	return &artifact{Image: img, raw: raw, configLayer: configLayer, layer: layer}, nil
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
