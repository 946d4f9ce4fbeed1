package harbor

import (
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/engine"
	"github.com/tagsweep/tagsweep/internal/engine/enginetest"
	"github.com/tagsweep/tagsweep/internal/policy"
	"github.com/tagsweep/tagsweep/internal/registry/harbor/harbortest"
	"github.com/tagsweep/tagsweep/internal/report"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// TestEngineSweep runs the real engine and planner over the backend, as a
// robot account holding the permissions README names (no "delete
// repository", which the registry API's DELETE would need): ages are push
// times, an immutable tag is kept with Harbor's reason, a stale tag
// sharing its digest with a kept tag goes by the REST tag delete, stale
// artifacts by the REST artifact delete (never the registry API's), and
// the dry run plans the same and sends no DELETE.
func TestEngineSweep(t *testing.T) {
	f := start(t, nil)
	now := time.Now()
	ago := func(d float64) time.Time { return now.Add(-time.Duration(d * 24 * float64(time.Hour))) }
	for i, p := range []struct {
		ref             string
		created, pushed float64 // days ago
	}{
		{"team/app:new", 1, 1},
		{"team/app:rebuilt", 100, 2}, // built long ago, pushed recently: kept
		{"team/app:old1", 40, 40},
		{"team/app:old2", 50, 50},
		{"team/app:locked", 60, 60},
		{"team/app:stale-shared", 45, 45},
		{"team/tools/builder:v1", 35, 35},
		{"team/tools/builder:v2", 1, 1},
	} {
		if _, err := testregistry.PushImage(f.ctx, f.addr+"/"+p.ref, testregistry.ImageSpec{Created: ago(p.created), Seed: int64(i + 1)}); err != nil {
			t.Fatal(err)
		}
		repo, tag, _ := strings.Cut(p.ref, ":")
		f.srv.SetPushTime(repo, tag, ago(p.pushed))
	}
	f.tag("team/app:stable", "team/app:stale-shared")
	f.srv.SetPushTime("team/app", "stable", ago(45))
	f.srv.SetImmutable("team/app", "locked", true)
	shared := mustDigest(t, f, "team/app:stable")
	f.srv.SetPermissions("robot$sweeper", harbortest.PermRepositoryList, harbortest.PermRepositoryRead,
		harbortest.PermArtifactList, harbortest.PermArtifactDelete, harbortest.PermTagDelete)
	wantDeletes := []string{"DELETE /api/v2.0/projects/team/repositories/app/artifacts/" + shared + "/tags/stale-shared"}
	for _, ref := range []string{"team/app:old1", "team/app:old2", "team/tools/builder:v1"} {
		repo, _, _ := strings.Cut(ref, ":")
		project, name, _ := strings.Cut(repo, "/")
		wantDeletes = append(wantDeletes, "DELETE /api/v2.0/projects/"+project+"/repositories/"+url.PathEscape(url.PathEscape(name))+"/artifacts/"+mustDigest(t, f, ref))
	}
	sort.Strings(wantDeletes)

	exclude, _ := policy.CompileGlob("stable")
	all, _ := policy.CompileGlob("*")
	run := func(dry bool) *report.Report {
		b := f.backend("robot$sweeper", password)
		rep := enginetest.Run(t, f.ctx, b, engine.Options{Registry: f.addr, Repositories: []string{"team/**"}, DryRun: dry, Concurrency: 4,
			Rules: policy.Rules{Keep: 1, OlderThan: 30 * 24 * time.Hour, OlderThanText: "30d", Include: []policy.Glob{all},
				Exclude: []policy.Glob{exclude}, AgeSource: policy.AgePushed}})
		return rep
	}
	actions := func(rep *report.Report) (deleted []string, kept map[string]string) {
		kept = map[string]string{}
		for _, r := range rep.Repositories {
			if r.Error != "" {
				t.Errorf("%s: %s", r.Name, r.Error)
			}
			for _, tg := range r.Tags {
				switch tg.Action {
				case report.Deleted, report.WouldDelete:
					deleted = append(deleted, r.Name+":"+tg.Tag)
				case report.Kept:
					kept[r.Name+":"+tg.Tag] = tg.Reason
				default:
					t.Errorf("%s:%s %s: %s %s", r.Name, tg.Tag, tg.Action, tg.Reason, tg.Error)
				}
			}
		}
		sort.Strings(deleted)
		return deleted, kept
	}
	want := []string{"team/app:old1", "team/app:old2", "team/app:stale-shared", "team/tools/builder:v1"}

	dry := run(true)
	deleted, kept := actions(dry)
	if diff := gocmp.Diff(want, deleted); diff != "" {
		t.Errorf("dry run would delete (-want +got):\n%s", diff)
	}
	if kept["team/app:locked"] != ProtectedImmutable {
		t.Errorf("locked kept with %q", kept["team/app:locked"])
	}
	if d := append(f.srv.Deletes(), f.reg.Deletes()...); len(d) != 0 {
		t.Errorf("the dry run sent deletes: %v", d)
	}

	f.srv.ResetRequests()
	real := run(false)
	deleted, kept = actions(real)
	if diff := gocmp.Diff(want, deleted); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
	if kept["team/app:locked"] != ProtectedImmutable || !strings.Contains(kept["team/app:rebuilt"], "by push time, beyond keep=1, but age 2d is not older than 30d") {
		t.Errorf("kept: %v", kept)
	}
	if real.GCHint != GCHint {
		t.Errorf("GC hint %q", real.GCHint)
	}
	if diff := gocmp.Diff([]string{"locked", "new", "rebuilt", "stable"}, f.tags("team/app")); diff != "" {
		t.Errorf("team/app tags left (-want +got):\n%s", diff)
	}
	if diff := gocmp.Diff([]string{"v2"}, f.tags("team/tools/builder")); diff != "" {
		t.Errorf("team/tools/builder tags left (-want +got):\n%s", diff)
	}
	got := f.srv.Deletes()
	sort.Strings(got)
	if diff := gocmp.Diff(wantDeletes, got); diff != "" {
		t.Errorf("REST deletes (-want +got):\n%s", diff)
	}
	if d := f.srv.RegistryDeletes(); len(d) != 0 {
		t.Errorf("registry API deletes: %v", d)
	}
	if err := f.reg.GC(f.ctx, true); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"team/app:stable", "team/app:locked", "team/app:new", "team/app:rebuilt", "team/tools/builder:v2"} {
		if err := testregistry.VerifyPull(f.ctx, f.addr+"/"+ref); err != nil {
			t.Errorf("%s does not pull after GC: %v", ref, err)
		}
	}
}
