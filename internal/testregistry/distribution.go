package testregistry

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/distribution/distribution/v3/registry/storage"
	"github.com/distribution/distribution/v3/registry/storage/driver/factory"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem" // registers the "filesystem" driver
	"github.com/sirupsen/logrus"
)

// LogEnv is the environment variable that, when non-empty, keeps the
// in-process registries' logging (distribution's logrus output at info
// level, go-containerregistry's request log) on stderr instead of
// discarding it.
const LogEnv = "TAGSWEEP_TESTREGISTRY_LOG"

// Options configures [New] and [StartLegacy].
type Options struct {
	// Dir is the storage root directory. Empty means a fresh temporary
	// directory that Close removes; a given Dir is left in place.
	Dir string
	// DeleteEnabled sets storage.delete.enabled. Without it the registry
	// answers DELETE of manifests and blobs with 405 UNSUPPORTED.
	DeleteEnabled bool
	// Middleware optionally wraps the registry handler (for StartLegacy:
	// the reverse proxy in front of the process). It runs after the request
	// accounting and the hook.
	Middleware func(http.Handler) http.Handler
	// MaxTags is tags.maxtags: a GET tags/list?n=N with N larger than
	// MaxTags is clamped to MaxTags and paginated with a Link header.
	// 0 means the registry's default, 1000. Ignored by StartLegacy
	// (distribution 2.8 has no such setting).
	MaxTags int
	// CatalogEntries is catalog.maxentries: a GET _catalog?n=N with N
	// larger than it is refused with 400 PAGINATION_NUMBER_INVALID. 0 means
	// the registry's default, 1000. Ignored by StartLegacy.
	CatalogEntries int
}

// defaultMaxTags mirrors the default that configuration.Parse applies; a
// Configuration built in code does not get it.
const defaultMaxTags = 1000

// defaultCatalogEntries mirrors catalog.maxentries' default. A Configuration
// built in code has 0, which makes the catalog always empty.
const defaultCatalogEntries = 1000

var quietLogs sync.Once

// silenceLogs turns the registry's logrus logging off (it logs every 404 at
// error level) unless LogEnv is set. logrus is process-global, so this also
// affects anything else in the process that logs through logrus.
func silenceLogs() {
	quietLogs.Do(func() {
		if os.Getenv(LogEnv) != "" {
			logrus.SetLevel(logrus.InfoLevel)
			logrus.SetOutput(os.Stderr)
			return
		}
		logrus.SetLevel(logrus.ErrorLevel)
		logrus.SetOutput(io.Discard)
	})
}

// Registry is an in-process CNCF distribution v3 registry on a filesystem
// storage root, served over plain HTTP on 127.0.0.1. It implements [Server].
//
// distribution v3.1.2 has no OCI referrers API: GET
// /v2/<name>/referrers/<digest> answers 404, so clients fall back to the
// referrers tag schema.
type Registry struct {
	dir     string
	tempDir bool
	config  *configuration.Configuration
	app     *handlers.App
	rec     *recorder
	http    *httpServer

	gcMu      sync.Mutex
	closeOnce sync.Once
	closeErr  error
}

var _ Server = (*Registry)(nil)

// New starts a distribution v3 registry. Values of ctx are inherited by the
// registry's application context, but its cancellation is not: the registry
// runs until Close.
func New(ctx context.Context, opts Options) (*Registry, error) {
	silenceLogs()
	r := &Registry{dir: opts.Dir}
	if r.dir == "" {
		d, err := os.MkdirTemp("", "testregistry-*")
		if err != nil {
			return nil, err
		}
		r.dir, r.tempDir = d, true
	} else if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return nil, err
	}

	maxTags := opts.MaxTags
	if maxTags <= 0 {
		maxTags = defaultMaxTags
	}
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		r.removeTemp()
		return nil, err
	}
	config := &configuration.Configuration{
		Storage: configuration.Storage{
			"filesystem": configuration.Parameters{"rootdirectory": r.dir},
			"delete":     configuration.Parameters{"enabled": opts.DeleteEnabled},
			"maintenance": configuration.Parameters{
				"uploadpurging": map[any]any{"enabled": false},
			},
		},
		Catalog: configuration.Catalog{MaxEntries: cmp.Or(opts.CatalogEntries, defaultCatalogEntries)},
		Tags:    configuration.Tags{MaxTags: maxTags},
	}
	config.HTTP.Secret = hex.EncodeToString(secret)
	config.Log.Level = "error"
	r.config = config

	var app *handlers.App
	if err := func() (err error) {
		// NewApp panics on configuration errors.
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("testregistry: distribution NewApp: %v", p)
			}
		}()
		app = handlers.NewApp(context.WithoutCancel(ctx), config)
		return nil
	}(); err != nil {
		r.removeTemp()
		return nil, err
	}
	r.app = app

	var h http.Handler = app
	if opts.Middleware != nil {
		h = opts.Middleware(h)
	}
	r.rec = newRecorder(h)
	srv, err := serveLoopback(r.rec)
	if err != nil {
		_ = app.Shutdown()
		r.removeTemp()
		return nil, err
	}
	r.http = srv
	return r, nil
}

