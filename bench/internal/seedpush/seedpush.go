// Package seedpush pushes benchmark data into a registry with plain HTTP,
// straight to the registry (no proxy, no latency, not measured): a
// monolithic blob POST where the registry takes one (ggcr), else POST +
// PUT (CNCF distribution), and one manifest PUT per job. Both benchmarks,
// bench and bench/compare, seed through it.
package seedpush

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Job is one push: its own blobs (uploaded first), then, when Manifest is
// set, a manifest PUT under Ref (a tag or the manifest's digest).
type Job struct {
	Repo      string
	Blobs     [][]byte
	Ref       string
	MediaType string
	Manifest  []byte
}

// Digest is the sha256 digest of b, "sha256:<hex>".
func Digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// Pusher pushes jobs to one registry.
type Pusher struct {
	base       string
	hc         *http.Client
	monolithic atomic.Int32 // 0 unknown, 1 yes, 2 no
	requests   atomic.Int64
}

// New returns a Pusher for the registry at addr (host:port, plain HTTP)
// keeping up to conns idle connections.
func New(addr string, conns int) *Pusher {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = conns
	return &Pusher{base: "http://" + addr, hc: &http.Client{Transport: tr, Timeout: 2 * time.Minute}}
}

// Requests is the number of requests sent so far.
func (p *Pusher) Requests() int64 { return p.requests.Load() }

func (p *Pusher) do(ctx context.Context, method, u, ct string, body []byte, want ...int) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	p.requests.Add(1)
	resp, err := p.hc.Do(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	for _, w := range want {
		if resp.StatusCode == w {
			return resp, nil
		}
	}
	return nil, fmt.Errorf("%s %s: %s", method, u, resp.Status)
}

func (p *Pusher) blob(ctx context.Context, repo string, data []byte) error {
	d := Digest(data)
	u := fmt.Sprintf("%s/v2/%s/blobs/uploads/?digest=%s", p.base, repo, url.QueryEscape(d))
	var body []byte
	if p.monolithic.Load() != 2 {
		body = data
	}
	resp, err := p.do(ctx, http.MethodPost, u, "application/octet-stream", body, http.StatusCreated, http.StatusAccepted)
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusCreated {
		p.monolithic.Store(1)
		return nil
	}
	p.monolithic.Store(2)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return err
	}
	b, _ := url.Parse(p.base + "/")
	loc = b.ResolveReference(loc)
	q := loc.Query()
	q.Set("digest", d)
	loc.RawQuery = q.Encode()
	_, err = p.do(ctx, http.MethodPut, loc.String(), "application/octet-stream", data, http.StatusCreated)
	return err
}

// Push uploads the job's blobs, then its manifest.
func (p *Pusher) Push(ctx context.Context, j Job) error {
	for _, b := range j.Blobs {
		if err := p.blob(ctx, j.Repo, b); err != nil {
			return err
		}
	}
	if j.Manifest == nil {
		return nil
	}
	_, err := p.do(ctx, http.MethodPut, fmt.Sprintf("%s/v2/%s/manifests/%s", p.base, j.Repo, j.Ref), j.MediaType, j.Manifest, http.StatusCreated)
	return err
}

// Run pushes the stages in order (what a stage references is in an
// earlier one), each stage with workers goroutines.
func (p *Pusher) Run(ctx context.Context, workers int, stages ...[]Job) error {
	for _, stage := range stages {
		if err := Parallel(ctx, workers, len(stage), func(ctx context.Context, i int) error { return p.Push(ctx, stage[i]) }); err != nil {
			return err
		}
	}
	return nil
}

// Parallel runs f(0..n-1) on workers goroutines and returns the first
// error, which cancels the rest.
func Parallel(ctx context.Context, workers, n int, f func(context.Context, int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}
