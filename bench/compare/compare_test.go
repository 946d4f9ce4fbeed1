package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testOptions(repos, tags int) datasetOptions {
	return datasetOptions{Repos: repos, TagsPerRepo: tags, Keep: 10, Seed: 1, PairFraction: 0.2, IndexFraction: 0.02,
		BoundaryEvery: 4, Span: 365 * 24 * time.Hour}
}

func TestDatasetDeterministic(t *testing.T) {
	a, b := makeDataset(testOptions(3, 60)), makeDataset(testOptions(3, 60))
	for r := range a.Repos {
		if len(a.Repos[r].Tags) != 60 {
			t.Fatalf("repo %d: %d tags", r, len(a.Repos[r].Tags))
		}
		for i := range a.Repos[r].Tags {
			if a.Repos[r].Tags[i] != b.Repos[r].Tags[i] {
				t.Fatalf("repo %d tag %d differs: %+v vs %+v", r, i, a.Repos[r].Tags[i], b.Repos[r].Tags[i])
			}
		}
	}
	o := testOptions(3, 60)
	o.Seed = 2
	if c := makeDataset(o); c.Repos[0].Tags[0].Digest == a.Repos[0].Tags[0].Digest {
		t.Fatal("another seed gave the same content")
	}
}

func TestDatasetShape(t *testing.T) {
	ds := makeDataset(testOptions(20, 250))
	if ds.Tags != 5000 {
		t.Fatalf("tags = %d", ds.Tags)
	}
	// about 20% of the tags share a digest with another tag
	shared := 0
	for _, m := range ds.Repos {
		n := map[string]int{}
		for _, tg := range m.Tags {
			n[tg.Digest]++
		}
		for _, tg := range m.Tags {
			if n[tg.Digest] > 1 {
				shared++
			}
		}
		// created: distinct per object, within the span, whole seconds
		for _, tg := range m.Tags {
			if tg.Created.After(seedEpoch) || tg.Created.Before(seedEpoch.Add(-365*24*time.Hour)) || tg.Created.Nanosecond() != 0 {
				t.Fatalf("%s:%s created %s", m.Name, tg.Tag, tg.Created)
			}
		}
	}
	if shared != 1000 {
		t.Fatalf("%d tags share a digest, want 1000", shared)
	}
	if ds.Indexes != 100 {
		t.Fatalf("%d indexes", ds.Indexes)
	}
	// every 4th repository has the boundary pair; others may by chance
	for r, m := range ds.Repos {
		if r%4 == 0 && !m.BoundaryPair {
			t.Fatalf("repo %d: no boundary pair", r)
		}
		if m.BoundaryPair {
			k, s := m.Tags[9], m.Tags[10]
			if k.Digest != s.Digest || !m.Keep[k.Tag] || m.Keep[s.Tag] || k.Tag < s.Tag {
				t.Fatalf("repo %d: boundary %+v / %+v", r, k, s)
			}
		}
		if len(m.Keep) != 10 {
			t.Fatalf("repo %d keeps %d", r, len(m.Keep))
		}
	}
}

func TestBound(t *testing.T) {
	ds := makeDataset(testOptions(2, 40))
	b := computeBound(ds)
	want := 0
	for _, m := range ds.Repos {
		digests := map[string]bool{}
		for _, tg := range m.Tags {
			digests[tg.Digest] = true
		}
		// list + manifests + children + configs + second look + deletes
		want += 1 + 40 + m.Children + m.Configs + 1 + 40 + m.DigestDeletes + m.TagDeletes + m.ChildDeletes
		if m.Configs != len(digests)+m.Children-countIndexes(m) {
			t.Fatalf("configs %d, digests %d, children %d", m.Configs, len(digests), m.Children)
		}
		stale := 0
		for _, tg := range m.Tags {
			if !m.Keep[tg.Tag] {
				stale++
			}
		}
		if m.TagDeletes > stale || m.DigestDeletes > stale {
			t.Fatal("more deletes than stale tags")
		}
	}
	for _, m := range ds.Repos {
		if got := len(m.freedDigests()); got != m.DigestDeletes+m.ChildDeletes {
			t.Fatalf("%s: %d freed digests, %d + %d deletes", m.Name, got, m.DigestDeletes, m.ChildDeletes)
		}
	}
	if b.Total() != want+1 { // + the catalog page
		t.Fatalf("bound %d, want %d", b.Total(), want+1)
	}
	sum := 0
	for _, v := range b.byRoute() {
		sum += v
	}
	if sum != b.Total() {
		t.Fatalf("byRoute sums to %d, total %d", sum, b.Total())
	}
}

