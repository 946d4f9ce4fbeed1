package e2e

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/registry/dockerhub/hubtest"
	"github.com/tagsweep/tagsweep/internal/report"
)

// seedMixed pushes n tags to acme/app, every fifth a multi-arch index of
// two platform images, the others single-platform images, tag i pushed i
// days ago on the Hub. It returns every manifest digest per tag (an
// index's children after it).
func (h *dockerHub) seedMixed(t *testing.T, n int) map[string][]string {
	t.Helper()
	a := h.r.Addr()
	out := map[string][]string{}
	for i := range n {
		name := fmt.Sprintf("t%03d", i)
		ref := "acme/app:" + name
		if i%5 == 0 {
			idx, kids := multiarch(t, a, ref, daysAgo(float64(i)), int64(i))
			out[name] = []string{idx.String()}
			for _, k := range kids {
				d, _ := k.Digest()
				out[name] = append(out[name], d.String())
			}
		} else {
			out[name] = []string{pushImage(t, a, ref, daysAgo(float64(i)), int64(100000+i)).String()}
		}
		h.hub.SetPushed("acme/app", name, daysAgo(float64(i)))
	}
	return out
}

// TestDockerHubPulls: a repository of single-platform and multi-arch
// images (100 tags, and 250 under a pull quota of 40, issue 15's "done
// when"): the dry and the real run count 0 pulls (the graph comes from the
// Hub listing, the second look from HEADs), plan the same, and the real
// run removes the stale tags through the Hub API and then deletes their
// manifests through the registry API, index children after their index:
// every stale manifest is gone from storage, the kept tags still pull,
// reclaimed-bytes is what was deleted, and the summary and the report say
// the pulls used. It logs requests per tag; with age-source: created (a
// GET of every manifest, as tagsweep read Docker Hub before) the pulls
// per tag for comparison.
func TestDockerHubPulls(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ tags, quota int }{{100, 0}, {250, 40}} {
		t.Run(fmt.Sprintf("%d tags, quota %d", c.tags, c.quota), func(t *testing.T) {
			t.Parallel()
			h := newDockerHub(t, hubtest.Options{PullLimit: c.quota, PullWindow: time.Hour})
			digests := h.seedMixed(t, c.tags)
			in := inputs{"registry": h.r.Addr(), "provider": "dockerhub", "username": "acme", "password": hubSecret,
				"repositories": "acme/app", "keep": "10", "dry-run": "true"}

			if c.quota == 0 {
				// Before: every manifest GET (age-source created reads each
				// one, as every run did before the listing was used).
				in["age-source"] = "created"
				before := runActionWith(t, in, h.env)
				if before.code != 0 {
					t.Fatalf("created ages: exit %d\n%s", before.code, before.stderr)
				}
				t.Logf("age-source created (a GET per manifest): %d pulls, %.2f pulls per tag, %.2f requests per tag (dry run)",
					h.hub.Pulls("acme"), float64(h.hub.Pulls("acme"))/float64(c.tags), float64(before.report.Requests)/float64(c.tags))
				delete(in, "age-source")
				h.hub.ResetPulls()
			}

			h.hub.ResetRequests()
			dry := runActionWith(t, in, h.env)
			if dry.code != 0 {
				t.Fatalf("dry run exit %d\n%s", dry.code, dry.stderr)
			}
			dryAPI := len(h.hub.Requests())
			if p := h.hub.Pulls("acme"); p != 0 {
				t.Errorf("dry run: %d pulls counted by the registry, want 0", p)
			}
			if dry.report.Pulls == nil || *dry.report.Pulls != 0 {
				t.Errorf("dry run report pulls %v, want 0", dry.report.Pulls)
			}
			if !strings.Contains(dry.summary, "Pulls counted against the registry's pull limit: 0") {
				t.Errorf("the summary does not say the pulls:\n%s", dry.summary)
			}
			if d := h.hub.RegistryDeleteRequests(); len(d) != 0 {
				t.Errorf("dry run sent registry deletes: %v", d)
			}
			want := make([]string, 0, c.tags-10)
			for i := 10; i < c.tags; i++ {
				want = append(want, fmt.Sprintf("acme/app:t%03d", i))
			}
			if diff := cmp.Diff(want, deletedTagsOutput(t, dry)); diff != "" {
				t.Errorf("dry-run deleted-tags (-want +got):\n%s", diff)
			}

			h.hub.ResetRequests()
			in["dry-run"] = "false"
			real := runActionWith(t, in, h.env)
			if real.code != 0 {
				t.Fatalf("real run exit %d\n%s", real.code, real.stderr)
			}
			if diff := cmp.Diff(deletedTagsOutput(t, dry), deletedTagsOutput(t, real)); diff != "" {
				t.Errorf("real run deleted other tags than the dry run planned (-dry +real):\n%s", diff)
			}
			checkCounts(t, real)
			if p, r := h.hub.Pulls("acme"), h.hub.RefusedPulls("acme"); p != 0 || r != 0 {
				t.Errorf("real run: %d pulls, %d refused, want 0", p, r)
			}
			if real.report.Pulls == nil || *real.report.Pulls != 0 {
				t.Errorf("real run report pulls %v", real.report.Pulls)
			}
			// Stale manifests gone from storage, children included; kept ones pull.
			var gone, kept []string
			for i := range c.tags {
				name := fmt.Sprintf("t%03d", i)
				for _, d := range digests[name] {
					if i < 10 {
						kept = append(kept, "acme/app@"+d)
					} else if exists(t, h.r.Addr()+"/acme/app@"+d) {
						gone = append(gone, name+"@"+d)
					}
				}
			}
			if len(gone) > 0 {
				t.Errorf("%d stale manifests still stored, e.g. %v", len(gone), gone[:min(3, len(gone))])
			}
			wantDeletes := 0
			for i := 10; i < c.tags; i++ {
				wantDeletes += len(digests[fmt.Sprintf("t%03d", i)])
			}
			if got := len(h.hub.RegistryDeletes()); got != wantDeletes {
				t.Errorf("%d registry DELETEs accepted, want %d (one per stale manifest)", got, wantDeletes)
			}
			if rb, _ := strconv.ParseInt(real.outputs["reclaimed-bytes"], 10, 64); rb <= 0 || real.report.Totals.ReclaimedBytes != rb {
				t.Errorf("reclaimed-bytes %q", real.outputs["reclaimed-bytes"])
			}
			for _, r := range real.report.Repositories {
				if len(r.StillStored) != 0 {
					t.Errorf("still stored: %v", r.StillStored)
				}
			}
			refs := make([]string, 0, len(kept))
			for i := range 10 {
				refs = append(refs, fmt.Sprintf("acme/app:t%03d", i))
			}
			gcAndVerify(t, h.r, false, refs...)
			var kinds []string
			for _, r := range h.hub.Requests() {
				kinds = append(kinds, r.Method)
			}
			sort.Strings(kinds)
			t.Logf("%d tags: requests per tag dry %.2f (Hub API %d), real %.2f (Hub API %d); pulls 0",
				c.tags, float64(dry.report.Requests)/float64(c.tags), dryAPI, float64(real.report.Requests)/float64(c.tags), len(h.hub.Requests()))
		})
	}
}

