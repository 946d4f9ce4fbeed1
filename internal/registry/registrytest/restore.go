package registrytest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/image"
)

func raw(mediaType string, b []byte) *image.Raw { return &image.Raw{MediaType: mediaType, Bytes: b} }

// checkRawManifest: RawManifest serves every seeded manifest as bytes that
// hash to its digest, with the media type Manifest reports; a missing
// digest is ErrNotFound.
func checkRawManifest(ctx context.Context, r *run) error {
	for _, d := range append([]string{r.w.a, r.w.b, r.w.idx, r.w.ref}, r.w.kids...) {
		raw, err := r.b().RawManifest(ctx, Repo, d)
		if err != nil {
			r.errorf("RawManifest(%s, %s): %v", Repo, d, err)
			continue
		}
		h := sha256.Sum256(raw.Bytes)
		if got := "sha256:" + hex.EncodeToString(h[:]); got != d {
			r.errorf("RawManifest(%s, %s) serves bytes that hash to %s", Repo, d, got)
		}
		m, err := r.b().Manifest(ctx, Repo, d)
		if err != nil {
			r.errorf("Manifest(%s, %s): %v", Repo, d, err)
		} else if raw.MediaType != m.MediaType {
			r.errorf("RawManifest(%s, %s) media type %q, Manifest says %q", Repo, d, raw.MediaType, m.MediaType)
		}
	}
	_, err := r.b().RawManifest(ctx, Repo, missingDigest)
	r.notFound("RawManifest of a missing digest", err)
	return r.done()
}

// restorer is the target's Restorer; Suite.Restorer claims it is one.
func (r *run) restorer() (registry.Restorer, error) {
	rs, ok := r.b().(registry.Restorer)
	if !ok {
		return nil, fmt.Errorf("the suite claims a registry.Restorer; %T is not one", r.b())
	}
	return rs, nil
}

// checkBlobExists: BlobExists finds the config and layers of a seeded
// image, and not a blob nobody pushed.
func checkBlobExists(ctx context.Context, r *run) error {
	rs, err := r.restorer()
	if err != nil {
		return err
	}
	m, err := rs.Manifest(ctx, Repo, r.w.a)
	if err != nil {
		return err
	}
	for _, bl := range m.Blobs {
		if ok, err := rs.BlobExists(ctx, Repo, bl.Digest); !ok || err != nil {
			r.errorf("BlobExists(%s, %s) = %v, %v; want true", Repo, bl.Digest, ok, err)
		}
	}
	if ok, err := rs.BlobExists(ctx, Repo, missingDigest); ok || err != nil {
		r.errorf("BlobExists of a missing blob = %v, %v; want false", ok, err)
	}
	return r.done()
}

// checkPutBack: what DeleteDigest deleted (an image and an index with its
// children) comes back as it was: by the vendor's handle where the backend
// is an Undeleter, else with PutManifest by digest (children first), and
// the tags with PutManifest by tag. The registry then holds what it held.
func checkPutBack(ctx context.Context, r *run) error {
	rs, err := r.restorer()
	if err != nil {
		return err
	}
	r.list(ctx)
	order := append(append([]string{}, r.w.kids...), r.w.idx, r.w.b) // children first
	raws := map[string][]byte{}
	mts := map[string]string{}
	handles := map[string]string{}
	for _, d := range order {
		raw, err := rs.RawManifest(ctx, Repo, d)
		if err != nil {
			return fmt.Errorf("RawManifest(%s): %w", d, err)
		}
		raws[d], mts[d] = raw.Bytes, raw.MediaType
		if h, ok := rs.(registry.Handles); ok {
			handles[d] = h.Handle(Repo, d)
		}
	}
	tagOf := map[string]string{r.w.idx: "idx", r.w.b: "b"}
	for _, d := range []string{r.w.b, r.w.idx, r.w.kids[0], r.w.kids[1]} { // parents first
		var tags []string
		if t := tagOf[d]; t != "" {
			tags = []string{t}
		}
		if err := rs.DeleteDigest(ctx, Repo, d, tags); err != nil && !errors.Is(err, registry.ErrNotFound) {
			return fmt.Errorf("DeleteDigest(%s): %w", d, err)
		}
	}
	for _, d := range order {
		if ok, err := rs.Exists(ctx, Repo, d); err != nil || ok {
			if err != nil {
				r.errorf("Exists(%s): %v", d, err)
			}
			continue // a registry that deletes tags only keeps it
		}
		u, undeletes := rs.(registry.Undeleter)
		if undeletes && handles[d] != "" {
			if err := u.Undelete(ctx, Repo, d, handles[d]); err != nil {
				r.errorf("Undelete(%s, handle %s): %v", d, handles[d], err)
			}
			continue
		}
		if err := rs.PutManifest(ctx, Repo, d, raw(mts[d], raws[d])); err != nil {
			r.errorf("PutManifest(%s by digest): %v", d, err)
		}
	}
	for d, tag := range tagOf {
		if cur, err := rs.Resolve(ctx, Repo, tag); err == nil && cur == d {
			continue // the registry put the tag back with the manifest
		}
		if err := rs.PutManifest(ctx, Repo, tag, raw(mts[d], raws[d])); err != nil {
			r.errorf("PutManifest(%s by tag %s): %v", d, tag, err)
		}
	}
	r.expect(ctx, "after putting back what DeleteDigest deleted", r.w.truth)
	return r.done()
}
