package cli_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/report"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// planOf is a run's plan as the report shows it: per "repository:tag" the
// action (would-delete and deleted alike), digest, created and reason.
func planOf(t *testing.T, rep *report.Report) map[string]string {
	t.Helper()
	if rep == nil {
		t.Fatal("no report")
	}
	out := map[string]string{}
	for _, repo := range rep.Repositories {
		for _, tg := range repo.Tags {
			act := tg.Action
			if act == report.WouldDelete {
				act = report.Deleted
			}
			created := "unknown"
			if tg.Created != nil {
				created = tg.Created.String()
			}
			out[repo.Name+":"+tg.Tag] = strings.Join([]string{act, tg.Digest, created, tg.Reason}, " | ")
		}
	}
	return out
}

// seedCached fills app with 12 single images (b00 newest), a second tag on
// b05's image, and a two-platform index: 14 tags, 13 tagged digests, 12
// image configs and 2 children (each with its config).
func seedCached(t *testing.T, a string) (tags int) {
	t.Helper()
	var names []string
	for i := range 12 {
		names = append(names, "b"+strconv.Itoa(10+i))
	}
	seedAges(t, a, "app", names...)
	tag(t, a, "app:also-b15", "app:b15")
	multiarch(t, a, "app:multi", daysAgo(3.5), 77)
	return len(names) + 2
}

// TestCacheRerun: with cache-dir, a run resolves every tag with a HEAD and
// reads only the digests the cache does not hold: the second run sends no
// manifest or config GET at all (list + one HEAD per tag), the real run
// adds exactly the second look and the deletions, and every run plans what
// a run without the cache plans; the summary and the report say what the
// cache saved.
func TestCacheRerun(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	n := seedCached(t, a)
	in := inputs{"registry": a, "repositories": "app", "keep": "4", "dry-run": "true"}
	base := runAction(t, in)
	if base.Code != 0 {
		t.Fatalf("exit %d", base.Code)
	}
	want := planOf(t, base.Report)

	in["cache-dir"] = filepath.Join(t.TempDir(), "cache")
	r.ResetRequests()
	first := runAction(t, in)
	fc := r.Requests()
	if first.Code != 0 {
		t.Fatalf("first run with the cache: exit %d", first.Code)
	}
	if diff := cmp.Diff(want, planOf(t, first.Report)); diff != "" {
		t.Errorf("first run with an empty cache plans otherwise (-without +with):\n%s", diff)
	}
	// An empty cache holds nothing to hit: no HEAD, a GET per tag (14)
	// and per child (2), and per image config (12 + 2), as without a
	// cache; what they read is stored.
	if got := [3]int{fc.Of("HEAD", testregistry.ClassManifest), fc.Of("GET", testregistry.ClassManifest), fc.Of("GET", testregistry.ClassBlob)}; got != [3]int{0, n + 2, 14} {
		t.Errorf("first run: HEAD, GET manifest, GET blob = %v, want [0 %d 14]: %v", got, n+2, fc.ByRoute)
	}

	r.ResetRequests()
	again := runAction(t, in)
	ac := r.Requests()
	if diff := cmp.Diff(want, planOf(t, again.Report)); diff != "" {
		t.Errorf("second run with the cache plans otherwise (-without +with):\n%s", diff)
	}
	bound := map[testregistry.Route]int{{Method: "GET", Class: testregistry.ClassBase}: 1, {Method: "GET", Class: testregistry.ClassTags}: 1,
		{Method: "HEAD", Class: testregistry.ClassManifest}: n, {Method: "GET", Class: testregistry.ClassReferrers}: 1}
	if diff := cmp.Diff(bound, ac.ByRoute); diff != "" {
		t.Errorf("dry re-run: requests by route (-bound +got):\n%s", diff)
	}
	c := again.Report.Cache
	if c == nil || c.ManifestHits != 16 || c.ManifestMisses != 0 || c.ConfigHits != 14 || c.ConfigMisses != 0 || c.Entries != 29 || c.Bytes == 0 {
		t.Errorf("report's cache: %+v; want 16 manifest and 14 config hits (the lookups of 14 tags and 2 children), no miss, 29 entries", c)
	}
	if !strings.Contains(again.Summary, "16 manifests and 14 image configs read from the cache, 0 and 0 from the registry") ||
		!strings.Contains(again.Summary, "29 entries") {
		t.Errorf("the summary does not say what the cache saved:\n%s", again.Summary)
	}

	// The real run, with the cache the dry runs filled: the plan the dry
	// run showed, and only the second look and the deletions on top.
	in["dry-run"] = "false"
	r.ResetRequests()
	real := runAction(t, in)
	rc := r.Requests()
	if real.Code != 0 {
		t.Fatalf("real run: exit %d", real.Code)
	}
	if diff := cmp.Diff(want, planOf(t, real.Report)); diff != "" {
		t.Errorf("the real run with the cache did otherwise than the dry run planned (-dry +real):\n%s", diff)
	}
	deletes := rc.ByMethod["DELETE"]
	bound[testregistry.Route{Method: "GET", Class: testregistry.ClassTags}] = 2 // and the second look's
	bound[testregistry.Route{Method: "HEAD", Class: testregistry.ClassManifest}] = 2 * n
	bound[testregistry.Route{Method: "DELETE", Class: testregistry.ClassManifest}] = deletes
	if diff := cmp.Diff(bound, rc.ByRoute); diff != "" || deletes == 0 {
		t.Errorf("real run: requests by route (-bound +got), %d deletes:\n%s", deletes, diff)
	}
}

