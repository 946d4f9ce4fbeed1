package main

// Benchmarks of tagsweep's CPU-side work at 1k, 10k and 100k tags, with no
// network: the pure planner (policy.Make, first plan and second-look
// re-plan), the whole engine over an in-memory Backend (dry, real, and a
// dry run where half the tags are signatures of deleted images), and the
// rendering of the JSON report, job summary and step outputs. They report
// ns/op, B/op, allocs/op and ns/tag, so that a regression (super-linear
// work, memory per tag) shows without a registry:
//
//	go test -run '^$' -bench . -benchmem ./bench
//
// TestHarness runs the `go run ./bench` harness itself at a small scale, to
// keep it working; it checks correctness only, never time.

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tagsweep/tagsweep/internal/engine"
	"github.com/tagsweep/tagsweep/internal/engine/enginetest"
	"github.com/tagsweep/tagsweep/internal/policy"
	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/image"
	"github.com/tagsweep/tagsweep/internal/report"
)

var benchSizes = []int{1000, 10000, 100000}

// synthRepo is one synthetic repository: tags, every manifest they reach,
// referrers.
type synthRepo struct {
	tags      []policy.Tag
	manifests map[string]*image.Manifest
	referrers map[string][]string
	exists    map[string]bool
}

func fakeDigest(kind string, i int) string {
	h := fnv.New32a()
	h.Write([]byte(kind))
	return fmt.Sprintf("sha256:%08x%056x", h.Sum32(), i)
}

// synth builds a repository of n tags shaped like the seeded ones
// (makeSeedPlan): 4% multi-arch indexes (2 children, every second index
// sharing its arm64 child), 4% cosign .sig tags, 1% release-N second tags
// plus latest and main, 0.5% unknown age, builds for the rest with created
// over 180 days, an OCI referrer on one build in 50, and orphans% of n as
// extra .sig tags whose subject is gone.
func synth(n int, orphans float64, now time.Time) *synthRepo {
	rng := rand.New(rand.NewPCG(uint64(n), 42))
	s := &synthRepo{manifests: map[string]*image.Manifest{}, referrers: map[string][]string{}, exists: map[string]bool{}}
	nOrphan := int(float64(n) * orphans)
	nRelease, nSig, nIdx, nRepro := n/100, n/25, n/25, n/200
	nBuild := n - nRelease - nSig - nIdx - nRepro - 2 - nOrphan
	base := []image.Blob{{Digest: fakeDigest("layer", 0), Size: 6 << 20}, {Digest: fakeDigest("layer", 1), Size: 3 << 20}}
	mkImage := func(kind string, i int, created time.Time) *image.Manifest {
		m := &image.Manifest{Digest: fakeDigest(kind, i), MediaType: image.MediaTypeOCIManifest, Size: 700, Created: created,
			Blobs: append([]image.Blob{{Digest: fakeDigest(kind+"-config", i), Size: 900}}, append(base, image.Blob{Digest: fakeDigest("group", i/16), Size: 1 << 20})...)}
		s.manifests[m.Digest] = m
		return m
	}
	span := int64(180 * 24 * time.Hour)
	builds := make([]*image.Manifest, nBuild)
	for i := range builds {
		builds[i] = mkImage("build", i, now.Add(-time.Duration(rng.Int64N(span))))
		s.tags = append(s.tags, policy.Tag{Name: fmt.Sprintf("build-%06d", i), Digest: builds[i].Digest})
		if i%50 == 7 {
			r := &image.Manifest{Digest: fakeDigest("referrer", i), MediaType: image.MediaTypeOCIManifest, Size: 500,
				ArtifactType: "application/spdx+json", Subject: builds[i].Digest, Blobs: []image.Blob{{Digest: fakeDigest("sbom", i), Size: 4000}}}
			s.manifests[r.Digest] = r
			s.referrers[builds[i].Digest] = []string{r.Digest}
		}
	}
	for i := 0; i < nRepro; i++ {
		s.tags = append(s.tags, policy.Tag{Name: fmt.Sprintf("repro-%04d", i), Digest: mkImage("repro", i, time.Unix(0, 0)).Digest})
	}
	var arm *image.Manifest
	for k := 0; k < nIdx; k++ {
		created := now.Add(-time.Duration(rng.Int64N(span)))
		amd := mkImage("amd64", k, created)
		if k%2 == 0 {
			arm = mkImage("arm64", k, created)
		}
		idx := &image.Manifest{Digest: fakeDigest("index", k), MediaType: image.MediaTypeOCIIndex, Size: 500,
			Children: []string{amd.Digest, arm.Digest}, ChildInfo: map[string]string{amd.Digest: "linux/amd64", arm.Digest: "linux/arm64"}}
		s.manifests[idx.Digest] = idx
		s.tags = append(s.tags, policy.Tag{Name: fmt.Sprintf("mr-%05d", k), Digest: idx.Digest})
	}
	sig := func(i int, subject string) {
		m := &image.Manifest{Digest: fakeDigest("sig", i), MediaType: image.MediaTypeOCIManifest, Size: 400,
			Blobs: []image.Blob{{Digest: fakeDigest("sigconfig", 0), Size: 200}, {Digest: fakeDigest("sigpayload", i), Size: 300}}}
		s.manifests[m.Digest] = m
		s.tags = append(s.tags, policy.Tag{Name: "sha256-" + subject[len("sha256:"):] + ".sig", Digest: m.Digest})
	}
	for k := 0; k < nSig; k++ {
		sig(k, builds[(k*nBuild/max(nSig, 1)+1)%nBuild].Digest)
	}
	for k := 0; k < nOrphan; k++ {
		gone := fakeDigest("gone", k)
		sig(nSig+k, gone)
		s.exists[gone] = false
	}
	for k := 0; k < nRelease; k++ {
		s.tags = append(s.tags, policy.Tag{Name: fmt.Sprintf("release-%04d", k), Digest: builds[(k*nBuild/max(nRelease, 1)+3)%nBuild].Digest})
	}
	s.tags = append(s.tags, policy.Tag{Name: "latest", Digest: builds[0].Digest}, policy.Tag{Name: "main", Digest: builds[nBuild/2].Digest})
	rng.Shuffle(len(s.tags), func(i, j int) { s.tags[i], s.tags[j] = s.tags[j], s.tags[i] })
	return s
}

