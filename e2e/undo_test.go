package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tagsweep/tagsweep/internal/registry/ghcr/ghcrtest"
	"github.com/tagsweep/tagsweep/internal/report"
	"github.com/tagsweep/tagsweep/internal/testregistry"
	"github.com/tagsweep/tagsweep/internal/undo"
)

// undoSeed fills app with what a sweep with keep 1 and exclude-tags
// stable takes apart: multi-arch indexes sharing a platform image (the
// kept v3 and the stale v1, v2), cosign signatures of the indexes and of a
// child, an image tagged twice (old, old-alias), and a stale tag on the
// digest of the excluded stable (deleted by tag). It returns every
// manifest digest it pushed.
func undoSeed(t *testing.T, r *testregistry.Registry) []string {
	t.Helper()
	ctx := context.Background()
	repo := r.Addr() + "/app"
	var all []string
	add := func(h v1.Hash) v1.Hash { all = append(all, h.String()); return h }
	shared := platformImage(t, 90, 1, "arm64")
	sd, _ := shared.Digest()
	add(sd)
	for i, tg := range []string{"v1", "v2", "v3"} {
		amd := platformImage(t, float64(80-10*i), int64(10+i), "amd64")
		ad, _ := amd.Digest()
		add(ad)
		idx := add(check(testregistry.PushIndex(ctx, repo+":"+tg, testregistry.IndexSpec{Children: []v1.Image{amd, shared}})))
		add(check(testregistry.PushCosignSignature(ctx, repo, idx, "sig", int64(20+i))))
		if i == 0 {
			add(check(testregistry.PushCosignSignature(ctx, repo, ad, "sig", 30))) // cosign --recursive
		}
	}
	add(pushImage(t, r.Addr(), "app:old", daysAgo(60), 40))
	tag(t, r.Addr(), "app:old-alias", "app:old")
	add(pushImage(t, r.Addr(), "app:stable", daysAgo(70), 41))
	tag(t, r.Addr(), "app:stale-stable", "app:stable")
	sort.Strings(all)
	return all
}

// stored lists which of digests app holds, by digest.
func stored(t *testing.T, addr string, digests []string) []string {
	t.Helper()
	var out []string
	for _, d := range digests {
		if exists(t, addr+"/app@"+d) {
			out = append(out, d)
		}
	}
	return out
}

// pullsAll checks that every tag of app pulls completely.
func pullsAll(t *testing.T, addr string) {
	t.Helper()
	for tg := range snapshotRepos(t, addr, "app")["app"] {
		if err := testregistry.VerifyPull(context.Background(), addr+"/app:"+tg); err != nil {
			t.Errorf("app:%s does not pull: %v", tg, err)
		}
	}
}

// restoreRun runs tagsweep restore through the binary, outside Actions,
// and reads its JSON report.
func restoreRun(t *testing.T, addr, undoFile string, args ...string) (result, *report.Restore) {
	t.Helper()
	rep := filepath.Join(t.TempDir(), "restore.json")
	res := runCLI(t, nil, append([]string{"restore", "--registry", addr, "--undo-file", undoFile, "--report-file", rep}, args...)...)
	var out report.Restore
	if b, err := os.ReadFile(rep); err == nil {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("restore report: %v", err)
		}
	}
	return res, &out
}

// restoreActions maps "repo:tag" to the restore's action for it.
func restoreActions(rep *report.Restore) map[string]string {
	out := map[string]string{}
	for _, r := range rep.Repositories {
		for _, it := range r.Tags {
			out[r.Name+":"+it.Tag] = it.Action
		}
	}
	return out
}