// TestCacheCorruptEntry: every entry of a warm cache damaged (a flipped
// byte, a cut-off file, another digest's bytes) is dropped and read from
// the registry again, never trusted: the plan is the one of a run without
// the cache, the report counts the drops, and the entries written back are
// good (the next run reads everything from the cache).
func TestCacheCorruptEntry(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	seedCached(t, a)
	dir := filepath.Join(t.TempDir(), "cache")
	in := inputs{"registry": a, "repositories": "app", "keep": "4", "dry-run": "true"}
	want := planOf(t, runAction(t, in).Report)
	in["cache-dir"] = dir
	if res := runAction(t, in); res.Code != 0 {
		t.Fatalf("warm-up: exit %d", res.Code)
	}
	var files []string
	err := filepath.WalkDir(filepath.Join(dir, "v1"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, p)
		}
		return err
	})
	if err != nil || len(files) != 29 {
		t.Fatalf("%d cache entries (%v), want 29", len(files), err)
	}
	sort.Strings(files)
	for i, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		switch i % 3 {
		case 0: // a flipped byte in the bytes that were served
			b[len(b)-2] ^= 0x01
		case 1: // cut off, as by a killed writer on a filesystem without rename
			b = b[:len(b)/2]
		case 2: // another entry's content under this name
			b, _ = os.ReadFile(files[(i+1)%len(files)])
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r.ResetRequests()
	res := runAction(t, in)
	if res.Code != 0 {
		t.Fatalf("exit %d", res.Code)
	}
	if diff := cmp.Diff(want, planOf(t, res.Report)); diff != "" {
		t.Errorf("with a corrupt cache the plan changed (-without cache +with):\n%s", diff)
	}
	// No hit, but for a tag of b15's image read after the other tag's GET
	// stored its manifest again: b15's two tags are read in parallel, so
	// whether the second finds the entry rewritten (a hit, 15 GETs) or
	// still corrupt (dropped again, 16 GETs) is the scheduler's choice.
	c := res.Report.Cache
	got := r.Requests()
	gets := got.Of("GET", testregistry.ClassManifest)
	if c == nil || c.Dropped < 29 || c.Dropped > 30 || c.ManifestHits > 1 || c.ConfigHits != 0 {
		t.Errorf("report's cache %+v: want the 29 entries dropped (b15's twice at most), no hit but b15's", c)
	} else if gets < 15 || gets > 16 || got.Of("GET", testregistry.ClassBlob) != 14 {
		t.Errorf("corrupt entries read again: %v, %d manifest hits; want 15 manifest GETs (16 when b15's tags race) and 14 blob GETs", got.ByRoute, c.ManifestHits)
	}
	r.ResetRequests()
	res = runAction(t, in)
	if c := res.Report.Cache; c == nil || c.Dropped != 0 || c.ManifestHits != 16 || c.ConfigHits != 14 {
		t.Errorf("after the entries were written again: %+v, want every one a hit", c)
	}
	if got := r.Requests(); got.Of("GET", testregistry.ClassManifest)+got.Of("GET", testregistry.ClassBlob) != 0 {
		t.Errorf("entries written back are not used: %v", got.ByRoute)
	}
}

