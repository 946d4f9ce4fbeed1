package testregistry

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// ImageSpec describes a synthetic image for [BuildImage] and [PushImage].
// The same spec always yields the same digest.
type ImageSpec struct {
	// Created is the config's "created" time, written in UTC (RFC 3339).
	// The zero time is written as the zero value, 0001-01-01T00:00:00Z.
	Created time.Time
	// Layers is the number of the image's own random layers; 0 means 1,
	// a negative value means none (only SharedLayers).
	Layers int
	// LayerSize is the size in bytes of the random file in each own layer
	// (the blob is a gzipped tar of it); 0 means 1024.
	LayerSize int64
	// Seed derives the content of the own layers: different seeds give
	// different layers, the same seed the same layers (so two images with
	// the same Seed share their layer blobs even if their configs differ).
	Seed int64
	// SharedLayers are put below the image's own layers, e.g. a base image
	// shared with other images (see [SharedLayer]).
	SharedLayers []v1.Layer
	// Platform is written to the config (os, architecture, variant,
	// os.version). Nil means linux/amd64.
	Platform *v1.Platform
	// Docker selects Docker schema 2 media types (manifest, config and
	// layers) instead of OCI ones.
	Docker bool
	// Annotations are set on the manifest.
	Annotations map[string]string
}

// IndexSpec describes an image index (or Docker manifest list) for
// [BuildIndex] and [PushIndex]. Entries are listed in the order Children,
// Indexes, Addenda.
type IndexSpec struct {
	// Children are images; each entry's platform is taken from the image's
	// config.
	Children []v1.Image
	// Indexes are nested indexes.
	Indexes []v1.ImageIndex
	// Addenda are raw entries, for full control of the descriptors (Add may
	// be a v1.Image or a v1.ImageIndex).
	Addenda []mutate.IndexAddendum
	// Annotations are set on the index manifest.
	Annotations map[string]string
	// Docker selects the Docker manifest list media type instead of the OCI
	// image index one.
	Docker bool
}

// Media types used by the synthetic artifacts.
const (
	// MediaTypeEmpty is the OCI empty descriptor's media type, used as the
	// config of referrer artifacts. Its blob is "{}".
	MediaTypeEmpty = "application/vnd.oci.empty.v1+json"
	// MediaTypeCosignSimpleSigning is the layer media type of cosign ".sig"
	// images.
	MediaTypeCosignSimpleSigning = "application/vnd.dev.cosign.simplesigning.v1+json"
	// MediaTypeDSSE is the layer media type of cosign ".att" images.
	MediaTypeDSSE = "application/vnd.dsse.envelope.v1+json"
	// MediaTypeSPDX is the layer media type of cosign ".sbom" images.
	MediaTypeSPDX = "text/spdx+json"
)

func remoteOpts(ctx context.Context) []remote.Option {
	return []remote.Option{remote.WithContext(ctx)}
}

func parseRef(ref string) (name.Reference, error) {
	r, err := name.ParseReference(ref, name.Insecure, name.StrictValidation)
	if err != nil {
		return nil, fmt.Errorf("testregistry: parse reference %q: %w", ref, err)
	}
	return r, nil
}

func parseRepo(repo string) (name.Repository, error) {
	r, err := name.NewRepository(repo, name.Insecure, name.StrictValidation)
	if err != nil {
		return name.Repository{}, fmt.Errorf("testregistry: parse repository %q: %w", repo, err)
	}
	return r, nil
}

// SharedLayer returns a deterministic random layer (a gzipped tar holding one
// file of size bytes derived from seed) for use in ImageSpec.SharedLayers.
// docker selects the Docker layer media type instead of the OCI one.
func SharedLayer(seed, size int64, docker bool) (v1.Layer, error) {
	mt := types.OCILayer
	if docker {
		mt = types.DockerLayer
	}
	return random.Layer(size, mt, random.WithSource(rand.NewSource(seed)))
}

