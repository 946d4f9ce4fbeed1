// Command bench measures tagsweep at scale: it starts a registry on
// 127.0.0.1, seeds it with -tags tags over -repos repositories, and runs
// tagsweep in-process (cli.Main) with a retention policy, first as a dry run
// and then for real, behind injected round-trip latency and optional rate
// limiting. Per phase it reports wall time, the requests the registry
// received (total, per tag, per route), tags per second, peak heap, total
// allocations and CPU, and it checks the result: the real run deletes
// exactly what the dry run planned, fails nothing, and every kept tag still
// resolves.
//
//	go run ./bench                                   # 100k tags, 20ms latency, concurrency 8
//	go run ./bench -tags 10000 -latency 20ms -concurrency 32
//	go run ./bench -tags 10000 -rate-limit-every 500
//	go run ./bench -registry distribution -tags 2000 -repos 4
//
// See bench/RESULTS.md for figures and how to read them.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tagsweep/tagsweep/bench/internal/seedpush"

	"github.com/tagsweep/tagsweep/internal/cli"
	"github.com/tagsweep/tagsweep/internal/report"
)

type options struct {
	registry       string
	repos          int
	tags           int
	latency        time.Duration
	rateLimitEvery int64
	concurrency    int
	keep           int
	olderThan      string
	excludeTags    string
	seedWorkers    int
	inProcess      bool
	ggcrReferrers  bool
	dryRunOnly     bool
	verify         bool
	verbose        bool
	timeout        time.Duration
	reportDir      string
	profileDir     string
}

