package report

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// spooled is r with its repositories put in a spool (in dirs; none: in
// memory), in reverse order of finishing, as a run's repositories finish
// in any order.
func spooled(t *testing.T, r *Report, dirs ...string) *Report {
	t.Helper()
	c := *r
	c.Repositories = nil
	c.Spool = NewSpool(len(r.Repositories), dirs...)
	t.Cleanup(func() { c.Close() })
	for i := len(r.Repositories) - 1; i >= 0; i-- {
		if err := c.Spool.Put(i, r.Repositories[i]); err != nil {
			t.Fatal(err)
		}
	}
	c.Tally()
	return &c
}

// TestSpool: a report whose repositories are spooled, to a temporary file
// or in memory, writes the same JSON report (byte for byte, every field
// set included), summary, outputs (with and without the step output
// limit), totals and failure as the same report held in memory; Each
// lists the repositories in the report's order, and Unspool puts them
// back in memory as they were.
func TestSpool(t *testing.T) {
	t.Parallel()
	var full Report
	n := 0
	fill(reflect.ValueOf(&full).Elem(), &n)
	for rname, mem := range map[string]*Report{"sample": sample(false), "sample dry run": sample(true), "every field set": &full} {
		mem.Tally()
		for name, dirs := range map[string][]string{"file": {t.TempDir()}, "memory": nil, "unwritable first": {filepath.Join(t.TempDir(), "missing"), ""}} {
			t.Run(fmt.Sprintf("%s, %s", rname, name), func(t *testing.T) {
				t.Parallel()
				sp := spooled(t, mem, dirs...)
				if want := name != "memory"; sp.Spool.InFile() != want {
					t.Errorf("in a file: %v, want %v", sp.Spool.InFile(), want)
				}
				var a, b bytes.Buffer
				if err := mem.WriteJSON(&a); err != nil {
					t.Fatal(err)
				}
				if err := sp.WriteJSON(&b); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(a.String(), b.String()); diff != "" {
					t.Errorf("JSON report (-memory +spooled):\n%s", diff)
				}
				if diff := cmp.Diff(mem.Summary(), sp.Summary()); diff != "" {
					t.Errorf("summary (-memory +spooled):\n%s", diff)
				}
				for _, limit := range []int{0, 60} {
					mo, mw := mem.Outputs("r.json", limit)
					so, sw := sp.Outputs("r.json", limit)
					if diff := cmp.Diff([]any{mo, mw}, []any{so, sw}); diff != "" {
						t.Errorf("outputs, limit %d (-memory +spooled):\n%s", limit, diff)
					}
				}
				if mem.Totals != sp.Totals || mem.Failed() != sp.Failed() {
					t.Errorf("totals %+v failed %v; in memory %+v %v", sp.Totals, sp.Failed(), mem.Totals, mem.Failed())
				}
				var names []string
				_ = sp.Each(func(r *Repository) error { names = append(names, r.Name); return nil })
				var want []string
				for _, r := range mem.Repositories {
					want = append(want, r.Name)
				}
				if diff := cmp.Diff(want, names); diff != "" {
					t.Errorf("Each's order (-want +got):\n%s", diff)
				}
				// Unspool puts the same repositories back in memory, in order.
				if err := sp.Unspool(); err != nil || sp.Spool != nil {
					t.Fatalf("Unspool: %v, spool %v", err, sp.Spool)
				}
				if diff := cmp.Diff(mem.Repositories, sp.Repositories); diff != "" {
					t.Errorf("unspooled repositories (-memory +unspooled):\n%s", diff)
				}
			})
		}
	}
}

// TestSpoolLeavesNothing: the spool's temporary file is gone as soon as it
// is made (unlinked while open), so that not even a run killed outright
// leaves one behind.
func TestSpoolLeavesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := NewSpool(1, dir)
	if err := s.Put(0, Repository{Name: "app"}); err != nil {
		t.Fatal(err)
	}
	if es, _ := os.ReadDir(dir); len(es) != 0 {
		t.Errorf("%d files left in the spool's directory while it is open", len(es))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