// TestUndoRestoreRoundTrip: a sweep of multi-arch indexes, signatures and
// shared digests writes an undo entry per deletion; restore --dry-run
// writes nothing and names every deleted tag; restore then leaves the
// registry exactly as before the sweep (every tag on its digest, every
// manifest stored, every image pulling completely); a second restore
// finds everything there and writes nothing.
func TestUndoRestoreRoundTrip(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	seeded := undoSeed(t, r)
	before := snapshotRepos(t, a, "app")
	undoFile := filepath.Join(t.TempDir(), "undo", "tagsweep-undo.jsonl.gz")

	res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "1", "exclude-tags": "stable", "undo-file": undoFile})
	if res.code != 0 {
		t.Fatalf("sweep exit %d\n%s", res.code, res.stderr)
	}
	deleted := deletedTagsOutput(t, res)
	if len(deleted) < 6 || !slices.Contains(deleted, "app:stale-stable") {
		t.Fatalf("the sweep deleted %q", deleted)
	}
	if !strings.Contains(res.summary, "tagsweep restore --registry "+a+" --undo-file "+undoFile) || !strings.Contains(res.summary, "Made a mistake?") {
		t.Errorf("the summary does not say how to restore:\n%s", res.summary)
	}
	c, err := undo.ReadFile(undoFile)
	if err != nil {
		t.Fatal(err)
	}
	manifestDeletes := 0
	for _, d := range r.Deletes() {
		if strings.Contains(d, "/manifests/sha256:") {
			manifestDeletes++
		}
	}
	if len(c.Entries) != manifestDeletes+1 { // + the tag deletion
		t.Errorf("%d undo entries for %d manifest deletions and a tag deletion", len(c.Entries), manifestDeletes)
	}
	st, _ := os.Stat(undoFile)
	raw := 0
	for _, e := range c.Entries {
		raw += len(e.Bytes())
	}
	t.Logf("undo file: %d bytes for %d entries (manifests of %d bytes on average), %.0f bytes per deleted manifest",
		st.Size(), len(c.Entries), raw/len(c.Entries), float64(st.Size())/float64(len(c.Entries)))
	if res.report.Undo == nil || res.report.Undo.Entries != len(c.Entries) {
		t.Errorf("the report's undo = %+v", res.report.Undo)
	}

	afterSweep := snapshotRepos(t, a, "app")
	r.ResetRequests()
	dry, drep := restoreRun(t, a, undoFile, "--dry-run")
	if dry.code != 0 {
		t.Fatalf("restore --dry-run exit %d\n%s", dry.code, dry.stderr)
	}
	if n := r.Requests().Of(http.MethodPut, testregistry.ClassManifest); n != 0 {
		t.Errorf("the dry run sent %d manifest PUTs", n)
	}
	if diff := cmp.Diff(afterSweep, snapshotRepos(t, a, "app")); diff != "" {
		t.Errorf("the dry run changed the registry:\n%s", diff)
	}
	want := map[string]string{}
	for _, d := range deleted {
		want[d] = report.WouldRestore
	}
	if diff := cmp.Diff(want, restoreActions(drep)); diff != "" {
		t.Errorf("dry-run restore actions (-want +got):\n%s", diff)
	}

	r.ResetRequests()
	res2, rep := restoreRun(t, a, undoFile)
	if res2.code != 0 {
		t.Fatalf("restore exit %d\n%s", res2.code, res2.stderr)
	}
	for d := range want {
		want[d] = report.Restored
	}
	if diff := cmp.Diff(want, restoreActions(rep)); diff != "" {
		t.Errorf("restore actions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, snapshotRepos(t, a, "app")); diff != "" {
		t.Errorf("after restore the tags are not as before the sweep (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(seeded, stored(t, a, seeded)); diff != "" {
		t.Errorf("after restore the manifests are not as before the sweep (-before +after):\n%s", diff)
	}
	pullsAll(t, a)
	t.Logf("restore: %d requests for %d tags (%.1f per tag), %d manifests written", rep.Requests, rep.Totals.Restored,
		float64(rep.Requests)/float64(rep.Totals.Restored), rep.Totals.ManifestsWritten)
	if int64(r.Requests().Total) != rep.Requests {
		t.Logf("the registry counted %d requests", r.Requests().Total)
	}

	// Again: everything is there, nothing is written.
	r.ResetRequests()
	res3, rep3 := restoreRun(t, a, undoFile)
	if res3.code != 0 || rep3.Totals.Present != len(deleted) || rep3.Totals.ManifestsWritten != 0 {
		t.Errorf("second restore: exit %d, totals %+v", res3.code, rep3.Totals)
	}
	if n := r.Requests().Of(http.MethodPut, testregistry.ClassManifest); n != 0 {
		t.Errorf("the second restore sent %d manifest PUTs", n)
	}
}

// TestUndoKilledRun: a sweep SIGKILLed while its third DELETE is held
// (the hook kills the process, then refuses the request) leaves an undo
// file with the entries of what it deleted and of the deletion it was
// about to send; restore puts back the two it deleted, finds the third
// still there, and the registry is as before the sweep.
func TestUndoKilledRun(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	var seeded []string
	for i := range 6 {
		seeded = append(seeded, pushImage(t, a, "app:t"+string(rune('a'+i)), daysAgo(float64(60-i)), int64(50+i)).String())
	}
	sort.Strings(seeded)
	before := snapshotRepos(t, a, "app")
	undoFile := filepath.Join(t.TempDir(), "undo.gz")
	c := newCrash()
	r.SetHook(c.hook(nth(3, digestDelete), nil))
	c.run(t, inputs{"registry": a, "repositories": "app", "keep": "1", "concurrency": "1", "undo-file": undoFile}, nil)
	r.SetHook(nil)
	if gone := len(seeded) - len(stored(t, a, seeded)); gone != 2 {
		t.Fatalf("the killed run deleted %d manifests, want 2", gone)
	}
	contents, err := undo.ReadFile(undoFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(contents.Entries) != 3 || contents.Truncated {
		t.Fatalf("the killed run's undo file has %d entries (truncated %v), want 3", len(contents.Entries), contents.Truncated)
	}
	res, rep := restoreRun(t, a, undoFile)
	if res.code != 0 {
		t.Fatalf("restore exit %d\n%s", res.code, res.stderr)
	}
	if rep.Totals.Restored != 2 || rep.Totals.Present != 1 {
		t.Errorf("restore totals %+v, want 2 restored and 1 present (the DELETE the kill stopped)", rep.Totals)
	}
	if diff := cmp.Diff(before, snapshotRepos(t, a, "app")); diff != "" {
		t.Errorf("after restore (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(seeded, stored(t, a, seeded)); diff != "" {
		t.Errorf("manifests after restore (-before +after):\n%s", diff)
	}
	pullsAll(t, a)
}

// TestRestoreAfterGC: after the registry's garbage collector ran, restore
// reports each collected image per tag ("layer … is gone: the garbage
// collector ran"), an index whose children went with it, and writes
// nothing for them (no manifest PUT); the tag deleted from a digest a kept
// tag still holds is put back; the exit code is 1.
func TestRestoreAfterGC(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	undoSeed(t, r)
	undoFile := filepath.Join(t.TempDir(), "undo.gz")
	res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "1", "exclude-tags": "stable", "undo-file": undoFile})
	if res.code != 0 {
		t.Fatalf("sweep exit %d", res.code)
	}
	gcAndVerify(t, r, true, "app:v3", "app:stable")
	r.ResetRequests()
	got, rep := restoreRun(t, a, undoFile)
	if got.code != 1 {
		t.Fatalf("restore after GC exit %d, want 1\n%s", got.code, got.stderr)
	}
	if n := r.Requests().Of(http.MethodPut, testregistry.ClassManifest); n != 1 {
		t.Errorf("restore after GC sent %d manifest PUTs, want 1 (the tag stale-stable)", n)
	}
	tags := map[string]report.RestoreItem{}
	for _, it := range rep.Repositories[0].Tags {
		tags[it.Tag] = it
	}
	if s := tags["stale-stable"]; s.Action != report.Restored {
		t.Errorf("stale-stable = %s %q, want restored (its manifest is kept by stable)", s.Action, s.Reason)
	}
	if o := tags["old"]; o.Action != report.NotRestored || !strings.HasPrefix(o.Reason, "layer sha256:") || !strings.HasSuffix(o.Reason, "is gone: the garbage collector ran") {
		t.Errorf("old = %s %q, want not restored, its layer gone", o.Action, o.Reason)
	}
	if v := tags["v1"]; v.Action != report.NotRestored || !strings.Contains(v.Reason, "child sha256:") || !strings.Contains(v.Reason, "the garbage collector ran") {
		t.Errorf("v1 = %s %q, want not restored, its child collected", v.Action, v.Reason)
	}
	if !strings.Contains(got.stderr, "not restored: app:old: layer sha256:") {
		t.Errorf("the log does not name the collected image:\n%s", got.stderr)
	}
	if _, err := testregistry.Digest(context.Background(), a+"/app:old"); err == nil {
		t.Error("app:old came back without its layers")
	}
	pullsAll(t, a)
}

// TestRestoreLeavesRepushedTag: a tag pushed again between the sweep and
// the restore is reported and left on what it points at now; the other
// tags of its old manifest come back; the exit code is 1.
func TestRestoreLeavesRepushedTag(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	undoSeed(t, r)
	undoFile := filepath.Join(t.TempDir(), "undo.gz")
	if res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "1", "exclude-tags": "stable", "undo-file": undoFile}); res.code != 0 {
		t.Fatalf("sweep exit %d", res.code)
	}
	repushed := pushImage(t, a, "app:old", daysAgo(0), 99).String()
	got, rep := restoreRun(t, a, undoFile)
	if got.code != 1 {
		t.Fatalf("restore exit %d, want 1\n%s", got.code, got.stderr)
	}
	acts := restoreActions(rep)
	if acts["app:old"] != report.NotRestored || acts["app:old-alias"] != report.Restored || acts["app:v1"] != report.Restored {
		t.Errorf("actions %v", acts)
	}
	if d := digestOf(t, a+"/app:old").String(); d != repushed {
		t.Errorf("app:old points at %s, not the image pushed again (%s)", d, repushed)
	}
	if !strings.Contains(got.stderr, "not restored: app:old: points at "+repushed+" now (pushed since the sweep): left alone") {
		t.Errorf("the log does not say why app:old was left alone:\n%s", got.stderr)
	}
	pullsAll(t, a)
}

