package ghcr

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/restapi"
)

var (
	_ registry.Handles   = (*Backend)(nil)
	_ registry.Undeleter = (*Backend)(nil)
)

// Handle is the package version id of digest in repo, as of the last
// versions listing: what GitHub's restore API takes.
func (b *Backend) Handle(repo, digest string) string {
	p, err := b.pkg(repo)
	if err != nil {
		return ""
	}
	if id, ok := p.id(digest); ok {
		return strconv.FormatInt(id, 10)
	}
	return ""
}

// restoreNeed is what the restore API needs (docs.github.com/rest/packages/packages,
// "Restore a package version": read:packages and write:packages; for the
// workflow token, admin access to the package as for a delete).
const restoreNeed = "read:packages and write:packages (classic PAT) or admin access to the package; a GITHUB_TOKEN needs " +
	"`permissions: packages: write` and the package must grant this repository Admin access (package settings > Manage Actions access)"

// Undelete restores the deleted package version handle (its id) of repo:
// POST …/packages/container/{package}/versions/{id}/restore, 204. GitHub
// restores a version "within 30 days of its deletion" (docs "Deleting and
// restoring a package"); after that, or for an id it does not know, it
// answers 404, which is ErrNotFound. Whether the tags come back is not
// documented: tagsweep restore puts them back itself.
func (b *Backend) Undelete(ctx context.Context, repo, digest, handle string) error {
	p, err := b.pkg(repo)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(handle, 10, 64)
	if err != nil || id <= 0 {
		return fmt.Errorf("ghcr: %q is not a package version id", handle)
	}
	path, err := b.versionsPath(ctx, p)
	if err != nil {
		return err
	}
	op := fmt.Sprintf("restore package version %d (%s) of %s", id, digest, p.repo)
	_, err = b.api.Do(ctx, http.MethodPost, path+"/"+handle+"/restore", nil, http.StatusNoContent, http.StatusOK)
	var se *restapi.StatusError
	if errors.As(err, &se) && se.Status == http.StatusNotFound {
		return registry.Mark(registry.ErrNotFound, fmt.Errorf("GitHub API: %s: GitHub has no deleted version %d to restore (it restores a version within 30 days of its deletion; %s may also lack %s): %w",
			op, id, b.who, restoreNeed, err))
	}
	if err != nil {
		return b.apiErr(err, op, restoreNeed)
	}
	p.mu.Lock()
	p.ids[digest] = id
	p.mu.Unlock()
	return nil
}