// TestCacheDirUnwritable: a cache-dir that cannot be written (a file, a
// directory under a file) stops the run before its first request, exit 1,
// naming the input and the path, as every other destination does.
func TestCacheDirUnwritable(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	seedAges(t, a, "app", "new", "old")
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{file, filepath.Join(file, "cache")} {
		r.ResetRequests()
		res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "1", "cache-dir": p})
		if res.Code != 1 || !strings.Contains(res.Stderr, "error: cache-dir "+p+" ") {
			t.Errorf("cache-dir %s: exit %d, want 1 naming it:\n%s", p, res.Code, res.Stderr)
		}
		if n := r.Requests().Total; n != 0 {
			t.Errorf("cache-dir %s: %d requests sent before the refusal", p, n)
		}
	}
	if diff := cmp.Diff([]string{"new", "old"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
}

// cacheFiles lists the entries of the cache at dir (manifests and configs).
func cacheFiles(t *testing.T, dir string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	err := filepath.WalkDir(filepath.Join(dir, "v1"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && !strings.HasPrefix(d.Name(), ".tmp-") {
			out[p] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCachePrune: the end of a real run prunes the entries no run used for
// 30 days, and only those. A run over app fills the cache, then one over
// other adds other's entries; every entry is made 31 days old but one of
// other's, 29 days. A run over app alone reads app's entries (a hit
// refreshes an entry), so at its end every entry of other is gone but the
// 29-day one, app's are all there, the report and the summary count what
// was pruned, and the next run over app still reads everything from the
// cache.
func TestCachePrune(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	seedCached(t, a)
	for i := range 4 {
		pushImage(t, a, "other:o"+strconv.Itoa(i), daysAgo(float64(40+i)), int64(5000+i))
	}
	dir := filepath.Join(t.TempDir(), "cache")
	in := inputs{"registry": a, "repositories": "app", "keep": "4", "dry-run": "true", "cache-dir": dir}
	if res := runAction(t, in); res.Code != 0 {
		t.Fatalf("run over app: exit %d", res.Code)
	}
	ofApp := cacheFiles(t, dir)
	in["repositories"] = "other"
	if res := runAction(t, in); res.Code != 0 {
		t.Fatalf("run over other: exit %d", res.Code)
	}
	var ofOther []string
	for p := range cacheFiles(t, dir) {
		if !ofApp[p] {
			ofOther = append(ofOther, p)
		}
	}
	sort.Strings(ofOther)
	if len(ofOther) != 8 {
		t.Fatalf("other added %d entries, want 8 (4 manifests, 4 configs)", len(ofOther))
	}
	now := time.Now()
	for p := range cacheFiles(t, dir) {
		at := now.Add(-31 * 24 * time.Hour)
		if p == ofOther[0] {
			at = now.Add(-29 * 24 * time.Hour)
		}
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}

	in["repositories"], in["dry-run"] = "app", "false"
	res := runAction(t, in)
	if res.Code != 0 {
		t.Fatalf("real run over app: exit %d", res.Code)
	}
	left := cacheFiles(t, dir)
	for p := range ofApp {
		if !left[p] {
			t.Errorf("%s, used by this run, was pruned", p)
		}
	}
	for i, p := range ofOther {
		if left[p] != (i == 0) {
			t.Errorf("%s (unused for %s): left %v", p, map[bool]string{true: "29 days", false: "31 days"}[i == 0], left[p])
		}
	}
	if c := res.Report.Cache; c == nil || c.Pruned != len(ofOther)-1 || c.Entries != len(ofApp)+1 {
		t.Errorf("report's cache %+v: want %d pruned, %d entries", c, len(ofOther)-1, len(ofApp)+1)
	}
	if want := fmt.Sprintf("(%d unused for 30 days pruned)", len(ofOther)-1); !strings.Contains(res.Summary, want) {
		t.Errorf("the summary does not say %q:\n%s", want, res.Summary)
	}
	in["dry-run"] = "true"
	r.ResetRequests()
	if res := runAction(t, in); res.Code != 0 || res.Report.Cache.ManifestMisses+res.Report.Cache.ConfigMisses != 0 {
		t.Errorf("the run after the prune: exit %d, cache %+v; want no miss", res.Code, res.Report.Cache)
	}
}
