package policy

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/registry/image"
)

// placeholderImage is a tagsweep placeholder as the oci backend reads one:
// an image manifest with only its (shared, empty) config, marked.
func placeholderImage(d string) *image.Manifest {
	return &image.Manifest{Digest: d, MediaType: image.MediaTypeOCIManifest, Size: 400, Placeholder: true,
		Blobs: []image.Blob{blob("e0", 2)}}
}

// pushed sets the registry's push time of the tags named.
func pushed(ts []Tag, at map[string]time.Time) []Tag {
	for i := range ts {
		ts[i].Pushed = at[ts[i].Name]
	}
	return ts
}

// TestPlaceholder pins what the planner does with a tag found on a
// placeholder image, the leftover of a run stopped between pushing the
// placeholder onto a stale tag and deleting it: the tag is never ranked,
// takes no keep slot and is deleted by digest (the placeholder is its
// own, so nothing kept goes with it), whatever the selection rules say;
// only a tag the run must not touch ("changed during run", a registry
// protection) is kept.
func TestPlaceholder(t *testing.T) {
	t.Parallel()
	a, b, c, d := dg("a"), dg("b"), dg("c"), dg("d")
	p1, p2 := dg("f1"), dg("f2")
	base := manifests(img(a, daysAgo(2)), img(b, daysAgo(3)), img(c, daysAgo(4)), img(d, daysAgo(5)),
		placeholderImage(p1), placeholderImage(p2))
	// Push times as GHCR lists them: the placeholder is the newest push.
	times := map[string]time.Time{"v4": daysAgo(2), "v3": daysAgo(3), "v2": daysAgo(4), "v1": now.Add(-time.Hour), "stable": daysAgo(5)}
	type want struct {
		tags   map[string]string
		layers [][]string
		kept   []string
	}
	cases := []struct {
		name  string
		rules Rules
		in    Input
		want  want
	}{
		{
			name:  "by push time the leftover is the newest push: it takes no keep slot",
			rules: rules(keep(2)),
			in:    Input{Tags: pushed(tags("v4", a, "v3", b, "v2", c, "v1", p1, "stable", d), times), Manifests: base, TagDelete: true},
			want: want{
				tags: map[string]string{
					"v4":     "keep: rank 1 of 4 by push time, within keep=2",
					"v3":     "keep: rank 2 of 4 by push time, within keep=2",
					"v2":     "delete/digest: rank 3 of 4 by push time, beyond keep=2",
					"stable": "delete/digest: rank 4 of 4 by push time, beyond keep=2",
					"v1":     "delete/digest: " + leftover,
				},
				layers: [][]string{{c, d, p1}},
				kept:   []string{a, b},
			},
		},
		{
			name:  "by created its unknown age does not keep it",
			rules: rules(keep(2)),
			in:    Input{Tags: tags("v4", a, "v3", b, "v1", p1), Manifests: base},
			want: want{
				tags: map[string]string{
					"v4": "keep: rank 1 of 2 by created, within keep=2",
					"v3": "keep: rank 2 of 2 by created, within keep=2",
					"v1": "delete/digest: " + leftover,
				},
				layers: [][]string{{p1}},
				kept:   []string{a, b},
			},
		},
		{
			name:  "by version a version tag on a placeholder is not ranked",
			rules: rules(keep(1), func(r *Rules) { r.OrderBy = OrderSemver }),
			in:    Input{Tags: tags("2.0.0", p1, "1.1.0", a, "1.0.0", b), Manifests: base},
			want: want{
				tags: map[string]string{
					"2.0.0": "delete/digest: " + leftover,
					"1.1.0": "keep: rank 1 of 2 by version, within keep=1",
					"1.0.0": "delete/digest: rank 2 of 2 by version, beyond keep=1",
				},
				layers: [][]string{{b, p1}},
				kept:   []string{a},
			},
		},
		{
			name: "exclude-tags, keep-semver, include-tags and older-than do not keep a leftover",
			rules: rules(keep(5), keepSemver(">=1.0.0"), olderThan(30*24*time.Hour, "30d"), func(r *Rules) {
				r.Exclude, r.Include = globs("release-*"), globs("release-*", "[0-9]*")
			}),
			in: Input{Tags: tags("release-1", p1, "1.2.0", p2, "main", dg("f3"), "release-2", a), Manifests: manifests(
				img(a, daysAgo(40)), placeholderImage(p1), placeholderImage(p2), placeholderImage(dg("f3")))},
			want: want{
				tags: map[string]string{
					"release-1": "delete/digest: " + leftover,
					"1.2.0":     "delete/digest: " + leftover,
					"main":      "delete/digest: " + leftover,
					"release-2": `keep: matches exclude-tags "release-*"`,
				},
				layers: [][]string{{p1, p2, dg("f3")}},
				kept:   []string{a},
			},
		},
		{
			name:  "two tags on one placeholder: one delete by digest",
			rules: rules(keep(1)),
			in:    Input{Tags: tags("v4", a, "x", p1, "y", p1), Manifests: base},
			want: want{
				tags: map[string]string{
					"v4": "keep: rank 1 of 1 by created, within keep=1",
					"x":  "delete/digest: " + leftover,
					"y":  "delete/digest: " + leftover,
				},
				layers: [][]string{{p1}},
				kept:   []string{a},
			},
		},
		{
			name:  "a signature tag left on a placeholder: deleted, though its subject is kept",
			rules: rules(keep(1)),
			in:    Input{Tags: tags("v4", a, sig(a, ".sig"), p1, "v3", b, sig(b, ".sig"), p2), Manifests: base},
			want: want{
				tags: map[string]string{
					"v4":           "keep: rank 1 of 2 by created, within keep=1",
					sig(a, ".sig"): "delete/digest: " + leftover,
					"v3":           "delete/digest: rank 2 of 2 by created, beyond keep=1",
					sig(b, ".sig"): "delete/digest: " + leftover,
				},
				layers: [][]string{{b, p1, p2}},
				kept:   []string{a},
			},
		},
		{
			name: "a signature tag left on a placeholder: deleted, though exclude-tags names it",
			rules: rules(keep(1), func(r *Rules) {
				r.Exclude = globs("*.sig")
			}),
			in: Input{Tags: tags("v4", a, sig(a, ".sig"), p1), Manifests: base, TagDelete: true},
			want: want{
				tags: map[string]string{
					"v4":           "keep: rank 1 of 1 by created, within keep=1",
					sig(a, ".sig"): "delete/digest: " + leftover,
				},
				layers: [][]string{{p1}},
				kept:   []string{a},
			},
		},
		{
			name:  "changed during run: a tag the second look saw move onto a placeholder is kept, and keeps the other tag on it",
			rules: rules(keep(1)),
			in:    Input{Tags: tags("v4", a, "x", p1, "y", p1), Manifests: base, Forced: map[string]Reason{"x": Because(ReasonChanged)}},
			want: want{
				tags: map[string]string{
					"v4": "keep: rank 1 of 1 by created, within keep=1",
					"x":  "keep: changed during run",
					"y":  "keep: shares digest with kept tag x (this registry cannot delete a single tag)",
				},
				kept: []string{a, p1},
			},
		},
		{
			name:  "the second look keeps the first plan's decision",
			rules: rules(keep(1)),
			in: Input{Tags: tags("v4", a, "v1", p1), Manifests: base, Pinned: []string{a},
				Decided: map[string]Decision{"v4": {Keep, Reason{Kind: ReasonWithinKeep, Rank: Rank{N: 1, Of: 1, By: RankByCreated, Keep: 1}}}, "v1": {Delete, Because(ReasonPlaceholder)}}},
			want: want{
				tags: map[string]string{
					"v4": "keep: rank 1 of 1 by created, within keep=1",
					"v1": "delete/digest: " + leftover,
				},
				layers: [][]string{{p1}},
				kept:   []string{a},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.in.Now = now
			p := Make(tc.rules, tc.in)
			got := want{tags: outcomes(p), layers: p.Layers, kept: p.Kept}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(want{}), sortedLayers(), cmp.Transformer("sort", func(in []string) []string {
				out := append([]string(nil), in...)
				sortStrings(out)
				return out
			})); diff != "" {
				t.Errorf("plan mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// leftover is the reason of a tag found on a placeholder image.
const leftover = "leftover placeholder of an interrupted run"
