package acr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/image"
	"github.com/tagsweep/tagsweep/internal/registry/oci"
	"github.com/tagsweep/tagsweep/internal/registry/restapi"
)

// pageSize is the n of ACR's listings, as acr-cli and az acr ask
// (Azure/acr-cli cmd/repository/image_functions.go; azure-cli
// repository.py, page size 100).
const pageSize = 100

// Token actions (Azure/acr docs/Token-BasicAuth.md; the scope-map
// permissions content/read, metadata/read, content/delete and
// metadata/write). The listings need metadata_read; the untag is
// `delete` for az acr repository untag (azure-cli repository.py
// acr_repository_untag) and metadata/write in the token docs
// (container-registry-token-based-repository-permissions), so both are
// asked, as acr-cli does (buildAbacScope); the token service grants what
// the principal holds.
var (
	listActions  = []string{"pull", "metadata_read"}
	untagActions = []string{"pull", "delete", "metadata_read", "metadata_write"}
)

const needUntag = "delete on the repository (the AcrDelete role, or a token whose scope map has content/delete and metadata/write)"

// Backend is ACR: the registry API of oci.Backend, with tags listed and
// removed through ACR's metadata API on the registry's own host:
//   - GET /acr/v1/{name}: the repository's changeable attributes (a
//     locked repository locks every image in it);
//     GET /acr/v1/{name}/_tags: each tag's digest and changeable
//     attributes; GET /acr/v1/{name}/_manifests: each manifest's
//     (Azure/azure-rest-api-specs containerregistry data-plane
//     2021-07-01, GetTagList, GetManifests; paged with n and last, the
//     Link header rel="next"). A tag or manifest with writeEnabled or
//     deleteEnabled false is locked: ACR refuses to delete it with 405
//     REGISTRY_DISALLOWED_OPERATION (Azure/acr-cli#70), so it is planned
//     kept from the listing, in the dry run too (acr purge skips them
//     before deleting: Azure/acr-cli#134, fixed by #135).
//   - DELETE /acr/v1/{name}/_tags/{reference} removes one tag, the
//     manifest stays (202; `az acr repository untag`): a stale tag
//     sharing a kept digest is removed instead of kept.
//
// It authenticates as the registry API does (oci.Backend.HostClient). It
// is safe for concurrent use.
type Backend struct {
	*oci.Backend
}

var _ registry.Backend = (*Backend)(nil)

// New returns the ACR backend over the registry API backend reg.
func New(reg *oci.Backend) *Backend { return &Backend{Backend: reg} }

// TagDeleteSupported is true: the untag API removes single tags. No
// request is sent.
func (b *Backend) TagDeleteSupported(context.Context, string) (bool, error) { return true, nil }

type attributes struct {
	DeleteEnabled *bool `json:"deleteEnabled"`
	WriteEnabled  *bool `json:"writeEnabled"`
}

// locked: writeEnabled or deleteEnabled false "will block image deletion"
// (container-registry-image-lock); an attribute not sent is not a lock.
func (a attributes) locked() bool {
	return (a.DeleteEnabled != nil && !*a.DeleteEnabled) || (a.WriteEnabled != nil && !*a.WriteEnabled)
}

// list GETs every page of an /acr/v1 listing of repo, following the Link
// header on the registry's host.
func (b *Backend) list(ctx context.Context, repo, what string, page func([]byte) error) error {
	c, base, err := b.HostClient(ctx, repo, listActions...)
	if err != nil {
		return err
	}
	next := fmt.Sprintf("/acr/v1/%s/%s?n=%d", repo, what, pageSize)
	op := fmt.Sprintf("list the %s of %s", what, repo)
	for n := 0; next != ""; n++ {
		if n > 100000 {
			return fmt.Errorf("%s: more than 100000 pages", op)
		}
		u, err := base.Parse(next)
		if err != nil || u.Host != base.Host {
			return fmt.Errorf("%s: the next page %q is not on the registry's host", op, next)
		}
		body, h, err := b.do(ctx, c, http.MethodGet, u, http.StatusOK)
		if err != nil {
			return b.Classify(err, fmt.Sprintf("metadata_read on repository %q", repo), op)
		}
		if err := page(body); err != nil {
			return fmt.Errorf("%s: bad JSON: %w", op, err)
		}
		next = restapi.NextLink(h)
	}
	return nil
}

