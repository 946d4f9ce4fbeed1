package e2e

import (
	"maps"
	"net/http"
	"os"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/tagsweep/tagsweep/internal/registry/dockerhub/hubtest"
	"github.com/tagsweep/tagsweep/internal/registry/ghcr/ghcrtest"
	"github.com/tagsweep/tagsweep/internal/registry/image"
	"github.com/tagsweep/tagsweep/internal/report"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// crash stops a tagsweep run at one chosen request the way a runner that
// dies stops it (SIGKILL, a lost machine, a cut network): the hook that
// catches the request holds it, SIGKILLs the process, waits until the
// process has exited, and only then answers, without carrying the request
// out. Every request that reaches the hook after that is refused the same
// way, so nothing sent after the crash point takes effect. Nothing is
// timed: the request is held on channels.
type crash struct {
	started chan *os.Process
	exited  chan struct{}
	fired   atomic.Bool
}

func newCrash() *crash {
	return &crash{started: make(chan *os.Process, 1), exited: make(chan struct{})}
}

// hook crashes the run at the first request that match accepts, and hands
// every request before that to next (nil: the registry answers).
func (c *crash) hook(match func(*http.Request) bool, next testregistry.Hook) testregistry.Hook {
	return func(w http.ResponseWriter, req *http.Request) bool {
		if !c.fired.Load() && match(req) && c.fired.CompareAndSwap(false, true) {
			p := <-c.started
			_ = p.Kill() // SIGKILL: no handler runs, nothing is written
			<-c.exited
			w.WriteHeader(http.StatusInternalServerError)
			return true
		}
		if c.fired.Load() {
			<-c.exited
			w.WriteHeader(http.StatusInternalServerError)
			return true
		}
		return next != nil && next(w, req)
	}
}

// run runs tagsweep as the action and returns once the crash killed it.
func (c *crash) run(t *testing.T, in inputs, env []string) {
	t.Helper()
	res := runActionStarted(t, in, env, func(p *os.Process) { c.started <- p })
	close(c.exited)
	if !c.fired.Load() || res.code != -1 {
		t.Fatalf("the run was not killed at the crash point (exit %d)\n%s", res.code, res.stderr)
	}
}

// nth matches the n-th request (from 1) that match accepts.
func nth(n int32, match func(*http.Request) bool) func(*http.Request) bool {
	var seen atomic.Int32
	return func(req *http.Request) bool { return match(req) && seen.Add(1) == n }
}

// tagDelete matches a DELETE of /v2/<repo>/manifests/<tag> (not a digest,
// not tagsweep's tag-delete probe).
func tagDelete(req *http.Request) bool {
	ref := path.Base(req.URL.Path)
	return req.Method == http.MethodDelete && strings.Contains(req.URL.Path, "/manifests/") &&
		!strings.HasPrefix(ref, "sha256:") && !strings.HasPrefix(ref, "tagsweep-probe-")
}

// digestDelete matches a DELETE of /v2/<repo>/manifests/sha256:….
func digestDelete(req *http.Request) bool {
	return req.Method == http.MethodDelete && strings.Contains(req.URL.Path, "/manifests/sha256:")
}

// ending is what a sweep left in a registry: every tag and its digest, and
// which of the seeded manifests are still stored (by digest, tagged or not).
type ending struct {
	Tags   registryState
	Stored []string
}

func endingOf(t *testing.T, addr string, repo string, seeded map[string]string) ending {
	t.Helper()
	e := ending{Tags: snapshotRepos(t, addr, repo)}
	for _, d := range seeded {
		if exists(t, addr+"/"+repo+"@"+d) && !slices.Contains(e.Stored, d) {
			e.Stored = append(e.Stored, d)
		}
	}
	sort.Strings(e.Stored)
	return e
}

// rerun sweeps again after the crash, first as a dry run and then for
// real: the dry run changes nothing and plans exactly the deletions the
// real run carries out; both exit 0. It returns the real run.
func rerun(t *testing.T, r testregistry.Server, repo string, in inputs, env []string) result {
	t.Helper()
	before := snapshotRepos(t, r.Addr(), repo)
	run := func(dryRun string) result {
		each := maps.Clone(in)
		delete(each, "report-file") // each run its own (runAction sets it in the map)
		each["dry-run"] = dryRun
		return runActionWith(t, each, env)
	}
	dry := run("true")
	if dry.code != 0 {
		t.Fatalf("dry rerun exit %d\n%s", dry.code, dry.stderr)
	}
	if diff := cmp.Diff(before, snapshotRepos(t, r.Addr(), repo)); diff != "" {
		t.Fatalf("the dry rerun changed the registry (-before +after):\n%s", diff)
	}
	res := run("false")
	if res.code != 0 {
		t.Fatalf("rerun exit %d\n%s", res.code, res.stderr)
	}
	checkCounts(t, res)
	if diff := cmp.Diff(deletedTagsOutput(t, dry), deletedTagsOutput(t, res)); diff != "" {
		t.Errorf("the rerun deleted other tags than its dry run planned (-dry +real):\n%s", diff)
	}
	dryActs, acts := byTag(t, dry.report, repo), byTag(t, res.report, repo)
	for tg, a := range acts {
		if d := dryActs[tg]; d.Reason != a.Reason {
			t.Errorf("%s: the dry rerun says %q, the rerun %q", tg, d.Reason, a.Reason)
		}
	}
	return res
}

// placeholderMarked reports whether the manifest ref points at carries
// tagsweep's placeholder annotation.
func placeholderMarked(t *testing.T, ref string) bool {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	return m.Annotations[image.AnnotationPlaceholder] == image.PlaceholderMarker && len(m.Layers) == 0
}

// versionDigests lists the digests of the active package versions of repo.
func versionDigests(t *testing.T, api *ghcrtest.Server, repo string) []string {
	t.Helper()
	vs, err := api.Versions(repo)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, v := range vs {
		out = append(out, v.Digest)
	}
	sort.Strings(out)
	return out
}

// TestCrashGHCRPlaceholder: on GHCR the stale v1, which shares its digest
// with the excluded stable, is removed by pushing a placeholder onto v1 and
// deleting the placeholder's package version. The run is SIGKILLed between
// the two, leaving v1 on the placeholder, the newest push of the package
// (and, by creation time, of unknown age). The rerun recognises the
// placeholder: v1 is deleted as "leftover placeholder of an interrupted
// run", takes no keep slot (v3 keeps its slot: without the marker it lost
// it to v1 by push time, and by creation time v1 stayed forever), the dry
// rerun plans exactly that, and the registry ends where a clean run on an
// identical seed ends: the same tags on the same digests, the same package
// versions, everything kept pulling after GC.
func TestCrashGHCRPlaceholder(t *testing.T) {
	t.Parallel()
	for _, ageSource := range []string{"auto", "created"} {
		t.Run(ageSource, func(t *testing.T) {
			t.Parallel()
			const repo = "octo/app"
			seed := func() (*testregistry.Registry, *ghcrtest.Server, map[string]string, inputs, []string) {
				r, api := ghcrEnv(t, ghcrtest.Options{})
				a := r.Addr()
				d := map[string]string{}
				for i, tg := range []string{"v1", "v2", "v3", "v4"} {
					d[tg] = pushImage(t, a, repo+":"+tg, daysAgo(100), int64(i+1)).String()
					api.SetTimes(repo, d[tg], daysAgo(float64(15-i)), daysAgo(float64(5-i)))
				}
				tag(t, a, repo+":stable", repo+":v1")
				in := inputs{"registry": a, "provider": "ghcr", "password": ghcrToken, "repositories": repo,
					"keep": "2", "exclude-tags": "stable", "age-source": ageSource}
				return r, api, d, in, []string{"GITHUB_API_URL=" + api.URL()}
			}

			cleanReg, cleanAPI, d, in, env := seed()
			if res := runActionWith(t, in, env); res.code != 0 {
				t.Fatalf("clean run exit %d\n%s", res.code, res.stderr)
			}
			want := ending{Tags: registryState{repo: {"stable": d["v1"], "v3": d["v3"], "v4": d["v4"]}},
				Stored: sorted(d["v1"], d["v3"], d["v4"])}
			if diff := cmp.Diff(want, endingOf(t, cleanReg.Addr(), repo, d)); diff != "" {
				t.Fatalf("the clean run did not apply the policy (-want +got):\n%s", diff)
			}

			r, api, _, in, env := seed()
			a := r.Addr()
			c := newCrash()
			// The version DELETE that would take v1 off its placeholder.
			api.SetHook(c.hook(func(req *http.Request) bool {
				if req.Method != http.MethodDelete {
					return false
				}
				vs, err := api.Versions(repo)
				if err != nil {
					return false
				}
				for _, v := range vs {
					if strconv.FormatInt(v.ID, 10) == path.Base(req.URL.Path) && slices.Contains(v.Tags, "v1") && v.Digest != d["v1"] {
						return true
					}
				}
				return false
			}, nil))
			c.run(t, in, env)
			api.SetHook(nil)
			left := digestOf(t, a+"/"+repo+":v1").String()
			if left == d["v1"] || !placeholderMarked(t, a+"/"+repo+":v1") {
				t.Fatalf("after the crash v1 points at %s, not at a marked placeholder", left)
			}
			if !exists(t, a+"/"+repo+":v2") {
				t.Fatalf("v2 was deleted before the crash point; the scenario needs it stale at the rerun")
			}

			res := rerun(t, r, repo, in, env)
			if diff := cmp.Diff([]string{repo + ":v1", repo + ":v2"}, deletedTagsOutput(t, res)); diff != "" {
				t.Errorf("the rerun deleted (-want +got):\n%s", diff)
			}
			got := byTag(t, res.report, repo)
			if v1 := got["v1"]; v1.Action != report.Deleted || v1.Reason != "leftover placeholder of an interrupted run" || v1.Digest != left {
				t.Errorf("v1 on the placeholder: %+v", v1)
			}
			if v3 := got["v3"]; v3.Action != report.Kept || !strings.Contains(v3.Reason, "rank 2 of 3") {
				t.Errorf("v3 lost its keep slot: %+v", v3)
			}
			if diff := cmp.Diff(endingOf(t, cleanReg.Addr(), repo, d), endingOf(t, a, repo, d)); diff != "" {
				t.Errorf("the rerun did not reach the clean run's state (-clean +rerun):\n%s", diff)
			}
			if diff := cmp.Diff(versionDigests(t, cleanAPI, repo), versionDigests(t, api, repo)); diff != "" {
				t.Errorf("package versions differ from the clean run's (-clean +rerun):\n%s", diff)
			}
			gcAndPull(t, cleanReg, want.Tags, "after the clean run")
			gcAndPull(t, r, want.Tags, "after the crash and rerun")
		})
	}
}

func sorted(s ...string) []string {
	sort.Strings(s)
	return s
}

// TestCrashDockerHubUntag: on Docker Hub a stale digest is deleted by
// deleting its tags one by one through the Hub API. The run is SIGKILLed
// between the two tag deletes of old and old-alias; the rerun finds the
// tag that is left still stale, deletes it (its dry run plans the same),
// and the registry ends where a clean run on an identical seed ends.
func TestCrashDockerHubUntag(t *testing.T) {
	t.Parallel()
	const repo = "acme/app"
	seed := func() (*dockerHub, map[string]string, inputs) {
		h := newDockerHub(t, hubtest.Options{})
		a := h.r.Addr()
		d := map[string]string{"new": pushImage(t, a, repo+":new", daysAgo(1), 1).String(), "old": pushImage(t, a, repo+":old", daysAgo(30), 2).String()}
		tag(t, a, repo+":old-alias", repo+":old")
		for tg, age := range map[string]float64{"new": 1, "old": 30, "old-alias": 30} {
			h.hub.SetPushed(repo, tg, daysAgo(age))
		}
		in := inputs{"registry": a, "provider": "dockerhub", "username": "acme", "password": hubSecret, "repositories": repo, "keep": "1"}
		return h, d, in
	}
	clean, d, in := seed()
	if res := runActionWith(t, in, clean.env); res.code != 0 {
		t.Fatalf("clean run exit %d\n%s", res.code, res.stderr)
	}
	if diff := cmp.Diff(registryState{repo: {"new": d["new"]}}, snapshotRepos(t, clean.r.Addr(), repo)); diff != "" {
		t.Fatalf("the clean run did not apply the policy (-want +got):\n%s", diff)
	}

	h, _, in := seed()
	c := newCrash()
	// The replica's second tag delete on the registry: the Hub API's DELETE
	// of the second tag of old's digest.
	h.hub.SetRegistryHook(c.hook(nth(2, func(req *http.Request) bool {
		return tagDelete(req) && req.Header.Get(hubtest.SecretHeader) != ""
	}), nil))
	c.run(t, in, h.env)
	h.hub.SetRegistryHook(nil)
	if n := len(h.hub.TagDeletes()); n != 1 {
		t.Fatalf("%d tags deleted before the crash (%v), want 1", n, h.hub.TagDeletes())
	}

	res := rerun(t, h.r, repo, in, h.env)
	if n := len(deletedTagsOutput(t, res)); n != 1 {
		t.Errorf("the rerun deleted %v, want the one tag left on old's digest", deletedTagsOutput(t, res))
	}
	if diff := cmp.Diff(endingOf(t, clean.r.Addr(), repo, d), endingOf(t, h.r.Addr(), repo, d)); diff != "" {
		t.Errorf("the rerun did not reach the clean run's state (-clean +rerun):\n%s", diff)
	}
	want := registryState{repo: {"new": d["new"]}}
	gcAndPull(t, clean.r, want, "after the clean run")
	gcAndPull(t, h.r, want, "after the crash and rerun")
}

// TestCrashArtifactRegistryUntagFirst: on Artifact Registry a tagged
// manifest is deleted by deleting its tags, then the manifest (AR refuses a
// tagged one). Killed between the two tag deletes, the rerun finds the tag
// left, still stale, and ends exactly where a clean run ends. Killed after
// the last tag delete, before the manifest DELETE, the manifest is left
// untagged: the OCI API lists only tags, so the rerun cannot see it, has
// nothing to do, and ends with the clean run's tags on the same digests
// and that one untagged manifest still stored (AR's cleanup policy, or
// distribution's garbage-collect --delete-untagged, removes it). Nothing is
// misread either way: the untagged manifest takes no keep slot.
func TestCrashArtifactRegistryUntagFirst(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		at       func(*http.Request) bool
		leftover bool
	}{
		{"between the tag deletes", nth(2, tagDelete), false},
		{"before the manifest delete", nth(1, digestDelete), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const repo = "app"
			seed := func() (*testregistry.Registry, map[string]string, inputs) {
				r := newRegistry(t)
				a := r.Addr()
				d := map[string]string{"new": pushImage(t, a, repo+":new", daysAgo(1), 1).String(), "old": pushImage(t, a, repo+":old", daysAgo(30), 2).String()}
				tag(t, a, repo+":old-alias", repo+":old")
				r.SetHook(artifactRegistryHook(t, a))
				return r, d, inputs{"registry": a, "provider": "gar", "repositories": repo, "keep": "1"}
			}
			cleanReg, d, in := seed()
			if res := runAction(t, in); res.code != 0 {
				t.Fatalf("clean run exit %d\n%s", res.code, res.stderr)
			}
			want := ending{Tags: registryState{repo: {"new": d["new"]}}, Stored: []string{d["new"]}}
			if diff := cmp.Diff(want, endingOf(t, cleanReg.Addr(), repo, d)); diff != "" {
				t.Fatalf("the clean run did not apply the policy (-want +got):\n%s", diff)
			}

			r, _, in := seed()
			a := r.Addr()
			c := newCrash()
			r.SetHook(c.hook(tc.at, artifactRegistryHook(t, a)))
			c.run(t, in, nil)
			r.SetHook(artifactRegistryHook(t, a))

			res := rerun(t, r, repo, in, nil)
			got := endingOf(t, a, repo, d)
			if tc.leftover {
				// The rerun sees only new: nothing to delete.
				if n := len(deletedTagsOutput(t, res)); n != 0 || len(res.report.Repositories[0].Tags) != 1 {
					t.Errorf("the rerun deleted %v of %d tags; it can see only new", deletedTagsOutput(t, res), len(res.report.Repositories[0].Tags))
				}
				want.Stored = sorted(d["new"], d["old"])
			} else if n := len(deletedTagsOutput(t, res)); n != 1 {
				t.Errorf("the rerun deleted %v, want the one tag left on old's digest", deletedTagsOutput(t, res))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("after the crash and rerun (-want +got):\n%s", diff)
			}
			gcAndPull(t, cleanReg, want.Tags, "after the clean run")
			gcAndPull(t, r, want.Tags, "after the crash and rerun")
			if tc.leftover && exists(t, a+"/"+repo+"@"+d["old"]) {
				t.Errorf("the untagged leftover survived distribution's garbage-collect --delete-untagged")
			}
		})
	}
}
