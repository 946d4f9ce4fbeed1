// Command compare runs the same retention policy with tagsweep and with the
// tools users would pick instead, on identical data, behind the same
// injected latency, and compares wall time, requests, memory and the final
// state of the registry.
//
// It seeds a CNCF distribution v3 registry (filesystem storage, deletes
// enabled) once, copies the storage directory for each tool, starts a
// registry on the copy with a latency-injecting, request-counting proxy in
// front, and runs the tool against the proxy:
//
//   - tagsweep: the binary built from this checkout, --registry ADDR --keep 10;
//   - regbot (regclient) once, with bench/compare/keep-newest.lua;
//   - the shell loop over crane, bench/compare/crane-loop.sh.
//
// The policy is "keep the 10 newest tags by created time in every
// repository, delete the rest". Afterwards every kept tag must exist with
// its original digest and pull, and every stale tag must be gone.
//
//	go run ./bench/compare                                   # 20 x 250 tags, 25ms, all three tools (about 35 min); writes bench/RESULTS.md
//	go run ./bench/compare -repos 5 -tags 40 -write=false    # quick mode, about 3 minutes
//	go run ./bench/compare -tools tagsweep -write=false      # tagsweep alone
//
// See bench/RESULTS.md, "Against the tools users pick instead".
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tagsweep/tagsweep/bench/internal/seedpush"

	"github.com/tagsweep/tagsweep/internal/testregistry"
)

type options struct {
	repos, tags, keep   int
	latency             time.Duration
	seed                uint64
	tools               string
	concurrency         string
	pairFraction        float64
	indexFraction       float64
	boundaryEvery       int
	span                time.Duration
	work                string
	keepWork            bool
	timeout             time.Duration
	write               bool
	results             string
	fromHead            bool
	regbotBin, craneBin string
	seedWorkers         int
	logRequests         bool
	publish             string
	saveMD              string
	nightly             bool
	added, moved        int
	set                 [][2]string // flags set on the command line: name, value
}

