package oci

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
)

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name     string
		header   string // "" leaves the header out
		wantWait time.Duration
		wantOK   bool
	}{
		{name: "absent"},
		{name: "delta seconds", header: "120", wantWait: 120 * time.Second, wantOK: true},
		{name: "zero seconds", header: "0", wantWait: 0, wantOK: true},
		{name: "negative seconds", header: "-5"},
		{name: "http date in the future", header: now.Add(90 * time.Second).Format(http.TimeFormat), wantWait: 90 * time.Second, wantOK: true},
		{name: "rfc 850 date in the future", header: now.Add(time.Hour).Format(time.RFC850), wantWait: time.Hour, wantOK: true},
		{name: "http date in the past", header: now.Add(-time.Hour).Format(http.TimeFormat), wantWait: 0, wantOK: true},
		{name: "http date now", header: now.Format(http.TimeFormat), wantWait: 0, wantOK: true},
		{name: "garbage", header: "soon"},
		{name: "fractional seconds", header: "1.5"},
		{name: "seconds with unit", header: "10s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			if tc.header != "" {
				h.Set("Retry-After", tc.header)
			}
			wait, ok := retryAfter(h, now)
			if diff := gocmp.Diff([]any{tc.wantWait, tc.wantOK}, []any{wait, ok}); diff != "" {
				t.Errorf("retryAfter(%q) (-want +got):\n%s", tc.header, diff)
			}
		})
	}
}

// answer is one scripted response of a fakeRT.
type answer struct {
	status     int
	retryAfter string
	err        error
}

// fakeRT answers requests from a script, one answer per call; the last
// answer repeats. It records the bodies it received.
type fakeRT struct {
	mu     sync.Mutex
	script []answer
	calls  int
	bodies []string
	onCall func(n int) // called with the 1-based call number, may be nil
}

func (f *fakeRT) RoundTrip(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	f.calls++
	n := f.calls
	a := f.script[min(n, len(f.script))-1]
	if req.Body != nil {
		b, _ := io.ReadAll(req.Body)
		req.Body.Close()
		f.bodies = append(f.bodies, string(b))
	}
	on := f.onCall
	f.mu.Unlock()
	if on != nil {
		on(n)
	}
	if a.err != nil {
		return nil, a.err
	}
	h := http.Header{}
	if a.retryAfter != "" {
		h.Set("Retry-After", a.retryAfter)
	}
	h.Set("X-Call", strconv.Itoa(n))
	return &http.Response{
		StatusCode: a.status,
		Status:     fmt.Sprintf("%d %s", a.status, http.StatusText(a.status)),
		Header:     h,
		Body:       io.NopCloser(strings.NewReader(fmt.Sprintf("answer %d", n))),
		Request:    req,
	}, nil
}

func (f *fakeRT) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// sleepRecorder replaces backoff.sleep: it records the waits and, as if
// the time had passed, ends the pause the backoff set for other requests.
type sleepRecorder struct {
	mu    sync.Mutex
	b     *backoff
	waits []time.Duration
}

func (s *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	s.b.pauseUntil.Store(0)
	return ctx.Err()
}

func newBackoff(next http.RoundTripper, maxRetries int, base, maxWait time.Duration) (*backoff, *sleepRecorder) {
	b := &backoff{next: next, maxRetries: maxRetries, base: base, maxWait: maxWait, stats: &Stats{}}
	s := &sleepRecorder{b: b}
	b.sleep = s.sleep
	return b, s
}

// waitRange is the accepted range of one wait: exact when lo == hi, else
// [lo, hi] (jitter of the exponential backoff).
type waitRange struct{ lo, hi time.Duration }

func exactly(d time.Duration) waitRange { return waitRange{d, d} }

// jittered is the exponential wait d plus up to 20% jitter.
func jittered(d time.Duration) waitRange { return waitRange{d, d + d/5} }

