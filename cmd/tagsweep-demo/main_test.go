package main

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestDemoShape: the demo runs end to end and prints the terminal form of
// the summary: each repository's section and each table once (the dry
// run's plan; the real run is checked against it, not shown again), no
// markdown or HTML, summary lines within 120 columns, and the garbage
// collector's figure beside tagsweep's.
func TestDemoShape(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	s := out.String()
	lines := strings.Split(s, "\n")
	count := func(l string) int {
		n := 0
		for _, x := range lines {
			if x == l {
				n++
			}
		}
		return n
	}
	for _, repo := range []string{"api", "web", "tools/builder"} {
		if n := count(repo); n != 1 {
			t.Errorf("the section of %s is shown %d times, want once", repo, n)
		}
	}
	if n := strings.Count(s, "\ntag  "); n != 5 { // api: deleted, kept; tools/builder: kept; web: deleted, kept
		t.Errorf("%d tag tables, want 5 (each once)", n)
	}
	if n := strings.Count(s, "repositories  tags  "); n != 1 {
		t.Errorf("the totals table is shown %d times, want once", n)
	}
	for _, no := range []string{"<details>", "|---", "## tagsweep", "&lt;", "&gt;", "**Policy", "`sha256:"} {
		if strings.Contains(s, no) {
			t.Errorf("the demo prints %q (markdown or HTML)", no)
		}
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "deleted-tags=") {
			continue // an output is what it is: one line of JSON
		}
		if n := utf8.RuneCountInString(l); n > 120 {
			t.Errorf("a line of %d columns: %q", n, l)
		}
	}
	for _, want := range []string{"tagsweep (dry run: nothing was deleted)\n", "The real run deleted the 14 tags the dry run planned",
		"all 13 kept tags pull completely"} {
		if !strings.Contains(s, want) {
			t.Errorf("the demo does not say %q:\n%s", want, s)
		}
	}
	if _, after, ok := strings.Cut(s, "Garbage collection freed "); !ok || !strings.Contains(after, "reclaimed-bytes said") {
		t.Errorf("no GC comparison:\n%s", s)
	}
}
