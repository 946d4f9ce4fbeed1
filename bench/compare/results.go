package main

import (
	"bytes"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
)

// Targets of issue 6.
const (
	targetVsRegbot = 8.0
	targetVsCrane  = 25.0
	targetBound    = 1.1
)

func (r *report) find(key string) *toolRun {
	for _, t := range r.runs {
		if t.Tool.Key == key {
			return t
		}
	}
	return nil
}

// command is the command line that reproduces the run: the flags that
// were set, except those about where files go.
func (r *report) command() string {
	args := []string{"go run ./bench/compare"}
	for _, f := range r.o.set {
		switch f[0] {
		case "write", "keep-work", "work", "results", "save", "log-requests":
			continue
		}
		args = append(args, "-"+f[0]+"="+f[1])
	}
	return strings.Join(args, " ")
}

func met(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**not met**"
}

func secs(d time.Duration) string {
	switch {
	case d >= time.Minute:
		return fmt.Sprintf("%dm%04.1fs", int(d.Minutes()), d.Seconds()-60*float64(int(d.Minutes())))
	default:
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
}

func (r *report) markdown() string {
	var b bytes.Buffer
	o, ds, bd := r.o, r.ds, r.bound
	if n := r.night; n != nil {
		fmt.Fprintf(&b, "#### Nightly: the second day (%s)\n\n", r.started.Format("2006-01-02 15:04 UTC"))
		fmt.Fprintf(&b, "- machine: %s; load average (1/5/15 min) %s at the start, %s at the end\n", r.machine, r.loadStart, r.loadEnd)
		fmt.Fprintf(&b, "- data: the registry as tagsweep's first sweep left it (%d tags), then a day of CI in every repository: %d new builds pushed and %d of the kept tags pushed again as rebuilds (they move to new images), %d new images in all, pushed in %s: %d tags, each tool on a fresh copy\n",
			r.day1.bound.TaggedKept, n.Added, n.Moved, n.NewImages, secs(r.seedWall), ds.Tags)
		b.WriteString("- tagsweep runs with the `--cache-dir` its first-day run filled; regbot and the crane loop keep no state between runs\n")
	} else {
		fmt.Fprintf(&b, "### %d × %d tags, %s per request (%s)\n\n", o.repos, o.tags, o.latency, r.started.Format("2006-01-02 15:04 UTC"))
		fmt.Fprintf(&b, "`%s`\n\n", r.command())
		fmt.Fprintf(&b, "- machine: %s; load average (1/5/15 min) %s at the start, %s at the end\n", r.machine, r.loadStart, r.loadEnd)
		fmt.Fprintf(&b, "- registry: CNCF distribution %s (`testregistry.New`, filesystem storage, deletes enabled) in the benchmark process, on a fresh copy of the same seeded directory for each tool; the proxy in front adds %s to every request and counts it\n", r.distVer, o.latency)
		fmt.Fprintf(&b, "- data: %s, seeded in %s\n", ds.describe(o), secs(r.seedWall))
	}
	fmt.Fprintf(&b, "- policy: keep the %d newest tags by created time in every repository, delete the rest: %d tags kept, %d stale\n", o.keep, bd.TaggedKept, bd.TaggedStale)
	for _, t := range r.runs {
		fmt.Fprintf(&b, "- %s: %s; `%s`\n", t.Tool.Name, t.Tool.Version, t.Tool.Shown)
	}
	b.WriteString("\n| tool | wall | requests | req/tag | pings | ÷ bound (w/o pings) | peak RSS | processes | CPU (tool) | TCP conns | mean in flight | exit | final state | load at start → end |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|\n")
	for _, t := range r.runs {
		s := t.Stats
		p := pings(s)
		inFlight := 0.0
		if t.Wall > 0 {
			inFlight = s.Held.Seconds() / t.Wall.Seconds()
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %.2f | %d | %.3f | %s | %d | %s | %d | %.1f | %d | %s | %s → %s |\n",
			t.Tool.Name, secs(t.Wall), s.Total, float64(s.Total)/float64(ds.Tags), p, float64(s.Total-p)/float64(bd.Total()),
			mib(t.MaxRSS), t.Procs, secs(t.UserCPU+t.SysCPU), s.Conns, inFlight, t.Exit, t.Check.summary(), t.LoadAvg[0], t.LoadAvg[1])
	}
	fmt.Fprintf(&b, "| *lower bound* | | %d | %.2f | | 1.000 | | | | | | | | |\n\n", bd.Total(), float64(bd.Total())/float64(ds.Tags))

	// Ratios and targets.
	rb, cr := r.find("regbot"), r.find("crane")
	if r.night != nil {
		r.nightTargets(&b)
	}
	for _, ts := range r.runs {
		if r.night != nil {
			break
		}
		if !strings.HasPrefix(ts.Tool.Key, "tagsweep") {
			continue
		}
		target := ts.Tool.Key == "tagsweep"
		if target {
			b.WriteString("Targets (issue 6), tagsweep at its default concurrency:\n\n")
		} else {
			fmt.Fprintf(&b, "Not a target: %s (same binary, same data):\n\n", ts.Tool.Name)
		}
		verdict := func(ok bool) string {
			if !target {
				return ""
			}
			return ": " + met(ok)
		}
		if rb != nil {
			x := rb.Wall.Seconds() / ts.Wall.Seconds()
			fmt.Fprintf(&b, "- vs regbot, wall clock: **%.1f×** faster (target ≥ %.0f×)%s\n", x, targetVsRegbot, verdict(x >= targetVsRegbot))
		}
		if cr != nil {
			x := cr.Wall.Seconds() / ts.Wall.Seconds()
			fmt.Fprintf(&b, "- vs the crane loop, wall clock: **%.1f×** faster (target ≥ %.0f×)%s\n", x, targetVsCrane, verdict(x >= targetVsCrane))
		}
		p := pings(ts.Stats)
		x := float64(ts.Stats.Total-p) / float64(bd.Total())
		fmt.Fprintf(&b, "- requests vs the lower bound: **%.3f×** without its %d pings, %.3f× with them (target ≤ %.1f×; the bound excludes pings)%s\n",
			x, p, float64(ts.Stats.Total)/float64(bd.Total()), targetBound, verdict(x <= targetBound))
		fmt.Fprintf(&b, "- final state correct%s (%d kept tags present with their digest and pulled, %d stale tags gone)\n",
			verdict(ts.Check.OK() && ts.Exit == 0), ts.Check.KeptOK, ts.Check.StaleGone)
		c := ts.Tool.Concurrency
		fmt.Fprintf(&b, "- latency floor at concurrency %d: requests × %s / %d = %s; it took %s (%.1f requests in flight on average)\n",
			c, o.latency, c, secs(time.Duration(float64(ts.Stats.Total)*float64(o.latency)/float64(c))), secs(ts.Wall), ts.Stats.Held.Seconds()/ts.Wall.Seconds())
		// The best any client could do at this concurrency: the bound's
		// requests, every slot always busy, a registry that answers at once.
		ceil := time.Duration(float64(bd.Total()) * float64(o.latency) / float64(c))
		fmt.Fprintf(&b, "- ceiling at concurrency %d: the bound's %d requests × %s / %d = %s is the least any run that sends them can take, even with every slot busy and a registry answering instantly",
			c, bd.Total(), o.latency, c, secs(ceil))
		if rb != nil {
			fmt.Fprintf(&b, "; regbot's wall over it: %.1f×", rb.Wall.Seconds()/ceil.Seconds())
		}
		if cr != nil {
			fmt.Fprintf(&b, "; the crane loop's: %.1f×", cr.Wall.Seconds()/ceil.Seconds())
		}
		b.WriteString("\n\n")
	}

	// The bound.
	if n := r.night; n != nil {
		fmt.Fprintf(&b, "Re-run bound (issue 16), with the first day's cache: %d catalog page + %d tags/list pages + %d HEADs (one per tag) + %d manifest GETs (one per new digest) + %d config GETs (one per new image) + second look in the %d repositories with a deletion (%d tags/list pages + %d HEADs) + %d DELETEs (%d tagged digests, %d stale tags on a digest a kept tag shares, %d untagged index children) = **%d** (%.2f per tag). Without a cache the same day costs at least %d.\n\n",
			bd.Catalog, bd.Lists, bd.Heads, bd.Manifests, bd.Configs, bd.ReposWithWork, bd.SecondLists, bd.SecondHeads,
			bd.Deletes(), bd.DigestDeletes, bd.TagDeletes, bd.ChildDeletes, bd.Total(), float64(bd.Total())/float64(ds.Tags), computeBound(ds).Total())
	} else {
		fmt.Fprintf(&b, "Lower bound, generic OCI path: %d catalog page + %d tags/list pages + %d manifest GETs (one per tag) + %d child manifest GETs (one per distinct index child: an index's age is its children's created) + %d config GETs (one per distinct image, per repository) + second look in the %d repositories with a deletion (%d tags/list pages + %d HEADs) + %d DELETEs (%d tagged digests, %d stale tags on a digest a kept tag shares, %d untagged index children only deleted indexes reach) = **%d** (%.2f per tag). Pings (`GET /v2/`) are not in it and are counted apart; the registry has no auth, so there are no token requests.\n\n",
			bd.Catalog, bd.Lists, bd.Manifests, bd.Children, bd.Configs, bd.ReposWithWork, bd.SecondLists, bd.SecondHeads,
			bd.Deletes(), bd.DigestDeletes, bd.TagDeletes, bd.ChildDeletes, bd.Total(), float64(bd.Total())/float64(ds.Tags))
	}

	// Requests by route.
	routes := map[string]bool{}
	br := bd.byRoute()
	for k := range br {
		routes[k] = true
	}
	for _, t := range r.runs {
		for k := range t.Stats.ByRoute {
			routes[k] = true
		}
	}
	var keys []string
	for k := range routes {
		keys = append(keys, k)
	}
	order := map[string]int{"GET catalog": 0, "GET tags": 1, "GET manifest": 2, "GET blob": 3, "HEAD manifest": 4, "DELETE manifest": 5, "GET base": 6}
	sort.Slice(keys, func(i, j int) bool {
		oi, ok1 := order[keys[i]]
		oj, ok2 := order[keys[j]]
		if !ok1 {
			oi = 100
		}
		if !ok2 {
			oj = 100
		}
		if oi != oj {
			return oi < oj
		}
		return keys[i] < keys[j]
	})
	b.WriteString("| route (at the proxy) | bound |")
	for _, t := range r.runs {
		fmt.Fprintf(&b, " %s |", t.Tool.Name)
	}
	b.WriteString("\n|---|---:|")
	for range r.runs {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, k := range keys {
		name := k
		if isPing(k) {
			name += " (ping)"
		}
		fmt.Fprintf(&b, "| %s | %d |", name, br[k])
		for _, t := range r.runs {
			fmt.Fprintf(&b, " %d |", t.Stats.ByRoute[k])
		}
		b.WriteString("\n")
	}
	for _, k := range keys {
		fmt.Fprintf(&b, "| registry time per %s (mean) |  |", k)
		for _, t := range r.runs {
			if n := t.Stats.ByRoute[k]; n > 0 {
				fmt.Fprintf(&b, " %s |", (t.Stats.UpRoute[k] / time.Duration(n)).Round(10*time.Microsecond))
			} else {
				b.WriteString("  |")
			}
		}
		b.WriteString("\n")
	}
	b.WriteString("| responses by status |  |")
	for _, t := range r.runs {
		fmt.Fprintf(&b, " %s |", statusLine(t.Stats.Status))
	}
	b.WriteString("\n| registry time per request (mean, after the injected latency) |  |")
	for _, t := range r.runs {
		per := time.Duration(0)
		if t.Stats.Total > 0 {
			per = t.Stats.Upstream / time.Duration(t.Stats.Total)
		}
		fmt.Fprintf(&b, " %s |", per.Round(10*time.Microsecond))
	}
	b.WriteString("\n| CPU of the benchmark process (registry + proxy) during the run |  |")
	for _, t := range r.runs {
		fmt.Fprintf(&b, " %s |", secs(t.BenchCPU))
	}
	b.WriteString("\n\n")

	// Final state.
	b.WriteString("Final state:\n\n")
	for _, t := range r.runs {
		c := t.Check
		fmt.Fprintf(&b, "- %s: %s; %d of %d kept tags present with their original digest and pulled, %d of %d stale tags gone; %d of the %d manifests the policy frees still there by digest",
			t.Tool.Name, c.summary(), c.KeptOK, bd.TaggedKept, c.StaleGone, bd.TaggedStale, c.FreedLeft, c.FreedDigests)
		if t.Exit != 0 || t.Err != "" {
			fmt.Fprintf(&b, "; exit %d (%s)", t.Exit, strings.TrimSpace(t.Err))
		}
		b.WriteString(".\n")
		list := func(what string, s []string) {
			if len(s) == 0 {
				return
			}
			shown := s
			more := ""
			if len(shown) > 12 {
				shown, more = shown[:12], fmt.Sprintf(", … %d in all", len(s))
			}
			fmt.Fprintf(&b, "  - %s: %s%s\n", what, strings.Join(shown, ", "), more)
		}
		list("kept tags it deleted", c.WronglyDeleted)
		list("kept tags that moved", c.Moved)
		list("kept tags that do not pull", c.PullFailed)
		list("stale tags it left", c.StaleLeft)
		list("tags that were never seeded", c.Unexpected)
		list("check errors", c.Errors)
	}
	return b.String()
}

// Targets of issue 16 for tagsweep's second-day run.
const (
	targetRerunBound = 1.05
	targetRerunWall  = 1.25
)

// nightTargets writes the second day's targets (issue 16) for every
// tagsweep run, against its first day and the other tools' second.
func (r *report) nightTargets(b *bytes.Buffer) {
	o, bd, n := r.o, r.bound, r.night
	rb, cr := r.find("regbot"), r.find("crane")
	for _, ts := range r.runs {
		if !strings.HasPrefix(ts.Tool.Key, "tagsweep") {
			continue
		}
		fmt.Fprintf(b, "Targets (issue 16), %s on the second day:\n\n", ts.Tool.Name)
		s := ts.Stats
		mg, cg := s.ByRoute["GET manifest"], s.ByRoute["GET blob"]
		fmt.Fprintf(b, "- manifest and config GETs: %d and %d, for %d new images (target: none for a digest seen the day before): %s\n",
			mg, cg, n.NewImages, met(mg <= n.NewImages && cg <= n.NewImages))
		p := pings(s)
		x := float64(s.Total-p) / float64(bd.Total())
		fmt.Fprintf(b, "- requests vs the re-run bound: **%.3f×** without its %d pings (target ≤ %.2f×): %s\n", x, p, targetRerunBound, met(x <= targetRerunBound))
		c := ts.Tool.Concurrency
		floor := time.Duration(float64(bd.Total()) * float64(o.latency) / float64(c))
		w := ts.Wall.Seconds() / floor.Seconds()
		fmt.Fprintf(b, "- wall %s vs the bound × %s ÷ %d = %s: **%.2f×** (target ≤ %.2f×): %s\n", secs(ts.Wall), o.latency, c, secs(floor), w, targetRerunWall, met(w <= targetRerunWall))
		d1 := r.day1.find(ts.Tool.Key)
		for _, other := range []*toolRun{rb, cr} {
			if other == nil || d1 == nil {
				continue
			}
			o1 := r.day1.find(other.Tool.Key)
			x2 := other.Wall.Seconds() / ts.Wall.Seconds()
			if o1 == nil {
				fmt.Fprintf(b, "- vs %s, wall clock: **%.1f×** faster on the second day (%s did not run on the first)\n", other.Tool.Name, x2, other.Tool.Name)
				continue
			}
			x1 := o1.Wall.Seconds() / d1.Wall.Seconds()
			fmt.Fprintf(b, "- vs %s, wall clock: **%.1f×** faster on the second day, %.1f× on the first (target: further ahead): %s\n", other.Tool.Name, x2, x1, met(x2 > x1))
		}
		fmt.Fprintf(b, "- final state correct: %s (%d kept tags present with their digest and pulled, %d stale tags gone)\n\n",
			met(ts.Check.OK() && ts.Exit == 0), ts.Check.KeptOK, ts.Check.StaleGone)
	}
}

func statusLine(m map[int]int) string {
	var codes []int
	for c := range m {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d×%d", m[c], c))
	}
	return strings.Join(parts, " ")
}

// Markers of the generated part of the section in RESULTS.md.
const (
	sectionHeading = "## Against the tools users pick instead"
	beginMarker    = "<!-- compare:begin (generated by go run ./bench/compare; everything up to compare:end is replaced) -->"
	endMarker      = "<!-- compare:end -->"
)

const sectionIntro = `Issue 6 asks how tagsweep compares, on the same data and the same policy, with what users would
run instead: regclient's regbot with a retention script, and a shell loop over crane. ` + "`go run ./bench/compare`" + `
measures that in one command (about 35 minutes at the defaults, 25 of them the crane loop; ` + "`-repos 5 -tags 40 -write=false`" + `
is a quick run of about 3 minutes). What it does:

1. It builds ` + "`cmd/tagsweep`" + ` from the committed HEAD (` + "`git archive`" + `, so that unfinished edits in a shared working tree
   are not measured; ` + "`-from-head=false`" + ` builds the working tree) and finds ` + "`regbot`" + ` (regclient v0.11.7) and ` + "`crane`" + `
   (go-containerregistry v0.22.1) on PATH, in GOBIN or in GOPATH/bin, installing those pinned versions with ` + "`go install`" + ` when
   they are missing (the crane loop also needs ` + "`jq`" + `).
2. It seeds a CNCF distribution v3 registry (` + "`testregistry.New`" + `, filesystem storage, deletes enabled) once, deterministically
   from ` + "`-seed`" + `: R repositories × T tags (default 20 × 250). About 20% of the tags are builds tagged twice
   (` + "`build-N`" + ` and ` + "`git-<sha>`" + ` on one digest), 2% are multi-arch indexes (amd64 and arm64 children, untagged, with
   the same created time), the rest single-tag images; created times are distinct whole seconds spread over a year. In
   every 4th repository (` + "`-boundary-every`" + `) the keep boundary splits a build tagged twice: the 10th and the 11th tag
   by the policy's order share a digest.
3. For each tool it copies the seeded directory, starts a registry on the copy and a reverse proxy in front of it on
   127.0.0.1 that holds every request for ` + "`-latency`" + ` (25 ms) before passing it on and counts it by method and route
   class, with its status, the TCP connections opened and the time requests spent in it. New connections cost no extra
   latency (which favours the crane loop: every crane process opens its own).
4. It runs the tool as a user would, with a clean HOME and environment, and times it from start to exit. CPU comes
   from ` + "`wait4`" + ` (the tool and every process it waited for). Peak RSS is the largest VmHWM of any one process of
   the tool's process group, read from /proc every 20 ms (for the shell loop: its largest crane, jq or shell process).
   ru_maxrss cannot be used: Go starts children vfork-style, and Linux folds the parent's resident set (here the
   benchmark process with the registry) into the child's ru_maxrss at exec.
5. It checks the final state directly at the registry (not through the proxy): every tag the policy keeps must still
   point at its original digest and pull (` + "`testregistry.VerifyPull`" + `: manifest, children, config and layers, digests
   checked), every stale tag must be gone, and no other tag may exist.

The policy in all three is "keep the 10 newest tags by image created time in every repository, delete the rest", with
ties going to the tag name, highest first (tagsweep's contract rule 4; the scripts sort the same way). tagsweep runs as
` + "`tagsweep --registry 127.0.0.1:PORT --keep 10 --report-file report.json`" + ` at its default concurrency (8). regbot runs
` + "`regbot once`" + ` with a config naming the registry with ` + "`tls: disabled`" + ` and the script
[` + "`bench/compare/keep-newest.lua`" + `](compare/keep-newest.lua), written the way regclient's own "delete old builds" example is
(` + "`repo.ls`, `tag.ls`, `image.config`" + ` per tag, ` + "`tag.delete`" + `). The crane loop is
[` + "`bench/compare/crane-loop.sh`" + `](compare/crane-loop.sh): ` + "`crane catalog`, `crane ls`, `crane config | jq -r .created`" + ` per
tag, ` + "`sort -r`" + `, then ` + "`crane digest`" + ` and ` + "`crane delete REPO@DIGEST`" + ` for each stale tag.
`

// writeResults puts the generated block into the section of path,
// creating the section (at the end) if it is not there.
func writeResults(path, md string) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	s := string(old)
	block := beginMarker + "\n\n" + strings.TrimRight(md, "\n") + "\n\n" + endMarker
	switch i, j := strings.Index(s, beginMarker), strings.Index(s, endMarker); {
	case i >= 0 && j > i:
		s = s[:i] + block + s[j+len(endMarker):]
	case strings.Contains(s, sectionHeading):
		return fmt.Errorf("%s has the section %q but not its markers; not touching it", path, sectionHeading)
	default:
		s = strings.TrimRight(s, "\n") + "\n\n" + sectionHeading + "\n\n" + sectionIntro + "\n" + block + "\n"
	}
	return os.WriteFile(path, []byte(s), 0o644)
}
