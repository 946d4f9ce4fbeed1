package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tagsweep/tagsweep/bench/internal/seedpush"

	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// checkResult is the final state of the registry after a tool, against the
// policy.
type checkResult struct {
	KeptOK         int      // kept tags present, with their original digest, that pull
	WronglyDeleted []string // kept tags that are gone ("repo:tag")
	Moved          []string // kept tags that point elsewhere now
	PullFailed     []string // kept tags whose pull failed (with the error)
	StaleLeft      []string // stale tags still there
	StaleGone      int
	Unexpected     []string // tags that were never seeded
	Errors         []string
	// Reclaim: of the digests the policy frees (tagged digests no kept tag
	// is on, and the index children only they reach), how many still
	// resolve by digest (a tool that only untags leaves them for the
	// registry's garbage collector with --delete-untagged).
	FreedDigests, FreedLeft int
}

func (c checkResult) OK() bool {
	return len(c.WronglyDeleted)+len(c.Moved)+len(c.PullFailed)+len(c.StaleLeft)+len(c.Unexpected)+len(c.Errors) == 0
}

// summary is a one-cell description for the results table.
func (c checkResult) summary() string {
	if c.OK() {
		return "correct"
	}
	var parts []string
	add := func(n int, what string) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(len(c.WronglyDeleted), "kept tags deleted")
	add(len(c.Moved), "kept tags moved")
	add(len(c.PullFailed), "kept tags do not pull")
	add(len(c.StaleLeft), "stale tags left")
	add(len(c.Unexpected), "unexpected tags")
	add(len(c.Errors), "check errors")
	return "**wrong**: " + strings.Join(parts, ", ")
}

var acceptAll = strings.Join([]string{mtIndex, mtManifest,
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.docker.distribution.manifest.v2+json"}, ",")

// checkState checks the registry at addr (directly, not through the
// proxy): every tag the policy keeps exists with its original digest and
// pulls (testregistry.VerifyPull: manifest, children, config and layers,
// digests checked), and every stale tag is gone.
func checkState(ctx context.Context, addr string, ds *dataset) checkResult {
	var res checkResult
	var mu sync.Mutex
	hc := &http.Client{Timeout: time.Minute}
	type job struct {
		repo *repoModel
		tag  tagInfo
	}
	var jobs []job
	for _, m := range ds.Repos {
		tags, err := testregistry.ListTags(ctx, addr+"/"+m.Name)
		if err != nil {
			res.Errors = append(res.Errors, fmt.Sprintf("list %s: %v", m.Name, err))
			continue
		}
		present := map[string]bool{}
		for _, t := range tags {
			present[t] = true
		}
		known := map[string]bool{}
		for _, t := range m.Tags {
			known[t.Tag] = true
			switch {
			case m.Keep[t.Tag] && present[t.Tag]:
				jobs = append(jobs, job{m, t})
			case m.Keep[t.Tag]:
				res.WronglyDeleted = append(res.WronglyDeleted, m.Name+":"+t.Tag)
			case present[t.Tag]:
				res.StaleLeft = append(res.StaleLeft, m.Name+":"+t.Tag)
			default:
				res.StaleGone++
			}
		}
		for _, t := range tags {
			if !known[t] {
				res.Unexpected = append(res.Unexpected, m.Name+":"+t)
			}
		}
	}
	// Digests the policy frees.
	type freed struct{ repo, digest string }
	var frees []freed
	for _, m := range ds.Repos {
		for _, d := range m.freedDigests() {
			frees = append(frees, freed{m.Name, d})
		}
	}
	res.FreedDigests = len(frees)
	left := make([]bool, len(frees))
	if err := seedpush.Parallel(ctx, 16, len(frees), func(ctx context.Context, i int) error {
		ok, err := testregistry.Exists(ctx, addr+"/"+frees[i].repo+"@"+frees[i].digest)
		left[i] = ok
		return err
	}); err != nil {
		res.Errors = append(res.Errors, "checking freed digests: "+err.Error())
	}
	for _, l := range left {
		if l {
			res.FreedLeft++
		}
	}

	err := seedpush.Parallel(ctx, 16, len(jobs), func(ctx context.Context, i int) error {
		j := jobs[i]
		ref := addr + "/" + j.repo.Name + ":" + j.tag.Tag
		req, _ := http.NewRequestWithContext(ctx, http.MethodHead, fmt.Sprintf("http://%s/v2/%s/manifests/%s", addr, j.repo.Name, j.tag.Tag), nil)
		req.Header.Set("Accept", acceptAll)
		resp, err := hc.Do(req)
		var problem, moved, pull string
		switch {
		case err != nil:
			problem = fmt.Sprintf("HEAD %s: %v", ref, err)
		default:
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if got := resp.Header.Get("Docker-Content-Digest"); resp.StatusCode != http.StatusOK || got != j.tag.Digest {
				moved = fmt.Sprintf("%s:%s (%s, digest %q)", j.repo.Name, j.tag.Tag, resp.Status, got)
			} else if err := testregistry.VerifyPull(ctx, ref); err != nil {
				pull = err.Error()
			}
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case problem != "":
			res.Errors = append(res.Errors, problem)
		case moved != "":
			res.Moved = append(res.Moved, moved)
		case pull != "":
			res.PullFailed = append(res.PullFailed, pull)
		default:
			res.KeptOK++
		}
		return nil
	})
	if err != nil {
		res.Errors = append(res.Errors, err.Error())
	}
	for _, s := range [][]string{res.WronglyDeleted, res.Moved, res.PullFailed, res.StaleLeft, res.Unexpected, res.Errors} {
		sort.Strings(s)
	}
	return res
}
