package policy

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/registry/image"
)

func minutesAgo(n int) time.Time { return now.Add(-time.Duration(n) * time.Minute) }

// untagged lists digests with their push times, as an UntaggedLister does.
func untagged(pairs ...any) []image.Untagged {
	var out []image.Untagged
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, image.Untagged{Digest: pairs[i].(string), Pushed: pairs[i+1].(time.Time)})
	}
	return out
}

// listedOutcomes renders Plan.Listed as "keep: reason" / "delete: reason",
// with "(loose)" where delete-untagged decided.
func listedOutcomes(p *Plan) map[string]string {
	out := map[string]string{}
	for _, u := range p.Listed {
		s := string(u.Action) + ": " + u.Reason.String()
		if u.Loose {
			s += " (loose)"
		}
		out[u.Digest] = s
	}
	return out
}

func deleteUntagged(keepN int) func(*Rules) {
	return func(r *Rules) { r.DeleteUntagged, r.KeepUntagged = true, keepN }
}

// TestUntagged pins README's "Untagged manifests": what delete-untagged
// deletes of the untagged manifests the registry lists, and why each is
// kept or deleted.
func TestUntagged(t *testing.T) {
	t.Parallel()
	var (
		v2, v1            = dg("a"), dg("b")
		amd, arm, att     = dg("1"), dg("2"), dg("3")
		oldAmd, oldArm    = dg("4"), dg("5")
		d1, d2, d3, d4    = dg("c1"), dg("c2"), dg("c3"), dg("c4")
		recent            = dg("c5")
		dangIdx, dk1, dk2 = dg("d0"), dg("d1"), dg("d2")
		sigRef            = dg("e1")
		fresh             = dg("e2")
		shared            = dg("e3")
	)
	ms := manifests(
		index(v2, daysAgo(2), amd, arm, att), img(amd, daysAgo(2)), img(arm, daysAgo(2)), img(att, time.Time{}),
		index(v1, daysAgo(40), oldAmd, oldArm), img(oldAmd, daysAgo(40)), img(oldArm, daysAgo(40)),
		img(d1, daysAgo(20)), img(d2, daysAgo(10)), img(d3, daysAgo(5)), img(d4, daysAgo(3)), img(recent, daysAgo(1)),
		index(dangIdx, daysAgo(30), dk1, dk2), img(dk1, daysAgo(30)), img(dk2, daysAgo(30)),
		&image.Manifest{Digest: sigRef, MediaType: image.MediaTypeOCIManifest, Subject: v2},
		index(fresh, time.Time{}, shared), img(shared, daysAgo(40)),
	)
	ms[v2].ChildInfo = map[string]string{att: "attestation"}
	// v1's index lists shared too: a push in progress (fresh, 10 minutes
	// old, not tagged yet) reuses a platform image of the stale v1.
	ms[v1].Children = append(ms[v1].Children, shared)
	listing := untagged(amd, daysAgo(2), arm, daysAgo(2), att, daysAgo(2), oldAmd, daysAgo(40), oldArm, daysAgo(40),
		d1, daysAgo(20), d2, daysAgo(10), d3, daysAgo(5), d4, daysAgo(3), recent, minutesAgo(10),
		dangIdx, daysAgo(30), dk1, daysAgo(30), dk2, daysAgo(30), sigRef, daysAgo(2), fresh, minutesAgo(10), shared, daysAgo(40))
	in := Input{Now: now, Tags: tags("v2", v2, "v1", v1), Manifests: ms, Untagged: listing}

	kept := map[string]string{
		amd:    "keep: child of kept index v2",
		arm:    "keep: child of kept index v2",
		att:    "keep: child of kept index v2",
		sigRef: "keep: attached to kept v2",
		recent: "keep: pushed 10m ago: may belong to a push in progress (loose)",
		fresh:  "keep: pushed 10m ago: may belong to a push in progress (loose)",
		shared: "keep: child of kept index " + fresh + " (loose)",
	}
	withTag := map[string]string{
		oldAmd: "delete: child of deleted index v1",
		oldArm: "delete: child of deleted index v1",
	}
	cases := []struct {
		name   string
		rules  Rules
		want   map[string]string
		layers [][]string
	}{
		{
			name:  "delete-untagged off: only what a deleted tag takes along goes",
			rules: rules(keep(1)),
			want: merge(kept, withTag, map[string]string{
				d1: "keep: untagged (delete-untagged is off) (loose)", d2: "keep: untagged (delete-untagged is off) (loose)",
				d3: "keep: untagged (delete-untagged is off) (loose)", d4: "keep: untagged (delete-untagged is off) (loose)",
				recent:  "keep: untagged (delete-untagged is off) (loose)",
				fresh:   "keep: untagged (delete-untagged is off) (loose)",
				dangIdx: "keep: untagged (delete-untagged is off) (loose)",
				dk1:     "keep: child of kept index " + dangIdx + " (loose)", dk2: "keep: child of kept index " + dangIdx + " (loose)",
			}),
			layers: [][]string{{v1}, {oldAmd, oldArm}},
		},
		{
			name:  "delete-untagged: every dangling one pushed more than an hour ago, a dangling index with its children, parents first",
			rules: rules(keep(1), deleteUntagged(0)),
			want: merge(kept, withTag, map[string]string{
				d1: "delete: untagged, pushed 20d ago (loose)", d2: "delete: untagged, pushed 10d ago (loose)",
				d3: "delete: untagged, pushed 5d ago (loose)", d4: "delete: untagged, pushed 3d ago (loose)",
				dangIdx: "delete: untagged, pushed 30d ago (loose)",
				dk1:     "delete: child of deleted index " + dangIdx + " (loose)", dk2: "delete: child of deleted index " + dangIdx + " (loose)",
			}),
			layers: [][]string{{v1, d1, d2, d3, d4, dangIdx}, {oldAmd, oldArm, dk1, dk2}},
		},
		{
			name:  "keep-untagged keeps the most recently pushed deletable ones; an index counts once",
			rules: rules(keep(1), deleteUntagged(2)),
			want: merge(kept, withTag, map[string]string{
				d1: "delete: untagged, pushed 20d ago (loose)", d2: "delete: untagged, pushed 10d ago (loose)",
				d3: "keep: newest 2 untagged (loose)", d4: "keep: newest 2 untagged (loose)",
				dangIdx: "delete: untagged, pushed 30d ago (loose)",
				dk1:     "delete: child of deleted index " + dangIdx + " (loose)", dk2: "delete: child of deleted index " + dangIdx + " (loose)",
			}),
			layers: [][]string{{v1, d1, d2, dangIdx}, {oldAmd, oldArm, dk1, dk2}},
		},
		{
			name:  "older-than applies by push time",
			rules: rules(keep(1), deleteUntagged(0), olderThan(15*24*time.Hour, "15d")),
			want: merge(kept, withTag, map[string]string{
				d1: "delete: untagged, pushed 20d ago (loose)", d2: "keep: untagged, pushed 10d ago, not older than 15d (loose)",
				d3: "keep: untagged, pushed 5d ago, not older than 15d (loose)", d4: "keep: untagged, pushed 3d ago, not older than 15d (loose)",
				dangIdx: "delete: untagged, pushed 30d ago (loose)",
				dk1:     "delete: child of deleted index " + dangIdx + " (loose)", dk2: "delete: child of deleted index " + dangIdx + " (loose)",
			}),
			// v1 is 40 days old: older than 15d too.
			layers: [][]string{{v1, d1, dangIdx}, {oldAmd, oldArm, dk1, dk2}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := Make(c.rules, in)
			if diff := cmp.Diff(c.want, listedOutcomes(p)); diff != "" {
				t.Errorf("untagged (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(c.layers, p.Layers, sortedLayers()); diff != "" {
				t.Errorf("layers (-want +got):\n%s", diff)
			}
			if got := outcomes(p)["v2"]; got != "keep: rank 1 of 2 by created, within keep=1" {
				t.Errorf("v2: %s", got)
			}
			// The graph's own listing under the deleted tag is unchanged.
			want := []untaggedView{
				{Digest: oldAmd, Under: "v1", Kind: "child", Reason: "child of deleted index v1"},
				{Digest: oldArm, Under: "v1", Kind: "child", Reason: "child of deleted index v1"},
			}
			if diff := cmp.Diff(want, untaggedViews(p.Untagged), sortViews()); diff != "" {
				t.Errorf("untagged under tags (-want +got):\n%s", diff)
			}
			loose := 0
			for _, u := range p.Listed {
				if u.Loose && u.Action == Delete {
					loose++
				}
			}
			if p.LooseDeletes() != loose {
				t.Errorf("LooseDeletes %d, want %d", p.LooseDeletes(), loose)
			}
			if diff := cmp.Diff(p, Make(c.rules, in)); diff != "" {
				t.Errorf("planning twice differs:\n%s", diff)
			}
		})
	}
}

// TestUntaggedSubjectOfKeptSignature: an untagged manifest that a kept
// sha256-<hex> tag names as its subject stays, with what it lists, though
// delete-untagged would take it; one whose signature goes does not.
func TestUntaggedSubjectOfKeptSignature(t *testing.T) {
	t.Parallel()
	subj, kid, sigD, other, otherSig := dg("a"), dg("b"), dg("c"), dg("d"), dg("e")
	in := Input{Now: now,
		Tags:      tags(sig(subj, ".sig"), sigD, sig(other, ".sig"), otherSig),
		Manifests: manifests(index(subj, daysAgo(30), kid), img(kid, daysAgo(30)), img(sigD, time.Time{}), img(other, daysAgo(30)), img(otherSig, time.Time{})),
		Untagged:  untagged(subj, daysAgo(30), kid, daysAgo(30), other, daysAgo(30)),
	}
	p := Make(rules(keep(1), deleteUntagged(0), func(r *Rules) { r.Exclude = globs(sig(subj, ".sig")) }), in)
	want := map[string]string{
		subj:  "keep: subject of kept " + sig(subj, ".sig") + " (loose)",
		kid:   "keep: child of kept index " + subj + " (loose)",
		other: "delete: untagged, pushed 30d ago (loose)",
	}
	if diff := cmp.Diff(want, listedOutcomes(p)); diff != "" {
		t.Errorf("untagged (-want +got):\n%s", diff)
	}
	wantTags := map[string]string{
		sig(subj, ".sig"):  `keep: matches exclude-tags "` + sig(subj, ".sig") + `"`,
		sig(other, ".sig"): "delete/digest: attached to deleted " + other,
	}
	if diff := cmp.Diff(wantTags, outcomes(p)); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
}

// TestLastTagged pins the vendor rule the planner learns through
// Input.LastTagged: a plan that would delete every tagged manifest keeps
// the newest, with its tags, children and signatures, in the registry's
// words; untagged manifests never count, and a placeholder is never the
// one kept.
func TestLastTagged(t *testing.T) {
	t.Parallel()
	const rule = "GitHub keeps the last tagged version of a package"
	a, b, c, idx, kid, sigD, ph, loose := dg("a"), dg("b"), dg("c"), dg("d"), dg("e"), dg("f"), dg("1"), dg("2")
	ms := manifests(img(a, daysAgo(50)), img(b, daysAgo(60)), img(c, daysAgo(70)), index(idx, daysAgo(40), kid), img(kid, daysAgo(40)),
		img(sigD, time.Time{}), placeholderImage(ph), img(loose, daysAgo(90)))
	cases := []struct {
		name     string
		rules    Rules
		in       Input
		want     map[string]string
		untagged map[string]string
	}{
		{
			name:  "every tag stale: the newest is kept, with its children and signature",
			rules: rules(keep(0), olderThan(30*24*time.Hour, "30d")),
			in:    Input{LastTagged: rule, Tags: tags("a", a, "b", b, "idx", idx, sig(idx, ".sig"), sigD)},
			want: map[string]string{
				"a":              "delete/digest: rank 2 of 3 by created, beyond keep=0, age 50d is older than 30d",
				"b":              "delete/digest: rank 3 of 3 by created, beyond keep=0, age 60d is older than 30d",
				"idx":            "keep: " + rule,
				sig(idx, ".sig"): "keep: attached to kept idx",
			},
		},
		{
			name:  "the rule counts tagged manifests: every tag on the newest digest stays",
			rules: rules(keep(0)),
			in:    Input{LastTagged: rule, Tags: tags("a", a, "a2", a, "b", b)},
			want: map[string]string{
				"a":  "keep: " + rule,
				"a2": "keep: " + rule,
				"b":  "delete/digest: rank 3 of 3 by created, beyond keep=0",
			},
		},
		{
			name:  "a tag that stays leaves the rule nothing to do",
			rules: rules(keep(1)),
			in:    Input{LastTagged: rule, Tags: tags("a", a, "b", b, "c", c)},
			want: map[string]string{
				"a": "keep: rank 1 of 3 by created, within keep=1",
				"b": "delete/digest: rank 2 of 3 by created, beyond keep=1",
				"c": "delete/digest: rank 3 of 3 by created, beyond keep=1",
			},
		},
		{
			name:  "a leftover placeholder is the newest push, and never the one kept",
			rules: rules(keep(0), func(r *Rules) { r.AgeSource = AgePushed }),
			in: Input{LastTagged: rule, Tags: pushed(tags("a", a, "b", b, "left", ph),
				map[string]time.Time{"a": daysAgo(5), "b": daysAgo(6), "left": minutesAgo(1)})},
			want: map[string]string{
				"a":    "keep: " + rule,
				"b":    "delete/digest: rank 2 of 2 by push time, beyond keep=0",
				"left": "delete/digest: leftover placeholder of an interrupted run",
			},
		},
		{
			name:  "untagged manifests never count, and are deleted as untagged",
			rules: rules(keep(0), deleteUntagged(0)),
			in:    Input{LastTagged: rule, Tags: tags("b", b, "c", c), Untagged: untagged(loose, daysAgo(90))},
			want: map[string]string{
				"b": "keep: " + rule,
				"c": "delete/digest: rank 2 of 2 by created, beyond keep=0",
			},
			untagged: map[string]string{loose: "delete: untagged, pushed 90d ago (loose)"},
		},
		{
			name:  "without the rule every stale tag goes",
			rules: rules(keep(0)),
			in:    Input{Tags: tags("a", a, "b", b)},
			want: map[string]string{
				"a": "delete/digest: rank 1 of 2 by created, beyond keep=0",
				"b": "delete/digest: rank 2 of 2 by created, beyond keep=0",
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			in := c.in
			in.Now, in.Manifests, in.TagDelete = now, ms, true
			p := Make(c.rules, in)
			if diff := cmp.Diff(c.want, outcomes(p)); diff != "" {
				t.Errorf("tags (-want +got):\n%s", diff)
			}
			if c.untagged != nil {
				if diff := cmp.Diff(c.untagged, listedOutcomes(p)); diff != "" {
					t.Errorf("untagged (-want +got):\n%s", diff)
				}
			}
			for _, l := range p.Layers {
				for _, d := range l {
					if d == idx || d == kid {
						t.Errorf("%s deleted: the kept index or its child", d)
					}
				}
			}
			if diff := cmp.Diff(p, Make(c.rules, in)); diff != "" {
				t.Errorf("planning twice differs:\n%s", diff)
			}
			// The second look fixes the decisions and finds the same plan.
			again := in
			again.Decided = map[string]Decision{}
			for _, it := range p.Items {
				if it.Subject == "" {
					again.Decided[it.Tag] = it.Selection
				}
			}
			if diff := cmp.Diff(outcomes(p), outcomes(Make(c.rules, again))); diff != "" {
				t.Errorf("the second look plans otherwise (-first +second):\n%s", diff)
			}
		})
	}
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func sortViews() cmp.Option {
	return cmp.Transformer("sortViews", func(in []untaggedView) []untaggedView {
		out := append([]untaggedView(nil), in...)
		for i := range out {
			for j := i + 1; j < len(out); j++ {
				if out[j].Digest < out[i].Digest {
					out[i], out[j] = out[j], out[i]
				}
			}
		}
		return out
	})
}