func TestBackoff(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name           string
		script         []answer
		maxRetries     int
		base, maxWait  time.Duration
		wantCalls      int
		wantStatus     int
		wantFinalCall  string // X-Call of the response returned
		wantWaits      []waitRange
		wantRateLimits int64
	}{{
		name:       "429 with delta seconds then 200",
		script:     []answer{{status: 429, retryAfter: "7"}, {status: 200}},
		maxRetries: 6, base: time.Second, maxWait: time.Minute,
		wantCalls: 2, wantStatus: 200, wantFinalCall: "2",
		wantWaits:      []waitRange{exactly(7 * time.Second)},
		wantRateLimits: 1,
	}, {
		name:       "Retry-After zero retries at once",
		script:     []answer{{status: 429, retryAfter: "0"}, {status: 200}},
		maxRetries: 6, base: time.Second, maxWait: time.Minute,
		wantCalls: 2, wantStatus: 200, wantFinalCall: "2",
		wantWaits:      []waitRange{exactly(0)},
		wantRateLimits: 1,
	}, {
		name:       "Retry-After capped by maxWait",
		script:     []answer{{status: 429, retryAfter: "3600"}, {status: 200}},
		maxRetries: 6, base: time.Second, maxWait: 30 * time.Second,
		wantCalls: 2, wantStatus: 200, wantFinalCall: "2",
		wantWaits:      []waitRange{exactly(30 * time.Second)},
		wantRateLimits: 1,
	}, {
		name:       "exponential without the header",
		script:     []answer{{status: 429}, {status: 429}, {status: 429}, {status: 200}},
		maxRetries: 6, base: time.Second, maxWait: time.Minute,
		wantCalls: 4, wantStatus: 200, wantFinalCall: "4",
		wantWaits:      []waitRange{jittered(time.Second), jittered(2 * time.Second), jittered(4 * time.Second)},
		wantRateLimits: 3,
	}, {
		name:       "exponential capped by maxWait",
		script:     []answer{{status: 429}, {status: 429}, {status: 429}, {status: 429}, {status: 200}},
		maxRetries: 6, base: time.Second, maxWait: 3 * time.Second,
		wantCalls: 5, wantStatus: 200, wantFinalCall: "5",
		wantWaits:      []waitRange{jittered(time.Second), jittered(2 * time.Second), exactly(3 * time.Second), exactly(3 * time.Second)},
		wantRateLimits: 4,
	}, {
		name:       "gives up after maxRetries with the last 429",
		script:     []answer{{status: 429, retryAfter: "1"}},
		maxRetries: 2, base: time.Second, maxWait: time.Minute,
		wantCalls: 3, wantStatus: 429, wantFinalCall: "3",
		wantWaits:      []waitRange{exactly(time.Second), exactly(time.Second)},
		wantRateLimits: 2,
	}, {
		name:       "no retries configured",
		script:     []answer{{status: 429, retryAfter: "1"}},
		maxRetries: 0, base: time.Second, maxWait: time.Minute,
		wantCalls: 1, wantStatus: 429, wantFinalCall: "1",
		wantRateLimits: 0,
	}, {
		name:       "503 with Retry-After then 200",
		script:     []answer{{status: 503, retryAfter: "5"}, {status: 200}},
		maxRetries: 6, base: time.Second, maxWait: time.Minute,
		wantCalls: 2, wantStatus: 200, wantFinalCall: "2",
		wantWaits:      []waitRange{exactly(5 * time.Second)},
		wantRateLimits: 1,
	}, {
		name:       "503 without the header backs off exponentially",
		script:     []answer{{status: 503}, {status: 503}, {status: 204}},
		maxRetries: 6, base: 2 * time.Second, maxWait: time.Minute,
		wantCalls: 3, wantStatus: 204, wantFinalCall: "3",
		wantWaits:      []waitRange{jittered(2 * time.Second), jittered(4 * time.Second)},
		wantRateLimits: 2,
	}, {
		name:       "503 gives up like 429",
		script:     []answer{{status: 503}},
		maxRetries: 1, base: time.Second, maxWait: time.Minute,
		wantCalls: 2, wantStatus: 503, wantFinalCall: "2",
		wantWaits:      []waitRange{jittered(time.Second)},
		wantRateLimits: 1,
	}, {
		name:       "200 passes through",
		script:     []answer{{status: 200}},
		maxRetries: 6, base: time.Second, maxWait: time.Minute,
		wantCalls: 1, wantStatus: 200, wantFinalCall: "1",
	}, {
		name:       "404 passes through",
		script:     []answer{{status: 404, retryAfter: "3"}},
		maxRetries: 6, base: time.Second, maxWait: time.Minute,
		wantCalls: 1, wantStatus: 404, wantFinalCall: "1",
	}, {
		name:       "500 passes through (ggcr retries it)",
		script:     []answer{{status: 500}, {status: 200}},
		maxRetries: 6, base: time.Second, maxWait: time.Minute,
		wantCalls: 1, wantStatus: 500, wantFinalCall: "1",
	}, {
		name:       "502 passes through",
		script:     []answer{{status: 502, retryAfter: "1"}, {status: 200}},
		maxRetries: 6, base: time.Second, maxWait: time.Minute,
		wantCalls: 1, wantStatus: 502, wantFinalCall: "1",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			next := &fakeRT{script: tc.script}
			b, s := newBackoff(next, tc.maxRetries, tc.base, tc.maxWait)
			req, err := http.NewRequest(http.MethodGet, "http://registry.test/v2/app/tags/list", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := b.RoundTrip(req)
			if err != nil {
				t.Fatalf("RoundTrip: %v", err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			got := []any{next.Calls(), resp.StatusCode, resp.Header.Get("X-Call"), string(body), *b.stats}
			want := []any{tc.wantCalls, tc.wantStatus, tc.wantFinalCall, "answer " + tc.wantFinalCall,
				Stats{Requests: int64(tc.wantCalls), RateLimits: tc.wantRateLimits}}
			if diff := gocmp.Diff(want, got); diff != "" {
				t.Errorf("calls, status, final answer, body, stats (-want +got):\n%s", diff)
			}
			if len(s.waits) != len(tc.wantWaits) {
				t.Fatalf("waits = %v, want %d waits in %v", s.waits, len(tc.wantWaits), tc.wantWaits)
			}
			for i, w := range s.waits {
				if r := tc.wantWaits[i]; w < r.lo || w > r.hi {
					t.Errorf("wait %d = %s, want in [%s, %s] (all waits %v)", i, w, r.lo, r.hi, s.waits)
				}
			}
		})
	}
}

func TestBackoffHTTPDate(t *testing.T) {
	t.Parallel()
	// A Retry-After date far enough ahead that the run's own duration
	// cannot bring the wait under the cap.
	date := time.Now().Add(48 * time.Hour).UTC().Format(http.TimeFormat)
	next := &fakeRT{script: []answer{{status: 429, retryAfter: date}, {status: 200}}}
	b, s := newBackoff(next, 6, time.Second, time.Hour)
	req, _ := http.NewRequest(http.MethodGet, "http://registry.test/v2/", nil)
	resp, err := b.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if diff := gocmp.Diff([]time.Duration{time.Hour}, s.waits); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}

	// A date in the past means "now": retried without waiting.
	past := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	next = &fakeRT{script: []answer{{status: 503, retryAfter: past}, {status: 200}}}
	b, s = newBackoff(next, 6, time.Second, time.Hour)
	resp, err = b.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if diff := gocmp.Diff([]any{200, []time.Duration{0}}, []any{resp.StatusCode, s.waits}); diff != "" {
		t.Errorf("status, waits (-want +got):\n%s", diff)
	}
}

