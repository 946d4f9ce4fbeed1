package registry

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// Limiter bounds the requests in flight across a whole run: one slot per
// `concurrency`, shared by every backend's HTTP stack (the registry API and
// the vendor REST APIs alike), so that the bound holds however many
// repositories and tags are worked on at once. The engine's goroutines do
// not multiply it: a request waits for a slot at the bottom of its stack.
//
// A slot is held until the response headers arrive, not until the body is
// closed: go-containerregistry keeps a response open while it sends the
// next request (the referrers fallback does), and holding slots across that
// deadlocks.
type Limiter struct {
	slots chan struct{}
	now   func() time.Time

	mu       sync.Mutex
	inFlight int
	since    time.Time // when inFlight last changed
	stats    LimiterStats
}

// LimiterStats is what a Limiter measured.
type LimiterStats struct {
	// Slots is the bound.
	Slots int
	// Requests counts the requests that got a slot.
	Requests int64
	// Latency is the summed time requests held a slot (until their
	// response headers arrived).
	Latency time.Duration
	// Busy is the time at least one request was in flight; Full the time
	// every slot was taken.
	Busy, Full time.Duration
	// Peak is the most requests in flight at once.
	Peak int
}

// NewLimiter returns a Limiter of n slots (at least 1).
func NewLimiter(n int) *Limiter {
	n = max(n, 1)
	return &Limiter{slots: make(chan struct{}, n), now: time.Now, stats: LimiterStats{Slots: n}}
}

// Acquire waits for a slot, or for ctx to end.
func (l *Limiter) Acquire(ctx context.Context) error {
	select {
	case l.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	l.account(+1)
	return nil
}

// Release gives a slot back.
func (l *Limiter) Release() {
	l.account(-1)
	<-l.slots
}

func (l *Limiter) account(delta int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if !l.since.IsZero() {
		d := now.Sub(l.since)
		if l.inFlight > 0 {
			l.stats.Busy += d
		}
		if l.inFlight == cap(l.slots) {
			l.stats.Full += d
		}
	}
	l.since = now
	l.inFlight += delta
	if delta > 0 {
		l.stats.Requests++
		l.stats.Peak = max(l.stats.Peak, l.inFlight)
	}
}

// Stats returns what the Limiter measured so far.
func (l *Limiter) Stats() LimiterStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats
}

// Transport returns next behind the Limiter: every request waits for a
// slot and holds it until its response headers arrive. A nil Limiter
// returns next unchanged.
func (l *Limiter) Transport(next http.RoundTripper) http.RoundTripper {
	if l == nil {
		return next
	}
	return &limited{l: l, next: next}
}

type limited struct {
	l    *Limiter
	next http.RoundTripper
}

func (t *limited) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.l.Acquire(req.Context()); err != nil {
		return nil, err
	}
	start := t.l.now()
	defer func() {
		t.l.mu.Lock()
		t.l.stats.Latency += t.l.now().Sub(start)
		t.l.mu.Unlock()
		t.l.Release()
	}()
	return t.next.RoundTrip(req)
}
