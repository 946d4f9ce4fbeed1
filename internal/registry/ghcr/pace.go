package ghcr

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/restapi"
)

// Pacing of DELETEs, ahead of GitHub's limits (docs.github.com, "Rate
// limits for the REST API", stored 2026-08-19):
//
//   - Secondary: "No more than 900 points per minute are allowed for REST
//     API endpoints", and "Most REST API POST, PATCH, PUT, or DELETE
//     requests" cost 5: at most 180 DELETEs a minute to one endpoint.
//     GitHub keeps undisclosed costs and an 80-a-minute limit on
//     content-creating requests (whether a DELETE is one is not said), so
//     this is an upper bound, not a promise. The pacer lets DeleteBurst
//     DELETEs go at once and DeletesPerMinute a minute after that: no 60
//     seconds hold more than DeleteBurst + DeletesPerMinute = 170, under
//     the 180.
//   - Primary: "The rate limit for GITHUB_TOKEN is 1,000 requests per hour
//     per repository", shared by every job of the repository; a classic
//     PAT has 5,000. When the last answer's X-RateLimit-Remaining is down
//     to the reserve (a fiftieth of the limit, at least 10), a DELETE waits
//     for X-RateLimit-Reset if that comes within MaxBudgetWait, else it is
//     not sent: it fails with registry.ErrRateLimited, the run says so, and
//     the next run goes on from what is left.
//
// GitHub Enterprise Server has no rate limits by default ("Rate limits are
// disabled by default for GitHub Enterprise Server"): an API whose answers
// carry no X-RateLimit-* headers is not paced.
const (
	DeletesPerMinute = 150
	DeleteBurst      = 20
	MaxBudgetWait    = 5 * time.Minute
)

// pacer holds DELETEs back as described above. It is safe for concurrent use.
type pacer struct {
	perMinute, burst int
	maxWait          time.Duration
	now              func() time.Time
	sleep            func(ctx context.Context, d time.Duration) error
	budget           func() (restapi.Budget, bool)

	mu     sync.Mutex
	tokens float64
	last   time.Time
	held   string // what held a DELETE back since the last said()
}

func newPacer(now func() time.Time, sleep func(context.Context, time.Duration) error, budget func() (restapi.Budget, bool)) *pacer {
	return &pacer{perMinute: DeletesPerMinute, burst: DeleteBurst, maxWait: MaxBudgetWait, now: now, sleep: sleep, budget: budget,
		tokens: DeleteBurst}
}

// reserve is how much of the hourly budget the pacer leaves alone.
func reserve(limit int) int { return max(limit/50, 10) }

// wait returns when one DELETE may be sent, or an error when it may not
// (the hourly budget is spent beyond MaxBudgetWait, or ctx ended).
func (p *pacer) wait(ctx context.Context) error {
	b, limited := p.budget()
	if !limited {
		return nil // no rate limits reported: not paced
	}
	if b.Remaining <= reserve(b.Limit) {
		until := b.Reset.Sub(p.now())
		if until > p.maxWait {
			return registry.Mark(registry.ErrRateLimited, fmt.Errorf(
				"not sent: the GitHub API budget of this token is down to %d of %d requests an hour (X-RateLimit-Remaining) until %s; "+
					"tagsweep leaves the last %d to the rest of the run and to the repository's other jobs (a GITHUB_TOKEN's 1,000 an hour are shared by them): the next run goes on from here",
				b.Remaining, b.Limit, b.Reset.UTC().Format("15:04 UTC"), reserve(b.Limit)))
		}
		if until > 0 {
			p.note(fmt.Sprintf("waiting for the GitHub API budget to reset at %s (%d of %d requests left)", b.Reset.UTC().Format("15:04:05 UTC"), b.Remaining, b.Limit))
			if err := p.sleep(ctx, until); err != nil {
				return err
			}
		}
	}
	if d := p.take(); d > 0 {
		p.note(fmt.Sprintf("pacing GitHub API deletions at %d a minute after a burst of %d (GitHub's secondary rate limit allows 180)", p.perMinute, p.burst))
		return p.sleep(ctx, d)
	}
	return nil
}

// take reserves one DELETE from the bucket and returns how long to wait
// for it (0: at once).
func (p *pacer) take() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	rate := float64(p.perMinute) / float64(time.Minute) // tokens per nanosecond
	if !p.last.IsZero() {
		p.tokens = min(float64(p.burst), p.tokens+float64(now.Sub(p.last))*rate)
	}
	p.last = now
	p.tokens--
	if p.tokens >= 0 {
		return 0
	}
	return time.Duration(-p.tokens / rate)
}

func (p *pacer) note(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.held = s
}

// said returns what held a DELETE back since the last call, and forgets it.
func (p *pacer) said() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.held
	p.held = ""
	return s
}