func countIndexes(m *repoModel) int {
	n := 0
	for _, tg := range m.Tags {
		if tg.Kind == kindIndex {
			n++
		}
	}
	return n
}

func TestRegbotConfig(t *testing.T) {
	c := regbotConfig("127.0.0.1:5000", 10)
	for _, want := range []string{"registry: 127.0.0.1:5000\n    tls: disabled", "      reg = \"127.0.0.1:5000\"\n      keep = 10\n", "      for _, repoName in ipairs(repo.ls(reg)) do\n", "        tag.delete(ref)\n"} {
		if !strings.Contains(c, want) {
			t.Fatalf("config lacks %q:\n%s", want, c)
		}
	}
}

func TestWriteResults(t *testing.T) {
	p := filepath.Join(t.TempDir(), "RESULTS.md")
	if err := os.WriteFile(p, []byte("# Results\n\n## Other\n\ntext\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeResults(p, "first run\n"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	s := string(b)
	if !strings.Contains(s, "## Other\n\ntext\n\n"+sectionHeading) || !strings.Contains(s, "first run") {
		t.Fatalf("after the first write:\n%s", s)
	}
	// notes after the generated block survive a rewrite
	s = strings.Replace(s, endMarker, endMarker+"\n\nmy analysis", 1) + "\n## Later\n"
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeResults(p, "second run\n"); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(p)
	s = string(b)
	if strings.Contains(s, "first run") || !strings.Contains(s, "second run") || !strings.Contains(s, "my analysis") ||
		!strings.Contains(s, "## Later") || strings.Count(s, sectionHeading) != 1 {
		t.Fatalf("after the second write:\n%s", s)
	}
}

// The second day of -nightly: every repository holds the tags the first
// day kept, the moved ones now on rebuilds of their own, plus the new
// builds; the policy keeps the moved and new tags (the newest) and the
// newest of the rest, and the re-run bound reads only the new images.
func TestNextDay(t *testing.T) {
	const keep, added, moved = 10, 5, 2
	ds := makeDataset(testOptions(4, 60))
	d := ds.nextDay(keep, added, moved)
	if d.Added != 4*added || d.Moved != 4*moved || d.NewImages != 4*(added+moved) || d.ds.Tags != 4*(keep+added) || len(d.ds.stages[0]) != d.NewImages {
		t.Fatalf("second day: %d added, %d moved, %d new images, %d tags, %d pushes", d.Added, d.Moved, d.NewImages, d.ds.Tags, len(d.ds.stages[0]))
	}
	for r, m := range d.ds.Repos {
		first := ds.Repos[r]
		day1 := map[string]string{}
		for _, tg := range first.Tags {
			if first.Keep[tg.Tag] {
				day1[tg.Tag] = tg.Digest
			}
		}
		movedNow, stale := 0, 0
		for i, tg := range m.Tags {
			old, was := day1[tg.Tag]
			switch {
			case i < added+moved:
				if !m.Keep[tg.Tag] {
					t.Errorf("%s: %s is among the newest but not kept", m.Name, tg.Tag)
				}
				if was && old == tg.Digest {
					t.Errorf("%s: %s is among the newest on its first-day image", m.Name, tg.Tag)
				} else if was {
					movedNow++
				}
			case !was:
				t.Errorf("%s: %s is neither from the first day nor among the newest", m.Name, tg.Tag)
			case !m.Keep[tg.Tag]:
				stale++
			}
		}
		if movedNow != moved || stale != added || len(m.Keep) != keep {
			t.Errorf("%s: %d moved, %d stale, %d kept; want %d, %d, %d", m.Name, movedNow, stale, len(m.Keep), moved, added, keep)
		}
	}
	b := d.rerunBound()
	if b.Heads != d.ds.Tags || b.Manifests != d.NewImages || b.Configs != d.NewImages || b.Children != 0 || b.TaggedStale != 4*added {
		t.Errorf("re-run bound %+v", b)
	}
	if full := computeBound(d.ds); full.Manifests != d.ds.Tags || full.Heads != 0 {
		t.Errorf("bound without a cache %+v", full)
	}
}