// BuildImage builds the image described by spec without pushing it.
func BuildImage(spec ImageSpec) (v1.Image, error) {
	n := spec.Layers
	if n == 0 {
		n = 1
	}
	size := spec.LayerSize
	if size <= 0 {
		size = 1024
	}
	created := v1.Time{Time: spec.Created.UTC()}

	base := empty.Image
	layerMT := types.DockerLayer
	if !spec.Docker {
		base = mutate.MediaType(base, types.OCIManifestSchema1)
		base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
		layerMT = types.OCILayer
	}

	var adds []mutate.Addendum
	for i, l := range spec.SharedLayers {
		adds = append(adds, mutate.Addendum{Layer: l, History: v1.History{
			Created:   created,
			CreatedBy: fmt.Sprintf("testregistry shared layer %d", i),
		}})
	}
	src := rand.NewSource(spec.Seed)
	for i := 0; i < n; i++ {
		l, err := random.Layer(size, layerMT, random.WithSource(src))
		if err != nil {
			return nil, fmt.Errorf("testregistry: random layer: %w", err)
		}
		adds = append(adds, mutate.Addendum{Layer: l, History: v1.History{
			Created:   created,
			CreatedBy: fmt.Sprintf("testregistry seed %d layer %d", spec.Seed, i),
		}})
	}
	img, err := mutate.Append(base, adds...)
	if err != nil {
		return nil, fmt.Errorf("testregistry: append layers: %w", err)
	}

	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("testregistry: config: %w", err)
	}
	cfg := cf.DeepCopy()
	cfg.Created = created
	p := spec.Platform
	if p == nil {
		p = &v1.Platform{OS: "linux", Architecture: "amd64"}
	}
	cfg.OS, cfg.Architecture, cfg.Variant, cfg.OSVersion = p.OS, p.Architecture, p.Variant, p.OSVersion
	cfg.OSFeatures = append([]string(nil), p.OSFeatures...)
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, fmt.Errorf("testregistry: set config: %w", err)
	}
	if len(spec.Annotations) > 0 {
		img = mutate.Annotations(img, spec.Annotations).(v1.Image)
	}
	return img, nil
}

// PushImage builds the image described by spec and pushes it to ref (a tag
// or digest reference such as "127.0.0.1:5000/app:v1"). It returns the
// manifest digest.
func PushImage(ctx context.Context, ref string, spec ImageSpec) (v1.Hash, error) {
	r, err := parseRef(ref)
	if err != nil {
		return v1.Hash{}, err
	}
	img, err := BuildImage(spec)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := remote.Write(r, img, remoteOpts(ctx)...); err != nil {
		return v1.Hash{}, fmt.Errorf("testregistry: push %s: %w", ref, err)
	}
	return img.Digest()
}

// BuildIndex builds the index described by spec without pushing it.
func BuildIndex(spec IndexSpec) (v1.ImageIndex, error) {
	var base v1.ImageIndex = empty.Index
	if spec.Docker {
		base = mutate.IndexMediaType(base, types.DockerManifestList)
	}
	var adds []mutate.IndexAddendum
	for i, img := range spec.Children {
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("testregistry: child %d config: %w", i, err)
		}
		adds = append(adds, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: cf.Platform()},
		})
	}
	for _, idx := range spec.Indexes {
		adds = append(adds, mutate.IndexAddendum{Add: idx})
	}
	adds = append(adds, spec.Addenda...)
	idx := mutate.AppendManifests(base, adds...)
	if len(spec.Annotations) > 0 {
		idx = mutate.Annotations(idx, spec.Annotations).(v1.ImageIndex)
	}
	return idx, nil
}

// PushIndex builds the index described by spec and pushes it, with all its
// children (recursively), to ref. It returns the index digest.
func PushIndex(ctx context.Context, ref string, spec IndexSpec) (v1.Hash, error) {
	r, err := parseRef(ref)
	if err != nil {
		return v1.Hash{}, err
	}
	idx, err := BuildIndex(spec)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := remote.WriteIndex(r, idx, remoteOpts(ctx)...); err != nil {
		return v1.Hash{}, fmt.Errorf("testregistry: push index %s: %w", ref, err)
	}
	return idx.Digest()
}

// Tag points the tag ref (e.g. "127.0.0.1:5000/app:latest") at the manifest
// that src (a tag or digest reference in the same repository) resolves to.
func Tag(ctx context.Context, ref string, src string) error {
	t, err := name.NewTag(ref, name.Insecure, name.StrictValidation)
	if err != nil {
		return fmt.Errorf("testregistry: parse tag %q: %w", ref, err)
	}
	s, err := parseRef(src)
	if err != nil {
		return err
	}
	desc, err := remote.Get(s, remoteOpts(ctx)...)
	if err != nil {
		return fmt.Errorf("testregistry: get %s: %w", src, err)
	}
	if err := remote.Tag(t, desc, remoteOpts(ctx)...); err != nil {
		return fmt.Errorf("testregistry: tag %s: %w", ref, err)
	}
	return nil
}

// Digest returns the digest of the manifest ref resolves to (HEAD with every
// manifest media type accepted).
func Digest(ctx context.Context, ref string) (v1.Hash, error) {
	d, err := Descriptor(ctx, ref)
	if err != nil {
		return v1.Hash{}, err
	}
	return d.Digest, nil
}

// Descriptor returns the descriptor (media type, digest, size) of the
// manifest ref resolves to, e.g. for use as a referrer's subject.
func Descriptor(ctx context.Context, ref string) (v1.Descriptor, error) {
	r, err := parseRef(ref)
	if err != nil {
		return v1.Descriptor{}, err
	}
	d, err := remote.Head(r, remoteOpts(ctx)...)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("testregistry: head %s: %w", ref, err)
	}
	return *d, nil
}

