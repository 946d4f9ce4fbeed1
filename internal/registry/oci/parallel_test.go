package oci

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// TestConfigFetchesUseTheWholeCap: with concurrency 8, eight config GETs
// can be in flight at once (ggcr alone caps blob GETs at 4). The registry
// holds every blob GET until eight wait together; a cap below eight never
// gets there and the barrier gives up after a while, failing the test.
func TestConfigFetchesUseTheWholeCap(t *testing.T) {
	t.Parallel()
	const n = 8
	r := startDistribution(t, testregistry.Options{DeleteEnabled: true})
	for i := range n {
		pushImage(t, fmt.Sprintf("%s/app:t%d", r.Addr(), i), testregistry.ImageSpec{Seed: int64(i + 1)})
	}
	var mu sync.Mutex
	waiting, peak := 0, 0
	all := make(chan struct{})
	r.SetHook(func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method != http.MethodGet || !strings.Contains(req.URL.Path, "/blobs/") {
			return false
		}
		mu.Lock()
		waiting++
		peak = max(peak, waiting)
		if waiting == n {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
		case <-time.After(10 * time.Second): // a lower cap never fills the barrier
		}
		mu.Lock()
		waiting--
		mu.Unlock()
		return false
	})
	b := newBackend(t, r.Addr(), WithConcurrency(n))
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if _, err := b.Manifest(context.Background(), "app", fmt.Sprintf("t%d", i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if peak < n {
		t.Errorf("at most %d config GETs were in flight at once, want %d", peak, n)
	}
}
