package ghcr

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tagsweep/tagsweep/internal/registry/ghcr/ghcrtest"
	"github.com/tagsweep/tagsweep/internal/registry/oci"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// BenchmarkPacedDeletes measures, on the wall clock, how many DELETEs a
// minute the pacer lets through against the replica, which enforces
// GitHub's secondary limit in real time (900 points a minute per route, 5
// a DELETE: 180 DELETEs): n stale versions, one in each of n packages
// (one DELETE route), deleted one after the other. It reports the rate
// over the whole run and after the burst, and fails if GitHub's limit
// answered any DELETE. It takes about (n-DeleteBurst)/DeletesPerMinute
// minutes: run it with -benchtime 1x (bench/RESULTS.md).
func BenchmarkPacedDeletes(b *testing.B) {
	const n = 320
	ctx := context.Background()
	for range b.N {
		b.StopTimer()
		r, err := testregistry.New(ctx, testregistry.Options{DeleteEnabled: true, Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		api, err := ghcrtest.Start(ghcrtest.Options{Registry: r, Token: token})
		if err != nil {
			b.Fatal(err)
		}
		var stale []string
		for i := range n {
			repo := fmt.Sprintf("%s/octo/p%d", r.Addr(), i)
			if _, err := testregistry.PushImage(ctx, repo+":keep", testregistry.ImageSpec{Seed: int64(2 * i)}); err != nil {
				b.Fatal(err)
			}
			h, err := testregistry.PushImage(ctx, repo+":old", testregistry.ImageSpec{Seed: int64(2*i + 1)})
			if err != nil {
				b.Fatal(err)
			}
			stale = append(stale, h.String())
		}
		ob, err := oci.New(r.Addr(), oci.WithKeychain(anonymous{}))
		if err != nil {
			b.Fatal(err)
		}
		be, err := New(Options{Registry: ob, API: api.APIURL(), Token: token, UserAgent: "tagsweep-bench"})
		if err != nil {
			b.Fatal(err)
		}
		for i := range n { // the listings first: only DELETEs are timed
			if _, err := be.Tags(ctx, fmt.Sprintf("octo/p%d", i)); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		start := time.Now()
		var afterBurst time.Time
		for i, d := range stale {
			if err := be.DeleteDigest(ctx, fmt.Sprintf("octo/p%d", i), d, nil); err != nil {
				b.Fatalf("delete %d: %v", i, err)
			}
			if i == DeleteBurst-1 {
				afterBurst = time.Now()
			}
		}
		took := time.Since(start)
		b.StopTimer()
		for _, q := range api.Requests() {
			if q.Status == 403 || q.Status == 429 {
				b.Errorf("%s answered %d: the pace met the secondary limit", q, q.Status)
			}
		}
		rest := took - afterBurst.Sub(start)
		b.ReportMetric(float64(n)/took.Minutes(), "deletes/min")
		b.ReportMetric(float64(n-DeleteBurst)/rest.Minutes(), "deletes/min-after-burst")
		b.Logf("%d DELETEs in %s (%.1f a minute); the %d after the burst of %d in %s (%.1f a minute); %q",
			n, took.Round(time.Millisecond), float64(n)/took.Minutes(), n-DeleteBurst, DeleteBurst, rest.Round(time.Millisecond),
			float64(n-DeleteBurst)/rest.Minutes(), be.Pacing())
		api.Close()
		r.Close()
	}
}