func (r *Registry) removeTemp() {
	if r.tempDir {
		_ = os.RemoveAll(r.dir)
	}
}

// BlobBytes sums the blob data the registry stores (manifests, configs
// and layers: each blob's data file): what its garbage collector frees
// shows as the difference before and after a GC.
func (r *Registry) BlobBytes() (int64, error) {
	var n int64
	err := filepath.WalkDir(filepath.Join(r.dir, "docker/registry/v2/blobs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "data" {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return err
	})
	return n, err
}

// Addr returns "127.0.0.1:PORT".
func (r *Registry) Addr() string { return r.http.addr() }

// Dir returns the storage root directory.
func (r *Registry) Dir() string { return r.dir }

// Close stops the server, shuts the application down and, when the storage
// root was a temporary directory, removes it. It is safe to call twice.
func (r *Registry) Close() error {
	r.closeOnce.Do(func() {
		err := r.http.close()
		err = errors.Join(err, r.app.Shutdown())
		if r.tempDir {
			err = errors.Join(err, os.RemoveAll(r.dir))
		}
		r.closeErr = err
	})
	return r.closeErr
}

// Requests returns a snapshot of the request counters.
func (r *Registry) Requests() Counts { return r.rec.requests() }

// ResetRequests zeroes the request counters and clears the DELETE log.
func (r *Registry) ResetRequests() { r.rec.reset() }

// Deletes returns the DELETE requests received, oldest first, e.g.
// "DELETE /v2/app/manifests/sha256:...". Requests answered by the hook are
// included.
func (r *Registry) Deletes() []string { return r.rec.deleteLog() }

// SetHook installs a fault-injection hook (nil removes it). It may be called
// at any time, also while requests are in flight.
func (r *Registry) SetHook(h Hook) { r.rec.setHook(h) }

// GC runs the registry's own garbage collector, storage.MarkAndSweep, on the
// storage root, exactly as "registry garbage-collect [--delete-untagged]"
// does (DryRun false, Quiet true). With removeUntagged, manifests that no
// tag references (directly or as a child of a tagged index) are deleted and
// their blobs swept too.
//
// Like the real command, GC must not run while pushes are in progress (a
// blob uploaded but not yet referenced by a manifest would be swept). The
// server keeps running; since no blob-descriptor cache is configured, reads
// after GC see its result immediately. Concurrent GC calls are serialized.
func (r *Registry) GC(ctx context.Context, removeUntagged bool) error {
	r.gcMu.Lock()
	defer r.gcMu.Unlock()
	driver, err := factory.Create(ctx, r.config.Storage.Type(), r.config.Storage.Parameters())
	if err != nil {
		return fmt.Errorf("testregistry: gc: create storage driver: %w", err)
	}
	ns, err := storage.NewRegistry(ctx, driver)
	if err != nil {
		return fmt.Errorf("testregistry: gc: create registry: %w", err)
	}
	if err := storage.MarkAndSweep(ctx, driver, ns, storage.GCOpts{
		DryRun:         false,
		RemoveUntagged: removeUntagged,
		Quiet:          true,
	}); err != nil {
		return fmt.Errorf("testregistry: gc: %w", err)
	}
	return nil
}
