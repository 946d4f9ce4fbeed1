package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Metrics read from runtime/metrics.
const (
	// metricHeap is the bytes of heap objects, live or not yet swept: what
	// the heap really occupies between collections.
	metricHeap = "/memory/classes/heap/objects:bytes"
	// metricLive is the heap marked live by the last collection.
	metricLive = "/gc/heap/live:bytes"
	// metricAllocBytes and metricAllocObjects are cumulative allocations.
	metricAllocBytes   = "/gc/heap/allocs:bytes"
	metricAllocObjects = "/gc/heap/allocs:objects"
)

func readMetrics(names ...string) []uint64 {
	s := make([]metrics.Sample, len(names))
	for i, n := range names {
		s[i].Name = n
	}
	metrics.Read(s)
	out := make([]uint64, len(names))
	for i := range s {
		if s[i].Value.Kind() == metrics.KindUint64 {
			out[i] = s[i].Value.Uint64()
		}
	}
	return out
}

// heapSample is the heap at one instant.
type heapSample struct {
	at   time.Time
	heap uint64
}

// sampler records the heap every 50ms: its peak, and the series.
type sampler struct {
	mu       sync.Mutex
	peakHeap uint64
	peakLive uint64
	peakAt   time.Time
	series   []heapSample
	done     chan struct{}
	wg       sync.WaitGroup
}

func newSampler() *sampler { return &sampler{} }

func (s *sampler) sample() {
	v := readMetrics(metricHeap, metricLive)
	s.mu.Lock()
	now := time.Now()
	if v[0] > s.peakHeap {
		s.peakHeap, s.peakAt = v[0], now
	}
	s.series = append(s.series, heapSample{now, v[0]})
	s.peakLive = max(s.peakLive, v[1])
	s.mu.Unlock()
}

func (s *sampler) start() {
	s.done = make(chan struct{})
	s.sample()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				s.sample()
			case <-s.done:
				return
			}
		}
	}()
}

func (s *sampler) stop() {
	s.sample()
	close(s.done)
	s.wg.Wait()
}

func (s *sampler) resetPeak() {
	s.mu.Lock()
	s.peakHeap, s.peakLive, s.series = 0, 0, nil
	s.mu.Unlock()
	s.sample()
}

func (s *sampler) peak() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peakHeap
}

// byTenth returns the peak heap in each tenth of [start, end].
func (s *sampler) byTenth(start, end time.Time) [10]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out [10]uint64
	span := end.Sub(start)
	if span <= 0 {
		return out
	}
	for _, x := range s.series {
		i := int(10 * x.at.Sub(start) / span)
		i = min(max(i, 0), 9)
		out[i] = max(out[i], x.heap)
	}
	return out
}

func (s *sampler) peaks() (heap, live uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peakHeap, s.peakLive
}

// resetPeakRSS resets VmHWM (Linux: "5" > /proc/self/clear_refs). It
// reports whether that worked.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// peakRSS reads VmHWM from /proc/self/status, 0 when unavailable.
func peakRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseUint(f[0], 10, 64)
				return n << 10
			}
		}
	}
	return 0
}

// lineKeeper is an io.Writer that keeps only the first bytes of each line
// and at most maxLines lines (the last ones), so that capturing tagsweep's
// output does not add the output's size to the heap being measured.
type lineKeeper struct {
	mu       sync.Mutex
	cur      []byte
	curLen   int
	lines    []string
	maxLines int
	tee      *os.File
}

const keepPerLine = 300

func (k *lineKeeper) Write(p []byte) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.tee != nil {
		_, _ = k.tee.Write(p)
	}
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if room := keepPerLine - len(k.cur); room > 0 {
			k.cur = append(k.cur, chunk[:min(room, len(chunk))]...)
		}
		k.curLen += len(chunk)
		if i < 0 {
			break
		}
		k.flush()
		p = p[i+1:]
	}
	return n, nil
}

func (k *lineKeeper) flush() {
	line := string(k.cur)
	if k.curLen > len(k.cur) {
		line += "…"
	}
	k.lines = append(k.lines, line)
	if k.maxLines > 0 && len(k.lines) > 2*k.maxLines {
		k.lines = append(k.lines[:0], k.lines[len(k.lines)-k.maxLines:]...)
	}
	k.cur, k.curLen = k.cur[:0], 0
}

func (k *lineKeeper) Lines() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := k.lines
	if k.maxLines > 0 && len(out) > k.maxLines {
		out = out[len(out)-k.maxLines:]
	}
	return append([]string(nil), out...)
}

// startProfile starts a CPU profile of a phase in dir (nothing when dir is
// empty); the function it returns stops it and writes the allocation
// profile (default sampling rate; it covers the whole process lifetime, so
// read it with -sample_index=alloc_space and focus on the phase).
func startProfile(dir, phase string) (func() error, error) {
	if dir == "" {
		return func() error { return nil }, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	base := filepath.Join(dir, strings.ReplaceAll(phase, " ", "-"))
	f, err := os.Create(base + ".cpu.pprof")
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return err
		}
		runtime.GC()
		a, err := os.Create(base + ".allocs.pprof")
		if err != nil {
			return err
		}
		defer a.Close()
		return pprof.Lookup("allocs").WriteTo(a, 0)
	}, nil
}