// TestRestoreGHCR: on GHCR (the replica) the sweep's undo entries carry
// the package version ids; restore brings each deleted version back
// through GitHub's restore API (POST …/versions/{id}/restore, children
// first), with the same id, and, since GitHub does not document that the
// tags come back, puts the tags back itself, verified; the tag the sweep
// had moved onto a placeholder goes back on its image. Where the replica
// does restore the tags, restore finds them there. Either way the package
// is as before the sweep.
func TestRestoreGHCR(t *testing.T) {
	t.Parallel()
	for _, restoreTags := range []bool{false, true} {
		t.Run(map[bool]string{false: "tags not restored by GitHub", true: "tags restored by GitHub"}[restoreTags], func(t *testing.T) {
			t.Parallel()
			r, api := ghcrEnv(t, ghcrtest.Options{RestoreTags: restoreTags})
			a := r.Addr()
			ghcrSeed(t, r, api, "octo/app")
			before := snapshotRepos(t, a, "octo/app")
			versions := func() map[string]int64 {
				vs, err := api.Versions("octo/app")
				if err != nil {
					t.Fatal(err)
				}
				out := map[string]int64{}
				for _, v := range vs {
					out[v.Digest] = v.ID
				}
				return out
			}
			idsBefore := versions()
			undoFile := filepath.Join(t.TempDir(), "undo.gz")
			env := []string{"GITHUB_API_URL=" + api.URL()}
			res := runActionWith(t, inputs{"registry": a, "provider": "ghcr", "password": ghcrToken, "repositories": "octo/app", "keep": "2",
				"exclude-tags": "stable", "undo-file": undoFile}, env)
			if res.code != 0 {
				t.Fatalf("sweep exit %d\n%s", res.code, res.stderr)
			}
			if !strings.Contains(res.summary, "within 30 days of the deletion") {
				t.Errorf("the summary does not give GHCR's window:\n%s", res.summary)
			}
			c, err := undo.ReadFile(undoFile)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range c.Entries {
				if e.Deleted == undo.Manifest && (e.Handle == "" || e.Provider != "ghcr") {
					t.Errorf("entry %s %v has no version id: %+v", e.Digest, e.Tags, e)
				}
			}
			api.ResetRequests()
			got := runCLI(t, env, "restore", "--registry", a, "--provider", "ghcr", "--password", ghcrToken, "--undo-file", undoFile)
			if got.code != 0 {
				t.Fatalf("restore exit %d\n%s", got.code, got.stderr)
			}
			restores := 0
			for _, q := range api.Requests() {
				if q.Method == http.MethodPost && strings.HasSuffix(q.Path, "/restore") {
					restores++
					if q.Status != http.StatusNoContent {
						t.Errorf("%s answered %d", q, q.Status)
					}
				}
			}
			manifestEntries := 0
			for _, e := range c.Entries {
				if e.Deleted == undo.Manifest {
					manifestEntries++
				}
			}
			if restores != manifestEntries {
				t.Errorf("%d restore API calls for %d deleted versions", restores, manifestEntries)
			}
			if diff := cmp.Diff(before, snapshotRepos(t, a, "octo/app")); diff != "" {
				t.Errorf("after restore (-before +after):\n%s", diff)
			}
			idsAfter := versions()
			for d, id := range idsBefore {
				if idsAfter[d] != id {
					t.Errorf("version of %s: id %d after restore, %d before", d, idsAfter[d], id)
				}
			}
			for tg := range before["octo/app"] {
				if err := testregistry.VerifyPull(context.Background(), a+"/octo/app:"+tg); err != nil {
					t.Errorf("octo/app:%s does not pull: %v", tg, err)
				}
			}
		})
	}
}