// TestDockerHubPullLimit: where manifests must be read (age-source:
// created) past the pull limit, the 429 TOOMANYREQUESTS ends the
// repository's inspection at once with the reason, without retries and
// without waiting; the next repository sends no manifest GET either;
// nothing is deleted; exit 1.
func TestDockerHubPullLimit(t *testing.T) {
	t.Parallel()
	h := newDockerHub(t, hubtest.Options{PullLimit: 3, PullWindow: time.Hour})
	a := h.r.Addr()
	for i := range 8 {
		pushImage(t, a, fmt.Sprintf("acme/app:v%d", i), daysAgo(float64(i)), int64(i+1))
	}
	pushImage(t, a, "acme/tool:v1", daysAgo(3), 50)
	in := h.inputs(hubSecret)
	in["age-source"] = "created"
	in["dry-run"] = "false"
	in["concurrency"] = "1" // one GET at a time: exactly one meets the 429
	start := time.Now()
	res := runActionWith(t, in, h.env)
	took := time.Since(start)
	if res.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", res.code, res.stderr)
	}
	if took > 30*time.Second {
		t.Errorf("took %s: the pull limit was waited out", took)
	}
	if !strings.Contains(res.stderr, "Docker Hub pull limit reached (3 pulls per 1h0m0s for acme); the quota resets") {
		t.Errorf("stderr does not name the pull limit:\n%s", res.stderr)
	}
	if p, r := h.hub.Pulls("acme"), h.hub.RefusedPulls("acme"); p != 3 || r != 1 {
		t.Errorf("pulls %d, refused %d: want 3 and 1 (no retry, nothing sent after)", p, r)
	}
	if len(h.hub.TagDeletes()) != 0 || len(h.hub.RegistryDeleteRequests()) != 0 {
		t.Errorf("deletes sent: %v %v", h.hub.TagDeletes(), h.hub.RegistryDeleteRequests())
	}
	if res.report.Pulls == nil || *res.report.Pulls != 3 {
		t.Errorf("report pulls %v, want 3", res.report.Pulls)
	}
	failed := 0
	for _, r := range res.report.Repositories {
		if r.Error == "" {
			continue
		}
		failed++
		if strings.Count(r.Error, "Docker Hub pull limit reached") != 1 {
			t.Errorf("%s: error %q, want the pull limit once", r.Name, r.Error)
		}
	}
	if failed == 0 {
		t.Error("no repository failed for the pull limit")
	}
}

