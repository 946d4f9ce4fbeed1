package gitlab

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"golang.org/x/sync/errgroup"

	"github.com/tagsweep/tagsweep/internal/engine"
	"github.com/tagsweep/tagsweep/internal/engine/enginetest"
	"github.com/tagsweep/tagsweep/internal/policy"
	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/gitlab/gitlabtest"
	"github.com/tagsweep/tagsweep/internal/registry/oci"
	"github.com/tagsweep/tagsweep/internal/registry/registrytest"
	"github.com/tagsweep/tagsweep/internal/report"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

const (
	pat      = "glpat-never-shown"
	readOnly = "glpat-read-only"
	devToken = "glpat-developer"
	jobToken = "glcbt-job-token"
	deploy   = "gldt-deploy-token"
)

type fixture struct {
	t   *testing.T
	ctx context.Context
	reg *testregistry.Registry
	srv *gitlabtest.Server
}

var projects = []gitlabtest.Project{{ID: 7, Path: "group/app"}, {ID: 8, Path: "group/sub/tools"}, {ID: 9, Path: "other/thing"},
	{ID: 11, Path: "acme/app"}, {ID: 12, Path: "acme/other"}}

func startGitLab(t *testing.T) *fixture {
	t.Helper()
	reg := registrytest.Distribution(t)
	srv, err := gitlabtest.New(gitlabtest.Options{Registry: reg, Projects: projects, Tokens: map[string]gitlabtest.Token{
		pat:      {Kind: gitlabtest.PersonalToken, Role: gitlabtest.Maintainer},
		readOnly: {Kind: gitlabtest.PersonalToken, Role: gitlabtest.Maintainer, ReadOnly: true},
		devToken: {Kind: gitlabtest.PersonalToken, Role: gitlabtest.Developer},
		jobToken: {Kind: gitlabtest.JobToken, Role: gitlabtest.Developer, Project: 7},
		deploy:   {Kind: gitlabtest.DeployToken},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return &fixture{t: t, ctx: context.Background(), reg: reg, srv: srv}
}

func (f *fixture) backend(token string, job bool, project string, groups ...string) *Backend {
	f.t.Helper()
	reg, err := oci.New(f.reg.Addr(), oci.WithKeychain(registrytest.NoKeychain), oci.WithConcurrency(4))
	if err != nil {
		f.t.Fatal(err)
	}
	api, _ := url.Parse(f.srv.APIURL())
	b, err := New(Options{Registry: reg, API: api, Token: token, Job: job, TokenSource: "the test", Project: project, Groups: groups})
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

func (f *fixture) push(ref string, created time.Time, seed int64) string {
	f.t.Helper()
	h, err := testregistry.PushImage(f.ctx, f.reg.Addr()+"/"+ref, testregistry.ImageSpec{Created: created, Seed: seed})
	if err != nil {
		f.t.Fatal(err)
	}
	return h.String()
}

func (f *fixture) tags(repo string) []string {
	f.t.Helper()
	tags, err := testregistry.ListTags(f.ctx, f.reg.Addr()+"/"+repo)
	if err != nil {
		f.t.Fatal(err)
	}
	sort.Strings(tags)
	return tags
}

func (f *fixture) requests() []string {
	var out []string
	for _, r := range f.srv.Requests() {
		out = append(out, r.String())
	}
	return out
}

// TestRepositories: a group's listing covers its subgroups and is read
// in pages of 100 (Link rel="next"); with a job token only the
// pipeline's project is listed and the group endpoint is not asked; the
// registry's catalog is never needed (the replica closes it).
func TestRepositories(t *testing.T) {
	t.Parallel()
	f := startGitLab(t)
	var g errgroup.Group
	g.SetLimit(8)
	var want []string
	for i := range 103 {
		want = append(want, fmt.Sprintf("group/app/c%03d", i))
		g.Go(func() error {
			_, err := testregistry.PushImage(f.ctx, fmt.Sprintf("%s/group/app/c%03d:v1", f.reg.Addr(), i), testregistry.ImageSpec{Layers: -1, Seed: int64(i + 1)})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	f.push("group/app:v1", time.Now(), 500)
	f.push("group/sub/tools:v1", time.Now(), 501)
	f.push("other/thing:v1", time.Now(), 502)
	want = append(want, "group/app", "group/sub/tools")
	sort.Strings(want)

	got, err := f.backend(pat, false, "", "group").Repositories(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("group repositories (-want +got):\n%s", diff)
	}
	if n := len(f.srv.Requests()); n != 2 {
		t.Errorf("%d requests, want 2 pages: %v", n, f.requests())
	}

	f.srv.ResetRequests()
	got, err = f.backend(jobToken, true, "7").Repositories(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 104 || strings.Contains(strings.Join(got, ","), "group/sub/tools") {
		t.Errorf("job token: %d repositories %v", len(got), got)
	}
	for _, r := range f.srv.Requests() {
		if !strings.HasPrefix(r.Path, "/api/v4/projects/7/") {
			t.Errorf("job token asked %s", r)
		}
	}
	// The job token at the group endpoint: 401, naming what it reaches.
	if _, err := f.backend(jobToken, false, "", "group").Repositories(f.ctx); !errors.Is(err, registry.ErrUnauthorized) {
		t.Errorf("job token as PRIVATE-TOKEN at the group endpoint: %v", err)
	}
	// A deploy token cannot use the REST API.
	_, err = f.backend(deploy, false, "", "group").Repositories(f.ctx)
	var ae *registry.AuthError
	if !errors.As(err, &ae) || !strings.Contains(ae.Need, "deploy tokens cannot use the REST API") {
		t.Errorf("deploy token: %v", err)
	}
	if strings.Contains(fmt.Sprint(err), deploy) {
		t.Errorf("the token is in the error: %v", err)
	}
}

// TestDeleteTag: one tag goes through the REST tag delete (Developer
// suffices), found by the project its path names even without a listing
// first; the manifest and its other tags stay; a protected tag is a
// ProtectedError; a read_api token is told it needs the api scope.
func TestDeleteTag(t *testing.T) {
	t.Parallel()
	f := startGitLab(t)
	d := f.push("group/sub/tools/builder:stable", time.Now(), 1)
	for _, tg := range []string{"old", "release-1"} {
		if err := testregistry.Tag(f.ctx, f.reg.Addr()+"/group/sub/tools/builder:"+tg, f.reg.Addr()+"/group/sub/tools/builder:stable"); err != nil {
			t.Fatal(err)
		}
	}
	f.srv.Protect("release-*")
	b := f.backend(devToken, false, "")
	if err := b.DeleteTag(f.ctx, "group/sub/tools/builder", "old"); err != nil {
		t.Fatal(err)
	}
	err := b.DeleteTag(f.ctx, "group/sub/tools/builder", "release-1")
	var pe *registry.ProtectedError
	if !errors.As(err, &pe) || pe.Reason != ProtectedTagReason {
		t.Errorf("protected tag: %v", err)
	}
	if err := b.DeleteTag(f.ctx, "group/sub/tools/builder", "nope"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("unknown tag: %v", err)
	}
	if diff := gocmp.Diff([]string{"release-1", "stable"}, f.tags("group/sub/tools/builder")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	if ok, _ := testregistry.Exists(f.ctx, f.reg.Addr()+"/group/sub/tools/builder@"+d); !ok {
		t.Error("the manifest went")
	}
	want := []string{
		"GET /api/v4/projects/group%2Fsub%2Ftools%2Fbuilder/registry/repositories?per_page=100",
		"GET /api/v4/projects/group%2Fsub%2Ftools/registry/repositories?per_page=100",
		"DELETE /api/v4/projects/8/registry/repositories/101/tags/old",
		"DELETE /api/v4/projects/8/registry/repositories/101/tags/release-1",
		"DELETE /api/v4/projects/8/registry/repositories/101/tags/nope",
	}
	if diff := gocmp.Diff(want, f.requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	err = f.backend(readOnly, false, "").DeleteTag(f.ctx, "group/sub/tools/builder", "stable")
	var ae *registry.AuthError
	if !errors.Is(err, registry.ErrDenied) || !errors.As(err, &ae) || !strings.Contains(ae.Need, `"api" scope`) {
		t.Errorf("read_api token: %v", err)
	}
}

// TestEngineSweep: the engine over the backend with "group/**": the
// repositories come from the group listing (the catalog is closed), a
// stale tag sharing its digest with a kept tag goes by the REST tag
// delete, stale digests by the registry API, and the dry run plans
// exactly what the real run does, sending no DELETE.
func TestEngineSweep(t *testing.T) {
	t.Parallel()
	f := startGitLab(t)
	now := time.Now()
	ago := func(days float64) time.Time { return now.Add(-time.Duration(days * 24 * float64(time.Hour))) }
	f.push("group/app:new", ago(1), 1)
	f.push("group/app:stable", ago(40), 2)
	if err := testregistry.Tag(f.ctx, f.reg.Addr()+"/group/app:stale-shared", f.reg.Addr()+"/group/app:stable"); err != nil {
		t.Fatal(err)
	}
	f.push("group/app:old", ago(41), 3)
	f.push("group/sub/tools:new", ago(1), 4)
	f.push("group/sub/tools:old", ago(50), 5)
	f.push("other/thing:old", ago(50), 6)
	exclude, _ := policy.CompileGlob("stable")
	all, _ := policy.CompileGlob("*")
	run := func(dry bool) map[string]string {
		rep := enginetest.Run(t, f.ctx, f.backend(pat, false, "", "group"), engine.Options{Registry: f.reg.Addr(), Repositories: []string{"group/**"}, DryRun: dry,
			Concurrency: 4, Rules: policy.Rules{Keep: 1, OlderThan: 30 * 24 * time.Hour, OlderThanText: "30d", Include: []policy.Glob{all}, Exclude: []policy.Glob{exclude}}})
		out := map[string]string{}
		for _, r := range rep.Repositories {
			if r.Error != "" {
				t.Errorf("%s: %s", r.Name, r.Error)
			}
			for _, tg := range r.Tags {
				out[r.Name+":"+tg.Tag] = string(tg.Action)
				if tg.Action == report.WouldDelete {
					out[r.Name+":"+tg.Tag] = string(report.Deleted)
				}
			}
		}
		return out
	}
	dry := run(true)
	want := map[string]string{"group/app:new": report.Kept, "group/app:stable": report.Kept, "group/app:stale-shared": report.Deleted,
		"group/app:old": report.Deleted, "group/sub/tools:new": report.Kept, "group/sub/tools:old": report.Deleted}
	if diff := gocmp.Diff(want, dry); diff != "" {
		t.Errorf("dry run (-want +got):\n%s", diff)
	}
	if d := append(f.srv.Deletes(), f.reg.Deletes()...); len(d) != 0 {
		t.Errorf("the dry run sent deletes: %v", d)
	}
	f.srv.ResetRequests()
	if diff := gocmp.Diff(dry, run(false)); diff != "" {
		t.Errorf("real run differs from the dry run (-dry +real):\n%s", diff)
	}
	if diff := gocmp.Diff([]string{"DELETE /api/v4/projects/7/registry/repositories/101/tags/stale-shared"}, f.srv.Deletes()); diff != "" {
		t.Errorf("REST deletes (-want +got):\n%s", diff)
	}
	if diff := gocmp.Diff([]string{"new", "stable"}, f.tags("group/app")); diff != "" {
		t.Errorf("group/app tags left (-want +got):\n%s", diff)
	}
	if diff := gocmp.Diff([]string{"old"}, f.tags("other/thing")); diff != "" {
		t.Errorf("other/thing, out of scope (-want +got):\n%s", diff)
	}
	if n := f.srv.CatalogRequests(); n != 0 {
		t.Errorf("%d catalog requests", n)
	}
}

// TestConformance: the GitLab backend on its replica.
func TestConformance(t *testing.T) {
	t.Parallel()
	registrytest.Run(t, registrytest.Suite{New: func(t *testing.T) *registrytest.Target {
		f := startGitLab(t)
		return &registrytest.Target{Backend: f.backend(pat, false, "", "acme"), Store: registrytest.RegistryStore(f.reg.Addr()),
			Deletes: registrytest.Deletes(f.reg.Deletes, f.srv.Deletes)}
	}})
}
