package registry

import (
	"context"
	"errors"
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

// gate is a RoundTripper that blocks every request until released and
// counts how many are in flight at once.
type gate struct {
	inflight, peak atomic.Int64
	entered        chan struct{}
	release        chan struct{}
}

func (g *gate) RoundTrip(req *http.Request) (*http.Response, error) {
	n := g.inflight.Add(1)
	for {
		p := g.peak.Load()
		if n <= p || g.peak.CompareAndSwap(p, n) {
			break
		}
	}
	g.entered <- struct{}{}
	<-g.release
	g.inflight.Add(-1)
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody, Request: req}, nil
}

// Moved from registry/oci (its private limiter became this Limiter).
func TestLimiterCapsInFlight(t *testing.T) {
	t.Parallel()
	const limit, requests = 3, 12
	g := &gate{entered: make(chan struct{}), release: make(chan struct{})}
	l := NewLimiter(limit)
	rt := l.Transport(g)
	var wg sync.WaitGroup
	errs := make(chan error, requests)
	for i := 0; i < requests; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, "http://registry.test/v2/", nil)
			resp, err := rt.RoundTrip(req)
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
		}()
	}
	// Let `limit` requests in, then one more for each one released.
	for i := 0; i < limit; i++ {
		<-g.entered
	}
	if n := len(l.slots); n != limit {
		t.Errorf("slots taken with %d requests blocked = %d, want %d", limit, n, limit)
	}
	for i := limit; i < requests; i++ {
		g.release <- struct{}{}
		<-g.entered
	}
	for i := 0; i < limit; i++ {
		g.release <- struct{}{}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("RoundTrip: %v", err)
	}
	if p := g.peak.Load(); p != limit {
		t.Errorf("peak requests in flight = %d, want %d", p, limit)
	}
	if n := len(l.slots); n != 0 {
		t.Errorf("slots still taken after every request ended = %d, want 0", n)
	}
}

func TestLimiterReleasesOnError(t *testing.T) {
	t.Parallel()
	boom := errors.New("dial tcp: connection refused")
	next := &failing{err: boom}
	l := NewLimiter(2)
	rt := l.Transport(next)
	for i := 0; i < 5; i++ {
		req, _ := http.NewRequest(http.MethodGet, "http://registry.test/v2/", nil)
		if _, err := rt.RoundTrip(req); !errors.Is(err, boom) {
			t.Fatalf("request %d: err = %v, want %v", i, err, boom)
		}
	}
	if n := len(l.slots); n != 0 {
		t.Errorf("slots taken after failed requests = %d, want 0", n)
	}
	if next.calls.Load() != 5 {
		t.Errorf("calls = %d, want 5", next.calls.Load())
	}
}

func TestLimiterContextWhileWaiting(t *testing.T) {
	t.Parallel()
	g := &gate{entered: make(chan struct{}), release: make(chan struct{})}
	l := NewLimiter(1)
	rt := l.Transport(g)
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequest(http.MethodGet, "http://registry.test/v2/", nil)
		if resp, err := rt.RoundTrip(req); err == nil {
			resp.Body.Close()
		}
	}()
	<-g.entered // the only slot is taken

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://registry.test/v2/", nil)
	resp, err := rt.RoundTrip(req)
	if !errors.Is(err, context.Canceled) || resp != nil {
		t.Errorf("RoundTrip while every slot is taken, context cancelled = %v, %v; want nil, context.Canceled", resp, err)
	}
	g.release <- struct{}{}
	<-done
	if p := g.peak.Load(); p != 1 {
		t.Errorf("peak in flight = %d, want 1 (the cancelled request must not be sent)", p)
	}
}

// failing fails every request with err, counting them.
type failing struct {
	err   error
	calls atomic.Int64
}

func (f *failing) RoundTrip(*http.Request) (*http.Response, error) {
	f.calls.Add(1)
	return nil, f.err
}