// CosignTag returns the legacy cosign tag for an artifact attached to
// subject: "sha256-<hex>.<suffix>".
func CosignTag(subject v1.Hash, suffix string) string {
	return fmt.Sprintf("%s-%s.%s", subject.Algorithm, subject.Hex, suffix)
}

// FallbackTag returns the OCI referrers tag schema tag for subject:
// "sha256-<hex>".
func FallbackTag(subject v1.Hash) string {
	return fmt.Sprintf("%s-%s", subject.Algorithm, subject.Hex)
}

// PushCosignSignature pushes a cosign-like image attached to subject under
// the legacy tag scheme, repo:sha256-<hex>.<suffix> ([CosignTag]). suffix
// is "sig", "att" or "sbom" (anything else gets an application/octet-stream
// layer). The image is an OCI manifest with an OCI image config and one
// small layer whose media type and annotations mimic cosign's; seed varies
// its content. An existing tag is overwritten (cosign would append a layer).
// It returns the pushed manifest's digest.
func PushCosignSignature(ctx context.Context, repo string, subject v1.Hash, suffix string, seed int64) (v1.Hash, error) {
	rp, err := parseRepo(repo)
	if err != nil {
		return v1.Hash{}, err
	}
	tag := rp.Tag(CosignTag(subject, suffix))

	sum := sha256.Sum256(fmt.Appendf(nil, "%d/%s/%s", seed, subject, suffix))
	var (
		mt      types.MediaType
		payload []byte
		ann     map[string]string
	)
	switch suffix {
	case "sig":
		mt = MediaTypeCosignSimpleSigning
		payload, err = json.Marshal(map[string]any{
			"critical": map[string]any{
				"identity": map[string]string{"docker-reference": rp.Name()},
				"image":    map[string]string{"docker-manifest-digest": subject.String()},
				"type":     "cosign container image signature",
			},
			"optional": map[string]any{"seed": seed},
		})
		ann = map[string]string{"dev.cosignproject.cosign/signature": base64.StdEncoding.EncodeToString(sum[:])}
	case "att":
		mt = MediaTypeDSSE
		payload, err = json.Marshal(map[string]any{
			"payloadType": "application/vnd.in-toto+json",
			"payload":     base64.StdEncoding.EncodeToString(fmt.Appendf(nil, `{"subject":[{"digest":{"sha256":%q}}],"seed":%d}`, subject.Hex, seed)),
			"signatures":  []map[string]string{{"sig": base64.StdEncoding.EncodeToString(sum[:])}},
		})
		ann = map[string]string{"predicateType": "https://slsa.dev/provenance/v0.2"}
	case "sbom":
		mt = MediaTypeSPDX
		payload, err = json.Marshal(map[string]any{
			"spdxVersion": "SPDX-2.3",
			"name":        subject.String(),
			"comment":     fmt.Sprintf("seed %d", seed),
		})
	default:
		mt = "application/octet-stream"
		payload = sum[:]
	}
	if err != nil {
		return v1.Hash{}, err
	}

	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:       static.NewLayer(payload, mt),
		Annotations: ann,
	})
	if err != nil {
		return v1.Hash{}, err
	}
	if err := remote.Write(tag, img, remoteOpts(ctx)...); err != nil {
		return v1.Hash{}, fmt.Errorf("testregistry: push %s: %w", tag, err)
	}
	return img.Digest()
}

// ReferrerOption adjusts [PushReferrer].
type ReferrerOption func(*referrerOptions)

type referrerOptions struct {
	noFallback      bool
	configMediaType string
	annotations     map[string]string
}

// WithoutFallbackTag makes [PushReferrer] store the referrer manifest only,
// without touching the referrers fallback tag (see PushReferrer). On a
// registry without the referrers API the referrer is then invisible to
// referrers discovery, like one pushed by a tool that does not maintain the
// fallback tag.
func WithoutFallbackTag() ReferrerOption {
	return func(o *referrerOptions) { o.noFallback = true }
}

// WithConfigMediaType sets the referrer's config media type (the config blob
// stays "{}"). The default is [MediaTypeEmpty]. Setting it to the
// artifactType makes go-containerregistry's in-memory registry, which reports
// config.mediaType as a referrer's artifactType, agree with other registries.
func WithConfigMediaType(mt string) ReferrerOption {
	return func(o *referrerOptions) { o.configMediaType = mt }
}

// WithReferrerAnnotations sets annotations on the referrer manifest (they
// are also copied into referrers listings).
func WithReferrerAnnotations(a map[string]string) ReferrerOption {
	return func(o *referrerOptions) { o.annotations = maps.Clone(a) }
}

