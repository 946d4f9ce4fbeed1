package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func open(t *testing.T, opts ...Option) *Cache {
	t.Helper()
	c := New(t.TempDir(), opts...)
	if err := c.Check(); err != nil {
		t.Fatal(err)
	}
	return c
}

const mt = "application/vnd.oci.image.manifest.v1+json"

func TestManifestRoundTrip(t *testing.T) {
	t.Parallel()
	c := open(t)
	raw := []byte(`{"schemaVersion":2}`)
	d := digestOf(raw)
	if _, _, ok := c.Manifest(d); ok {
		t.Fatal("hit in an empty cache")
	}
	c.PutManifest(d, mt, raw)
	got, gotMT, ok := c.Manifest(d)
	if !ok || string(got) != string(raw) || gotMT != mt {
		t.Fatalf("Manifest = %q, %q, %v; want the bytes stored", got, gotMT, ok)
	}
	if diff := cmp.Diff(Stats{ManifestHits: 1, ManifestMisses: 1}, c.Stats()); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
}

// TestPutRefusesWrongBytes: bytes that do not hash to their name are never
// stored, nor are digests the cache does not keep.
func TestPutRefusesWrongBytes(t *testing.T) {
	t.Parallel()
	c := open(t)
	raw := []byte(`{"a":1}`)
	other := digestOf([]byte("other"))
	c.PutManifest(other, mt, raw)
	c.PutManifest("sha512:abcd", mt, raw)
	c.PutManifest(digestOf(raw), "bad\ntype", raw)
	if u, err := c.Prune(Unused); err != nil || u.Entries != 0 {
		t.Fatalf("entries after refused puts: %+v, %v; want none", u, err)
	}
}

// TestCorruptEntriesDropped: an entry whose bytes do not hash to its name
// (flipped, cut short, emptied), a config entry whose checksum fails, and
// one that is not a file are misses, and are removed so that the caller
// reads the registry again and stores a good one.
func TestCorruptEntriesDropped(t *testing.T) {
	t.Parallel()
	raw := []byte(`{"schemaVersion":2,"mediaType":"` + mt + `"}`)
	d := digestOf(raw)
	created := "2026-01-02T03:04:05Z"
	cases := []struct {
		name   string
		config bool
		mangle func(t *testing.T, p string)
	}{
		{name: "flipped byte", mangle: func(t *testing.T, p string) { flip(t, p, -3) }},
		{name: "cut short", mangle: func(t *testing.T, p string) { truncate(t, p, 10) }},
		{name: "emptied", mangle: func(t *testing.T, p string) { truncate(t, p, 0) }},
		{name: "no media type line", mangle: func(t *testing.T, p string) { write(t, p, raw) }},
		{name: "a directory", mangle: func(t *testing.T, p string) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "config: changed created", config: true, mangle: func(t *testing.T, p string) {
			b, _ := os.ReadFile(p)
			write(t, p, []byte(string(b[:13])+"7"+string(b[14:])))
		}},
		{name: "config: cut short", config: true, mangle: func(t *testing.T, p string) { truncate(t, p, 20) }},
		{name: "config: copied from another digest", config: true, mangle: func(t *testing.T, p string) {
			c := open(t)
			o := digestOf([]byte("another config"))
			c.PutConfig(o, Config{Created: &created})
			b, err := os.ReadFile(c.path("configs", o))
			if err != nil {
				t.Fatal(err)
			}
			write(t, p, b)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := open(t)
			var p string
			if tc.config {
				c.PutConfig(d, Config{Created: &created})
				p = c.path("configs", d)
			} else {
				c.PutManifest(d, mt, raw)
				p = c.path("manifests", d)
			}
			tc.mangle(t, p)
			if tc.config {
				if _, ok := c.Config(d); ok {
					t.Fatal("a corrupt config entry was trusted")
				}
			} else if _, _, ok := c.Manifest(d); ok {
				t.Fatal("a corrupt manifest entry was trusted")
			}
			if s := c.Stats(); s.Dropped != 1 {
				t.Errorf("dropped %d entries, want 1", s.Dropped)
			}
			if _, err := os.Lstat(p); tc.name != "a directory" && !os.IsNotExist(err) {
				t.Errorf("the corrupt entry is still there (%v)", err)
			}
			// Read again from the registry and stored: a good entry.
			if tc.config {
				c.PutConfig(d, Config{Created: &created})
				if got, ok := c.Config(d); !ok || got.Created == nil || *got.Created != created {
					t.Errorf("after storing again: %+v, %v", got, ok)
				}
			} else if tc.name != "a directory" {
				c.PutManifest(d, mt, raw)
				if _, _, ok := c.Manifest(d); !ok {
					t.Error("after storing again: a miss")
				}
			}
		})
	}
}

