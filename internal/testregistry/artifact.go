package testregistry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
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

func newArtifact(subject v1.Descriptor, artifactType string, seed int64, o referrerOptions) (*artifact, error) {
	if artifactType == "" {
		return nil, fmt.Errorf("testregistry: referrer artifactType must not be empty")
	}
	config := []byte("{}")
	configLayer := static.NewLayer(config, types.MediaType(o.configMediaType))
	payload, err := json.Marshal(map[string]any{
		"artifactType": artifactType,
		"subject":      subject.Digest.String(),
		"seed":         seed,
	})
	if err != nil {
		return nil, err
	}
	layer := static.NewLayer(payload, types.MediaType(artifactType))

	cdesc, err := partial.Descriptor(configLayer)
	if err != nil {
		return nil, err
	}
	ldesc, err := partial.Descriptor(layer)
	if err != nil {
		return nil, err
	}
	sub := subject
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  artifactType,
		Config:        *cdesc,
		Layers:        []v1.Descriptor{*ldesc},
		Subject:       &sub,
		Annotations:   maps.Clone(o.annotations),
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
