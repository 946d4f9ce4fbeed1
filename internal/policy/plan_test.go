package policy

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/registry/image"
)

var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// dg makes a well-formed digest from a short name: dg("a") = sha256:aaaa….
func dg(s string) string { return "sha256:" + strings.Repeat(s, 64/len(s)) }

// sig makes the cosign-style tag of a subject digest.
func sig(subject, suffix string) string {
	return strings.Replace(subject, ":", "-", 1) + suffix
}

func daysAgo(n int) time.Time { return now.Add(-time.Duration(n) * 24 * time.Hour) }

func img(d string, created time.Time, blobs ...image.Blob) *image.Manifest {
	return &image.Manifest{Digest: d, MediaType: image.MediaTypeOCIManifest, Created: created, Blobs: blobs}
}

func index(d string, created time.Time, children ...string) *image.Manifest {
	return &image.Manifest{Digest: d, MediaType: image.MediaTypeOCIIndex, Created: created, Children: children}
}

func blob(d string, size int64) image.Blob { return image.Blob{Digest: dg(d), Size: size} }

func manifests(ms ...*image.Manifest) map[string]*image.Manifest {
	out := map[string]*image.Manifest{}
	for _, m := range ms {
		out[m.Digest] = m
	}
	return out
}

func tags(pairs ...string) []Tag {
	var out []Tag
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, Tag{Name: pairs[i], Digest: pairs[i+1]})
	}
	return out
}

func rules(mod ...func(*Rules)) Rules {
	all, _ := CompileGlob("*")
	r := Rules{Keep: 10, Include: []Glob{all}, OrderBy: OrderCreated}
	for _, m := range mod {
		m(&r)
	}
	return r
}

func keep(n int) func(*Rules) { return func(r *Rules) { r.Keep = n } }

func olderThan(d time.Duration, text string) func(*Rules) {
	return func(r *Rules) { r.OlderThan, r.OlderThanText = d, text }
}

func globs(ps ...string) []Glob {
	var out []Glob
	for _, p := range ps {
		g, err := CompileGlob(p)
		if err != nil {
			panic(err)
		}
		out = append(out, g)
	}
	return out
}

func keepSemver(c string) func(*Rules) {
	return func(r *Rules) {
		cs, err := semver.NewConstraint(c)
		if err != nil {
			panic(err)
		}
		r.KeepSemver, r.KeepSemverText = cs, c
	}
}

// outcome is what a test asserts per tag: "keep: reason" or "delete/digest: reason".
func outcome(it Item) string {
	if it.Action == Delete {
		return fmt.Sprintf("delete/%s: %s", it.Method, it.Reason)
	}
	return "keep: " + it.Reason.String()
}

func outcomes(p *Plan) map[string]string {
	out := map[string]string{}
	for _, it := range p.Items {
		out[it.Tag] = outcome(it)
	}
	return out
}

