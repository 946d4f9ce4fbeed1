package registry

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
)

// blocking answers once released, counting the requests in flight.
type blocking struct {
	in, peak atomic.Int32
	release  chan struct{}
}

func (b *blocking) RoundTrip(*http.Request) (*http.Response, error) {
	n := b.in.Add(1)
	for {
		p := b.peak.Load()
		if n <= p || b.peak.CompareAndSwap(p, n) {
			break
		}
	}
	<-b.release
	b.in.Add(-1)
	return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
}

func TestLimiterBoundsEveryTransport(t *testing.T) {
	t.Parallel()
	l := NewLimiter(3)
	b := &blocking{release: make(chan struct{})}
	// Two stacks (say the registry API and a vendor API) share the bound.
	stacks := []http.RoundTripper{l.Transport(b), l.Transport(b)}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
			if _, err := stacks[i%2].RoundTrip(req); err != nil {
				t.Error(err)
			}
		}()
	}
	for range 20 {
		b.release <- struct{}{}
	}
	wg.Wait()
	if p := b.peak.Load(); p > 3 || p < 1 {
		t.Errorf("peak in flight = %d, want 1..3", p)
	}
	s := l.Stats()
	if s.Requests != 20 || s.Slots != 3 || s.Peak > 3 {
		t.Errorf("stats = %+v, want 20 requests, 3 slots, peak <= 3", s)
	}
}

func TestLimiterAcquireHonoursContext(t *testing.T) {
	t.Parallel()
	l := NewLimiter(1)
	if err := l.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Acquire(ctx); err == nil {
		t.Fatal("Acquire on a full limiter with a cancelled context succeeded")
	}
	l.Release()
	if err := l.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
}
