package report

import (
	"fmt"
	"time"
)

// LongRun is how long a run takes before the log and the summary say how
// it used its concurrency: a short run's figures say little.
const LongRun = time.Minute

// limitedShare is the share of a run with every slot taken above which
// concurrency is called the limit, and the run at 2× and 4× estimated.
const limitedShare = 0.5

// Load is how a run used its `concurrency` slots, from what the run's
// registry.Limiter measured: the requests, the time each held its slot
// (until its answer's headers came), and the time every slot was taken.
type Load struct {
	// Concurrency is the number of slots.
	Concurrency int `json:"concurrency"`
	// Requests counts the requests that held a slot.
	Requests int64 `json:"requests"`
	// Seconds is the run's wall time.
	Seconds float64 `json:"seconds"`
	// MeanLatencyMs is the mean time a request held its slot.
	MeanLatencyMs float64 `json:"meanLatencyMs"`
	// MeanInFlight is the mean number of requests in flight over the run.
	MeanInFlight float64 `json:"meanInFlight"`
	// FullShare is the share of the run during which every slot was taken.
	FullShare float64 `json:"fullShare"`
	// At2xSeconds and At4xSeconds estimate the run's wall time at 2× and
	// 4× the concurrency, when the slots were full most of the run: the
	// time they were full shrinks by the factor, the rest stays (so it
	// assumes the registry answers as fast with more requests at once).
	At2xSeconds float64 `json:"at2xSeconds,omitempty"`
	At4xSeconds float64 `json:"at4xSeconds,omitempty"`
}

// NewLoad is the Load of a run of wall time that sent requests over slots,
// the requests holding their slots latency in all, every slot taken for
// full. It is nil for a run without requests or time.
func NewLoad(slots int, requests int64, latency, full, wall time.Duration) *Load {
	if requests <= 0 || wall <= 0 || slots <= 0 {
		return nil
	}
	full = min(full, wall)
	l := &Load{Concurrency: slots, Requests: requests, Seconds: wall.Seconds(),
		MeanLatencyMs: float64(latency) / float64(requests) / float64(time.Millisecond),
		MeanInFlight:  float64(latency) / float64(wall), FullShare: float64(full) / float64(wall)}
	if l.Limited() {
		rest := wall - full
		l.At2xSeconds = (rest + full/2).Seconds()
		l.At4xSeconds = (rest + full/4).Seconds()
	}
	return l
}

// Limited reports whether every slot was taken most of the run:
// concurrency was the limit.
func (l *Load) Limited() bool { return l.FullShare > limitedShare }

// Long reports whether the run was long enough for its figures to be
// shown (LongRun).
func (l *Load) Long() bool { return l.Seconds >= LongRun.Seconds() }

// String says how the run used its concurrency, in one line, and what
// raising it would give when it was the limit.
func (l *Load) String() string {
	s := fmt.Sprintf("%d requests in %s: mean latency %.1f ms, %.1f of %d requests in flight on average, all %d slots taken %.0f%% of the run",
		l.Requests, seconds(l.Seconds), l.MeanLatencyMs, l.MeanInFlight, l.Concurrency, l.Concurrency, 100*l.FullShare)
	if !l.Limited() {
		return s + "; concurrency was not the limit"
	}
	return s + fmt.Sprintf("; concurrency was the limit: with concurrency %d the run would take about %s, with %d about %s (if the registry answers as fast)",
		2*l.Concurrency, seconds(l.At2xSeconds), 4*l.Concurrency, seconds(l.At4xSeconds))
}

func seconds(s float64) string {
	d := time.Duration(s * float64(time.Second))
	if d >= time.Minute {
		return d.Round(time.Second).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

// String says what the cache saved and holds, in one line.
func (c *Cache) String() string {
	s := fmt.Sprintf("%d manifests and %d image configs read from the cache, %d and %d from the registry",
		c.ManifestHits, c.ConfigHits, c.ManifestMisses, c.ConfigMisses)
	if c.Dropped > 0 {
		s += fmt.Sprintf(" (%s failed verification and read again)", Count(int(c.Dropped), "entry"))
	}
	if c.Error != "" {
		return s + "; " + c.Error
	}
	return s + fmt.Sprintf("; it holds %s, %s (%d unused for 30 days pruned)", Count(c.Entries, "entry"), Bytes(c.Bytes), c.Pruned)
}
