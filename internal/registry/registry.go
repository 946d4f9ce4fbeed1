// Package registry defines what tagsweep needs from a container registry:
// the Backend interface (over the model in registry/image), and the
// sentinel errors every backend maps registry answers to.
//
// Vendor quirks live in the vendor packages (one registry/<vendor> package
// each, listed in registry/vendors); registry/oci speaks the generic
// distribution API and names no vendor; the engine and the planner never
// name one either.
package registry

import (
	"context"

	"github.com/tagsweep/tagsweep/internal/registry/image"
)

// Capabilities are what a backend knows about the registry it talks to.
type Capabilities struct {
	// GCHint tells how the operator frees the space after deletions.
	GCHint string
	// FreesSpace: the registry frees the space of deleted manifests on
	// its own (GHCR, the cloud registries); GCHint then says how, and no
	// garbage collector is to be run.
	FreesSpace bool
	// Pushed reports whether Tags gives push times (age-source: pushed).
	Pushed bool
	// ListsUntagged reports whether the backend is an UntaggedLister that
	// lists every manifest without a tag (GHCR's untagged package
	// versions). Where it does not (the OCI API lists tags only), a
	// manifest left untagged by an overwritten tag is unseen, and
	// reclaimed-bytes may count layers it still holds.
	ListsUntagged bool
	// UntaggedHint says how untagged manifests are removed on a registry
	// whose API cannot list them (delete-untagged cannot): the registry's
	// own way (distribution's `registry garbage-collect --delete-untagged`).
	UntaggedHint string
	// LastTagged, when set, is the registry's rule, in its words, that it
	// refuses to delete the last tagged manifest of a repository (GHCR:
	// the last tagged version of a package): the planner keeps the newest
	// one (policy.Input.LastTagged).
	LastTagged string
}

// UntaggedLister is a Backend that can list the manifests of a repository
// that no tag points at.
type UntaggedLister interface {
	// Untagged returns repo's manifests without a tag, with the push time
	// the registry gives each (zero when it gives none), as of the last
	// Tags listing of repo where the backend keeps one. It returns
	// ErrUntaggedUnsupported where the registry cannot tell.
	Untagged(ctx context.Context, repo string) ([]image.Untagged, error)
}

// Pacer is a Backend that paces its deletions ahead of the registry's
// rate limits (GHCR: GitHub's secondary limits and the token's hourly
// budget).
type Pacer interface {
	// Pacing says how deletions are paced, when the pace held one back
	// since the last call ("" when none was): the run's progress line
	// says it.
	Pacing() string
}

// Backend hides registry-specific behaviour. Implementations are safe for
// concurrent use, handle pagination, auth and retries themselves, and map
// every registry error to the sentinels in errors.go.
type Backend interface {
	// Repositories lists the repositories of the registry (catalog).
	Repositories(ctx context.Context) ([]string, error)
	// Tags lists every tag of repo.
	Tags(ctx context.Context, repo string) ([]image.Tag, error)
	// Manifest fetches the manifest ref (a tag or a digest) with the full
	// Accept set, and for an image its config to learn the creation time.
	Manifest(ctx context.Context, repo, ref string) (*image.Manifest, error)
	// RawManifest GETs the manifest digest with the full Accept set and
	// returns it as served, checked against its digest: what the undo
	// file keeps of a manifest before it is deleted.
	RawManifest(ctx context.Context, repo, digest string) (*image.Raw, error)
	// Resolve returns the digest a tag points at now (HEAD, full Accept set).
	Resolve(ctx context.Context, repo, tag string) (string, error)
	// Exists reports whether a manifest with this digest exists in repo.
	Exists(ctx context.Context, repo, digest string) (bool, error)
	// Referrers lists the digests of the manifests whose subject is digest,
	// through the OCI 1.1 referrers API. It returns ErrReferrersUnsupported
	// when the registry has no such API (then the tag schema applies).
	Referrers(ctx context.Context, repo, digest string) ([]string, error)
	// TagDeleteSupported reports whether the registry can delete a single
	// tag without deleting the manifest (OCI 1.1 DELETE by tag). It must
	// not delete anything. A registry that refuses counts as unsupported.
	TagDeleteSupported(ctx context.Context, repo string) (bool, error)
	// DeleteTag removes one tag; the manifest survives.
	DeleteTag(ctx context.Context, repo, tag string) error
	// DeleteDigest deletes a manifest by digest; every tag on it goes too.
	// tags are the tags the engine last saw on it: a registry that refuses
	// to delete a tagged manifest (Artifact Registry, Docker Hub) removes
	// them first.
	DeleteDigest(ctx context.Context, repo, digest string, tags []string) error
	// Capabilities describes the registry.
	Capabilities() Capabilities
}

// Restorer is a Backend that can put back what a sweep deleted (tagsweep
// restore): every registry-API backend is one.
type Restorer interface {
	Backend
	// BlobExists reports whether repo holds the blob digest (HEAD).
	BlobExists(ctx context.Context, repo, digest string) (bool, error)
	// PutManifest uploads raw under ref (its digest, or a tag to point at
	// it). The registry refuses a manifest whose blobs or children it does
	// not hold.
	PutManifest(ctx context.Context, repo, ref string, raw *image.Raw) error
}

// Undeleter is a Restorer whose registry keeps what it deleted, and brings
// a manifest back by the vendor's own handle of it (GHCR restores a
// deleted package version for 30 days): its blobs come back with it.
type Undeleter interface {
	// Undelete restores the manifest digest of repo that handle names. It
	// returns ErrNotFound when the registry no longer has it to restore.
	Undelete(ctx context.Context, repo, digest, handle string) error
}

// Handles is a Backend that knows the vendor's own handle of a manifest
// (GHCR's package version id), for the undo file.
type Handles interface {
	// Handle returns the handle of the manifest digest of repo, as of the
	// last listing; "" when it knows none.
	Handle(repo, digest string) string
}