func TestBackoffResendsBody(t *testing.T) {
	t.Parallel()
	next := &fakeRT{script: []answer{{status: 429, retryAfter: "1"}, {status: 201}}}
	b, _ := newBackoff(next, 6, time.Second, time.Minute)
	req, _ := http.NewRequest(http.MethodPut, "http://registry.test/v2/app/manifests/v1", strings.NewReader("manifest"))
	resp, err := b.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if diff := gocmp.Diff([]any{201, []string{"manifest", "manifest"}}, []any{resp.StatusCode, next.bodies}); diff != "" {
		t.Errorf("status, bodies (-want +got):\n%s", diff)
	}

	// A body that cannot be replayed is not retried.
	next = &fakeRT{script: []answer{{status: 429, retryAfter: "1"}, {status: 201}}}
	b, s := newBackoff(next, 6, time.Second, time.Minute)
	req, _ = http.NewRequest(http.MethodPut, "http://registry.test/v2/app/manifests/v1", io.NopCloser(strings.NewReader("once")))
	req.GetBody = nil
	resp, err = b.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if diff := gocmp.Diff([]any{429, 1, 0}, []any{resp.StatusCode, next.Calls(), len(s.waits)}); diff != "" {
		t.Errorf("status, calls, waits (-want +got):\n%s", diff)
	}
}

func TestBackoffPassesErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("connection refused")
	next := &fakeRT{script: []answer{{err: boom}}}
	b, s := newBackoff(next, 6, time.Second, time.Minute)
	req, _ := http.NewRequest(http.MethodGet, "http://registry.test/v2/", nil)
	resp, err := b.RoundTrip(req)
	if !errors.Is(err, boom) || resp != nil {
		t.Errorf("RoundTrip = %v, %v; want nil, %v", resp, err, boom)
	}
	if next.Calls() != 1 || len(s.waits) != 0 {
		t.Errorf("calls = %d, waits = %v; want 1 call, no wait", next.Calls(), s.waits)
	}
}

// TestBackoffPausesOtherRequests: after a 429, a request that starts while
// the pause lasts waits before it is sent.
func TestBackoffPausesOtherRequests(t *testing.T) {
	t.Parallel()
	next := &fakeRT{script: []answer{{status: 429, retryAfter: "30"}, {status: 200}}}
	b := &backoff{next: next, maxRetries: 6, base: time.Second, maxWait: time.Minute, stats: &Stats{}}
	var waits []time.Duration
	b.sleep = func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d) // the pause is left in place
		return nil
	}
	req, _ := http.NewRequest(http.MethodGet, "http://registry.test/v2/", nil)
	resp, err := b.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	callsBefore := next.Calls()
	waitsBefore := len(waits)

	resp, err = b.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if next.Calls() != callsBefore+1 {
		t.Fatalf("second request: %d calls, want 1", next.Calls()-callsBefore)
	}
	if len(waits) != waitsBefore+1 {
		t.Fatalf("second request slept %d times, want once before it was sent (waits %v)", len(waits)-waitsBefore, waits)
	}
	if w := waits[len(waits)-1]; w <= 0 || w > 30*time.Second {
		t.Errorf("second request waited %s, want the rest of the 30s pause", w)
	}
}

func TestBackoffContextCancel(t *testing.T) {
	t.Parallel()
	t.Run("cancelled during the wait", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// The registry asks for an hour; the context ends after the answer.
		next := &fakeRT{script: []answer{{status: 429, retryAfter: "3600"}, {status: 200}}, onCall: func(int) { cancel() }}
		b := &backoff{next: next, maxRetries: 6, base: time.Second, maxWait: 2 * time.Hour, stats: &Stats{}, sleep: sleepCtx}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://registry.test/v2/", nil)
		resp, err := b.RoundTrip(req)
		if !errors.Is(err, context.Canceled) || resp != nil {
			t.Errorf("RoundTrip = %v, %v; want nil, context.Canceled", resp, err)
		}
		if next.Calls() != 1 {
			t.Errorf("calls = %d, want 1", next.Calls())
		}
	})
	t.Run("cancelled while paused by another request", func(t *testing.T) {
		t.Parallel()
		next := &fakeRT{script: []answer{{status: 200}}}
		b := &backoff{next: next, maxRetries: 6, base: time.Second, maxWait: 2 * time.Hour, stats: &Stats{}, sleep: sleepCtx}
		b.pauseUntil.Store(time.Now().Add(time.Hour).UnixNano())
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://registry.test/v2/", nil)
		resp, err := b.RoundTrip(req)
		if !errors.Is(err, context.Canceled) || resp != nil {
			t.Errorf("RoundTrip = %v, %v; want nil, context.Canceled", resp, err)
		}
		if next.Calls() != 0 {
			t.Errorf("calls = %d, want none while paused", next.Calls())
		}
	})
}

