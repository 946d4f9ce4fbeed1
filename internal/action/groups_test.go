package action

import (
	"strings"
	"testing"

	"github.com/tagsweep/tagsweep/internal/engine"
)

// In GitHub Actions each repository's lines form one log group titled
// with its outcome, written when the repository is done; the run's lines
// and the progress go out as they come.
func TestLogGroups(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	r := New(func(k string) string { return map[string]string{"GITHUB_ACTIONS": "true"}[k] }, &strings.Builder{})
	o := r.Observer(&b)
	o.Log("2 repositories in scope")
	o.RepositoryLog("app", "app: 4 tags, 3 to delete")
	o.RepositoryLog("api", "api: 3 tags, 2 to delete")
	o.Progress(engine.Progress{Repositories: 2, Done: 0, Inspected: 7, Deleted: 0})
	o.RepositoryDone(engine.Finished{Repository: "api", Tags: 3, Deleted: 2})
	o.RepositoryDone(engine.Finished{Repository: "app", Tags: 4, Deleted: 3, Failed: 1, Error: "delete v1: boom\ndelete v2: boom"})
	want := "2 repositories in scope\n" +
		"progress: 0/2 repositories done, 7 tags inspected, 0 deleted\n" +
		"::group::api: 3 tags, 2 deleted, 0 failed\napi: 3 tags, 2 to delete\n::endgroup::\n" +
		"::group::app: failed: 4 tags, 3 deleted, 1 failed: delete v1: boom (more in the report)\napp: 4 tags, 3 to delete\n::endgroup::\n"
	if got := b.String(); got != want {
		t.Errorf("log:\n%s\nwant:\n%s", got, want)
	}
}

// Outside GitHub Actions the lines go out as they come, and a
// repository's outcome adds no line.
func TestLogOutsideActions(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	o := New(func(string) string { return "" }, &strings.Builder{}).Observer(&b)
	o.RepositoryLog("app", "app: 4 tags, 3 to delete")
	o.RepositoryDone(engine.Finished{Repository: "app", Tags: 4, Deleted: 3})
	o.Log("done")
	if got, want := b.String(), "app: 4 tags, 3 to delete\ndone\n"; got != want {
		t.Errorf("log %q, want %q", got, want)
	}
}
