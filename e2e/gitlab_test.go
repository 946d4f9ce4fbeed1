package e2e

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/registry/gitlab/gitlabtest"
)

const (
	gitlabPAT = "glpat-e2e-Secret-0451"
	gitlabJob = "glcbt-e2e-job-token"
)

// gitlab starts a registry (its catalog closed, as GitLab's is to
// ordinary users) and the GitLab API replica over it, with three
// projects: group/app (7), group/sub/tools (8) and other/thing (9).
func gitlab(t *testing.T) (string, *gitlabtest.Server) {
	t.Helper()
	r := newRegistry(t)
	srv, err := gitlabtest.New(gitlabtest.Options{Registry: r,
		Projects: []gitlabtest.Project{{ID: 7, Path: "group/app"}, {ID: 8, Path: "group/sub/tools"}, {ID: 9, Path: "other/thing"}},
		Tokens: map[string]gitlabtest.Token{
			gitlabPAT: {Kind: gitlabtest.PersonalToken, Role: gitlabtest.Maintainer},
			gitlabJob: {Kind: gitlabtest.JobToken, Role: gitlabtest.Developer, Project: 7},
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	a := r.Addr()
	pushImage(t, a, "group/app:new", daysAgo(1), 1)
	pushImage(t, a, "group/app:stable", daysAgo(40), 2)
	tag(t, a, "group/app:stale-shared", "group/app:stable")
	pushImage(t, a, "group/app:old", daysAgo(41), 3)
	pushImage(t, a, "group/sub/tools:new", daysAgo(1), 4)
	pushImage(t, a, "group/sub/tools:old", daysAgo(50), 5)
	pushImage(t, a, "other/thing:old", daysAgo(50), 6)
	return a, srv
}

// TestGitLab: provider=gitlab with `repositories: group/**` discovers the
// group's repositories, subgroups included, through the GitLab API (the
// catalog is closed), removes a stale tag that shares a kept digest with
// the REST tag delete, deletes stale digests, and the dry run plans
// exactly what the real run does; the token is never printed.
func TestGitLab(t *testing.T) {
	t.Parallel()
	a, srv := gitlab(t)
	env := []string{"CI_API_V4_URL=" + srv.APIURL()}
	in := inputs{"registry": a, "provider": "gitlab", "username": "sweeper", "password": gitlabPAT,
		"repositories": "group/**", "keep": "1", "older-than": "30d", "exclude-tags": "stable", "dry-run": "true"}
	dry := runActionWith(t, in, env)
	if dry.code != 0 {
		t.Fatalf("dry run exit %d\n%s", dry.code, dry.stderr)
	}
	want := []string{"group/app:old", "group/app:stale-shared", "group/sub/tools:old"}
	if diff := cmp.Diff(want, deletedTagsOutput(t, dry)); diff != "" {
		t.Errorf("dry-run deleted-tags (-want +got):\n%s", diff)
	}
	if d := srv.Deletes(); len(d) != 0 {
		t.Errorf("the dry run sent deletes: %v", d)
	}
	in["dry-run"] = "false"
	res := runActionWith(t, in, env)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	if diff := cmp.Diff(deletedTagsOutput(t, dry), deletedTagsOutput(t, res)); diff != "" {
		t.Errorf("the real run deleted other tags than the dry run planned (-dry +real):\n%s", diff)
	}
	checkCounts(t, res)
	if diff := cmp.Diff([]string{"DELETE /api/v4/projects/7/registry/repositories/101/tags/stale-shared"}, srv.Deletes()); diff != "" {
		t.Errorf("REST deletes (-want +got):\n%s", diff)
	}
	for repo, left := range map[string][]string{"group/app": {"new", "stable"}, "group/sub/tools": {"new"}, "other/thing": {"old"}} {
		if diff := cmp.Diff(left, listTags(t, a, repo)); diff != "" {
			t.Errorf("%s tags left (-want +got):\n%s", repo, diff)
		}
	}
	if n := srv.CatalogRequests(); n != 0 {
		t.Errorf("%d catalog requests", n)
	}
	for _, r := range srv.Requests() {
		if r.Auth != "" {
			t.Errorf("%s sent an Authorization header (%s): the token goes in PRIVATE-TOKEN", r, r.Auth)
		}
	}
	secretNotPrinted(t, dry, gitlabPAT)
	secretNotPrinted(t, res, gitlabPAT)
}

// TestGitLabJobToken: without a password, CI_JOB_TOKEN is the token
// (JOB-TOKEN): it reaches only the pipeline's project (CI_PROJECT_ID), so
// `group/**` sweeps that project's repositories alone, and the token is
// masked.
func TestGitLabJobToken(t *testing.T) {
	t.Parallel()
	a, srv := gitlab(t)
	env := []string{"CI_API_V4_URL=" + srv.APIURL(), "CI_JOB_TOKEN=" + gitlabJob, "CI_PROJECT_ID=7", "CI_PROJECT_PATH=group/app"}
	res := runActionWith(t, inputs{"registry": a, "provider": "gitlab", "repositories": "group/**", "keep": "1",
		"older-than": "30d", "exclude-tags": "stable"}, env)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	if diff := cmp.Diff([]string{"group/app:old", "group/app:stale-shared"}, deletedTagsOutput(t, res)); diff != "" {
		t.Errorf("deleted-tags (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"new", "old"}, listTags(t, a, "group/sub/tools")); diff != "" {
		t.Errorf("another project was swept (-want +got):\n%s", diff)
	}
	for _, r := range srv.Requests() {
		if r.Status == 401 || r.Status == 403 {
			t.Errorf("%s refused (%d)", r, r.Status)
		}
	}
	secretNotPrinted(t, res, gitlabJob)
}