func flip(t *testing.T, p string, at int) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)+at] ^= 0x20
	write(t, p, b)
}

func truncate(t *testing.T, p string, n int64) {
	t.Helper()
	if err := os.Truncate(p, n); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestConfigNullCreated(t *testing.T) {
	t.Parallel()
	c := open(t)
	d := digestOf([]byte("cfg"))
	c.PutConfig(d, Config{})
	got, ok := c.Config(d)
	if !ok || got.Created != nil {
		t.Fatalf("Config = %+v, %v; want a hit without created", got, ok)
	}
}

// TestPrune: entries unused for longer than Unused go, by their
// modification time; a hit refreshes it, so an old entry still read stays;
// a temporary file a killed run left goes after an hour. The clock is
// injected: no sleeping.
func TestPrune(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 3, 17, 0, 0, time.UTC)
	c := open(t, WithClock(func() time.Time { return now }))
	var ds []string
	for i := range 4 {
		raw := fmt.Appendf(nil, `{"n":%d}`, i)
		d := digestOf(raw)
		c.PutManifest(d, mt, raw)
		ds = append(ds, d)
	}
	age := func(d string, by time.Duration) {
		t.Helper()
		at := now.Add(-by)
		if err := os.Chtimes(c.path("manifests", d), at, at); err != nil {
			t.Fatal(err)
		}
	}
	age(ds[0], 31*24*time.Hour) // unused for 31 days: pruned
	age(ds[1], 29*24*time.Hour) // 29 days: stays
	age(ds[2], 40*24*time.Hour) // old, but read now: stays
	if _, _, ok := c.Manifest(ds[2]); !ok {
		t.Fatal("miss on an old entry")
	}
	// A killed run's temporary files: an old one goes, a fresh one (a run
	// writing right now) stays.
	dir := filepath.Dir(c.path("manifests", ds[3]))
	oldTemp, freshTemp := filepath.Join(dir, tempPrefix+"old"), filepath.Join(dir, tempPrefix+"fresh")
	write(t, oldTemp, []byte("half"))
	write(t, freshTemp, []byte("half"))
	if err := os.Chtimes(oldTemp, now.Add(-2*time.Hour), now.Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(freshTemp, now.Add(-time.Minute), now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}

	u, err := c.Prune(Unused)
	if err != nil {
		t.Fatal(err)
	}
	if u.Entries != 3 || u.Pruned != 2 || u.Bytes <= 0 {
		t.Errorf("usage %+v; want 3 entries left, 2 files pruned (one entry, one stale temporary file)", u)
	}
	for i, want := range []bool{false, true, true, true} {
		if _, err := os.Stat(c.path("manifests", ds[i])); (err == nil) != want {
			t.Errorf("entry %d: present %v, want %v", i, err == nil, want)
		}
	}
	if _, err := os.Stat(oldTemp); !os.IsNotExist(err) {
		t.Error("a stale temporary file was left")
	}
	if _, err := os.Stat(freshTemp); err != nil {
		t.Error("a fresh temporary file was removed")
	}
}

// TestConcurrentWriters: many writers and readers of the same digests at
// once (as two shards of a matrix sharing the directory are) never let a
// reader see a partial entry: every read is a miss or the whole bytes.
func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var cs []*Cache
	for range 2 { // two handles on one directory, as two processes have
		cs = append(cs, New(dir))
	}
	raws := make([][]byte, 16)
	for i := range raws {
		raws[i] = fmt.Appendf(nil, `{"n":%d,"pad":"%0500d"}`, i, i)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			c := cs[w%2]
			for round := range 20 {
				for i, raw := range raws {
					d := digestOf(raw)
					if (i+round+w)%2 == 0 {
						c.PutManifest(d, mt, raw)
						continue
					}
					if got, _, ok := c.Manifest(d); ok && string(got) != string(raw) {
						t.Errorf("read %d bytes that are not the entry", len(got))
					}
				}
			}
		})
	}
	wg.Wait()
	for _, c := range cs {
		if s := c.Stats(); s.Dropped != 0 || s.WriteErrors != 0 {
			t.Errorf("stats %+v: a reader saw a partial entry, or a write failed", s)
		}
	}
}

// TestCheckUnwritable: a directory that cannot be written fails Check,
// before anything is asked of the cache.
func TestCheckUnwritable(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("root writes anywhere")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	if err := New(filepath.Join(dir, "cache")).Check(); err == nil {
		t.Fatal("Check of a directory under a read-only one succeeded")
	}
}
