package e2e

import (
	"fmt"
	"io/fs"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/registry/cache"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// checkCacheIntact reads every entry of the cache directory dir through a
// cache of its own: each must verify (no entry half-written or mixed up by
// two writers), and there must be want of them.
func checkCacheIntact(t *testing.T, dir string, want int) {
	t.Helper()
	c := cache.New(dir)
	n := 0
	err := filepath.WalkDir(filepath.Join(dir, cache.Version), func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		n++
		digest := "sha256:" + d.Name()
		switch kind := filepath.Base(filepath.Dir(filepath.Dir(filepath.Dir(p)))); kind {
		case "manifests":
			if _, _, ok := c.Manifest(digest); !ok {
				t.Errorf("manifest entry %s does not verify", digest)
			}
		case "configs":
			if _, ok := c.Config(digest); !ok {
				t.Errorf("config entry %s does not verify", digest)
			}
		default:
			t.Errorf("%s: a file outside the entries (%s)", p, kind)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != want {
		t.Errorf("%d files in the cache, want %d entries", n, want)
	}
}

// TestCacheSharedByTwoProcesses: two tagsweep processes share one
// cache-dir at the same time, as the shards of a matrix (or two Kubernetes
// pods on one volume) do: first two dry runs over the same repositories,
// which write the same entries at once, then two real runs, shard 0/2 and
// 1/2. Both succeed with the plan of a run without the cache, every entry
// left verifies, and a later run reads every manifest and config from it.
func TestCacheSharedByTwoProcesses(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	const repos, perRepo = 6, 8
	var names []string
	for i := range repos {
		repo := fmt.Sprintf("team/svc-%d", i)
		names = append(names, repo)
		for j := range perRepo {
			// The same images in every repository: both processes store
			// the same digests.
			pushImage(t, a, fmt.Sprintf("%s:b%d", repo, j), daysAgo(float64(j+1)), int64(100+j))
		}
	}
	// A few milliseconds on every request, so that the two runs overlap.
	r.SetHook(func(http.ResponseWriter, *http.Request) bool { time.Sleep(3 * time.Millisecond); return false })
	in := func(dry, shard, dir string) inputs {
		return inputs{"registry": a, "repositories": "team/*", "keep": "3", "dry-run": dry, "shard": shard, "cache-dir": dir}
	}
	base := runAction(t, in("true", "", ""))
	if base.code != 0 {
		t.Fatalf("run without the cache: exit %d", base.code)
	}
	want := deletedTagsOutput(t, base)
	if len(want) != repos*(perRepo-3) {
		t.Fatalf("the plan deletes %d tags, want %d", len(want), repos*(perRepo-3))
	}

	dir := filepath.Join(t.TempDir(), "cache")
	both := func(a, b inputs) [2]result {
		var out [2]result
		var wg sync.WaitGroup
		for i, x := range []inputs{a, b} {
			wg.Go(func() { out[i] = runAction(t, x) })
		}
		wg.Wait()
		// They ran at the same time: each started before the other ended.
		if out[0].report != nil && out[1].report != nil {
			r0, r1 := out[0].report, out[1].report
			if !r0.StartedAt.Before(r1.FinishedAt) || !r1.StartedAt.Before(r0.FinishedAt) {
				t.Errorf("the two runs did not overlap: %s–%s and %s–%s", r0.StartedAt, r0.FinishedAt, r1.StartedAt, r1.FinishedAt)
			}
		}
		return out
	}
	for i, res := range both(in("true", "", dir), in("true", "", dir)) {
		if res.code != 0 {
			t.Fatalf("dry run %d: exit %d", i, res.code)
		}
		if diff := cmp.Diff(want, deletedTagsOutput(t, res)); diff != "" {
			t.Errorf("dry run %d with the shared cache plans otherwise (-without +with):\n%s", i, diff)
		}
	}
	checkCacheIntact(t, dir, 2*perRepo) // a manifest and a config per image

	var deleted []string
	for i, res := range both(in("false", "0/2", dir), in("false", "1/2", dir)) {
		if res.code != 0 {
			t.Fatalf("shard %d/2: exit %d", i, res.code)
		}
		if c := res.report.Cache; c == nil || c.ManifestMisses+c.ConfigMisses != 0 || c.Dropped != 0 {
			t.Errorf("shard %d/2: cache %+v, want every read a hit", i, c)
		}
		deleted = append(deleted, deletedTagsOutput(t, res)...)
	}
	sort.Strings(deleted)
	if diff := cmp.Diff(want, deleted); diff != "" {
		t.Errorf("the two shards deleted other tags than planned (-planned +deleted):\n%s", diff)
	}
	for _, repo := range names {
		if diff := cmp.Diff([]string{"b0", "b1", "b2"}, listTags(t, a, repo)); diff != "" {
			t.Errorf("%s: tags left (-want +got):\n%s", repo, diff)
		}
	}
	checkCacheIntact(t, dir, 2*perRepo)

	r.SetHook(nil)
	r.ResetRequests()
	res := runAction(t, in("true", "", dir))
	if got := r.Requests(); res.code != 0 || got.Of("GET", testregistry.ClassManifest)+got.Of("GET", testregistry.ClassBlob) != 0 {
		t.Errorf("a later run: exit %d, %v; want no manifest or config GET", res.code, got.ByRoute)
	}
	if !strings.Contains(res.stderr, "cache-dir "+dir+": ") {
		t.Errorf("the log does not say what the cache saved:\n%s", res.stderr)
	}
}