// TestRestoreOnly: --only app:v1 puts back v1 with what it needs (its
// platform images) and what went with it (its signature, and its child's),
// and nothing else the sweep deleted; --only of a signature brings its
// subject back too.
func TestRestoreOnly(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	undoSeed(t, r)
	before := snapshotRepos(t, a, "app")["app"]
	undoFile := filepath.Join(t.TempDir(), "undo.gz")
	in := inputs{"registry": a, "repositories": "app", "keep": "1", "exclude-tags": "stable", "undo-file": undoFile, "dry-run": "true"}
	dry := runAction(t, in)
	if _, err := os.Stat(undoFile); !os.IsNotExist(err) {
		t.Errorf("the dry run wrote the undo file (%v)", err)
	}
	runReal(t, in, dry)

	v1 := before["v1"]
	sig := "sha256-" + strings.TrimPrefix(v1, "sha256:") + ".sig"
	got, rep := restoreRun(t, a, undoFile, "--only", "app:v1")
	if got.code != 0 {
		t.Fatalf("restore --only exit %d\n%s", got.code, got.stderr)
	}
	now := snapshotRepos(t, a, "app")["app"]
	var back []string
	for tg, d := range now {
		if before[tg] != d {
			t.Errorf("app:%s is on %s, was on %s", tg, d, before[tg])
		}
		back = append(back, tg)
	}
	sort.Strings(back)
	// The signature of v1's platform image: its subject is no tag's digest.
	var childSig string
	targets := map[string]bool{}
	for _, d := range before {
		targets[d] = true
	}
	for tg := range before {
		if sub, ok := strings.CutPrefix(tg, "sha256-"); ok && !targets["sha256:"+strings.TrimSuffix(sub, ".sig")] {
			childSig = tg
		}
	}
	for _, tg := range []string{"v1", sig} {
		if now[tg] == "" {
			t.Errorf("app:%s was not restored: %v", tg, restoreActions(rep))
		}
	}
	for _, tg := range []string{"v2", "old", "old-alias", "stale-stable"} {
		if now[tg] != "" {
			t.Errorf("app:%s was restored without being asked for", tg)
		}
	}
	if childSig == "" || now[childSig] == "" {
		t.Errorf("the signature of v1's platform image (%q) was not restored; tags now %q", childSig, back)
	}
	if err := testregistry.VerifyPull(context.Background(), a+"/app:v1"); err != nil {
		t.Errorf("app:v1 does not pull: %v", err)
	}

	v2sig := "sha256-" + strings.TrimPrefix(before["v2"], "sha256:") + ".sig"
	if got, _ := restoreRun(t, a, undoFile, "--only", "app:"+v2sig); got.code != 0 {
		t.Fatalf("restore --only of a signature exit %d\n%s", got.code, got.stderr)
	}
	if !exists(t, a+"/app@"+before["v2"]) || !exists(t, a+"/app:"+v2sig) {
		t.Error("the signature came back without its subject, or not at all")
	}
}
