// Package cache keeps manifests and image configs by digest between runs:
// the cache-dir input. What a digest names never changes, so an entry is
// never stale; a tag is still resolved on every run (HEAD), and only a
// digest never seen is read from the registry (README, "Incremental runs").
//
// Layout, under the directory given (its "v1" tree):
//
//	v1/manifests/sha256/ab/abcdef…   "<media type>\n" + the manifest bytes as the registry served them
//	v1/configs/sha256/ab/abcdef…     the config fields tagsweep uses, as one JSON line, then a checksum line
//
// Every entry is written to a temporary file beside it and renamed into
// place, so a reader sees a whole entry or none, and two runs sharing the
// directory (the shards of a matrix) never see each other's half-written
// files. Every read is verified: a manifest's bytes must hash to the digest
// that names it; a config entry's checksum (over its name and fields) must
// match. An entry that fails, or cannot be read, is removed and reported as
// a miss, so the caller reads the registry again: a cache entry is never
// trusted beyond what its verification shows.
//
// A hit refreshes the entry's modification time (at most once a day), and
// Prune removes the entries not used for a given time (30 days at the end
// of a run), so the directory holds what recent runs used.
package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Version is the layout's directory under the cache directory: a later
// layout takes another name, and the old one is left to be pruned.
const Version = "v1"

// Unused is how long an entry may go unused before Prune removes it at the
// end of a run.
const Unused = 30 * 24 * time.Hour

// touchEvery bounds how often a hit rewrites an entry's modification time.
const touchEvery = 24 * time.Hour

// tempPrefix starts the name of a file being written; one older than
// staleTemp is the leftover of a killed run.
const (
	tempPrefix = ".tmp-"
	staleTemp  = time.Hour
)

// maxEntry bounds the bytes read from one entry (ggcr's own manifest limit
// is 100 MiB; a cached one is never near it).
const maxEntry = 16 << 20

// Cache is a cache directory. It is safe for concurrent use, and for use by
// several processes sharing the directory.
type Cache struct {
	dir  string // the directory given
	root string // dir/Version
	now  func() time.Time

	cold     sync.Once
	wasEmpty bool

	manifestHits, manifestMisses atomic.Int64
	configHits, configMisses     atomic.Int64
	dropped, writeErrors         atomic.Int64
}

// Option configures a Cache.
type Option func(*Cache)

// WithClock sets the clock that hits refresh entries by and Prune ages
// them by (tests). The default is time.Now.
func WithClock(now func() time.Time) Option { return func(c *Cache) { c.now = now } }

