package oci

import (
	"bytes"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/tagsweep/tagsweep/internal/registry"
)

// Quota recognises the answer with which a registry says that a quota of
// the caller's is spent (Docker Hub's pull limit): retrying cannot succeed
// before the quota resets, which may be hours away, so that answer is not
// retried, and every later request the quota covers fails at once, without
// being sent, with the same reason. The vendor descriptors declare theirs.
type Quota struct {
	// Covers reports whether req counts against the quota.
	Covers func(req *http.Request) bool
	// Spent reports whether resp (with its body, up to 64 KiB, in body) is
	// the quota's refusal, and says why in the words of the report,
	// including when the quota resets where the answer tells.
	Spent func(resp *http.Response, body []byte) (reason string, ok bool)
}

// WithQuotas adds the quotas a registry may answer. The default is none.
func WithQuotas(qs ...Quota) Option {
	return func(o *options) error { o.quotas = append(o.quotas, qs...); return nil }
}

// QuotaError is a request refused, or not sent, because a quota is spent.
type QuotaError struct {
	// Reason says which quota and when it resets.
	Reason string
}

// Error is the reason.
func (e *QuotaError) Error() string { return e.Reason }

// Unwrap returns registry.ErrQuota.
func (e *QuotaError) Unwrap() error { return registry.ErrQuota }

// quotas sits under the backoff transport: a spent quota's answer is
// returned as a *QuotaError (not retried), and requests it covers are not
// sent again.
type quotas struct {
	next  http.RoundTripper
	rules []Quota
	spent []atomic.Pointer[QuotaError]
}

func newQuotas(next http.RoundTripper, rules []Quota) http.RoundTripper {
	if len(rules) == 0 {
		return next
	}
	return &quotas{next: next, rules: rules, spent: make([]atomic.Pointer[QuotaError], len(rules))}
}

func (q *quotas) RoundTrip(req *http.Request) (*http.Response, error) {
	for i, r := range q.rules {
		if e := q.spent[i].Load(); e != nil && r.Covers(req) {
			return nil, e
		}
	}
	resp, err := q.next.RoundTrip(req)
	if err != nil || resp.StatusCode < 400 {
		return resp, err
	}
	var body []byte
	for i, r := range q.rules {
		if !r.Covers(req) {
			continue
		}
		if body == nil {
			body, _ = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			resp.Body = io.NopCloser(bytes.NewReader(body))
		}
		if reason, ok := r.Spent(resp, body); ok {
			e := &QuotaError{Reason: reason}
			q.spent[i].CompareAndSwap(nil, e)
			return nil, q.spent[i].Load()
		}
	}
	return resp, nil
}

// QuotaSpent returns the error of a spent quota that covers req, nil when
// none does (or none is spent yet).
func (b *Backend) QuotaSpent(req *http.Request) error {
	if b.quota == nil {
		return nil
	}
	for i, r := range b.quota.rules {
		if e := b.quota.spent[i].Load(); e != nil && r.Covers(req) {
			return e
		}
	}
	return nil
}