// TestDockerHubImmutableTags: tags an enabled immutability rule matches
// are kept with the rule, in the dry run and the real run alike, and take
// no keep slot; the other stale tags of the repository are deleted; no
// delete of an immutable tag is sent.
func TestDockerHubImmutableTags(t *testing.T) {
	t.Parallel()
	h := newDockerHub(t, hubtest.Options{})
	a := h.r.Addr()
	for i, n := range []string{"new", "v1.0", "v1.1", "pr-1", "pr-2"} {
		pushImage(t, a, "acme/app:"+n, daysAgo(float64(10*i)), int64(i+1))
		h.hub.SetPushed("acme/app", n, daysAgo(float64(10*i)))
	}
	h.hub.SetImmutable("acme/app", true, `^v`)
	in := inputs{"registry": a, "provider": "dockerhub", "username": "acme", "password": hubSecret, "repositories": "acme/app", "keep": "1", "dry-run": "true"}
	dry := runActionWith(t, in, h.env)
	if dry.code != 0 {
		t.Fatalf("dry exit %d\n%s", dry.code, dry.stderr)
	}
	check := func(name string, r result, deleted string) {
		t.Helper()
		got := byTag(t, r.report, "acme/app")
		for _, v := range []string{"v1.0", "v1.1"} {
			if got[v].Action != report.Kept || got[v].Reason != "immutable on Docker Hub: rule ^v" {
				t.Errorf("%s: %s %s %q", name, v, got[v].Action, got[v].Reason)
			}
		}
		for _, p := range []string{"pr-1", "pr-2"} {
			if got[p].Action != deleted {
				t.Errorf("%s: %s %s, want %s", name, p, got[p].Action, deleted)
			}
		}
		if got["new"].Action != report.Kept {
			t.Errorf("%s: new %s", name, got["new"].Action)
		}
	}
	check("dry", dry, report.WouldDelete)
	in["dry-run"] = "false"
	real := runActionWith(t, in, h.env)
	if real.code != 0 {
		t.Fatalf("exit %d\n%s", real.code, real.stderr)
	}
	check("real", real, report.Deleted)
	if diff := cmp.Diff(deletedTagsOutput(t, dry), deletedTagsOutput(t, real)); diff != "" {
		t.Errorf("dry != real (-dry +real):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"new", "v1.0", "v1.1"}, listTags(t, a, "acme/app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	for _, d := range h.deletesSent() {
		if strings.Contains(d, "/tags/v1") {
			t.Errorf("a delete of an immutable tag was sent: %s", d)
		}
	}
}

// TestDockerHubUntaggedNotDeleted: a registry API that refuses the DELETE
// by digest (Docker Hub before 2025-05-28): the stale tags are removed
// (deleted, exit 0), their manifests are reported untagged but not
// deleted, with the reason, stay stored and are not counted in
// reclaimed-bytes; the summary says so.
func TestDockerHubUntaggedNotDeleted(t *testing.T) {
	t.Parallel()
	h := newDockerHub(t, hubtest.Options{LegacyDeletes: true})
	h.seed(t)
	in := h.inputs(hubSecret)
	res := runActionWith(t, in, h.env)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	if diff := cmp.Diff([]string{"acme/app:old", "acme/app:older"}, deletedTagsOutput(t, res)); diff != "" {
		t.Errorf("deleted-tags (-want +got):\n%s", diff)
	}
	if res.outputs["reclaimed-bytes"] != "0" {
		t.Errorf("reclaimed-bytes %s, want 0: nothing was freed", res.outputs["reclaimed-bytes"])
	}
	got := byTag(t, res.report, "acme/app")
	if !strings.Contains(got["older"].Stored, "405") {
		t.Errorf("older: stored %q", got["older"].Stored)
	}
	var stored []report.StillStored
	for _, r := range res.report.Repositories {
		stored = append(stored, r.StillStored...)
	}
	if len(stored) != 1 || stored[0].Digest != got["older"].Digest {
		t.Errorf("still stored %v", stored)
	}
	if !exists(t, h.r.Addr()+"/acme/app@"+got["older"].Digest) {
		t.Error("the manifest is gone, though the registry refused its DELETE")
	}
	if !strings.Contains(res.stderr, "untagged but not deleted") || !strings.Contains(res.summary, "stay stored") {
		t.Errorf("stderr/summary do not say it:\n%s\n%s", res.stderr, res.summary)
	}
}

// TestDockerHubImmutableMidRun: a rule made immutable after the real run
// listed the repository (here: when the second look first resolves v1.0):
// Docker Hub refuses that tag's delete, tagsweep reads the settings again,
// keeps the tag with the rule (no failure, exit 0), and the repository's
// other stale tags are deleted all the same.
func TestDockerHubImmutableMidRun(t *testing.T) {
	t.Parallel()
	h := newDockerHub(t, hubtest.Options{})
	a := h.r.Addr()
	for i, n := range []string{"new", "v1.0", "pr-1", "pr-2"} {
		pushImage(t, a, "acme/app:"+n, daysAgo(float64(10*i)), int64(i+1))
		h.hub.SetPushed("acme/app", n, daysAgo(float64(10*i)))
	}
	var once sync.Once
	h.hub.SetRegistryHook(func(_ http.ResponseWriter, req *http.Request) bool {
		if req.Method == http.MethodHead && strings.HasSuffix(req.URL.Path, "/manifests/v1.0") {
			once.Do(func() { h.hub.SetImmutable("acme/app", true, `^v`) })
		}
		return false
	})
	in := inputs{"registry": a, "provider": "dockerhub", "username": "acme", "password": hubSecret, "repositories": "acme/app", "keep": "1", "concurrency": "1"}
	res := runActionWith(t, in, h.env)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	refused := false
	for _, r := range h.hub.Requests() {
		refused = refused || (r.Method == http.MethodDelete && r.Path == "/v2/repositories/acme/app/tags/v1.0/" && r.Status == http.StatusForbidden)
	}
	if !refused {
		t.Errorf("the delete of v1.0 was not refused by the Hub API: %v", h.requests())
	}
	got := byTag(t, res.report, "acme/app")
	if got["v1.0"].Action != report.Kept || got["v1.0"].Reason != "immutable on Docker Hub: rule ^v" {
		t.Errorf("v1.0: %s %q", got["v1.0"].Action, got["v1.0"].Reason)
	}
	if diff := cmp.Diff([]string{"acme/app:pr-1", "acme/app:pr-2"}, deletedTagsOutput(t, res)); diff != "" {
		t.Errorf("deleted-tags (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"new", "v1.0"}, listTags(t, a, "acme/app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	if !exists(t, a+"/acme/app@"+got["v1.0"].Digest) {
		t.Error("v1.0's manifest is gone")
	}
}