// do sends one request and reads the body (up to 32 MiB); an answer
// other than ok is a *transport.Error.
func (b *Backend) do(ctx context.Context, c *http.Client, method string, u *url.URL, ok ...int) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, ok...); err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	return body, resp.Header, err
}

// repositoryLocked reads repo's own attributes (GET /acr/v1/{name}): a
// repository locked with `az acr repository update --write-enabled
// false` locks "the repository and all images in it"
// (container-registry-image-lock).
func (b *Backend) repositoryLocked(ctx context.Context, repo string) (bool, error) {
	c, base, err := b.HostClient(ctx, repo, listActions...)
	if err != nil {
		return false, err
	}
	body, _, err := b.do(ctx, c, http.MethodGet, base.JoinPath("acr", "v1", repo), http.StatusOK)
	if err != nil {
		return false, b.Classify(err, fmt.Sprintf("metadata_read on repository %q", repo), "read the attributes of "+repo)
	}
	var p struct {
		Attributes attributes `json:"changeableAttributes"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return false, fmt.Errorf("read the attributes of %s: bad JSON: %w", repo, err)
	}
	return p.Attributes.locked(), nil
}

// Tags lists repo's tags with their digests through /acr/v1, and marks
// the locked ones (the repository's attributes, the tag's own, or its
// manifest's) Protected with LockedReason.
func (b *Backend) Tags(ctx context.Context, repo string) ([]image.Tag, error) {
	type tagJSON struct {
		Name       string     `json:"name"`
		Digest     string     `json:"digest"`
		Attributes attributes `json:"changeableAttributes"`
	}
	repoLocked, err := b.repositoryLocked(ctx, repo)
	if err != nil {
		return nil, err
	}
	var tags []tagJSON
	err = b.list(ctx, repo, "_tags", func(body []byte) error {
		var p struct {
			Tags []tagJSON `json:"tags"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			return err
		}
		tags = append(tags, p.Tags...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	lockedManifests := map[string]bool{}
	err = b.list(ctx, repo, "_manifests", func(body []byte) error {
		var p struct {
			Manifests []struct {
				Digest     string     `json:"digest"`
				Attributes attributes `json:"changeableAttributes"`
			} `json:"manifests"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			return err
		}
		for _, m := range p.Manifests {
			if m.Attributes.locked() {
				lockedManifests[m.Digest] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]image.Tag, 0, len(tags))
	seen := map[string]bool{}
	for _, t := range tags {
		if t.Name == "" || seen[t.Name] {
			continue // a tag listed twice (moved between pages): the first wins
		}
		seen[t.Name] = true
		tag := image.Tag{Name: t.Name, Digest: t.Digest}
		if repoLocked || t.Attributes.locked() || lockedManifests[t.Digest] {
			tag.Protected = LockedReason
		}
		out = append(out, tag)
	}
	return out, nil
}

// DeleteTag removes one tag through the untag API; the manifest stays. A
// locked tag (405 REGISTRY_DISALLOWED_OPERATION) is a ProtectedError with
// LockedReason; an unknown tag (404) is ErrNotFound.
func (b *Backend) DeleteTag(ctx context.Context, repo, tag string) error {
	if err := registry.Stopped(ctx); err != nil {
		return err
	}
	c, base, err := b.HostClient(ctx, repo, untagActions...)
	if err != nil {
		return err
	}
	u := base.JoinPath("acr", "v1")
	u.Path += "/" + repo + "/_tags/" + tag
	_, _, err = b.do(ctx, c, http.MethodDelete, u, http.StatusOK, http.StatusAccepted)
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode == http.StatusMethodNotAllowed && hasCode(te, lockCode) {
		return &registry.ProtectedError{Reason: LockedReason, Err: fmt.Errorf("untag %s: %w", tag, err)}
	}
	if err != nil {
		return b.Classify(err, needUntag, "untag "+tag)
	}
	return nil
}

func hasCode(te *transport.Error, code string) bool {
	for _, d := range te.Errors {
		if string(d.Code) == code {
			return true
		}
	}
	return false
}
