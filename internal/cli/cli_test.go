package cli

import (
	"context"
	"flag"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// `tagsweep version` and `tagsweep --version` print the version, exit 0.
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		var out, errs strings.Builder
		code := Main(context.Background(), args, Env{Getenv: func(string) string { return "" }, Stdout: &out, Stderr: &errs})
		if code != ExitOK || !strings.HasPrefix(out.String(), "tagsweep ") || errs.Len() != 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out.String(), errs.String())
		}
	}
}

// The release stamps Version and Commit with -ldflags; `tagsweep version`
// prints both.
func TestVersionStamped(t *testing.T) {
	defer func(v, c string) { Version, Commit = v, c }(Version, Commit)
	Version, Commit = "v1.2.3", "3d3c42e5aac5ba805825da76410c181273ba90b1"
	var out strings.Builder
	if code := Main(context.Background(), []string{"version"}, Env{Getenv: func(string) string { return "" }, Stdout: &out}); code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	if want := "tagsweep v1.2.3 (commit 3d3c42e5aac5ba805825da76410c181273ba90b1)\n"; out.String() != want {
		t.Errorf("stdout %q, want %q", out.String(), want)
	}
}

// Without a stamped Commit, the commit comes from the build info that go
// build writes in a git checkout (vcs.revision, vcs.modified).
func TestRevision(t *testing.T) {
	t.Parallel()
	const sha = "84e5ebd0000000000000000000000000000000ff"
	for _, c := range []struct {
		name     string
		settings []debug.BuildSetting
		want     string
	}{
		{"none", nil, ""},
		{"no revision", []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.modified", Value: "true"}}, ""},
		{"clean", []debug.BuildSetting{{Key: "vcs.revision", Value: sha}, {Key: "vcs.modified", Value: "false"}}, " (commit " + sha + ")"},
		{"modified", []debug.BuildSetting{{Key: "vcs.modified", Value: "true"}, {Key: "vcs.revision", Value: sha}}, " (commit " + sha + ", modified)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := revision(c.settings); got != c.want {
				t.Errorf("revision(%v) = %q, want %q", c.settings, got, c.want)
			}
		})
	}
}

// A bool input takes its value after a space too ("--dry-run true"), as
// users write it in CI args; a bare "--dry-run" is still true, and a
// string input's value is never taken for a bool's.
func TestJoinBoolValues(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	set := map[string]string{}
	fs.Var(&stringFlag{name: "dry-run", set: set, isBool: true}, "dry-run", "")
	fs.Var(&stringFlag{name: "keep", set: set}, "keep", "")
	for _, c := range []struct{ in, want []string }{
		{[]string{"--dry-run", "true", "--keep", "3"}, []string{"--dry-run=true", "--keep", "3"}},
		{[]string{"-dry-run", "FALSE"}, []string{"-dry-run=FALSE"}},
		{[]string{"--dry-run", "--keep", "1"}, []string{"--dry-run", "--keep", "1"}},
		{[]string{"--keep", "1", "--dry-run"}, []string{"--keep", "1", "--dry-run"}},
		{[]string{"--dry-run", "maybe"}, []string{"--dry-run=maybe"}},
		{[]string{"--dry-run=false", "--keep", "1"}, []string{"--dry-run=false", "--keep", "1"}},
		{[]string{"--keep", "true"}, []string{"--keep", "true"}},
		{[]string{"--", "--dry-run", "true"}, []string{"--", "--dry-run", "true"}},
	} {
		if got := joinBoolValues(fs, c.in); !cmp.Equal(got, c.want) {
			t.Errorf("joinBoolValues(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
