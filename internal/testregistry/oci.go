package testregistry

import (
	"io"
	"log"
	"net/http"
	"os"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
)

// OCIRegistry is go-containerregistry's in-memory registry with the OCI 1.1
// referrers API enabled, served over plain HTTP on 127.0.0.1. It implements
// [Server]; it has no garbage collector (deleted content simply disappears
// from its maps, blobs are never deleted).
//
// Known behaviour of the v0.22.1 implementation worth keeping in mind:
//   - DELETE of a manifest by digest removes only the digest entry; tags
//     that pointed at it keep serving the manifest, and DELETE by tag
//     removes only the tag.
//   - The referrers response takes each descriptor's artifactType from the
//     referrer's config.mediaType, ignoring the manifest's artifactType
//     field, and ignores the artifactType filter query parameter.
//   - Manifest PUT checks that an index's children exist, but not that an
//     image's blobs exist.
type OCIRegistry struct {
	rec  *recorder
	http *httpServer
}

var _ Server = (*OCIRegistry)(nil)

// NewOCIRegistry starts an in-memory go-containerregistry registry with
// referrers support on a fresh 127.0.0.1 port. Its request log is discarded
// unless $TAGSWEEP_TESTREGISTRY_LOG ([LogEnv]) is set.
func NewOCIRegistry() (*OCIRegistry, error) {
	var w io.Writer = io.Discard
	if os.Getenv(LogEnv) != "" {
		w = os.Stderr
	}
	h := ggcrregistry.New(
		ggcrregistry.WithReferrersSupport(true),
		ggcrregistry.Logger(log.New(w, "ggcr-registry: ", log.LstdFlags)),
	)
	return newOCIRegistry(h)
}

func newOCIRegistry(h http.Handler) (*OCIRegistry, error) {
	rec := newRecorder(h)
	srv, err := serveLoopback(rec)
	if err != nil {
		return nil, err
	}
	return &OCIRegistry{rec: rec, http: srv}, nil
}

// Addr returns "127.0.0.1:PORT".
func (r *OCIRegistry) Addr() string { return r.http.addr() }

// Close stops the server. It is safe to call twice.
func (r *OCIRegistry) Close() error { return r.http.close() }

// Requests returns a snapshot of the request counters.
func (r *OCIRegistry) Requests() Counts { return r.rec.requests() }

// ResetRequests zeroes the request counters and clears the DELETE log.
func (r *OCIRegistry) ResetRequests() { r.rec.reset() }

// Deletes returns the DELETE requests received, oldest first. Requests
// answered by the hook are included.
func (r *OCIRegistry) Deletes() []string { return r.rec.deleteLog() }

// SetHook installs a fault-injection hook (nil removes it). It may be called
// at any time.
func (r *OCIRegistry) SetHook(h Hook) { r.rec.setHook(h) }
