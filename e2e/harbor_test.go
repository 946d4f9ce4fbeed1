package e2e

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/registry/harbor/harbortest"
	"github.com/tagsweep/tagsweep/internal/report"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

const (
	harborUser     = "robot$sweeper"
	harborPassword = "harbor-Secret-0451"
)

// harbor starts a registry and the Harbor replica over it.
func harbor(t *testing.T) (*testregistry.Registry, *harbortest.Server) {
	t.Helper()
	r := newRegistry(t)
	srv, err := harbortest.New(harbortest.Options{Registry: r, Users: map[string]string{harborUser: harborPassword}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return r, srv
}

// harborRobot are the robot permissions README tells Harbor users to give.
var harborRobot = []harbortest.Permission{harbortest.PermRepositoryList, harbortest.PermRepositoryRead,
	harbortest.PermArtifactList, harbortest.PermArtifactDelete, harbortest.PermTagDelete}

func harborEnv(srv *harbortest.Server) []string {
	return []string{"TAGSWEEP_HARBOR_API_URL=" + srv.APIURL()}
}

// secretNotPrinted: the secret appears nowhere but in the runner's mask
// command.
func secretNotPrinted(t *testing.T, r result, secret string) {
	t.Helper()
	var stdout []string
	for _, l := range strings.Split(r.stdout, "\n") {
		if !strings.HasPrefix(l, "::add-mask::") {
			stdout = append(stdout, l)
		}
	}
	for name, s := range map[string]string{"stdout": strings.Join(stdout, "\n"), "stderr": r.stderr, "summary": r.summary} {
		if strings.Contains(s, secret) {
			t.Errorf("the password is in %s", name)
		}
	}
	for k, v := range r.outputs {
		if strings.Contains(v, secret) {
			t.Errorf("the password is in output %s", k)
		}
	}
	if r.report != nil {
		for _, repo := range r.report.Repositories {
			if strings.Contains(repo.Error, secret) {
				t.Errorf("the password is in the report (%s)", repo.Name)
			}
			for _, tg := range repo.Tags {
				if strings.Contains(tg.Reason+tg.Error, secret) {
					t.Errorf("the password is in the report (%s:%s)", repo.Name, tg.Tag)
				}
			}
		}
	}
}

// TestHarbor: provider=harbor lists through the REST API (push times,
// immutability), deletes stale artifacts by digest through the REST API
// as a robot with artifact and tag delete (no repository delete), removes a stale tag that shares its digest with a kept tag through
// the REST tag delete, keeps an immutable tag with Harbor's reason, and
// the dry run plans the same without a single DELETE.
func TestHarbor(t *testing.T) {
	t.Parallel()
	r, srv := harbor(t)
	a := r.Addr()
	// Ages are push times (age-source auto): "rebuilt" is an image built
	// long ago and pushed recently, which keeps it.
	pushes := []struct {
		ref     string
		created time.Time
		pushed  float64 // days ago
		seed    int64
	}{
		{"team/app:new", daysAgo(1), 1, 1},
		{"team/app:rebuilt", daysAgo(100), 2, 2},
		{"team/app:old1", daysAgo(40), 40, 3},
		{"team/app:old2", daysAgo(50), 50, 4},
		{"team/app:locked", daysAgo(60), 60, 5},
		{"team/app:stale-shared", daysAgo(45), 45, 6},
		{"team/tools/builder:v1", daysAgo(35), 35, 7},
		{"team/tools/builder:v2", daysAgo(1), 1, 8},
	}
	for _, p := range pushes {
		pushImage(t, a, p.ref, p.created, p.seed)
		repo, tg, _ := strings.Cut(p.ref, ":")
		srv.SetPushTime(repo, tg, daysAgo(p.pushed))
	}
	tag(t, a, "team/app:stable", "team/app:stale-shared")
	srv.SetPushTime("team/app", "stable", daysAgo(45))
	srv.SetImmutable("team/app", "locked", true)
	shared := digestOf(t, a+"/team/app:stable").String()
	// The robot has the permissions README names, and not "delete
	// repository", which a registry-API DELETE would need.
	srv.SetPermissions(harborUser, harborRobot...)
	wantREST := []string{"DELETE /api/v2.0/projects/team/repositories/app/artifacts/" + shared + "/tags/stale-shared"}
	for _, ref := range []string{"team/app:old1", "team/app:old2", "team/tools/builder:v1"} {
		repo, _, _ := strings.Cut(ref, ":")
		project, name, _ := strings.Cut(repo, "/")
		wantREST = append(wantREST, "DELETE /api/v2.0/projects/"+project+"/repositories/"+strings.ReplaceAll(name, "/", "%252F")+
			"/artifacts/"+digestOf(t, a+"/"+ref).String())
	}
	sort.Strings(wantREST)

	in := inputs{"registry": a, "provider": "harbor", "username": harborUser, "password": harborPassword,
		"repositories": "team/**", "keep": "1", "older-than": "30d", "exclude-tags": "stable", "dry-run": "true"}
	dry := runActionWith(t, in, harborEnv(srv))
	if dry.code != 0 {
		t.Fatalf("dry run exit %d\n%s", dry.code, dry.stderr)
	}
	if d := srv.Deletes(); len(d) != 0 {
		t.Errorf("dry run sent REST deletes: %v", d)
	}
	if d := r.Deletes(); len(d) != 0 {
		t.Errorf("dry run sent registry deletes: %v", d)
	}
	want := []string{"team/app:old1", "team/app:old2", "team/app:stale-shared", "team/tools/builder:v1"}
	if diff := cmp.Diff(want, deletedTagsOutput(t, dry)); diff != "" {
		t.Errorf("dry-run deleted-tags (-want +got):\n%s", diff)
	}
	checkCounts(t, dry)
	var listed bool
	for _, req := range srv.Requests() {
		if req.Auth != "Basic" || req.User != harborUser {
			t.Errorf("%s sent with auth %q user %q", req, req.Auth, req.User)
		}
		if strings.HasPrefix(req.Path, "/api/v2.0/projects/team/repositories/tools%252Fbuilder/artifacts") {
			listed = true
		}
	}
	if !listed {
		t.Errorf("no artifact listing of team/tools/builder with the name encoded twice: %v", srv.Requests())
	}

	srv.ResetRequests()
	in["dry-run"] = "false"
	res := runActionWith(t, in, harborEnv(srv))
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	if diff := cmp.Diff(deletedTagsOutput(t, dry), deletedTagsOutput(t, res)); diff != "" {
		t.Errorf("the real run deleted other tags than the dry run planned (-dry +real):\n%s", diff)
	}
	checkCounts(t, res)
	if diff := cmp.Diff([]string{"locked", "new", "rebuilt", "stable"}, listTags(t, a, "team/app")); diff != "" {
		t.Errorf("team/app tags left (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"v2"}, listTags(t, a, "team/tools/builder")); diff != "" {
		t.Errorf("team/tools/builder tags left (-want +got):\n%s", diff)
	}

	// The shared digest lost one tag through the REST API, the stale
	// artifacts went by the REST artifact delete, nothing by the registry API.
	gotREST := srv.Deletes()
	sort.Strings(gotREST)
	if diff := cmp.Diff(wantREST, gotREST); diff != "" {
		t.Errorf("REST deletes (-want +got):\n%s", diff)
	}
	if d := srv.RegistryDeletes(); len(d) != 0 {
		t.Errorf("registry-API deletes: %v", d)
	}
	var byTagDeletes []string
	for _, d := range r.Deletes() {
		if !strings.Contains(d, "/manifests/sha256:") {
			byTagDeletes = append(byTagDeletes, d)
		}
		if strings.HasSuffix(d, shared) {
			t.Errorf("the digest of kept tag stable was deleted: %s", d)
		}
	}
	// The only registry DELETE by tag is the replica carrying out the REST
	// tag delete.
	if diff := cmp.Diff([]string{"DELETE /v2/team/app/manifests/stale-shared"}, byTagDeletes); diff != "" {
		t.Errorf("registry deletes by tag (-want +got):\n%s", diff)
	}

	app := byTag(t, res.report, "team/app")
	if got := app["locked"]; got.Action != report.Kept || got.Reason != "immutable tag (Harbor tag immutability rule)" {
		t.Errorf("locked: %+v", got)
	}
	if got := app["rebuilt"]; got.Action != report.Kept || !strings.Contains(got.Reason, "by push time, beyond keep=1, but age 2d is not older than 30d") {
		t.Errorf("rebuilt (pushed 2 days ago, built 100 days ago) not kept: %+v", got)
	}
	if got := app["stale-shared"]; got.Action != report.Deleted {
		t.Errorf("stale-shared: %+v", got)
	}
	for _, want := range []string{"immutable tag (Harbor tag immutability rule)", "`locked`", "Administration > Clean Up"} {
		if !strings.Contains(res.summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, res.summary)
		}
	}
	gcAndVerify(t, r, true, "team/app:new", "team/app:stable", "team/app:locked", "team/app:rebuilt", "team/tools/builder:v2")
	secretNotPrinted(t, dry, harborPassword)
	secretNotPrinted(t, res, harborPassword)
}

// TestHarborBadCredentials: a wrong password fails the run with a message
// naming the account and what it needs, never the password, and deletes
// nothing (Harbor itself would have listed public projects anonymously).
func TestHarborBadCredentials(t *testing.T) {
	t.Parallel()
	r, srv := harbor(t)
	a := r.Addr()
	pushImage(t, a, "team/app:old", daysAgo(40), 1)
	pushImage(t, a, "team/app:older", daysAgo(50), 2)
	const wrong = "wrong-" + harborPassword

	res := runActionWith(t, inputs{"registry": a, "provider": "harbor", "username": harborUser, "password": wrong,
		"repositories": "team/**", "keep": "0"}, harborEnv(srv))
	if res.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", res.code, res.stderr)
	}
	all := res.stderr + res.summary
	for _, want := range []string{`robot account "robot$sweeper"`, "valid Harbor credentials"} {
		if !strings.Contains(all, want) {
			t.Errorf("stderr and summary lack %q:\nstderr:\n%s\nsummary:\n%s", want, res.stderr, res.summary)
		}
	}
	secretNotPrinted(t, res, wrong)
	if d := append(srv.Deletes(), r.Deletes()...); len(d) != 0 {
		t.Errorf("deletes sent: %v", d)
	}
	tags := listTags(t, a, "team/app")
	sort.Strings(tags)
	if diff := cmp.Diff([]string{"old", "older"}, tags); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	if ok, err := testregistry.Exists(context.Background(), a+"/team/app:old"); err != nil || !ok {
		t.Errorf("old: %v %v", ok, err)
	}
}

// TestHarborRobotWithoutArtifactDelete: a robot that may delete tags but
// not artifacts fails each artifact delete with the permission it lacks
// named (exit 1), and the artifacts stay.
func TestHarborRobotWithoutArtifactDelete(t *testing.T) {
	t.Parallel()
	r, srv := harbor(t)
	a := r.Addr()
	pushImage(t, a, "team/app:old", daysAgo(40), 1)
	pushImage(t, a, "team/app:new", daysAgo(1), 2)
	srv.SetPermissions(harborUser, harbortest.PermRepositoryList, harbortest.PermArtifactList, harbortest.PermTagDelete)
	res := runActionWith(t, inputs{"registry": a, "provider": "harbor", "username": harborUser, "password": harborPassword,
		"repositories": "team/**", "keep": "1"}, harborEnv(srv))
	if res.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", res.code, res.stderr)
	}
	for _, want := range []string{`robot account "robot$sweeper"`, `the artifact "delete" permission`} {
		if !strings.Contains(res.stderr+res.summary, want) {
			t.Errorf("stderr and summary lack %q:\nstderr:\n%s\nsummary:\n%s", want, res.stderr, res.summary)
		}
	}
	if diff := cmp.Diff([]string{"new", "old"}, listTags(t, a, "team/app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	if d := srv.RegistryDeletes(); len(d) != 0 {
		t.Errorf("registry-API deletes: %v", d)
	}
	secretNotPrinted(t, res, harborPassword)
}