func TestSelection(t *testing.T) {
	t.Parallel()
	a, b, c, d, e := dg("a"), dg("b"), dg("c"), dg("d"), dg("e")
	five := manifests(img(a, daysAgo(1)), img(b, daysAgo(2)), img(c, daysAgo(3)), img(d, daysAgo(40)), img(e, daysAgo(50)))
	cases := []struct {
		name  string
		rules Rules
		in    Input
		want  map[string]string
	}{
		{
			name:  "keeps the newest by created, not the lexically last",
			rules: rules(keep(2)),
			in:    Input{Tags: tags("z-old", e, "a-new", a, "m-mid", c), Manifests: five},
			want: map[string]string{
				"a-new": "keep: rank 1 of 3 by created, within keep=2",
				"m-mid": "keep: rank 2 of 3 by created, within keep=2",
				"z-old": "delete/digest: rank 3 of 3 by created, beyond keep=2",
			},
		},
		{
			name:  "ties on created are broken by tag name, highest first",
			rules: rules(keep(1)),
			in:    Input{Tags: tags("t1", a, "t2", b, "t3", c), Manifests: manifests(img(a, daysAgo(2)), img(b, daysAgo(2)), img(c, daysAgo(2)))},
			want: map[string]string{
				"t3": "keep: rank 1 of 3 by created, within keep=1",
				"t2": "delete/digest: rank 2 of 3 by created, beyond keep=1",
				"t1": "delete/digest: rank 3 of 3 by created, beyond keep=1",
			},
		},
		{
			name:  "keep 0 keeps none by count",
			rules: rules(keep(0)),
			in:    Input{Tags: tags("x", a), Manifests: five},
			want:  map[string]string{"x": "delete/digest: rank 1 of 1 by created, beyond keep=0"},
		},
		{
			name:  "excluded tags are never deleted and do not count toward keep",
			rules: rules(keep(1), func(r *Rules) { r.Exclude = globs("latest", "release-*") }),
			in:    Input{Tags: tags("latest", a, "release-1", e, "b", b, "c", c), Manifests: five},
			want: map[string]string{
				"latest":    `keep: matches exclude-tags "latest"`,
				"release-1": `keep: matches exclude-tags "release-*"`,
				"b":         "keep: rank 1 of 2 by created, within keep=1",
				"c":         "delete/digest: rank 2 of 2 by created, beyond keep=1",
			},
		},
		{
			name:  "only include-tags matches are candidates",
			rules: rules(keep(0), func(r *Rules) { r.Include = globs("pr-*", "sha-*") }),
			in:    Input{Tags: tags("pr-1", a, "main", b, "sha-1", c), Manifests: five},
			want: map[string]string{
				"pr-1":  "delete/digest: rank 1 of 2 by created, beyond keep=0",
				"sha-1": "delete/digest: rank 2 of 2 by created, beyond keep=0",
				"main":  "keep: matches no include-tags pattern (pr-*, sha-*)",
			},
		},
		{
			name:  "older-than keeps young images and deletes old ones beyond keep",
			rules: rules(keep(1), olderThan(30*24*time.Hour, "30d")),
			in:    Input{Tags: tags("a", a, "b", b, "d", d), Manifests: five},
			want: map[string]string{
				"a": "keep: rank 1 of 3 by created, within keep=1",
				"b": "keep: rank 2 of 3 by created, beyond keep=1, but age 2d is not older than 30d",
				"d": "delete/digest: rank 3 of 3 by created, beyond keep=1, age 40d is older than 30d",
			},
		},
		{
			name:  "unknown age is kept under created order and takes no keep slot",
			rules: rules(keep(1)),
			in: Input{Tags: tags("epoch", dg("f"), "future", dg("9"), "nocfg", dg("8"), "a", a, "b", b), Manifests: manifests(
				img(a, daysAgo(1)), img(b, daysAgo(2)),
				img(dg("f"), time.Date(1980, 1, 1, 0, 0, 1, 0, time.UTC)),
				img(dg("9"), now.Add(25*time.Hour)),
				img(dg("8"), time.Time{}),
			)},
			want: map[string]string{
				"epoch":  "keep: unknown age",
				"future": "keep: unknown age",
				"nocfg":  "keep: unknown age",
				"a":      "keep: rank 1 of 2 by created, within keep=1",
				"b":      "delete/digest: rank 2 of 2 by created, beyond keep=1",
			},
		},
		{
			name:  "a creation time less than a day ahead is believed",
			rules: rules(keep(1)),
			in:    Input{Tags: tags("soon", dg("9"), "a", a), Manifests: manifests(img(a, daysAgo(1)), img(dg("9"), now.Add(23*time.Hour)))},
			want: map[string]string{
				"soon": "keep: rank 1 of 2 by created, within keep=1",
				"a":    "delete/digest: rank 2 of 2 by created, beyond keep=1",
			},
		},
		{
			name:  "semver order ranks by version, keeps non-versions, ties by name",
			rules: rules(keep(2), func(r *Rules) { r.OrderBy = OrderSemver }),
			in: Input{Tags: tags(
				"1.10.0", e, // oldest image, highest version
				"1.9.0", a,
				"v1.9.0", b, // same version as 1.9.0: the name breaks the tie
				"2.0.0-rc.1", c,
				"1.2", d, "v1", d, "20240101", d, "latest", d,
			), Manifests: five},
			want: map[string]string{
				"2.0.0-rc.1": "keep: rank 1 of 4 by version, within keep=2",
				"1.10.0":     "keep: rank 2 of 4 by version, within keep=2",
				"v1.9.0":     "delete/digest: rank 3 of 4 by version, beyond keep=2",
				"1.9.0":      "delete/digest: rank 4 of 4 by version, beyond keep=2",
				"1.2":        "keep: not semver",
				"v1":         "keep: not semver",
				"20240101":   "keep: not semver",
				"latest":     "keep: not semver",
			},
		},
		{
			name:  "semver order deletes unknown ages without older-than, keeps them with it",
			rules: rules(keep(0), func(r *Rules) { r.OrderBy = OrderSemver }),
			in:    Input{Tags: tags("1.0.0", dg("8"), "1.0.1", a), Manifests: manifests(img(dg("8"), time.Time{}), img(a, daysAgo(100)))},
			want: map[string]string{
				"1.0.1": "delete/digest: rank 1 of 2 by version, beyond keep=0",
				"1.0.0": "delete/digest: rank 2 of 2 by version, beyond keep=0",
			},
		},
		{
			name:  "semver order with older-than keeps unknown ages",
			rules: rules(keep(0), olderThan(24*time.Hour, "1d"), func(r *Rules) { r.OrderBy = OrderSemver }),
			in:    Input{Tags: tags("1.0.0", dg("8"), "1.0.1", a), Manifests: manifests(img(dg("8"), time.Time{}), img(a, daysAgo(100)))},
			want: map[string]string{
				"1.0.1": "delete/digest: rank 1 of 2 by version, beyond keep=0, age 100d is older than 1d",
				"1.0.0": "keep: unknown age",
			},
		},
		{
			name:  "keep-semver keeps matching versions beyond keep, and only full versions",
			rules: rules(keep(0), keepSemver(">=2.0.0")),
			in:    Input{Tags: tags("v2.1.0", a, "2.0", b, "1.9.9", c, "3.0.0-rc.1", d), Manifests: five},
			want: map[string]string{
				"v2.1.0":     `keep: satisfies keep-semver ">=2.0.0"`,
				"2.0":        "delete/digest: rank 2 of 4 by created, beyond keep=0",
				"1.9.9":      "delete/digest: rank 3 of 4 by created, beyond keep=0",
				"3.0.0-rc.1": "delete/digest: rank 4 of 4 by created, beyond keep=0",
			},
		},
		{
			name:  "a tag that could not be inspected is kept",
			rules: rules(keep(0)),
			in:    Input{Tags: tags("broken", "", "a", a), Manifests: five},
			want: map[string]string{
				"broken": "keep: could not be inspected",
				"a":      "delete/digest: rank 1 of 1 by created, beyond keep=0",
			},
		},
		{
			name:  "forced tags are kept with the given reason",
			rules: rules(keep(0)),
			in:    Input{Tags: tags("a", a, "b", b), Manifests: five, Forced: map[string]Reason{"a": Because(ReasonChanged)}},
			want: map[string]string{
				"a": "keep: changed during run",
				"b": "delete/digest: rank 1 of 1 by created, beyond keep=0",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.in.Now = now
			got := outcomes(Make(tc.rules, tc.in))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("plan mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestIndexAge(t *testing.T) {
	t.Parallel()
	amd, arm, inner := dg("1"), dg("2"), dg("3")
	children := []*image.Manifest{img(amd, daysAgo(9)), img(arm, daysAgo(3))}
	cases := []struct {
		name string
		top  *image.Manifest
		more []*image.Manifest
		want time.Time
	}{
		{"annotation wins", index(dg("a"), daysAgo(20), amd, arm), nil, daysAgo(20)},
		{"else the newest child", index(dg("a"), time.Time{}, amd, arm), nil, daysAgo(3)},
		{"an implausible annotation falls back to children", index(dg("a"), time.Unix(0, 0), amd, arm), nil, daysAgo(3)},
		{"nested indexes count", index(dg("a"), time.Time{}, amd, inner), []*image.Manifest{index(inner, time.Time{}, dg("4")), img(dg("4"), daysAgo(1))}, daysAgo(1)},
		{"children of unknown age give unknown", index(dg("a"), time.Time{}, dg("5")), []*image.Manifest{img(dg("5"), time.Time{})}, time.Time{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ms := manifests(append(append([]*image.Manifest{tc.top}, children...), tc.more...)...)
			p := Make(rules(), Input{Now: now, Tags: tags("t", tc.top.Digest), Manifests: ms})
			if got := p.Items[0].Created; !got.Equal(tc.want) {
				t.Errorf("age = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPlausible(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		t    time.Time
		want bool
	}{
		{time.Time{}, false},
		{time.Unix(0, 0), false},
		{Earliest.Add(-time.Second), false},
		{Earliest, true},
		{now.Add(24 * time.Hour), true},
		{now.Add(24*time.Hour + time.Second), false},
	} {
		if got := Plausible(tc.t, now); got != tc.want {
			t.Errorf("Plausible(%v) = %v, want %v", tc.t, got, tc.want)
		}
	}
}

func TestParseSemver(t *testing.T) {
	t.Parallel()
	for tag, want := range map[string]bool{
		"1.2.3": true, "v1.2.3": true, "1.2.3-rc.1": true, "1.2.3+build.7": true, "v0.0.1-alpha+x": true,
		"1.2": false, "v1": false, "20240101": false, "vv1.2.3": false, "V1.2.3": false, "01.2.3": false, "latest": false, "": false,
	} {
		if _, got := ParseSemver(tag); got != want {
			t.Errorf("ParseSemver(%q) = %v, want %v", tag, got, want)
		}
	}
}

func TestSubjectOf(t *testing.T) {
	t.Parallel()
	h := strings.Repeat("ab", 32)
	for tag, want := range map[string]string{
		"sha256-" + h:                  "sha256:" + h,
		"sha256-" + h + ".sig":         "sha256:" + h,
		"sha256-" + h + ".att":         "sha256:" + h,
		"sha256-" + h + ".sbom":        "sha256:" + h,
		"sha256-" + h[:63]:             "",
		"sha256-" + strings.ToUpper(h): "",
		"v1.0":                         "",
	} {
		if got := SubjectOf(tag); got != want {
			t.Errorf("SubjectOf(%q) = %q, want %q", tag, got, want)
		}
	}
}

// TestAgeSource: under auto and pushed the registry's push time of a tag
// is its age; under created (and where the registry reports none) the
// image's creation time is. Implausible push times are no push times.
func TestAgeSource(t *testing.T) {
	t.Parallel()
	// Three images built long ago in the order a, b, c, pushed in the
	// order c, b, a (a rebuild of old sources is pushed last).
	ms := manifests(img(dg("a"), daysAgo(300)), img(dg("b"), daysAgo(200)), img(dg("c"), daysAgo(100)))
	in := func(pushed map[string]time.Time) Input {
		ts := tags("a", dg("a"), "b", dg("b"), "c", dg("c"))
		for i := range ts {
			ts[i].Pushed = pushed[ts[i].Name]
		}
		return Input{Tags: ts, Manifests: ms, Now: now}
	}
	pushed := map[string]time.Time{"a": daysAgo(1), "b": daysAgo(2), "c": daysAgo(3)}
	cases := []struct {
		name    string
		src     AgeSource
		pushed  map[string]time.Time
		deleted []string
		reasons map[string]string
	}{
		{"auto with push times", AgeAuto, pushed, []string{"c"},
			map[string]string{"a": "rank 1 of 3 by push time, within keep=2", "c": "rank 3 of 3 by push time, beyond keep=2"}},
		{"zero value is auto", "", pushed, []string{"c"}, nil},
		{"pushed", AgePushed, pushed, []string{"c"}, nil},
		{"created ignores push times", AgeCreated, pushed, []string{"a"},
			map[string]string{"c": "rank 1 of 3 by created, within keep=2"}},
		{"auto without push times falls back to created", AgeAuto, nil, []string{"a"}, nil},
		{"pushed without push times: unknown age", AgePushed, nil, nil,
			map[string]string{"a": "unknown age", "b": "unknown age", "c": "unknown age"}},
		{"implausible push time is no push time", AgePushed, map[string]time.Time{"a": time.Unix(0, 0), "b": daysAgo(2), "c": daysAgo(3)}, nil,
			map[string]string{"a": "unknown age", "c": "rank 2 of 2 by push time, within keep=2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := Make(rules(keep(2), func(r *Rules) { r.AgeSource = tc.src }), in(tc.pushed))
			var del []string
			for _, it := range p.Items {
				if it.Action == Delete {
					del = append(del, it.Tag)
				}
				if want, ok := tc.reasons[it.Tag]; ok && it.Reason.String() != want {
					t.Errorf("%s: reason %q, want %q", it.Tag, it.Reason, want)
				}
			}
			if diff := cmp.Diff(tc.deleted, del); diff != "" {
				t.Errorf("deleted (-want +got):\n%s", diff)
			}
		})
	}
	// The age reported is the one used.
	p := Make(rules(keep(2)), in(pushed))
	if !p.Items[0].Created.Equal(daysAgo(1)) {
		t.Errorf("a's age = %v, want its push time %v", p.Items[0].Created, daysAgo(1))
	}
}
