// Command memory measures tagsweep's own memory at scale: the engine, the
// planner and the report over a synthetic registry of many tags that
// costs (almost) no memory itself, since every answer is computed from
// the names on demand. It prints the peak RSS (VmHWM) of the process.
//
//	go run ./bench/memory                 # 100,000 tags in 100 repositories
//	go run ./bench/memory -tags 200000 -repos 50
//	PEAKPROFILE=peak.prof go run ./bench/memory   # the heap profile at the peak
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/tagsweep/tagsweep/internal/engine"
	"github.com/tagsweep/tagsweep/internal/policy"
	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/image"
	"github.com/tagsweep/tagsweep/internal/report"
)

func main() {
	tags := flag.Int("tags", 100000, "tags in total")
	repos := flag.Int("repos", 100, "repositories")
	conc := flag.Int("concurrency", 64, "engine concurrency")
	flag.Parse()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	b := &synthetic{repos: *repos, perRepo: *tags / *repos, now: now}
	all, _ := policy.CompileGlob("*")
	excl, _ := policy.CompileGlob("latest")
	rules := policy.Rules{Keep: 10, OlderThan: 30 * 24 * time.Hour, OlderThanText: "30d", Include: []policy.Glob{all}, Exclude: []policy.Glob{excl}, OrderBy: policy.OrderCreated}
	before := rss()
	stopPeak := peakProfile(os.Getenv("PEAKPROFILE"))
	start := time.Now()
	e := engine.New(b, engine.Options{Registry: "synthetic", Rules: rules, DryRun: true, Concurrency: *conc, Now: func() time.Time { return now }})
	rep := e.Run(context.Background())
	if err := rep.WriteJSON(io.Discard); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	summary := rep.Summary()
	outs, _ := rep.Outputs("", report.MaxOutput)
	wall := time.Since(start)
	stopPeak()
	if p := os.Getenv("MEMPROFILE"); p != "" {
		runtime.GC()
		f, _ := os.Create(p)
		pprof.WriteHeapProfile(f)
		f.Close()
	}
	runtime.KeepAlive(rep)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("tags %d in %d repositories, concurrency %d: %s, %d would be deleted, %d kept\n",
		rep.Totals.Tags, rep.Totals.Repositories, *conc, wall.Round(time.Millisecond), rep.Totals.Deleted, rep.Totals.Kept)
	fmt.Printf("summary %d KiB, %d outputs\n", len(summary)/1024, len(outs))
	fmt.Printf("peak RSS (VmHWM) %.1f MiB (%.1f MiB before the run); heap in use at the end %.1f MiB; %d GC cycles\n",
		float64(rss())/(1<<20), float64(before)/(1<<20), float64(ms.HeapInuse)/(1<<20), ms.NumGC)
}

// peakProfile, when path is set, samples the live heap every 10 ms and
// keeps the heap profile taken when it was largest, written to path when
// the returned func is called.
func peakProfile(path string) func() {
	if path == "" {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var best bytes.Buffer
		var max uint64
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		for {
			select {
			case <-done:
				os.WriteFile(path, best.Bytes(), 0o644)
				return
			case <-time.After(10 * time.Millisecond):
			}
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > max+max/20 {
				max = v
				best.Reset()
				pprof.Lookup("heap").WriteTo(&best, 0)
			}
		}
	}()
	return func() { close(done); <-finished }
}

// rss reads the peak resident set size of this process.
func rss() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return -1
}

// synthetic is a registry computed from names: repository i has perRepo
// tags build-0 … build-N plus latest; every fifth build shares the
// previous build's image; every 25th is a two-platform index.
type synthetic struct {
	repos, perRepo int
	now            time.Time
}

func digest(s string) string {
	h := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(h[:])
}

func (s *synthetic) Repositories(context.Context) ([]string, error) {
	out := make([]string, s.repos)
	for i := range out {
		out[i] = fmt.Sprintf("team-%d/service-%d", i%10, i)
	}
	return out, nil
}

func (s *synthetic) Tags(_ context.Context, repo string) ([]image.Tag, error) {
	out := make([]image.Tag, 0, s.perRepo)
	for i := range s.perRepo - 1 {
		out = append(out, image.Tag{Name: "build-" + strconv.Itoa(i)})
	}
	return append(out, image.Tag{Name: "latest"}), nil
}

// image is the image a tag names: shared by pairs of builds.
func (s *synthetic) image(repo, tag string) int {
	if tag == "latest" {
		return s.perRepo - 2
	}
	n, _ := strconv.Atoi(strings.TrimPrefix(tag, "build-"))
	if n%5 == 4 {
		n--
	}
	return n
}

func (s *synthetic) Manifest(_ context.Context, repo, ref string) (*image.Manifest, error) {
	if strings.HasPrefix(ref, "sha256:") {
		return s.byDigest(repo, ref)
	}
	return s.imageManifest(repo, s.image(repo, ref)), nil
}

func (s *synthetic) imageManifest(repo string, n int) *image.Manifest {
	created := s.now.Add(-time.Duration(s.perRepo-n) * 6 * time.Hour)
	if n%25 == 0 {
		kids := []string{digest(fmt.Sprintf("%s/%d/amd64", repo, n)), digest(fmt.Sprintf("%s/%d/arm64", repo, n))}
		return &image.Manifest{Digest: digest(fmt.Sprintf("%s/%d", repo, n)), MediaType: image.MediaTypeOCIIndex, Size: 500,
			Created: created, Children: kids, ChildInfo: map[string]string{kids[0]: "linux/amd64", kids[1]: "linux/arm64"}}
	}
	return s.leaf(fmt.Sprintf("%s/%d", repo, n), created)
}

func (s *synthetic) leaf(key string, created time.Time) *image.Manifest {
	return &image.Manifest{Digest: digest(key), MediaType: image.MediaTypeOCIManifest, Size: 400, Created: created,
		Blobs: []image.Blob{{Digest: digest(key + "/config"), Size: 1500}, {Digest: digest("base"), Size: 30 << 20}, {Digest: digest(key + "/layer"), Size: 5 << 20}}}
}

func (s *synthetic) byDigest(repo, d string) (*image.Manifest, error) {
	// Only index children are read by digest.
	for _, arch := range []string{"amd64", "arm64"} {
		for n := 0; n < s.perRepo; n += 25 {
			if key := fmt.Sprintf("%s/%d/%s", repo, n, arch); digest(key) == d {
				return s.leaf(key, s.now.Add(-time.Duration(s.perRepo-n)*6*time.Hour)), nil
			}
		}
	}
	return nil, registry.ErrNotFound
}

func (s *synthetic) Resolve(ctx context.Context, repo, tag string) (string, error) {
	return s.imageManifest(repo, s.image(repo, tag)).Digest, nil
}
func (s *synthetic) Exists(context.Context, string, string) (bool, error) { return true, nil }
func (s *synthetic) Referrers(context.Context, string, string) ([]string, error) {
	return nil, registry.ErrReferrersUnsupported
}
func (s *synthetic) TagDeleteSupported(context.Context, string) (bool, error) { return true, nil }
func (s *synthetic) DeleteTag(context.Context, string, string) error          { return nil }
func (s *synthetic) DeleteDigest(context.Context, string, string, []string) error {
	return nil
}
func (s *synthetic) Capabilities() registry.Capabilities {
	return registry.Capabilities{}
}

// RawManifest is not served: the harness writes no undo file.
func (s *synthetic) RawManifest(_ context.Context, _, digest string) (*image.Raw, error) {
	return nil, fmt.Errorf("synthetic backend: no bytes for %s", digest)
}
