package ghcrtest

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// restoreWindow is how long GitHub restores a deleted version: "You
// restore the package within 30 days of its deletion" (docs "Deleting and
// restoring a package").
const restoreWindow = 30 * 24 * time.Hour

// Documented and reported texts of the restore API (notes: ghcr.md §10;
// "Package version not found." is in server.go).
const (
	msgActiveExists = "Active package version already exists with given name."
)

// goneManifest is what a deleted version held, as GitHub keeps it for
// its restore: the manifest as served, and its tags.
type goneManifest struct {
	raw       []byte
	mediaType string
	tags      []string
}

// keep records what rc holds before it is deleted. It runs with s.mu held.
func (s *Server) keep(ctx context.Context, repo string, rc *rec) error {
	raw, mt, ok, err := s.reg.Get(ctx, repo, rc.digest)
	if err != nil || !ok {
		return err
	}
	rc.gone = &goneManifest{raw: raw, mediaType: mt, tags: append([]string{}, rc.tags...)}
	return nil
}

// restoreVersion answers POST …/versions/{id}/restore: 204 and the version
// is active again, its manifest back in the registry (and its tags, with
// Options.RestoreTags), for a version deleted less than 30 days ago; 404
// "Package version not found." for an id that names no deleted version
// or one deleted longer ago; 400 "Active package version already exists
// with given name." when the digest is an active version again (pushed
// anew). It runs with s.mu held.
func (s *Server) restoreVersion(ctx context.Context, w http.ResponseWriter, kind, repo, idText string, self bool) {
	doc := docPackages + "#restore-package-version-for-" + docKind(kind, self)
	st := s.repo(repo)
	id, err := strconv.ParseInt(idText, 10, 64)
	rc := st.byID[id]
	if err != nil || rc == nil || rc.deleted.IsZero() || rc.gone == nil || s.o.Now().Sub(rc.deleted) > restoreWindow {
		writeErr(w, http.StatusNotFound, msgVersionNotFound, doc)
		return
	}
	if cur := st.recs[rc.digest]; cur != nil && cur != rc && cur.deleted.IsZero() {
		writeErr(w, http.StatusBadRequest, msgActiveExists, doc)
		return
	}
	if err := s.reg.Put(ctx, repo, rc.digest, rc.gone.mediaType, rc.gone.raw); err != nil {
		writeErr(w, http.StatusInternalServerError, err.Error(), doc)
		return
	}
	if s.o.RestoreTags {
		for _, t := range rc.gone.tags {
			if err := s.reg.Put(ctx, repo, t, rc.gone.mediaType, rc.gone.raw); err != nil {
				writeErr(w, http.StatusInternalServerError, err.Error(), doc)
				return
			}
		}
	}
	rc.deleted, rc.gone = time.Time{}, nil
	st.recs[rc.digest] = rc
	w.Header().Del("Content-Type")
	w.WriteHeader(http.StatusNoContent)
}