func TestSleepCtx(t *testing.T) {
	t.Parallel()
	if err := sleepCtx(context.Background(), 0); err != nil {
		t.Errorf("sleepCtx(0) = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sleepCtx(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("sleepCtx(cancelled, 1h) = %v, want context.Canceled", err)
	}
}

// echoRT answers 200 and records the URLs it was sent, with resp.Request
// set to the request it received, as http.Transport does.
type echoRT struct {
	mu   sync.Mutex
	urls []string
}

func (e *echoRT) RoundTrip(req *http.Request) (*http.Response, error) {
	e.mu.Lock()
	e.urls = append(e.urls, req.URL.String())
	e.mu.Unlock()
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("")), Request: req}, nil
}

func TestPinScheme(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		pin, ggcr   string
		url         string
		wantSent    string
		wantRespURL string
	}{{
		name: "registry host pinned to https", pin: "https", ggcr: "http",
		url:         "http://127.0.0.1:5000/v2/app/tags/list?n=2",
		wantSent:    "https://127.0.0.1:5000/v2/app/tags/list?n=2",
		wantRespURL: "http://127.0.0.1:5000/v2/app/tags/list?n=2",
	}, {
		// The ping's response shows the wire scheme: ggcr learns from it.
		name: "registry host pinned to http", pin: "http", ggcr: "https",
		url:         "https://127.0.0.1:5000/v2/",
		wantSent:    "http://127.0.0.1:5000/v2/",
		wantRespURL: "http://127.0.0.1:5000/v2/",
	}, {
		name: "other requests show ggcr's scheme", pin: "http", ggcr: "https",
		url:         "https://127.0.0.1:5000/v2/app/tags/list",
		wantSent:    "http://127.0.0.1:5000/v2/app/tags/list",
		wantRespURL: "https://127.0.0.1:5000/v2/app/tags/list",
	}, {
		name: "already the pinned scheme", pin: "https", ggcr: "https",
		url:         "https://127.0.0.1:5000/v2/",
		wantSent:    "https://127.0.0.1:5000/v2/",
		wantRespURL: "https://127.0.0.1:5000/v2/",
	}, {
		name: "token realm on another host untouched", pin: "https", ggcr: "http",
		url:         "http://auth.example.test/token?scope=repository:app:pull",
		wantSent:    "http://auth.example.test/token?scope=repository:app:pull",
		wantRespURL: "http://auth.example.test/token?scope=repository:app:pull",
	}, {
		name: "same host on another port untouched", pin: "https", ggcr: "http",
		url:         "http://127.0.0.1:5001/token",
		wantSent:    "http://127.0.0.1:5001/token",
		wantRespURL: "http://127.0.0.1:5001/token",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			next := &echoRT{}
			p := &pinScheme{host: "127.0.0.1:5000", scheme: tc.pin, ggcrScheme: tc.ggcr, next: next}
			req, err := http.NewRequest(http.MethodGet, tc.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := p.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := []string{next.urls[0], resp.Request.URL.String(), req.URL.String()}
			want := []string{tc.wantSent, tc.wantRespURL, tc.url}
			if diff := gocmp.Diff(want, got); diff != "" {
				t.Errorf("[sent, resp.Request.URL, caller's req.URL afterwards] (-want +got):\n%s", diff)
			}
		})
	}
}

// Pinned to https, ggcr's plain-HTTP ping fallback is not sent at all
// (not even as a second TLS try): its error says so instead of showing a
// TLS error under an http:// URL.
func TestPinSchemeNoHTTPPing(t *testing.T) {
	t.Parallel()
	next := &echoRT{}
	p := &pinScheme{host: "127.0.0.1:5000", scheme: "https", ggcrScheme: "http", next: next}
	req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:5000/v2/", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := p.RoundTrip(req)
	if resp != nil || err == nil || !strings.Contains(err.Error(), "plain HTTP not tried") {
		t.Errorf("RoundTrip = %v, %v; want the 'plain HTTP not tried' error", resp, err)
	}
	if len(next.urls) != 0 {
		t.Errorf("sent %v", next.urls)
	}
}