func benchRules(tb testing.TB) policy.Rules {
	r := policy.Rules{Keep: 10, OlderThan: 30 * 24 * time.Hour, OlderThanText: "30d", OrderBy: policy.OrderCreated}
	for _, p := range []string{"*"} {
		g, err := policy.CompileGlob(p)
		if err != nil {
			tb.Fatal(err)
		}
		r.Include = append(r.Include, g)
	}
	for _, p := range []string{"latest", "main", "release-*"} {
		g, err := policy.CompileGlob(p)
		if err != nil {
			tb.Fatal(err)
		}
		r.Exclude = append(r.Exclude, g)
	}
	return r
}

func (s *synthRepo) input(now time.Time) policy.Input {
	return policy.Input{Tags: s.tags, Manifests: s.manifests, Referrers: s.referrers, Exists: s.exists, Now: now, TagDelete: true}
}

// BenchmarkPlan is the first plan of a repository of n tags.
func BenchmarkPlan(b *testing.B) {
	now := time.Now()
	rules := benchRules(b)
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("tags=%d", n), func(b *testing.B) {
			in := synth(n, 0, now).input(now)
			deletes := 0
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				deletes = policy.Make(rules, in).Deletes()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/tag")
			if deletes == 0 {
				b.Fatal("the plan deletes nothing")
			}
		})
	}
}

