package oci

import (
	"context"
	"io"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// fetch reads the manifest ref (a tag or a digest) of repo: its digest,
// media type and bytes as served. Without a cache it is one GET. With
// one, a tag is resolved with a HEAD (tags move; the digest is always
// asked of the registry), and the bytes come from the cache when it holds
// the digest, else from a GET by digest that stores them there. A digest
// is read from the cache without any request. A cache that was empty when
// the run started (cache.Cold) holds nothing to hit: a tag is one GET,
// stored, as without a cache.
func (b *Backend) fetch(ctx context.Context, repo, ref string) (digest, mediaType string, raw []byte, err error) {
	if b.cache != nil && b.cache.Cold() && !strings.Contains(ref, ":") {
		d, err := b.get(ctx, repo, ref)
		if err != nil {
			return "", "", nil, err
		}
		digest = d.Digest.String()
		b.cache.PutManifest(digest, string(d.MediaType), d.Manifest)
		return digest, string(d.MediaType), d.Manifest, nil
	}
	if b.cache == nil {
		d, err := b.get(ctx, repo, ref)
		if err != nil {
			return "", "", nil, err
		}
		return d.Digest.String(), string(d.MediaType), d.Manifest, nil
	}
	digest = ref
	if !strings.Contains(ref, ":") {
		d, err := b.head(ctx, repo, ref)
		if err != nil {
			return "", "", nil, err
		}
		digest = d.Digest.String()
	}
	if raw, mt, ok := b.cache.Manifest(digest); ok {
		return digest, mt, raw, nil
	}
	// Two tags of one image, read at once, make one GET.
	v, err, _ := b.fetches.Do(repo+"@"+digest, func() (any, error) {
		d, err := b.get(ctx, repo, digest)
		if err != nil {
			return nil, err
		}
		b.cache.PutManifest(digest, string(d.MediaType), d.Manifest)
		return d, nil
	})
	if err != nil {
		return "", "", nil, err
	}
	d := v.(*remote.Descriptor)
	return digest, string(d.MediaType), d.Manifest, nil
}

// get GETs the manifest ref of repo with the full Accept set (a digest's
// bytes are checked against it by go-containerregistry).
func (b *Backend) get(ctx context.Context, repo, ref string) (*remote.Descriptor, error) {
	c, err := b.conn(ctx, repo)
	if err != nil {
		return nil, err
	}
	return c.puller.Get(ctx, b.ref(repo, ref))
}

// configCreated is what the image config digest says of its creation:
// from this run's memory, else the cache, else a GET of the blob (stored
// in both). Tags sharing an image share its config: one GET per run.
func (b *Backend) configCreated(ctx context.Context, repo, digest string) (configCreated, error) {
	if c, ok := b.created.load(digest); ok {
		return c, nil
	}
	if b.cache != nil {
		if cfg, ok := b.cache.Config(digest); ok {
			c := createdOf(cfg)
			b.created.store(digest, c)
			return c, nil
		}
	}
	// Tags of one image, read at once, make one GET of its config.
	v, err, _ := b.fetches.Do("config "+repo+"@"+digest, func() (any, error) {
		if c, ok := b.created.load(digest); ok {
			return c, nil // read by the GET that just finished
		}
		raw, err := b.blob(ctx, repo, digest)
		if err != nil {
			return nil, err
		}
		cfg := configFields(raw)
		own := createdOf(cfg)
		if b.cache != nil {
			b.cache.PutConfig(digest, cfg)
		}
		b.created.store(digest, own)
		return own, nil
	})
	if err != nil {
		return configCreated{}, err
	}
	return v.(configCreated), nil
}

// blob GETs the blob digest of repo, checked against its digest.
func (b *Backend) blob(ctx context.Context, repo, digest string) ([]byte, error) {
	c, err := b.conn(ctx, repo)
	if err != nil {
		return nil, err
	}
	l, err := c.puller.Layer(ctx, b.repo(repo).Digest(digest))
	if err != nil {
		return nil, err
	}
	rc, err := l.Compressed() // the blob as stored
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	return raw, err
}

// recent remembers values by key for the run, in two generations of at
// most recentSize entries each: what a repository reads again (the config
// of an image tagged twice) is found, and a run over a million images
// holds no more than 2 × recentSize of them.
type recent struct {
	mu        sync.Mutex
	cur, prev map[string]configCreated
}

const recentSize = 1 << 14

func (r *recent) load(k string) (configCreated, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if v, ok := r.cur[k]; ok {
		return v, true
	}
	v, ok := r.prev[k]
	return v, ok
}

func (r *recent) store(k string, v configCreated) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur == nil || len(r.cur) >= recentSize {
		r.prev, r.cur = r.cur, make(map[string]configCreated, 64)
	}
	r.cur[k] = v
}