// New returns the cache at dir. It does no I/O: the directories are
// created as entries are written, and Check tells beforehand whether they
// can be (the CLI checks every destination before the first request).
func New(dir string, opts ...Option) *Cache {
	c := &Cache{dir: dir, root: filepath.Join(dir, Version), now: time.Now}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Check creates the cache's directories where missing and checks that a
// file can be written in them: an error says why not.
func (c *Cache) Check() error {
	for _, kind := range []string{"manifests", "configs"} {
		if err := os.MkdirAll(filepath.Join(c.root, kind, "sha256"), 0o755); err != nil {
			return err
		}
	}
	f, err := os.CreateTemp(c.root, tempPrefix+"probe-*")
	if err != nil {
		return err
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// Dir is the directory the cache was opened at.
func (c *Cache) Dir() string { return c.dir }

// path is where the entry of kind for digest lives, or "" for a digest
// this cache does not keep (only sha256, as the OCI spec requires every
// registry to support).
func (c *Cache) path(kind, digest string) string {
	hexd, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || len(hexd) != 64 || strings.Trim(hexd, "0123456789abcdef") != "" {
		return ""
	}
	return filepath.Join(c.root, kind, "sha256", hexd[:2], hexd)
}

// Cold reports whether the cache held no manifest when this run first
// asked (a new cache-dir, or one restored empty): then nothing can be a
// hit, and resolving a tag with a HEAD before the GET would only add a
// request per tag. The answer is the same for the whole run.
func (c *Cache) Cold() bool {
	c.cold.Do(func() {
		es, err := os.ReadDir(filepath.Join(c.root, "manifests", "sha256"))
		c.wasEmpty = err != nil || len(es) == 0
	})
	return c.wasEmpty
}

// Manifest returns the bytes and media type of the manifest digest names,
// when the cache holds them intact. A hit counts as one, and so does a
// miss; an entry that fails its verification is removed and is a miss.
func (c *Cache) Manifest(digest string) (raw []byte, mediaType string, ok bool) {
	p := c.path("manifests", digest)
	if p == "" {
		c.manifestMisses.Add(1)
		return nil, "", false
	}
	b, ok := c.read(p)
	if ok {
		mt, body, found := bytes.Cut(b, []byte("\n"))
		sum := sha256.Sum256(body)
		if found && validMediaType(string(mt)) && "sha256:"+hex.EncodeToString(sum[:]) == digest {
			c.manifestHits.Add(1)
			return body, string(mt), true
		}
		c.drop(p)
	}
	c.manifestMisses.Add(1)
	return nil, "", false
}

// PutManifest stores the bytes of the manifest digest names, as the
// registry served them, with their media type. Bytes that do not hash to
// digest are not stored. A write that fails is counted and otherwise
// ignored: the cache only ever saves requests.
func (c *Cache) PutManifest(digest, mediaType string, raw []byte) {
	p := c.path("manifests", digest)
	sum := sha256.Sum256(raw)
	if p == "" || !validMediaType(mediaType) || "sha256:"+hex.EncodeToString(sum[:]) != digest {
		return
	}
	c.write(p, append([]byte(mediaType+"\n"), raw...))
}

// Config is what tagsweep reads of an image config: its "created", as the
// config spells it (nil when absent or null).
type Config struct {
	Created *string `json:"created"`
}

// Config returns the fields of the image config digest names, when the
// cache holds them intact (see Manifest for the counting).
func (c *Cache) Config(digest string) (Config, bool) {
	p := c.path("configs", digest)
	if p == "" {
		c.configMisses.Add(1)
		return Config{}, false
	}
	b, ok := c.read(p)
	if ok {
		payload, sum, found := bytes.Cut(b, []byte("\n"))
		var cfg Config
		if found && string(bytes.TrimSuffix(sum, []byte("\n"))) == configSum(digest, payload) && json.Unmarshal(payload, &cfg) == nil {
			c.configHits.Add(1)
			return cfg, true
		}
		c.drop(p)
	}
	c.configMisses.Add(1)
	return Config{}, false
}

// PutConfig stores the fields of the image config digest names.
func (c *Cache) PutConfig(digest string, cfg Config) {
	p := c.path("configs", digest)
	if p == "" {
		return
	}
	payload, err := json.Marshal(cfg)
	if err != nil {
		return
	}
	c.write(p, fmt.Appendf(payload, "\n%s\n", configSum(digest, payload)))
}

// configSum binds a config entry's fields to its name: an entry copied
// under another digest, or cut short, fails it.
func configSum(digest string, payload []byte) string {
	h := sha256.New()
	h.Write([]byte(digest + "\n"))
	h.Write(payload)
	return hex.EncodeToString(h.Sum(nil))
}

func validMediaType(mt string) bool {
	return mt != "" && len(mt) < 256 && !strings.ContainsAny(mt, "\r\n\x00")
}

// read returns the entry at p; ok is false when there is none or it
// cannot be read (then it is dropped). A hit refreshes its modification
// time, at most once a day, so that Prune keeps what runs use.
func (c *Cache) read(p string) ([]byte, bool) {
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false
	}
	if err != nil {
		c.drop(p)
		return nil, false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() > maxEntry {
		c.drop(p)
		return nil, false
	}
	b, err := io.ReadAll(io.LimitReader(f, maxEntry+1))
	if err != nil {
		c.drop(p)
		return nil, false
	}
	if now := c.now(); now.Sub(st.ModTime()) > touchEvery {
		_ = os.Chtimes(p, now, now)
	}
	return b, true
}

// drop removes an entry that failed its verification or its read.
func (c *Cache) drop(p string) {
	c.dropped.Add(1)
	_ = os.Remove(p)
}

// write puts b at p through a temporary file in the same directory and a
// rename, which replaces atomically: a concurrent reader, in this process
// or another, sees the old entry, the new one or none.
func (c *Cache) write(p string, b []byte) {
	err := func() error {
		dir := filepath.Dir(p)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		f, err := os.CreateTemp(dir, tempPrefix+"*")
		if err != nil {
			return err
		}
		_, err = f.Write(b)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Chmod(f.Name(), 0o644)
		}
		if err == nil {
			err = os.Rename(f.Name(), p)
		}
		if err != nil {
			_ = os.Remove(f.Name())
		}
		return err
	}()
	if err != nil {
		c.writeErrors.Add(1)
	}
}

// Stats counts what the cache was asked since it was opened.
type Stats struct {
	// ManifestHits and ManifestMisses count the manifests read from the
	// cache and those it did not hold (read from the registry instead).
	ManifestHits, ManifestMisses int64
	// ConfigHits and ConfigMisses count the same for image configs.
	ConfigHits, ConfigMisses int64
	// Dropped counts entries removed because they failed their
	// verification or could not be read (each was read again).
	Dropped int64
	// WriteErrors counts entries that could not be stored.
	WriteErrors int64
}

// Stats returns what the cache was asked so far.
func (c *Cache) Stats() Stats {
	return Stats{ManifestHits: c.manifestHits.Load(), ManifestMisses: c.manifestMisses.Load(),
		ConfigHits: c.configHits.Load(), ConfigMisses: c.configMisses.Load(),
		Dropped: c.dropped.Load(), WriteErrors: c.writeErrors.Load()}
}

// Usage is what the cache directory holds after Prune.
type Usage struct {
	// Entries and Bytes are what is left.
	Entries int
	Bytes   int64
	// Pruned and PrunedBytes are what Prune removed.
	Pruned      int
	PrunedBytes int64
}

// Prune removes the entries not used for longer than unused (by their
// modification time, which hits refresh), and temporary files a killed
// run left, and returns what is left. Another process may be reading or
// writing the directory meanwhile: an entry it used is at worst read from
// the registry again next time.
func (c *Cache) Prune(unused time.Duration) (Usage, error) {
	var u Usage
	now := c.now()
	err := filepath.WalkDir(c.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed by another run meanwhile
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil // gone meanwhile
		}
		age := now.Sub(info.ModTime())
		temp := strings.HasPrefix(d.Name(), tempPrefix)
		if (temp && age > staleTemp) || (!temp && age > unused) {
			if os.Remove(p) == nil {
				u.Pruned++
				u.PrunedBytes += info.Size()
			}
			return nil
		}
		if !temp {
			u.Entries++
			u.Bytes += info.Size()
		}
		return nil
	})
	return u, err
}
