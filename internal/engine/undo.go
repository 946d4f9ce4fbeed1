package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/tagsweep/tagsweep/internal/policy"
	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/image"
	"github.com/tagsweep/tagsweep/internal/undo"
)

// journal gives the Journal, before a deletion, what undoes it: the
// manifest digest as the registry serves it now (one GET: the run keeps no
// manifest's bytes, only its parsed model), what goes (the manifest and
// its tags, or the tags alone), the indexes that list it, its subject and
// the vendor's handle. An error means the deletion must not be sent. A
// manifest that is gone already needs no entry: its deletion finds it gone.
func (x *execution) journal(ctx context.Context, b registry.Backend, digest string, kind undo.Kind, tags []string) error {
	j := x.e.o.Undo
	if j == nil {
		return nil
	}
	raw, err := b.RawManifest(ctx, x.repo, digest)
	if errors.Is(err, registry.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("not deleted: could not read %s for the undo file: %w", digest, err)
	}
	e := undo.Entry{Time: x.e.o.Now().UTC(), Registry: x.e.o.Registry, Repository: x.repo, Digest: digest, MediaType: raw.MediaType,
		Deleted: kind, Tags: append([]string{}, tags...), Parents: x.parents[digest], Subject: x.subject(digest, tags), Provider: x.e.o.Provider}
	slices.Sort(e.Tags)
	e.SetBytes(raw.Bytes)
	if x.e.handles != nil {
		e.Handle = x.e.handles.Handle(x.repo, digest)
	}
	if err := j.Write(e); err != nil {
		return fmt.Errorf("not deleted: the undo file could not take it: %w", err)
	}
	return nil
}

// subject is what digest refers to: its OCI subject, else the digest its
// sha256-<hex> tag names (a cosign signature, attestation or SBOM).
func (x *execution) subject(digest string, tags []string) string {
	if m := x.in.Manifests[digest]; m != nil && m.Subject != "" {
		return m.Subject
	}
	for _, t := range tags {
		if s := policy.SubjectOf(t); s != "" {
			return s
		}
	}
	return ""
}

// parentsOf maps every digest an index of ms lists to those indexes, sorted.
func parentsOf(ms map[string]*image.Manifest) map[string][]string {
	out := map[string][]string{}
	for d, m := range ms {
		for _, c := range m.Children {
			if !slices.Contains(out[c], d) {
				out[c] = append(out[c], d)
			}
		}
	}
	for _, ps := range out {
		slices.Sort(ps)
	}
	return out
}
