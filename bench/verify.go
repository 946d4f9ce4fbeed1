package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/tagsweep/tagsweep/bench/internal/seedpush"

	"github.com/tagsweep/tagsweep/internal/report"
)

// deletedSet returns the "repository:tag" of the tags with the action.
func deletedSet(r *report.Report, action string) map[string]bool {
	out := map[string]bool{}
	if r == nil {
		return nil
	}
	_ = r.Each(func(repo *report.Repository) error {
		for _, t := range repo.Tags {
			if t.Action == action {
				out[repo.Name+":"+t.Tag] = true
			}
		}
		return nil
	})
	return out
}

// comparePlans checks that the real run deleted exactly what the dry run
// said it would.
func comparePlans(would map[string]bool, real *report.Report) []string {
	if would == nil || real == nil {
		return []string{"a report is missing"}
	}
	did := deletedSet(real, report.Deleted)
	var problems []string
	if len(would) != len(did) {
		problems = append(problems, fmt.Sprintf("the dry run would delete %d tags, the real run deleted %d", len(would), len(did)))
	}
	var diff []string
	for t := range would {
		if !did[t] {
			diff = append(diff, "planned but not deleted: "+t)
		}
	}
	for t := range did {
		if !would[t] {
			diff = append(diff, "deleted but not planned: "+t)
		}
	}
	sort.Strings(diff)
	if len(diff) > 5 {
		diff = append(diff[:5], fmt.Sprintf("... %d differences in all", len(diff)))
	}
	return append(problems, diff...)
}

// verifyRegistry checks the registry after the real run: every kept tag
// resolves; every deleted tag is gone (a tag deleted by tag no longer
// resolves; a digest deleted by digest no longer resolves; go-containerregistry's
// registry keeps serving tags whose digest was deleted, so the digest is
// what is checked there).
func verifyRegistry(ctx context.Context, addr string, rep *report.Report, workers int) ([]string, error) {
	type check struct {
		repo, ref string
		want      bool
		what      string
	}
	var checks []check
	for _, repo := range rep.Repositories {
		keptOn := map[string]bool{}
		for _, t := range repo.Tags {
			if t.Action != report.Deleted && t.Digest != "" {
				keptOn[t.Digest] = true
			}
		}
		for _, t := range repo.Tags {
			switch {
			case t.Action == report.Deleted && keptOn[t.Digest]:
				checks = append(checks, check{repo.Name, t.Tag, false, "tag deleted by tag"})
			case t.Action == report.Deleted:
				checks = append(checks, check{repo.Name, t.Digest, false, "digest of deleted tag " + t.Tag})
			default:
				checks = append(checks, check{repo.Name, t.Tag, true, "kept tag"})
			}
			for _, a := range t.Attached {
				if a.Action == report.Deleted {
					checks = append(checks, check{repo.Name, a.Digest, false, "untagged manifest deleted with " + t.Tag})
				}
			}
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = workers
	hc := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	accept := strings.Join([]string{mtIndex, mtManifest, "application/vnd.docker.distribution.manifest.list.v2+json", "application/vnd.docker.distribution.manifest.v2+json"}, ",")
	var mu sync.Mutex
	var problems []string
	err := seedpush.Parallel(ctx, workers, len(checks), func(ctx context.Context, i int) error {
		c := checks[i]
		req, err := http.NewRequestWithContext(ctx, http.MethodHead, fmt.Sprintf("http://%s/v2/%s/manifests/%s", addr, c.repo, c.ref), nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", accept)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		var bad string
		switch {
		case resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotFound:
			bad = fmt.Sprintf("HEAD %s:%s: %s", c.repo, c.ref, resp.Status)
		case c.want && resp.StatusCode != http.StatusOK:
			bad = fmt.Sprintf("%s %s:%s is gone", c.what, c.repo, c.ref)
		case !c.want && resp.StatusCode == http.StatusOK:
			bad = fmt.Sprintf("%s %s:%s still resolves", c.what, c.repo, c.ref)
		}
		if bad != "" {
			mu.Lock()
			problems = append(problems, bad)
			mu.Unlock()
		}
		return nil
	})
	sort.Strings(problems)
	return problems, err
}