// BuildReferrer builds the OCI 1.1 artifact manifest that [PushReferrer]
// pushes: mediaType application/vnd.oci.image.manifest.v1+json, the given
// artifactType, an empty ("{}") config of media type [MediaTypeEmpty] (or
// per [WithConfigMediaType]), one small layer of media type artifactType
// whose content derives from seed, and subject.
func BuildReferrer(subject v1.Descriptor, artifactType string, seed int64, opts ...ReferrerOption) (v1.Image, error) {
	o := referrerOptions{configMediaType: MediaTypeEmpty}
	for _, opt := range opts {
		opt(&o)
	}
	return newReferrer(subject, artifactType, seed, o)
}

// newReferrer builds the artifact that refers to subject.
func newReferrer(subject v1.Descriptor, artifactType string, seed int64, o referrerOptions) (*artifact, error) {
	if artifactType == "" {
		return nil, fmt.Errorf("testregistry: referrer artifactType must not be empty")
	}
	return newArtifact(ArtifactSpec{ArtifactType: artifactType, ConfigMediaType: o.configMediaType, Seed: seed, Annotations: o.annotations}, &subject)
}

// PushReferrer pushes an OCI 1.1 artifact manifest ([BuildReferrer]) whose
// subject is subject (give mediaType, digest and size, e.g. from
// [Descriptor]) into repo, by digest only when tag is "", else under tag. It
// returns the artifact's digest.
//
// Referrers fallback tag: go-containerregistry (v0.22.1) already maintains
// it. After the manifest PUT it probes GET /v2/<repo>/referrers/<subject>;
// when the registry answers 404 or 400 (distribution v3 and 2.8, which have
// no referrers API) it reads the OCI index tagged sha256-<subject hex>
// ([FallbackTag]), adds the new descriptor (with artifactType and
// annotations) unless present, sorts by digest and writes it back. With
// [WithoutFallbackTag] the manifest is PUT directly instead and the fallback
// tag is left alone. On a registry with the referrers API nothing else is
// written. The fallback update is an unconditional read-modify-write, so
// concurrent PushReferrer calls for the same subject can lose entries:
// push referrers of one subject sequentially.
func PushReferrer(ctx context.Context, repo string, subject v1.Descriptor, artifactType string, seed int64, tag string, opts ...ReferrerOption) (v1.Hash, error) {
	o := referrerOptions{configMediaType: MediaTypeEmpty}
	for _, opt := range opts {
		opt(&o)
	}
	rp, err := parseRepo(repo)
	if err != nil {
		return v1.Hash{}, err
	}
	art, err := newReferrer(subject, artifactType, seed, o)
	if err != nil {
		return v1.Hash{}, err
	}
	dgst, err := art.Digest()
	if err != nil {
		return v1.Hash{}, err
	}
	var ref name.Reference = rp.Digest(dgst.String())
	if tag != "" {
		ref = rp.Tag(tag)
	}
	if !o.noFallback {
		if err := remote.Write(ref, art, remoteOpts(ctx)...); err != nil {
			return v1.Hash{}, fmt.Errorf("testregistry: push referrer %s: %w", ref, err)
		}
		return dgst, nil
	}
	for _, l := range []v1.Layer{art.configLayer, art.layer} {
		if err := remote.WriteLayer(rp, l, remoteOpts(ctx)...); err != nil {
			return v1.Hash{}, fmt.Errorf("testregistry: push referrer blob: %w", err)
		}
	}
	if err := putManifest(ctx, ref, art.raw, types.OCIManifestSchema1); err != nil {
		return v1.Hash{}, fmt.Errorf("testregistry: push referrer %s: %w", ref, err)
	}
	return dgst, nil
}

// PushFallbackIndex writes an OCI image index listing referrers to the
// referrers fallback tag of subject in repo ([FallbackTag]), replacing
// whatever the tag pointed at, without probing the referrers API. Use it to
// build stale or hand-made fallback indexes. Registries that validate
// indexes (distribution v3 by default) reject entries whose manifests do not
// exist in repo. It returns the index digest.
func PushFallbackIndex(ctx context.Context, repo string, subject v1.Hash, referrers []v1.Descriptor) (v1.Hash, error) {
	rp, err := parseRepo(repo)
	if err != nil {
		return v1.Hash{}, err
	}
	im := v1.IndexManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIImageIndex,
		Manifests:     append([]v1.Descriptor{}, referrers...),
	}
	raw, err := json.Marshal(im)
	if err != nil {
		return v1.Hash{}, err
	}
	h, _, err := v1.SHA256(bytesReader(raw))
	if err != nil {
		return v1.Hash{}, err
	}
	if err := putManifest(ctx, rp.Tag(FallbackTag(subject)), raw, types.OCIImageIndex); err != nil {
		return v1.Hash{}, fmt.Errorf("testregistry: push fallback index: %w", err)
	}
	return h, nil
}