// BenchmarkPlanSecondLook is the re-plan of the second look: every
// decision fixed, the first plan's kept digests pinned.
func BenchmarkPlanSecondLook(b *testing.B) {
	now := time.Now()
	rules := benchRules(b)
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("tags=%d", n), func(b *testing.B) {
			in := synth(n, 0, now).input(now)
			first := policy.Make(rules, in)
			in.Decided = map[string]policy.Decision{}
			in.Forced = map[string]policy.Reason{}
			in.Pinned = append([]string(nil), first.Kept...)
			for _, it := range first.Items {
				if it.Subject == "" {
					in.Decided[it.Tag] = policy.Decision{Action: it.Action, Reason: it.Reason}
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				policy.Make(rules, in)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/tag")
		})
	}
}

// memBackend is a registry.Backend over a synthRepo, with no I/O. Deletes
// succeed and change nothing, so every iteration sees the same registry.
type memBackend struct {
	repos map[string]*synthRepo
	byTag map[string]map[string]string
	mu    sync.Mutex
	calls map[string]int
}

func newMemBackend(repos map[string]*synthRepo) *memBackend {
	b := &memBackend{repos: repos, byTag: map[string]map[string]string{}, calls: map[string]int{}}
	for name, r := range repos {
		b.byTag[name] = map[string]string{}
		for _, t := range r.tags {
			b.byTag[name][t.Name] = t.Digest
		}
	}
	return b
}

func (b *memBackend) count(op string) {
	b.mu.Lock()
	b.calls[op]++
	b.mu.Unlock()
}

func (b *memBackend) Repositories(context.Context) ([]string, error) {
	var out []string
	for n := range b.repos {
		out = append(out, n)
	}
	return out, nil
}

func (b *memBackend) Tags(_ context.Context, repo string) ([]image.Tag, error) {
	b.count("tags")
	r, ok := b.repos[repo]
	if !ok {
		return nil, registry.ErrNotFound
	}
	out := make([]image.Tag, len(r.tags))
	for i, t := range r.tags {
		out[i].Name = t.Name
	}
	return out, nil
}

func (b *memBackend) lookup(repo, ref string) (*image.Manifest, error) {
	if !strings.HasPrefix(ref, "sha256:") {
		ref = b.byTag[repo][ref]
	}
	m, ok := b.repos[repo].manifests[ref]
	if !ok {
		return nil, registry.ErrNotFound
	}
	return m, nil
}

func (b *memBackend) Manifest(_ context.Context, repo, ref string) (*image.Manifest, error) {
	b.count("manifest")
	m, err := b.lookup(repo, ref)
	if err != nil {
		return nil, err
	}
	c := *m // a real backend decodes a fresh one each time
	return &c, nil
}

func (b *memBackend) Resolve(_ context.Context, repo, tag string) (string, error) {
	b.count("resolve")
	m, err := b.lookup(repo, tag)
	if err != nil {
		return "", err
	}
	return m.Digest, nil
}

func (b *memBackend) Exists(_ context.Context, repo, digest string) (bool, error) {
	b.count("exists")
	_, err := b.lookup(repo, digest)
	return err == nil, nil
}

func (b *memBackend) Referrers(_ context.Context, repo, digest string) ([]string, error) {
	b.count("referrers")
	return b.repos[repo].referrers[digest], nil
}

func (b *memBackend) TagDeleteSupported(context.Context, string) (bool, error) { return true, nil }
func (b *memBackend) DeleteTag(context.Context, string, string) error {
	b.count("delete-tag")
	return nil
}
func (b *memBackend) DeleteDigest(context.Context, string, string, []string) error {
	b.count("delete-digest")
	return nil
}
func (b *memBackend) Capabilities() registry.Capabilities {
	return registry.Capabilities{}
}

func runEngine(tb testing.TB, be registry.Backend, rules policy.Rules, dry bool, now time.Time) *report.Report {
	rep := enginetest.Run(tb, context.Background(), be, engine.Options{Registry: "memory", Repositories: []string{"**"}, Rules: rules, DryRun: dry,
		Concurrency: 8, Now: func() time.Time { return now }, Log: io.Discard})
	if rep.Failed() || rep.Totals.Deleted == 0 {
		tb.Fatalf("engine run: failed=%v deleted=%d errors=%v", rep.Failed(), rep.Totals.Deleted, rep.Errors)
	}
	return rep
}

