package policy

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/registry/image"
)

// TestGraph pins README's rule 6 and the image graph: nothing a kept
// manifest reaches is deleted by digest; a deleted image takes its children,
// referrers and sha256-<hex>* tags with it.
func TestGraph(t *testing.T) {
	t.Parallel()
	var (
		newImg, oldImg, old2 = dg("a"), dg("b"), dg("c")
		keptIdx, oldIdx      = dg("d"), dg("e")
		amd, arm, s390       = dg("1"), dg("2"), dg("3")
		attest               = dg("4")
		sigNew, sigOld       = dg("5"), dg("6")
		ref1, ref2, fallback = dg("7"), dg("8"), dg("9")
		gone                 = dg("f0")
	)
	base := func(extra ...*image.Manifest) map[string]*image.Manifest {
		return manifests(append([]*image.Manifest{
			img(newImg, daysAgo(1)), img(oldImg, daysAgo(50)), img(old2, daysAgo(60)),
			index(keptIdx, daysAgo(2), amd, arm), index(oldIdx, daysAgo(70), arm, s390),
			img(amd, daysAgo(2)), img(arm, daysAgo(70)), img(s390, daysAgo(70)),
			img(sigNew, time.Time{}), img(sigOld, time.Time{}),
			img(ref1, time.Time{}), img(ref2, time.Time{}),
			index(fallback, time.Time{}, ref2),
		}, extra...)...)
	}
	type want struct {
		tags     map[string]string
		untagged []untaggedView
		layers   [][]string
	}
	cases := []struct {
		name string
		keep int
		in   Input
		want want
	}{
		{
			name: "every tag on a digest stale: one delete by digest",
			in:   Input{Tags: tags("new", newImg, "old", oldImg, "old-alias", oldImg), Manifests: base()},
			want: want{
				tags: map[string]string{
					"new":       "keep: rank 1 of 3 by created, within keep=1",
					"old-alias": "delete/digest: rank 2 of 3 by created, beyond keep=1",
					"old":       "delete/digest: rank 3 of 3 by created, beyond keep=1",
				},
				layers: [][]string{{oldImg}},
			},
		},
		{
			name: "stale tag sharing a digest with a kept tag: kept where tags cannot be deleted",
			in:   Input{Tags: tags("new", newImg, "latest", oldImg, "old", oldImg), Manifests: base()},
			want: want{tags: map[string]string{
				"new":    "keep: rank 1 of 2 by created, within keep=1",
				"latest": `keep: matches exclude-tags "latest"`,
				"old":    "keep: shares digest with kept tag latest (this registry cannot delete a single tag)",
			}},
		},
		{
			name: "stale tag sharing a digest with a kept tag: deleted by tag where supported",
			in:   Input{TagDelete: true, Tags: tags("new", newImg, "latest", oldImg, "old", oldImg), Manifests: base()},
			want: want{tags: map[string]string{
				"new":    "keep: rank 1 of 2 by created, within keep=1",
				"latest": `keep: matches exclude-tags "latest"`,
				"old":    "delete/tag: rank 2 of 2 by created, beyond keep=1",
			}},
		},
		{
			name: "a stale tag on a child of a kept index",
			keep: 2,
			in:   Input{Tags: tags("multi", keptIdx, "amd-only", amd, "new", newImg), Manifests: base()},
			want: want{tags: map[string]string{
				"new":      "keep: rank 1 of 3 by created, within keep=2",
				"multi":    "keep: rank 2 of 3 by created, within keep=2",
				"amd-only": "keep: child of kept index multi (this registry cannot delete a single tag)",
			}},
		},
		{
			name: "a deleted index takes its children, but not one a kept index shares",
			keep: 2,
			in:   Input{Tags: tags("multi", keptIdx, "old-multi", oldIdx, "new", newImg), Manifests: base()},
			want: want{
				tags: map[string]string{
					"new":       "keep: rank 1 of 3 by created, within keep=2",
					"multi":     "keep: rank 2 of 3 by created, within keep=2",
					"old-multi": "delete/digest: rank 3 of 3 by created, beyond keep=2",
				},
				untagged: []untaggedView{{Digest: s390, Under: "old-multi", Kind: "child", Reason: "child of deleted index old-multi"}},
				layers:   [][]string{{oldIdx}, {s390}},
			},
		},
		{
			name: "signatures follow their subject: kept with it, deleted with it",
			in: Input{Tags: tags("new", newImg, "old", oldImg, sig(newImg, ".sig"), sigNew, sig(oldImg, ".sig"), sigOld),
				Manifests: base()},
			want: want{
				tags: map[string]string{
					"new":               "keep: rank 1 of 2 by created, within keep=1",
					"old":               "delete/digest: rank 2 of 2 by created, beyond keep=1",
					sig(newImg, ".sig"): "keep: attached to kept new",
					sig(oldImg, ".sig"): "delete/digest: attached to deleted old",
				},
				layers: [][]string{{oldImg}, {sigOld}},
			},
		},
		{
			name: "a signature shared by a kept and a deleted subject stays",
			in: Input{Tags: tags("new", newImg, "old", oldImg, sig(newImg, ".sig"), sigNew, sig(oldImg, ".sig"), sigNew),
				Manifests: base()},
			want: want{
				tags: map[string]string{
					"new":               "keep: rank 1 of 2 by created, within keep=1",
					"old":               "delete/digest: rank 2 of 2 by created, beyond keep=1",
					sig(newImg, ".sig"): "keep: attached to kept new",
					sig(oldImg, ".sig"): "keep: shares digest with kept tag " + sig(newImg, ".sig") + " (this registry cannot delete a single tag)",
				},
				layers: [][]string{{oldImg}},
			},
		},
		{
			name: "referrers from the API go with a deleted subject unless a kept one shares them",
			in: Input{Tags: tags("new", newImg, "old", oldImg, "older", old2), Manifests: base(),
				Referrers: map[string][]string{newImg: {ref2}, oldImg: {ref1, ref2}, old2: {ref1}}},
			want: want{
				tags: map[string]string{
					"new":   "keep: rank 1 of 3 by created, within keep=1",
					"old":   "delete/digest: rank 2 of 3 by created, beyond keep=1",
					"older": "delete/digest: rank 3 of 3 by created, beyond keep=1",
				},
				untagged: []untaggedView{{Digest: ref1, Under: "old", Kind: "referrer", Reason: "attached to deleted old"}},
				layers:   [][]string{{oldImg, old2}, {ref1}},
			},
		},
		{
			name: "the referrers fallback tag and its entries go with the subject",
			in:   Input{Tags: tags("new", newImg, "old", oldImg, sig(oldImg, ""), fallback), Manifests: base()},
			want: want{
				tags: map[string]string{
					"new":           "keep: rank 1 of 2 by created, within keep=1",
					"old":           "delete/digest: rank 2 of 2 by created, beyond keep=1",
					sig(oldImg, ""): "delete/digest: attached to deleted old",
				},
				untagged: []untaggedView{{Digest: ref2, Under: "old", Kind: "referrer", Reason: "attached to deleted old"}},
				layers:   [][]string{{oldImg}, {fallback}, {ref2}},
			},
		},
		{
			name: "signatures of index children follow the index",
			keep: 2,
			in: Input{Tags: tags("new", newImg, "old-multi", oldIdx, "multi", keptIdx, sig(s390, ".sig"), sigOld, sig(arm, ".sig"), sigNew),
				Manifests: base()},
			want: want{
				tags: map[string]string{
					"new":             "keep: rank 1 of 3 by created, within keep=2",
					"multi":           "keep: rank 2 of 3 by created, within keep=2",
					"old-multi":       "delete/digest: rank 3 of 3 by created, beyond keep=2",
					sig(s390, ".sig"): "delete/digest: attached to deleted old-multi",
					sig(arm, ".sig"):  "keep: attached to kept multi",
				},
				untagged: []untaggedView{{Digest: s390, Under: "old-multi", Kind: "child", Reason: "child of deleted index old-multi"}},
				layers:   [][]string{{oldIdx}, {s390}, {sigOld}},
			},
		},
		{
			name: "orphaned signatures are kept unless delete-orphans",
			in: Input{Tags: tags("new", newImg, sig(gone, ".sig"), sigOld), Manifests: base(),
				Exists: map[string]bool{gone: false}},
			want: want{tags: map[string]string{
				"new":             "keep: rank 1 of 1 by created, within keep=1",
				sig(gone, ".sig"): "keep: orphaned: subject " + gone + " is gone (delete-orphans is off)",
			}},
		},
		{
			name: "a signature of an untagged manifest that exists is kept",
			in: Input{Tags: tags("new", newImg, sig(gone, ".sig"), sigOld), Manifests: base(),
				Exists: map[string]bool{gone: true}},
			want: want{tags: map[string]string{
				"new":             "keep: rank 1 of 1 by created, within keep=1",
				sig(gone, ".sig"): "keep: attached to untagged manifest " + gone,
			}},
		},
		{
			name: "a buildx index takes its attestation manifest along",
			in: Input{Tags: tags("new", newImg, "old-multi", dg("ab")), Manifests: base(
				&image.Manifest{Digest: dg("ab"), MediaType: image.MediaTypeOCIIndex, Children: []string{s390, attest},
					ChildInfo: map[string]string{s390: "linux/s390x", attest: "attestation"}},
				img(attest, time.Time{}),
			)},
			want: want{
				tags: map[string]string{
					"new":       "keep: rank 1 of 2 by created, within keep=1",
					"old-multi": "delete/digest: rank 2 of 2 by created, beyond keep=1",
				},
				untagged: []untaggedView{
					{Digest: s390, Under: "old-multi", Kind: "child", Reason: "child of deleted index old-multi"},
					{Digest: attest, Under: "old-multi", Kind: "attestation", Reason: "attestation of deleted old-multi"},
				},
				layers: [][]string{{dg("ab")}, {s390, attest}},
			},
		},
		{
			name: "reasons name the kept tag even where a pinned digest also reaches",
			keep: 2,
			in: Input{Tags: tags("multi", keptIdx, "new", newImg, sig(arm, ".sig"), sigNew), Manifests: base(),
				Pinned: []string{arm, keptIdx}},
			want: want{tags: map[string]string{
				"new":            "keep: rank 1 of 2 by created, within keep=2",
				"multi":          "keep: rank 2 of 2 by created, within keep=2",
				sig(arm, ".sig"): "keep: attached to kept multi",
			}},
		},
		{
			name: "pinned digests survive even when every tag on them is stale",
			in:   Input{Tags: tags("new", newImg, "old", oldImg), Manifests: base(), Pinned: []string{oldImg}},
			want: want{tags: map[string]string{
				"new": "keep: rank 1 of 2 by created, within keep=1",
				"old": "keep: shares digest with kept tag (changed during run) (this registry cannot delete a single tag)",
			}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.in.Now = now
			r := rules(keep(max(tc.keep, 1)), func(r *Rules) { r.Exclude = globs("latest") })
			p := Make(r, tc.in)
			got := want{tags: outcomes(p), untagged: untaggedViews(p.Untagged), layers: p.Layers}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(want{}), sortedLayers()); diff != "" {
				t.Errorf("plan mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func sortedLayers() cmp.Option {
	return cmp.Transformer("sortLayers", func(in [][]string) [][]string {
		out := make([][]string, len(in))
		for i, l := range in {
			out[i] = append([]string(nil), l...)
			sortStrings(out[i])
		}
		return out
	})
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func TestDeleteOrphans(t *testing.T) {
	t.Parallel()
	gone, sigm, sigsig := dg("f0"), dg("6"), dg("7")
	r := rules(func(r *Rules) { r.DeleteOrphans = true })
	p := Make(r, Input{Now: now,
		Tags:      tags(sig(gone, ".sig"), sigm, sig(sigm, ".sig"), sigsig),
		Manifests: manifests(img(sigm, time.Time{}), img(sigsig, time.Time{})),
		Exists:    map[string]bool{gone: false},
	})
	want := map[string]string{
		sig(gone, ".sig"): "delete/digest: orphaned: subject " + gone + " is gone",
		sig(sigm, ".sig"): "delete/digest: attached to deleted " + sig(gone, ".sig"),
	}
	if diff := cmp.Diff(want, outcomes(p)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([][]string{{sigm}, {sigsig}}, p.Layers); diff != "" {
		t.Errorf("layers (-want +got):\n%s", diff)
	}
}

func TestReclaimedBytes(t *testing.T) {
	t.Parallel()
	shared := blob("5", 1000)
	ms := manifests(
		img(dg("a"), daysAgo(1), blob("1", 10), shared),
		img(dg("b"), daysAgo(2), blob("2", 100), shared),
		img(dg("c"), daysAgo(3), blob("3", 200), blob("2", 100)),
		index(dg("d"), daysAgo(4), dg("e")),
		img(dg("e"), daysAgo(4), blob("4", 4000)),
	)
	p := Make(rules(keep(1)), Input{Now: now, Tags: tags("a", dg("a"), "b", dg("b"), "c", dg("c"), "d", dg("d")), Manifests: ms})
	// b, c and the index d with its child e go: blobs 2, 3 and 4 are used by
	// nothing that stays; the shared blob 5 is still used by a.
	if got, want := p.ReclaimedBytes, int64(100+200+4000); got != want {
		t.Errorf("ReclaimedBytes = %d, want %d", got, want)
	}
	dry := Make(rules(keep(1)), Input{Now: now, Tags: tags("a", dg("a"), "b", dg("b"), "c", dg("c"), "d", dg("d")), Manifests: ms})
	if diff := cmp.Diff(p, dry); diff != "" {
		t.Errorf("planning twice differs (-first +second):\n%s", diff)
	}
}

// exclude-tags keeps a sha256-<hex>* tag too: "matching tags are never
// deleted" wins over rule 2's "they go with their subject" (a user who
// excludes *.sig keeps every signature, and what it reaches).
func TestExcludeKeepsAttachedTags(t *testing.T) {
	t.Parallel()
	newImg, oldImg, sigNew, sigOld, old2, sigOld2 := dg("a"), dg("b"), dg("5"), dg("6"), dg("c"), dg("7")
	in := Input{Now: now, Tags: tags("new", newImg, "old", oldImg, "older", old2,
		sig(newImg, ".sig"), sigNew, sig(oldImg, ".sig"), sigOld, sig(old2, ".att"), sigOld2),
		Manifests: manifests(img(newImg, daysAgo(1)), img(oldImg, daysAgo(50)), img(old2, daysAgo(60)),
			img(sigNew, time.Time{}), img(sigOld, time.Time{}), img(sigOld2, time.Time{}))}
	p := Make(rules(keep(1), func(r *Rules) { r.Exclude = globs("*.sig") }), in)
	want := map[string]string{
		"new":               "keep: rank 1 of 3 by created, within keep=1",
		"old":               "delete/digest: rank 2 of 3 by created, beyond keep=1",
		"older":             "delete/digest: rank 3 of 3 by created, beyond keep=1",
		sig(newImg, ".sig"): `keep: matches exclude-tags "*.sig"`,
		sig(oldImg, ".sig"): `keep: matches exclude-tags "*.sig"`,
		sig(old2, ".att"):   "delete/digest: attached to deleted older",
	}
	if diff := cmp.Diff(want, outcomes(p)); diff != "" {
		t.Errorf("plan mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([][]string{{oldImg, old2}, {sigOld2}}, p.Layers, sortedLayers()); diff != "" {
		t.Errorf("deletion layers (-want +got):\n%s", diff)
	}
}

// untaggedView is an untagged manifest as the report shows it.
type untaggedView struct{ Digest, Under, Kind, Reason string }

func untaggedViews(us []Untagged) []untaggedView {
	var out []untaggedView
	for _, u := range us {
		out = append(out, untaggedView{Digest: u.Digest, Under: u.Under, Kind: u.Kind(), Reason: u.Reason.String()})
	}
	return out
}