func main() {
	if spec := os.Getenv(childEnv); spec != "" {
		if err := runChild(spec); err != nil {
			fmt.Fprintln(os.Stderr, "bench registry:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	flag.StringVar(&o.registry, "registry", "ggcr", "registry: ggcr (go-containerregistry's in-memory registry, OCI 1.1 referrers API) or distribution (CNCF distribution v3, filesystem storage, no referrers API)")
	flag.IntVar(&o.repos, "repos", 100, "repositories")
	flag.IntVar(&o.tags, "tags", 100000, "tags in total, spread evenly over the repositories")
	flag.DurationVar(&o.latency, "latency", 20*time.Millisecond, "round-trip latency added to every registry request (the registry sleeps this long before answering)")
	flag.Int64Var(&o.rateLimitEvery, "rate-limit-every", 0, "answer every Nth request with 429 Too Many Requests and Retry-After: 1 (0: off)")
	flag.IntVar(&o.concurrency, "concurrency", 8, "tagsweep's concurrency input")
	flag.IntVar(&o.keep, "keep", 10, "tagsweep's keep input")
	flag.StringVar(&o.olderThan, "older-than", "30d", "tagsweep's older-than input")
	flag.StringVar(&o.excludeTags, "exclude-tags", "latest,main,release-*", "tagsweep's exclude-tags input")
	flag.IntVar(&o.seedWorkers, "seed-workers", 4*runtime.NumCPU()+8, "parallel pushes while seeding")
	flag.BoolVar(&o.inProcess, "inprocess", false, "run the registry in this process (default: a child process, so that heap, allocations and CPU are tagsweep's alone)")
	flag.BoolVar(&o.ggcrReferrers, "ggcr-referrers", false, "let ggcr's registry answer the referrers API itself (it decodes every manifest of the repository per call: O(n²) in the registry); default: an indexed referrers API in front of it")
	flag.BoolVar(&o.dryRunOnly, "dry-run-only", false, "skip the real run")
	flag.BoolVar(&o.verify, "verify", true, "after the real run, check every kept tag still resolves and every deleted one is gone")
	flag.BoolVar(&o.verbose, "v", false, "show tagsweep's progress lines")
	flag.DurationVar(&o.timeout, "timeout", time.Hour, "give up after this long")
	flag.StringVar(&o.reportDir, "report-dir", "", "keep tagsweep's JSON reports in this directory (default: a temporary one, removed)")
	flag.StringVar(&o.profileDir, "profile-dir", "", "write a CPU profile and an allocation profile of each phase to this directory (go tool pprof)")
	flag.Parse()
	if flag.NArg() > 0 || o.repos < 1 || o.tags < o.repos || o.concurrency < 1 {
		fmt.Fprintln(os.Stderr, "bench: bad arguments (need -tags >= -repos >= 1, -concurrency >= 1)")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	ok, err := run(ctx, o, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if !ok {
		os.Exit(1)
	}
}

// phase is what one tagsweep run cost.
type phase struct {
	Name        string
	Exit        int
	Wall        time.Duration
	Totals      report.Totals
	ClientReqs  int64 // tagsweep's own count (retries included)
	Server      serverStats
	BaseHeap    uint64
	PeakHeap    uint64
	PeakLive    uint64
	AllocBytes  uint64
	AllocObjs   uint64
	CPU         time.Duration // this process (tagsweep; plus the registry with -inprocess)
	RegistryCPU time.Duration // the registry child process
	PeakRSS     uint64
	// PeakAt is when the heap peaked, from the start of the phase.
	PeakAt time.Duration
	// HeapByTenth is the peak heap in each tenth of the phase.
	HeapByTenth [10]uint64
	// SummaryBytes and DeletedTagsBytes are the sizes of the job summary
	// and of the deleted-tags step output (GitHub caps a job summary at
	// 1 MiB and an output at 1 MB).
	SummaryBytes       int
	DeletedTagsBytes   int
	DeletedTagsActions int // deleted-tags as written in GitHub Actions (capped)
	Errors             []string
}

func (p *phase) tagsPerSec() float64 {
	if p.Wall <= 0 {
		return 0
	}
	return float64(p.Totals.Tags) / p.Wall.Seconds()
}

// inFlight is the mean number of requests the registry was holding in
// its injected latency: the time they actually slept, summed, over the
// wall time. With concurrency c, c is the most tagsweep may have in
// flight, so inFlight/c says how well it keeps its request slots busy.
func (p *phase) inFlight() float64 {
	if p.Wall <= 0 {
		return 0
	}
	return p.Server.Hook.Slept.Seconds() / p.Wall.Seconds()
}

// effLatency is the latency a request actually got (sleep overshoot
// included).
func (p *phase) effLatency() time.Duration {
	if p.Server.Total == 0 {
		return 0
	}
	return p.Server.Hook.Slept / time.Duration(p.Server.Total)
}

func (p *phase) perTag(n int) float64 {
	if p.Totals.Tags == 0 {
		return 0
	}
	return float64(n) / float64(p.Totals.Tags)
}

type seedResult struct {
	plan     *seedPlan
	wall     time.Duration
	requests int64
}

func run(ctx context.Context, o options, out io.Writer) (bool, error) {
	var reg registryHandle
	fast := !o.ggcrReferrers
	if o.inProcess {
		srv, hook, err := startRegistry(ctx, o.registry, fast)
		if err != nil {
			return false, err
		}
		reg = &inProcess{srv: srv, hook: hook}
	} else {
		c, err := startChild(ctx, o.registry, fast)
		if err != nil {
			return false, err
		}
		reg = c
	}
	defer reg.Close()
	fmt.Fprintf(out, "registry %s at %s (%s)\n", o.registry, reg.Addr(), map[bool]string{true: "in this process", false: "child process"}[o.inProcess])

	// Seed, without latency.
	if err := reg.Configure(hookConfig{}); err != nil {
		return false, err
	}
	start := time.Now()
	plan := makeSeedPlan(o.repos, o.tags, start)
	sd := seedpush.New(reg.Addr(), o.seedWorkers)
	if err := sd.Run(ctx, o.seedWorkers, plan.stages[:]...); err != nil {
		return false, fmt.Errorf("seed: %w", err)
	}
	seed := seedResult{plan: plan, wall: time.Since(start), requests: sd.Requests()}
	fmt.Fprintf(out, "seeded %d tags in %d repositories (%d builds, %d indexes with %d children, %d signature tags, %d release/latest/main tags, %d unknown-age, %d untagged referrers) in %s, %d requests\n",
		plan.tags, len(plan.repos), plan.builds, plan.indexes, plan.children, plan.sigs, plan.aliases, plan.unknownAge, plan.referrers,
		seed.wall.Round(time.Millisecond), seed.requests)
	// Drop the seed content before measuring.
	seed.plan = &seedPlan{tags: plan.tags, repos: plan.repos, builds: plan.builds, indexes: plan.indexes, children: plan.children,
		sigs: plan.sigs, aliases: plan.aliases, unknownAge: plan.unknownAge, referrers: plan.referrers}
	plan, sd = nil, nil

	dir := o.reportDir
	if dir == "" {
		d, err := os.MkdirTemp("", "tagsweep-bench-*")
		if err != nil {
			return false, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	if err := reg.Configure(hookConfig{Latency: o.latency, RateLimitEvery: o.rateLimitEvery}); err != nil {
		return false, err
	}
	var phases []*phase
	var reports []*report.Report
	var planned map[string]bool
	for _, dry := range []bool{true, false} {
		if !dry && o.dryRunOnly {
			break
		}
		name := map[bool]string{true: "dry run", false: "real run"}[dry]
		p, rep, err := runPhase(ctx, o, reg, name, dry, filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".json"), start.Add(seed.wall))
		if err != nil {
			return false, err
		}
		printPhase(out, p, o)
		phases = append(phases, p)
		if dry {
			// Keep only what the comparison needs: the dry run's report
			// would otherwise sit in the heap measured in the real run.
			planned = deletedSet(rep, report.WouldDelete)
			rep = nil
		}
		reports = append(reports, rep)
	}
	if err := reg.Configure(hookConfig{}); err != nil {
		return false, err
	}

	var problems []string
	for _, p := range phases {
		if p.Exit != 0 {
			problems = append(problems, fmt.Sprintf("%s exited %d: %s", p.Name, p.Exit, strings.Join(p.Errors, " | ")))
		}
		if p.Totals.Failed != 0 {
			problems = append(problems, fmt.Sprintf("%s: failed-count %d", p.Name, p.Totals.Failed))
		}
		if p.Totals.Tags != seed.plan.tags {
			problems = append(problems, fmt.Sprintf("%s saw %d tags, %d were seeded", p.Name, p.Totals.Tags, seed.plan.tags))
		}
		if p.Totals.Deleted == 0 {
			problems = append(problems, fmt.Sprintf("%s deleted nothing: the policy had no work", p.Name))
		}
	}
	if len(phases) == 2 {
		problems = append(problems, comparePlans(planned, reports[1])...)
		if o.verify {
			start := time.Now()
			vp, err := verifyRegistry(ctx, reg.Addr(), reports[1], 32)
			if err != nil {
				return false, err
			}
			problems = append(problems, vp...)
			fmt.Fprintf(out, "verified the registry after the real run in %s\n", time.Since(start).Round(time.Millisecond))
		}
	}
	if o.rateLimitEvery > 0 {
		for _, p := range phases {
			if p.Server.Hook.RateLimited == 0 {
				problems = append(problems, fmt.Sprintf("%s: no request was rate limited", p.Name))
			}
		}
	}
	if len(problems) == 0 {
		what := fmt.Sprintf("real run deleted exactly the dry run's %d tags", phases[0].Totals.Deleted)
		if len(phases) == 2 && o.verify {
			what += ", kept tags resolve, deleted ones are gone"
		}
		if len(phases) == 1 {
			what = fmt.Sprintf("the dry run would delete %d tags; no real run", phases[0].Totals.Deleted)
		}
		fmt.Fprintf(out, "checks: ok (exit 0, failed-count 0, every seeded tag seen, %s%s)\n",
			what, map[bool]string{true: ", every 429 absorbed", false: ""}[o.rateLimitEvery > 0])
	} else {
		fmt.Fprintln(out, "checks: FAILED")
		for i, pr := range problems {
			if i == 20 {
				fmt.Fprintf(out, "  ... and %d more\n", len(problems)-20)
				break
			}
			fmt.Fprintln(out, "  -", pr)
		}
	}
	fmt.Fprintln(out)
	writeMarkdown(out, o, seed, phases, len(problems) == 0)
	return len(problems) == 0, nil
}

func runPhase(ctx context.Context, o options, reg registryHandle, name string, dry bool, reportFile string, now time.Time) (*phase, *report.Report, error) {
	args := []string{
		"--registry", "http://" + reg.Addr(),
		"--keep", strconv.Itoa(o.keep),
		"--older-than", o.olderThan,
		"--exclude-tags", o.excludeTags,
		"--concurrency", strconv.Itoa(o.concurrency),
		"--report-file", reportFile,
		"--dry-run=" + strconv.FormatBool(dry),
	}
	stdout := &lineKeeper{maxLines: 50}
	stderr := &lineKeeper{maxLines: 50}
	if o.verbose {
		stderr.tee = os.Stderr
	}
	// Both runs plan at the same instant: with the wall clock, an image
	// crossing the older-than boundary between the dry run and the real
	// run would make their plans differ for a reason that is not
	// tagsweep's.
	env := cli.Env{Getenv: func(string) string { return "" }, Stdout: stdout, Stderr: stderr, Now: func() time.Time { return now }}

	if err := reg.Reset(); err != nil {
		return nil, nil, err
	}
	before, err := reg.Stats()
	if err != nil {
		return nil, nil, err
	}
	runtime.GC()
	debug.FreeOSMemory()
	p := &phase{Name: name}
	m0 := readMetrics(metricHeap, metricAllocBytes, metricAllocObjects)
	p.BaseHeap = m0[0]
	rssOK := resetPeakRSS()
	cpu0 := cpuTime()
	stopProfile, err := startProfile(o.profileDir, name)
	if err != nil {
		return nil, nil, err
	}
	s := newSampler()
	s.start()
	t0 := time.Now()
	p.Exit = cli.Main(ctx, args, env)
	p.Wall = time.Since(t0)
	s.stop()
	if err := stopProfile(); err != nil {
		return nil, nil, err
	}
	p.CPU = cpuTime() - cpu0
	m1 := readMetrics(metricHeap, metricAllocBytes, metricAllocObjects)
	p.AllocBytes, p.AllocObjs = m1[1]-m0[1], m1[2]-m0[2]
	p.PeakHeap, p.PeakLive = s.peaks()
	p.PeakAt = s.peakAt.Sub(t0)
	p.HeapByTenth = s.byTenth(t0, t0.Add(p.Wall))
	if rssOK {
		p.PeakRSS = peakRSS()
	}
	if p.Server, err = reg.Stats(); err != nil {
		return nil, nil, err
	}
	p.RegistryCPU = p.Server.CPU - before.CPU

	for _, l := range stderr.Lines() {
		if strings.HasPrefix(l, "error:") || strings.HasPrefix(l, "tagsweep: ") {
			p.Errors = append(p.Errors, l)
		}
	}
	raw, err := os.ReadFile(reportFile)
	if err != nil {
		p.Errors = append(p.Errors, append([]string{"no report: " + err.Error()}, stderr.Lines()...)...)
		return p, nil, nil
	}
	var rep report.Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		return nil, nil, fmt.Errorf("%s: report: %w", name, err)
	}
	p.Totals, p.ClientReqs = rep.Totals, rep.Requests
	p.SummaryBytes = len(rep.Summary())
	full, _ := rep.Outputs(reportFile, 0)
	capped, _ := rep.Outputs(reportFile, report.MaxOutput) // as in GitHub Actions
	for i, o := range full {
		if o.Name == "deleted-tags" {
			p.DeletedTagsBytes, p.DeletedTagsActions = len(o.Value), len(capped[i].Value)
		}
	}
	// The step outputs on stdout must agree with the report.
	outs := map[string]string{}
	for _, l := range stdout.Lines() {
		if k, v, ok := strings.Cut(l, "="); ok {
			outs[k] = v
		}
	}
	if outs["deleted-count"] != strconv.Itoa(rep.Totals.Deleted) || outs["failed-count"] != strconv.Itoa(rep.Totals.Failed) {
		p.Errors = append(p.Errors, fmt.Sprintf("outputs deleted-count=%q failed-count=%q disagree with the report", outs["deleted-count"], outs["failed-count"]))
		if p.Exit == 0 {
			p.Exit = -1
		}
	}
	return p, &rep, nil
}

// routes lists the (method, class) pairs seen, most requests first.
func routes(ps ...*phase) []string {
	seen := map[string]int{}
	for _, p := range ps {
		for r, n := range p.Server.ByRoute {
			seen[r] += n
		}
	}
	var out []string
	for r := range seen {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if seen[out[i]] != seen[out[j]] {
			return seen[out[i]] > seen[out[j]]
		}
		return out[i] < out[j]
	})
	return out
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func kib(b int) string { return fmt.Sprintf("%.0f KiB", float64(b)/1024) }

// tenths renders a heap series in MiB.
func tenths(t [10]uint64) string {
	var s []string
	for _, b := range t {
		s = append(s, fmt.Sprintf("%.0f", float64(b)/(1<<20)))
	}
	return strings.Join(s, " / ") + " MiB"
}

func printPhase(out io.Writer, p *phase, o options) {
	fmt.Fprintf(out, "\n== %s: exit %d, %s, %d tags (%d %s, %d kept, %d failed), %.0f tags/s\n",
		p.Name, p.Exit, p.Wall.Round(time.Millisecond), p.Totals.Tags, p.Totals.Deleted,
		map[bool]string{true: "would-delete", false: "deleted"}[p.Name == "dry run"], p.Totals.Kept, p.Totals.Failed, p.tagsPerSec())
	fmt.Fprintf(out, "   requests: %d at the registry (%.2f per tag), %d sent by tagsweep, %d answered 429; %.1f in flight on average (concurrency %d), latency as slept %s (floor requests×latency/concurrency = %s)\n",
		p.Server.Total, p.perTag(p.Server.Total), p.ClientReqs, p.Server.Hook.RateLimited, p.inFlight(), o.concurrency, p.effLatency().Round(10*time.Microsecond),
		(time.Duration(p.Server.Total) * o.latency / time.Duration(o.concurrency)).Round(100*time.Millisecond))
	for _, r := range routes(p) {
		fmt.Fprintf(out, "     %-22s %8d  %.3f/tag\n", r, p.Server.ByRoute[r], p.perTag(p.Server.ByRoute[r]))
	}
	fmt.Fprintf(out, "   heap: peak %s at %s (live after GC: peak %s; %s before the run), allocated %s in %d objects (%.1f KiB/tag)\n",
		mib(p.PeakHeap), p.PeakAt.Round(100*time.Millisecond), mib(p.PeakLive), mib(p.BaseHeap), mib(p.AllocBytes), p.AllocObjs, float64(p.AllocBytes)/1024/float64(max(p.Totals.Tags, 1)))
	fmt.Fprintf(out, "   heap by tenth of the run: %s\n", tenths(p.HeapByTenth))
	fmt.Fprintf(out, "   outputs: job summary %s, deleted-tags output %s (%s in GitHub Actions)\n", kib(p.SummaryBytes), kib(p.DeletedTagsBytes), kib(p.DeletedTagsActions))
	fmt.Fprintf(out, "   cpu: %s in the benchmark process, %s in the registry process; peak RSS %s\n",
		p.CPU.Round(time.Millisecond), p.RegistryCPU.Round(time.Millisecond), mib(p.PeakRSS))
	for i, e := range p.Errors {
		if i == 10 {
			break
		}
		fmt.Fprintln(out, "   !", e)
	}
}

// machine describes where the benchmark ran.
func machine() string {
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	s := fmt.Sprintf("%s/%s, nproc %d (GOMAXPROCS %d), %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version())
	if model != "" {
		s += ", " + model
	}
	return s + ", " + time.Now().UTC().Format("2006-01-02 15:04 UTC")
}

func writeMarkdown(out io.Writer, o options, seed seedResult, phases []*phase, ok bool) {
	cmd := "go run ./bench"
	if len(os.Args) > 1 {
		cmd += " " + strings.Join(os.Args[1:], " ")
	}
	fmt.Fprintln(out, "---- markdown ----")
	fmt.Fprintf(out, "`%s`\n\n", cmd)
	fmt.Fprintf(out, "- machine: %s\n", machine())
	where := "child process"
	if o.inProcess {
		where = "in the benchmark process"
	}
	refs := ""
	if o.registry == "ggcr" {
		refs = ", indexed referrers API"
		if o.ggcrReferrers {
			refs = ", ggcr's own referrers API (scans the repository per call)"
		}
	}
	fmt.Fprintf(out, "- registry: %s (%s%s); latency %s per request; rate limit %s; tagsweep concurrency %d; policy keep %d, older-than %s, exclude-tags %s\n",
		o.registry, where, refs, o.latency, rateText(o.rateLimitEvery), o.concurrency, o.keep, o.olderThan, o.excludeTags)
	sp := seed.plan
	fmt.Fprintf(out, "- seeded %d tags in %d repositories (%d builds, %d indexes + %d children, %d .sig tags, %d second tags, %d unknown-age, %d untagged referrers) in %s with %d requests (not measured)\n",
		sp.tags, len(sp.repos), sp.builds, sp.indexes, sp.children, sp.sigs, sp.aliases, sp.unknownAge, sp.referrers, seed.wall.Round(time.Millisecond), seed.requests)
	fmt.Fprintf(out, "- checks: %s\n\n", map[bool]string{true: "ok", false: "FAILED"}[ok])
	fmt.Fprintln(out, "| phase | wall | latency floor | in flight | latency as slept | tags/s | deleted | requests | req/tag | 429s | peak heap | peak live heap | allocated | CPU tagsweep | CPU registry |")
	fmt.Fprintln(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, p := range phases {
		floor := time.Duration(p.Server.Total) * o.latency / time.Duration(o.concurrency)
		fmt.Fprintf(out, "| %s | %s | %s | %.1f of %d | %s | %.0f | %d | %d | %.2f | %d | %s | %s | %s | %s | %s |\n",
			p.Name, p.Wall.Round(100*time.Millisecond), floor.Round(100*time.Millisecond), p.inFlight(), o.concurrency, p.effLatency().Round(10*time.Microsecond),
			p.tagsPerSec(), p.Totals.Deleted, p.Server.Total, p.perTag(p.Server.Total),
			p.Server.Hook.RateLimited, mib(p.PeakHeap), mib(p.PeakLive), mib(p.AllocBytes), p.CPU.Round(100*time.Millisecond), p.RegistryCPU.Round(100*time.Millisecond))
	}
	fmt.Fprintln(out)
	header := "| route |"
	sep := "|---|"
	for _, p := range phases {
		header += " " + p.Name + " | per tag |"
		sep += "---:|---:|"
	}
	fmt.Fprintln(out, header)
	fmt.Fprintln(out, sep)
	for _, r := range routes(phases...) {
		line := "| " + r + " |"
		for _, p := range phases {
			line += fmt.Sprintf(" %d | %.3f |", p.Server.ByRoute[r], p.perTag(p.Server.ByRoute[r]))
		}
		fmt.Fprintln(out, line)
	}
	for _, p := range phases {
		fmt.Fprintf(out, "\n%s: heap peaked %s into the run (of %s); peak heap by tenth of the run %s; job summary %s, deleted-tags output %s (%s in GitHub Actions).", p.Name,
			p.PeakAt.Round(100*time.Millisecond), p.Wall.Round(100*time.Millisecond), tenths(p.HeapByTenth), kib(p.SummaryBytes), kib(p.DeletedTagsBytes), kib(p.DeletedTagsActions))
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, "---- end ----")
}

func rateText(n int64) string {
	if n <= 0 {
		return "off"
	}
	return fmt.Sprintf("every %dth request answered 429 Retry-After: 1", n)
}