// BenchmarkEngine runs the whole engine (inspect, plan, second look,
// execute, report entries) on one repository of n tags over an in-memory
// backend: what tagsweep costs besides the network.
func BenchmarkEngine(b *testing.B) {
	now := time.Now()
	rules := benchRules(b)
	for _, mode := range []struct {
		name    string
		dry     bool
		orphans float64
	}{{"dry", true, 0}, {"real", false, 0}, {"dry-orphans50pct", true, 0.50}} {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%s/tags=%d", mode.name, n), func(b *testing.B) {
				be := newMemBackend(map[string]*synthRepo{"app": synth(n, mode.orphans, now)})
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					runEngine(b, be, rules, mode.dry, now)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/tag")
			})
		}
	}
}

// BenchmarkReport renders what a run ends with, for n tags in
// repositories of 1000 (the shape of `go run ./bench`): the JSON report
// (report-file), the markdown job summary and the step outputs.
func BenchmarkReport(b *testing.B) {
	now := time.Now()
	rules := benchRules(b)
	for _, n := range benchSizes {
		repos := map[string]*synthRepo{}
		for r := 0; r < max(n/1000, 1); r++ {
			repos[repoName(r)] = synth(min(n, 1000), 0, now)
		}
		rep := runEngine(b, newMemBackend(repos), rules, true, now)
		for _, part := range []struct {
			name string
			f    func() int
		}{
			{"json", func() int { j, _ := rep.JSON(); return len(j) }},
			{"summary", func() int { return len(rep.Summary()) }},
			{"outputs", func() int {
				n := 0
				outs, _ := rep.Outputs("", report.MaxOutput)
				for _, o := range outs {
					n += len(o.Value)
				}
				return n
			}},
		} {
			b.Run(fmt.Sprintf("%s/tags=%d", part.name, n), func(b *testing.B) {
				size := 0
				b.ReportAllocs()
				for b.Loop() {
					size = part.f()
				}
				b.ReportMetric(float64(size), "bytes")
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/tag")
			})
		}
	}
}

// TestHarness runs the benchmark harness end to end at a small scale
// (in-process registry, no latency, one 429 in 400 requests) and checks
// that its own checks pass. It measures nothing.
func TestHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	var out strings.Builder
	ok, err := run(context.Background(), options{
		registry: "ggcr", repos: 2, tags: 300, concurrency: 4, keep: 10, olderThan: "30d",
		excludeTags: "latest,main,release-*", seedWorkers: 8, inProcess: true, verify: true, rateLimitEvery: 400,
	}, &out)
	if err != nil || !ok {
		t.Fatalf("harness: ok=%v err=%v\n%s", ok, err, out.String())
	}
	for _, want := range []string{"checks: ok", "| dry run |", "| real run |", "GET referrers"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestSynth keeps the benchmark input honest: n tags, and a plan that
// deletes some and keeps some.
func TestSynth(t *testing.T) {
	now := time.Now()
	s := synth(1000, 0.1, now)
	if len(s.tags) != 1000 {
		t.Fatalf("%d tags, want 1000", len(s.tags))
	}
	p := policy.Make(benchRules(t), s.input(now))
	if d := p.Deletes(); d < 500 || d > 950 {
		t.Errorf("plan deletes %d of 1000", d)
	}
	if !p.NeedsTagDelete() {
		t.Error("no tag is deleted by tag; the release-N second tags should cause some")
	}
}

// RawManifest is not served: the benchmarks write no undo file.
func (b *memBackend) RawManifest(_ context.Context, _, digest string) (*image.Raw, error) {
	return nil, fmt.Errorf("memBackend: no bytes for %s", digest)
}
