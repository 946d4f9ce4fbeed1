package report

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestProblems: a message shared by many tags is one problem naming a
// few of them; a tag error that repeats the run's or the repository's
// error is not said again; a tag with its own error is its own problem;
// the warnings come last. (The log prints each as "error: "/"warning: "
// and its String; the annotations use Repository and Detail.)
func TestProblems(t *testing.T) {
	t.Parallel()
	refused := "DELETE refused (405)"
	blocked := "not deleted: second look failed: boom"
	capped := "max-deletions: the plan would delete 9 tags, more than max-deletions=1; nothing was deleted"
	rep := &Report{Errors: []string{capped}, Warnings: []string{"team/app: something odd"}, Repositories: []Repository{
		{Name: "team/app", Tags: []Tag{
			{Tag: "a", Error: refused}, {Tag: "b", Error: refused}, {Tag: "c"}, {Tag: "d", Error: refused},
			{Tag: "e", Error: refused}, {Tag: "f", Error: "timeout"}, {Tag: "g", Error: refused},
		}},
		{Name: "team/api", Error: blocked, Tags: []Tag{{Tag: "x", Error: blocked}, {Tag: "y", Error: blocked}}},
		{Name: "tools/x", Tags: []Tag{{Tag: "t1", Error: capped}, {Tag: "t2", Error: capped}}},
	}}
	var lines, details []string
	for _, p := range rep.Problems() {
		level := "error"
		if p.Warning {
			level = "warning"
		}
		lines = append(lines, level+": "+p.String())
		details = append(details, p.Repository+" | "+p.Detail())
	}
	want := []string{
		"error: " + capped,
		"error: team/app: 5 tags (a, b, d and 2 more): " + refused,
		"error: team/app:f: timeout",
		"error: team/api: " + blocked,
		"warning: team/app: something odd",
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("log lines (-want +got):\n%s", diff)
	}
	wantDetails := []string{" | " + capped, "team/app | 5 tags (a, b, d and 2 more): " + refused, "team/app | f: timeout",
		"team/api | " + blocked, " | team/app: something odd"}
	if diff := cmp.Diff(wantDetails, details); diff != "" {
		t.Errorf("repository | detail (-want +got):\n%s", diff)
	}
}

func TestNameFew(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		names []string
		want  string
	}{
		{[]string{"a"}, "a"},
		{[]string{"a", "b", "c"}, "a, b, c"},
		{[]string{"a", "b", "c", "d"}, "a, b, c and 1 more"},
	} {
		if got := nameFew(c.names, 3); got != c.want {
			t.Errorf("nameFew(%q) = %q, want %q", c.names, got, c.want)
		}
	}
}
