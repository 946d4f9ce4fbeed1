package restore

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/undo"
)

func entry(repo string, seed string, kind undo.Kind, tags ...string) undo.Entry {
	raw := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","annotations":{"s":"` + seed + `"}}`)
	e := undo.Entry{V: 1, Repository: repo, Digest: undo.Digest(raw), MediaType: "application/vnd.oci.image.manifest.v1+json", Deleted: kind, Tags: tags}
	e.SetBytes(raw)
	return e
}

// TestParseRef: repository:tag and repository@digest, with or without the
// registry host; anything else is refused.
func TestParseRef(t *testing.T) {
	t.Parallel()
	d := "sha256:" + strings.Repeat("a", 64)
	good := map[string]Ref{
		"team/app:v1":                      {Repository: "team/app", Tag: "v1"},
		"reg.example.com:5000/team/app:v1": {Repository: "team/app", Tag: "v1"},
		"team/app@" + d:                    {Repository: "team/app", Digest: d},
	}
	for in, want := range good {
		got, err := ParseRef(in, "reg.example.com:5000")
		if err != nil || got != want {
			t.Errorf("ParseRef(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"app", "app:", ":v1", "team/app@sha256:abc", "host:5000/app"} {
		if _, err := ParseRef(in, ""); err == nil {
			t.Errorf("ParseRef(%q) accepted", in)
		}
	}
}

// TestSelectMerges: the entries of several runs merge per manifest; a tag
// deleted twice goes back where its latest deletion had it; --only picks
// the asked tag, and names what the file lacks.
func TestSelectMerges(t *testing.T) {
	t.Parallel()
	a1 := entry("app", "a", undo.Tag, "latest") // run 1: latest removed from a
	b := entry("app", "b", undo.Manifest, "latest", "v2")
	a2 := entry("app", "a", undo.Manifest, "v1") // run 2: a deleted
	p, err := Select([]undo.Entry{a1, b, a2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, n := range p.selected() {
		got[n.digest] = n.tags
	}
	want := map[string][]string{a1.Digest: {"v1"}, b.Digest: {"latest", "v2"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tags per manifest (-want +got):\n%s", diff)
	}
	if sh := p.s.shadowed[key("app", "latest")]; len(sh) != 1 || sh[0] != key("app", a1.Digest) {
		t.Errorf("shadowed latest: %q", sh)
	}
	p, err = Select([]undo.Entry{a1, b, a2}, []Ref{{Repository: "app", Tag: "v2"}})
	if err != nil {
		t.Fatal(err)
	}
	if sel := p.selected(); len(sel) != 1 || sel[0].digest != b.Digest || !cmp.Equal(sel[0].tags, []string{"v2"}) {
		t.Errorf("--only app:v2 selects %+v", sel)
	}
	if _, err := Select([]undo.Entry{a1}, []Ref{{Repository: "app", Tag: "v9"}, {Repository: "other", Tag: "x"}}); err == nil || err.Error() != "app:v9, other:x: not in the undo file" {
		t.Errorf("--only naming nothing: %v", err)
	}
}