func main() {
	var o options
	flag.IntVar(&o.repos, "repos", 20, "repositories")
	flag.IntVar(&o.tags, "tags", 250, "tags per repository")
	flag.IntVar(&o.keep, "keep", 10, "the policy keeps this many newest tags per repository")
	flag.DurationVar(&o.latency, "latency", 25*time.Millisecond, "latency the proxy adds to every request")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the generated data (same seed, same content and digests)")
	flag.StringVar(&o.tools, "tools", "tagsweep,regbot,crane", "tools to run, in this order: tagsweep, regbot, crane")
	flag.StringVar(&o.concurrency, "concurrency", "0", "tagsweep --concurrency; a comma-separated list runs tagsweep once per value (0: not passed, tagsweep's default 8; the targets are at the default)")
	flag.Float64Var(&o.pairFraction, "pair-fraction", 0.2, "fraction of tags that share their digest with another tag (builds tagged twice)")
	flag.Float64Var(&o.indexFraction, "index-fraction", 0.02, "fraction of tags that are multi-arch indexes")
	flag.IntVar(&o.boundaryEvery, "boundary-every", 4, "in every Nth repository the keep boundary splits a build tagged twice (0: only where chance puts it)")
	flag.DurationVar(&o.span, "span", 365*24*time.Hour, "created times are spread over this span")
	flag.StringVar(&o.work, "work", "", "work directory (default: a temporary one, removed at the end)")
	flag.BoolVar(&o.keepWork, "keep-work", false, "keep the work directory (seeded data, per-tool copies, logs, tagsweep's report)")
	flag.DurationVar(&o.timeout, "timeout", 3*time.Hour, "stop a tool after this long")
	flag.BoolVar(&o.write, "write", true, "write the results into -results (the section \"Against the tools users pick instead\")")
	flag.StringVar(&o.results, "results", "", "results file (default: bench/RESULTS.md of this module)")
	flag.BoolVar(&o.fromHead, "from-head", true, "build tagsweep from the committed HEAD (git archive) instead of the working tree")
	flag.StringVar(&o.regbotBin, "regbot", "", "regbot binary (default: PATH, then GOBIN and GOPATH/bin; installed with go install when missing)")
	flag.StringVar(&o.craneBin, "crane", "", "crane binary (default: PATH, then GOBIN and GOPATH/bin; installed with go install when missing)")
	flag.IntVar(&o.seedWorkers, "seed-workers", 16, "parallel pushes while seeding")
	flag.BoolVar(&o.logRequests, "log-requests", false, "write every request the proxy passes to TOOL/requests.txt in the work directory (start and end in seconds, method, path, status); use with -keep-work")
	flag.StringVar(&o.saveMD, "save", "", "also write the generated markdown to this file")
	flag.BoolVar(&o.nightly, "nightly", false, "after the first sweep, simulate a day of CI (-day2-added new builds and -day2-moved kept tags rebuilt per repository) and run every tool again on the same second-day data, tagsweep with its first day's --cache-dir")
	flag.IntVar(&o.added, "day2-added", 5, "with -nightly: new builds pushed per repository on the second day")
	flag.IntVar(&o.moved, "day2-moved", 1, "with -nightly: kept tags per repository pushed again on the second day as rebuilds (they move to new images)")
	flag.StringVar(&o.publish, "publish", "", "put the markdown saved by an earlier run (-save) into -results and exit; runs nothing")
	flag.Parse()
	flag.Visit(func(f *flag.Flag) { o.set = append(o.set, [2]string{f.Name, f.Value.String()}) })
	if flag.NArg() > 0 || o.repos < 1 || o.tags < o.keep+1 || o.keep < 1 || o.added < 0 || o.moved < 0 || o.moved > o.keep {
		fmt.Fprintln(os.Stderr, "compare: bad arguments (need -repos >= 1, -keep >= 1, -tags > -keep, 0 <= -day2-moved <= -keep, -day2-added >= 0)")
		os.Exit(2)
	}
	if o.publish != "" {
		if err := publish(o); err != nil {
			fmt.Fprintln(os.Stderr, "compare:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
	if !ok {
		os.Exit(1)
	}
}

// moduleRoot finds the directory of go.mod from the working directory up.
func moduleRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		p := filepath.Dir(d)
		if p == d {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		d = p
	}
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// report is everything the results show.
type report struct {
	o         options
	started   time.Time
	loadStart string
	loadEnd   string
	machine   string
	ds        *dataset
	seedWall  time.Duration
	seedReqs  int64
	bound     bound
	runs      []*toolRun
	distVer   string
	// night, on the second day of -nightly, is that day's data; day1 the
	// first day's report.
	night *dayTwo
	day1  *report
}

func run(ctx context.Context, o options) (bool, error) {
	root, err := moduleRoot()
	if err != nil {
		return false, err
	}
	if o.results == "" {
		o.results = filepath.Join(root, "bench", "RESULTS.md")
	}
	rep := &report{o: o, started: time.Now().UTC(), loadStart: loadAvg()}
	rep.machine = fmt.Sprintf("%s/%s, nproc %d, %s, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel(), runtime.Version())
	rep.distVer = "v3.1.2"
	if v := strings.TrimSpace(string(must(exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/distribution/distribution/v3").Output()))); v != "" {
		rep.distVer = v
	}
	fmt.Printf("load average at start: %s (nproc %d)\n", rep.loadStart, runtime.NumCPU())

	work := o.work
	if work == "" {
		work, err = os.MkdirTemp("", "tagsweep-compare-*")
		if err != nil {
			return false, err
		}
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return false, err
	}
	if !o.keepWork {
		defer os.RemoveAll(work)
	} else {
		fmt.Println("work directory:", work)
	}
	home := filepath.Join(work, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		return false, err
	}

	// The tools.
	var tools []*tool
	for _, k := range strings.Split(o.tools, ",") {
		switch strings.TrimSpace(k) {
		case "tagsweep":
			bin, built, err := buildTagsweep(ctx, root, work, o.fromHead)
			if err != nil {
				return false, err
			}
			for _, c := range strings.Split(o.concurrency, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(c))
				if err != nil || n < 0 {
					return false, fmt.Errorf("-concurrency: %q is not a number >= 0", c)
				}
				t := newTagsweep(bin, built, o.keep, n, "")
				if o.nightly {
					t = newTagsweep(bin, built, o.keep, n, filepath.Join(work, "cache-"+t.Key))
				}
				tools = append(tools, t)
			}
		case "regbot":
			bin := o.regbotBin
			if bin == "" {
				if bin, err = findOrInstall(ctx, "regbot", "github.com/regclient/regclient/cmd/regbot@v0.11.7"); err != nil {
					return false, err
				}
			}
			tools = append(tools, newRegbot(bin, o.keep))
		case "crane":
			bin := o.craneBin
			if bin == "" {
				if bin, err = findOrInstall(ctx, "crane", "github.com/google/go-containerregistry/cmd/crane@v0.22.1"); err != nil {
					return false, err
				}
			}
			if _, err := exec.LookPath("jq"); err != nil {
				return false, fmt.Errorf("the crane loop needs jq (apt-get install jq): %w", err)
			}
			tools = append(tools, newCraneLoop(bin, o.keep))
		case "":
		default:
			return false, fmt.Errorf("-tools: unknown tool %q (tagsweep, regbot, crane)", k)
		}
	}
	for _, t := range tools {
		fmt.Printf("%-10s %s\n", t.Name, t.Version)
	}

	// Seed once.
	ds := makeDataset(datasetOptions{Repos: o.repos, TagsPerRepo: o.tags, Keep: o.keep, Seed: o.seed,
		PairFraction: o.pairFraction, IndexFraction: o.indexFraction, BoundaryEvery: o.boundaryEvery, Span: o.span})
	rep.ds = ds
	rep.bound = computeBound(ds)
	seedDir := filepath.Join(work, "seed")
	start := time.Now()
	reg, err := testregistry.New(ctx, testregistry.Options{Dir: seedDir, DeleteEnabled: true})
	if err != nil {
		return false, err
	}
	sd := seedpush.New(reg.Addr(), o.seedWorkers)
	err = sd.Run(ctx, o.seedWorkers, ds.stages[:]...)
	_ = reg.Close()
	if err != nil {
		return false, fmt.Errorf("seed: %w", err)
	}
	rep.seedWall, rep.seedReqs = time.Since(start), sd.Requests()
	for i := range ds.stages {
		ds.stages[i] = nil
	}
	fmt.Printf("seeded %s in %s (%d requests)\n", ds.describe(o), rep.seedWall.Round(time.Millisecond), rep.seedReqs)
	b := rep.bound
	fmt.Printf("policy: keep %d newest by created per repository: %d tags kept, %d stale; lower bound %d requests (%.2f per tag)\n",
		o.keep, b.TaggedKept, b.TaggedStale, b.Total(), float64(b.Total())/float64(ds.Tags))

	// Each tool on its own copy.
	for _, t := range tools {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		tr, err := runOne(ctx, o, t, ds, seedDir, work, home)
		if err != nil {
			return false, fmt.Errorf("%s: %w", t.Name, err)
		}
		rep.runs = append(rep.runs, tr)
		fmt.Printf("%-10s wall %-9s requests %6d (%.2f/tag, %.2fx bound)  RSS %s  exit %d  %s  load %s -> %s\n",
			t.Name, tr.Wall.Round(10*time.Millisecond), tr.Stats.Total, float64(tr.Stats.Total)/float64(ds.Tags),
			float64(tr.Stats.Total-pings(tr.Stats))/float64(b.Total()), mib(tr.MaxRSS), tr.Exit, tr.Check.summary(), tr.LoadAvg[0], tr.LoadAvg[1])
	}
	rep.loadEnd = loadAvg()
	fmt.Printf("load average at end: %s\n\n", rep.loadEnd)

	md := rep.markdown()
	var rep2 *report
	if o.nightly {
		if rep2, err = secondDay(ctx, o, rep, tools, work, home); err != nil {
			return false, err
		}
		md += "\n" + rep2.markdown()
	}
	fmt.Print(md)
	if o.saveMD != "" {
		if err := os.WriteFile(o.saveMD, []byte(md), 0o644); err != nil {
			return false, err
		}
	}
	if o.write {
		if err := writeResults(o.results, md); err != nil {
			return false, err
		}
		fmt.Printf("\nwrote %s\n", o.results)
	}
	ok := true
	for _, rr := range []*report{rep, rep2} {
		if rr == nil {
			continue
		}
		for _, r := range rr.runs {
			if strings.HasPrefix(r.Tool.Key, "tagsweep") && (!r.Check.OK() || r.Exit != 0) {
				ok = false
			}
		}
	}
	return ok, nil
}

// secondDay is the second day of -nightly: the registry as tagsweep's
// first sweep left it (checked correct), a day of CI pushed into it, and
// every tool run again on a copy of that, tagsweep with its first day's
// cache-dir.
func secondDay(ctx context.Context, o options, day1 *report, tools []*tool, work, home string) (*report, error) {
	var src string
	for _, r := range day1.runs {
		if strings.HasPrefix(r.Tool.Key, "tagsweep") && r.Check.OK() && r.Exit == 0 {
			src = filepath.Join(work, r.Tool.Key, "data")
			break
		}
	}
	if src == "" {
		return nil, fmt.Errorf("-nightly: the second day starts from a correct first-day tagsweep run, and there is none")
	}
	d := day1.ds.nextDay(o.keep, o.added, o.moved)
	rep := &report{o: o, started: time.Now().UTC(), loadStart: loadAvg(), machine: day1.machine, distVer: day1.distVer,
		ds: d.ds, bound: d.rerunBound(), night: d, day1: day1}
	dir := filepath.Join(work, "day2")
	seedDir := filepath.Join(dir, "seed")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if out, err := exec.CommandContext(ctx, "cp", "-a", src, seedDir).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("copy the first day's data: %v: %s", err, out)
	}
	start := time.Now()
	reg, err := testregistry.New(ctx, testregistry.Options{Dir: seedDir, DeleteEnabled: true})
	if err != nil {
		return nil, err
	}
	sd := seedpush.New(reg.Addr(), o.seedWorkers)
	err = sd.Run(ctx, o.seedWorkers, d.ds.stages[0])
	_ = reg.Close()
	if err != nil {
		return nil, fmt.Errorf("second day: %w", err)
	}
	rep.seedWall, rep.seedReqs = time.Since(start), sd.Requests()
	fmt.Printf("second day: %d builds pushed, %d kept tags moved, %d tags now; re-run bound %d requests\n", d.Added, d.Moved, d.ds.Tags, rep.bound.Total())
	for _, t := range tools {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		tr, err := runOne(ctx, o, t, d.ds, seedDir, dir, home)
		if err != nil {
			return nil, fmt.Errorf("%s, second day: %w", t.Name, err)
		}
		rep.runs = append(rep.runs, tr)
		fmt.Printf("%-10s day 2 wall %-9s requests %6d (%.2fx re-run bound)  exit %d  %s\n", t.Name, tr.Wall.Round(10*time.Millisecond),
			tr.Stats.Total, float64(tr.Stats.Total-pings(tr.Stats))/float64(rep.bound.Total()), tr.Exit, tr.Check.summary())
	}
	rep.loadEnd = loadAvg()
	return rep, nil
}

func pings(s proxyStats) int {
	n := 0
	for k, v := range s.ByRoute {
		if isPing(k) {
			n += v
		}
	}
	return n
}

func mib(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

// runOne copies the seeded storage, starts a registry on the copy and the
// proxy in front of it, runs the tool, and checks the final state.
func runOne(ctx context.Context, o options, t *tool, ds *dataset, seedDir, work, home string) (*toolRun, error) {
	dir := filepath.Join(work, t.Key)
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if out, err := exec.CommandContext(ctx, "cp", "-a", seedDir, data).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("copy the seeded data: %v: %s", err, out)
	}
	reg, err := testregistry.New(ctx, testregistry.Options{Dir: data, DeleteEnabled: true})
	if err != nil {
		return nil, err
	}
	defer reg.Close()
	px, err := startProxy(reg.Addr(), o.latency)
	if err != nil {
		return nil, err
	}
	if o.logRequests {
		f, err := os.Create(filepath.Join(dir, "requests.txt"))
		if err != nil {
			return nil, err
		}
		defer f.Close()
		bw := bufio.NewWriter(f)
		defer bw.Flush()
		px.log = bw
	}
	argv, err := t.command(px.Addr(), dir)
	if err != nil {
		return nil, err
	}
	env := cleanEnv(home)
	if t.PathDir != "" {
		env = prependPath(env, t.PathDir)
	}
	fmt.Printf("%-10s running: %s\n", t.Name, strings.Join(argv, " "))
	load0 := loadAvg()
	cpu0 := selfCPU()
	tr, err := runTool(ctx, argv, env, dir, filepath.Join(dir, "log.txt"), o.timeout)
	if err != nil {
		return nil, err
	}
	tr.BenchCPU = selfCPU() - cpu0
	tr.LoadAvg = [2]string{load0, loadAvg()}
	tr.Tool = t
	tr.Stats = px.Stats()
	_ = px.Close()
	tr.Check = checkState(ctx, reg.Addr(), ds)
	if tr.Exit != 0 {
		tr.Err += " | " + tailOf(tr.Log, 5)
	}
	if !o.keepWork && !o.nightly { // -nightly starts its second day from tagsweep's
		_ = os.RemoveAll(data)
	}
	return &tr, nil
}

func prependPath(env []string, dir string) []string {
	for i, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			env[i] = "PATH=" + dir + string(os.PathListSeparator) + v
			return env
		}
	}
	return append(env, "PATH="+dir+":/usr/bin:/bin")
}

// tailOf returns the last n lines of a file, joined with " / ".
func tailOf(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " / ")
}

func (ds *dataset) describe(o options) string {
	return fmt.Sprintf("%d repositories x %d tags = %d tags (%d single-tag images, %d images tagged twice = %d tags, %d multi-arch indexes with 2 untagged children; the keep boundary splits a build tagged twice in %d repositories; created over %s; seed %d)",
		len(ds.Repos), o.tags, ds.Tags, ds.Singles, ds.Pairs, 2*ds.Pairs, ds.Indexes, ds.Boundary, fmtSpan(o.span), o.seed)
}

func fmtSpan(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.String()
}

// publish writes a saved run into the results file.
func publish(o options) error {
	md, err := os.ReadFile(o.publish)
	if err != nil {
		return err
	}
	if o.results == "" {
		root, err := moduleRoot()
		if err != nil {
			return err
		}
		o.results = filepath.Join(root, "bench", "RESULTS.md")
	}
	if err := writeResults(o.results, string(md)); err != nil {
		return err
	}
	fmt.Println("wrote", o.results)
	return nil
}
