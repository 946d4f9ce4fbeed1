package policy

import (
	"testing"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/registry/image"
)

// rule is a policy file's rule for the tests: number n, labelled by its
// tags patterns, keeping keep.
func rule(n int, label string, keep int, include ...string) Rule {
	return Rule{N: n, Label: label, Include: globs(include...), Keep: keep, OrderBy: OrderCreated}
}

// The rules of a policy file: a tag is governed by the first rule whose
// tags match and whose exclude-tags do not; ranks and keep count within
// the rule; a tag no rule governs is kept; every reason names the rule;
// exclude-tags and keep-semver given as inputs apply across rules.
func TestPolicyRules(t *testing.T) {
	t.Parallel()
	ds := map[string]string{}
	var ms []*image.Manifest
	for i, name := range []string{"pr-1", "pr-2", "pr-3", "main-1", "main-2", "main-3", "1.0.0", "2.0.0", "3.0.0", "0.9.0", "latest", "nightly"} {
		d := dg(string(rune('a' + i)))
		ds[name] = d
		ms = append(ms, img(d, daysAgo(40-i)))
	}
	var all []Tag
	for name, d := range ds {
		all = append(all, Tag{Name: name, Digest: d})
	}
	cs, _ := semver.NewConstraint("<1.0.0")
	c2, _ := semver.NewConstraint(">=2.0.0")
	releases := Rule{N: 3, Label: "** *.*.*", Include: globs("*.*.*"), Keep: 1, OrderBy: OrderSemver, KeepSemver: cs, KeepSemverText: "<1.0.0"}
	cases := []struct {
		name  string
		rules Rules
		want  map[string]string
	}{
		{
			name: "first match governs, keep counts per rule, no rule keeps",
			rules: Rules{Policy: []Rule{
				rule(1, "** pr-*", 1, "pr-*"),
				func() Rule {
					r := rule(2, "** main-* !main-3", 1, "main-*", "pr-*")
					r.Exclude = globs("main-3")
					return r
				}(),
				releases,
				rule(4, "** *", 0, "main-3"),
			}},
			want: map[string]string{
				"pr-3":    "keep: rule 1 (** pr-*): rank 1 of 3 by created, within keep=1",
				"pr-2":    "delete/digest: rule 1 (** pr-*): rank 2 of 3 by created, beyond keep=1",
				"pr-1":    "delete/digest: rule 1 (** pr-*): rank 3 of 3 by created, beyond keep=1",
				"main-2":  "keep: rule 2 (** main-* !main-3): rank 1 of 2 by created, within keep=1",
				"main-1":  "delete/digest: rule 2 (** main-* !main-3): rank 2 of 2 by created, beyond keep=1",
				"main-3":  "delete/digest: rule 4 (** *): rank 1 of 1 by created, beyond keep=0",
				"3.0.0":   "keep: rule 3 (** *.*.*): rank 1 of 4 by version, within keep=1",
				"2.0.0":   "delete/digest: rule 3 (** *.*.*): rank 2 of 4 by version, beyond keep=1",
				"1.0.0":   "delete/digest: rule 3 (** *.*.*): rank 3 of 4 by version, beyond keep=1",
				"0.9.0":   `keep: rule 3 (** *.*.*): satisfies keep-semver "<1.0.0"`,
				"latest":  "keep: no rule matches",
				"nightly": "keep: no rule matches",
			},
		},
		{
			name:  "input exclude-tags and keep-semver apply across rules",
			rules: Rules{Policy: []Rule{rule(1, "** *", 0, "*")}, Exclude: globs("latest", "pr-3"), KeepSemver: c2, KeepSemverText: ">=2.0.0"},
		},
	}
	cases[1].want = map[string]string{
		"latest": `keep: matches exclude-tags "latest"`,
		"pr-3":   `keep: matches exclude-tags "pr-3"`,
		"3.0.0":  `keep: rule 1 (** *): satisfies keep-semver ">=2.0.0"`,
		"2.0.0":  `keep: rule 1 (** *): satisfies keep-semver ">=2.0.0"`,
	}
	for _, name := range []string{"pr-1", "pr-2", "main-1", "main-2", "main-3", "1.0.0", "0.9.0", "nightly"} {
		cases[1].want[name] = "delete/digest"
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := Make(c.rules, Input{Tags: all, Manifests: manifests(ms...), Now: now, TagDelete: true})
			got := outcomes(p)
			for tag, o := range got {
				if w, ok := c.want[tag]; ok && w == "delete/digest" && len(o) > len(w) && o[:len(w)] == w {
					got[tag] = w // the rank is not this case's point
				}
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("outcomes (-want +got):\n%s", diff)
			}
		})
	}
}

// A policy file of one rule plans what the same inputs plan: the same
// actions, methods and deletions, the reasons only prefixed by the rule.
func TestOneRulePolicyIsTheInputs(t *testing.T) {
	t.Parallel()
	a, b, c, x := dg("a"), dg("b"), dg("c"), dg("1")
	in := Input{Tags: tags("v1", a, "v2", b, "v3", c, "other", x, sig(b, ".sig"), dg("5")), Now: now, TagDelete: false,
		Manifests: manifests(img(a, daysAgo(50)), img(b, daysAgo(40)), img(c, daysAgo(1)), img(x, daysAgo(90)), img(dg("5"), time.Time{}))}
	inputs := rules(keep(1), olderThan(30*24*time.Hour, "30d"), func(r *Rules) { r.Include = globs("v*") })
	file := Rules{Policy: []Rule{{N: 1, Label: "** v*", Include: globs("v*"), Keep: 1, OlderThan: 30 * 24 * time.Hour, OlderThanText: "30d", OrderBy: OrderCreated}}}
	one, two := Make(inputs, in), Make(file, in)
	for i := range two.Items {
		two.Items[i].Reason.Rule, two.Items[i].Reason.RuleLabel = 0, ""
		two.Items[i].Selection.Reason.Rule, two.Items[i].Selection.Reason.RuleLabel = 0, ""
		if two.Items[i].Reason.Kind == ReasonNoRule {
			two.Items[i].Reason = Naming(ReasonNotIncluded, "v*")
			two.Items[i].Selection.Reason = two.Items[i].Reason
		}
	}
	if diff := cmp.Diff(one, two, cmp.AllowUnexported(Glob{})); diff != "" {
		t.Errorf("one-rule policy file vs inputs (-inputs +file):\n%s", diff)
	}
	if got := outcome(item(Make(file, in), "v2")); got != "delete/digest: rule 1 (** v*): rank 2 of 3 by created, beyond keep=1, age 40d is older than 30d" {
		t.Errorf("v2: %s", got)
	}
}

// protect-images: a protected tag is kept, takes no keep slot, and keeps
// what it reaches (children, referrers, sha256-<hex> tags); the other tags
// on its digest go by tag, or stay "shares digest with protected …"; the
// tags on a digest named by digest are protected tags themselves (kept
// "protected by protect-images", no keep slot); a protected digest keeps
// itself and its children though no tag does.
func TestProtectImages(t *testing.T) {
	t.Parallel()
	idx, amd, arm, ref, sg := dg("1"), dg("2"), dg("3"), dg("4"), dg("5")
	old, mid, fresh, loose, lchild, pin := dg("a"), dg("b"), dg("c"), dg("d"), dg("e"), dg("f")
	ms := manifests(index(idx, daysAgo(90), amd, arm), img(amd, daysAgo(90)), img(arm, daysAgo(90)), img(ref, time.Time{}), img(sg, time.Time{}),
		img(old, daysAgo(80)), img(mid, daysAgo(20)), img(fresh, daysAgo(1)), index(loose, daysAgo(70), lchild), img(lchild, daysAgo(70)), img(pin, daysAgo(85)))
	base := Input{Now: now,
		Tags:           tags("deployed", idx, "deployed-alias", idx, sig(idx, ".sig"), sg, "old", old, "mid", mid, "fresh", fresh, "loose", loose, "pinned", pin),
		Manifests:      ms,
		Referrers:      map[string][]string{idx: {ref}},
		ProtectTags:    map[string]string{"deployed": "app:deployed"},
		ProtectDigests: map[string]string{lchild: "app@" + lchild, pin: "app@" + pin},
	}
	cases := []struct {
		name      string
		tagDelete bool
		want      map[string]string
	}{
		{
			name:      "no single-tag delete: the alias stays",
			tagDelete: false,
			want: map[string]string{
				"deployed":       "keep: protected by protect-images",
				"deployed-alias": "keep: shares digest with protected app:deployed (this registry cannot delete a single tag)",
				"pinned":         "keep: protected by protect-images",
				sig(idx, ".sig"): "keep: attached to protected app:deployed",
				"fresh":          "keep: rank 1 of 5 by created, within keep=1",
				"mid":            "delete/digest: rank 2 of 5 by created, beyond keep=1",
				"loose":          "delete/digest: rank 3 of 5 by created, beyond keep=1",
				"old":            "delete/digest: rank 4 of 5 by created, beyond keep=1",
			},
		},
		{
			name:      "single-tag delete: the alias goes by tag",
			tagDelete: true,
			want: map[string]string{
				"deployed":       "keep: protected by protect-images",
				"deployed-alias": "delete/tag: rank 5 of 5 by created, beyond keep=1",
				"pinned":         "keep: protected by protect-images",
				sig(idx, ".sig"): "keep: attached to protected app:deployed",
				"fresh":          "keep: rank 1 of 5 by created, within keep=1",
				"mid":            "delete/digest: rank 2 of 5 by created, beyond keep=1",
				"loose":          "delete/digest: rank 3 of 5 by created, beyond keep=1",
				"old":            "delete/digest: rank 4 of 5 by created, beyond keep=1",
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			in := base
			in.TagDelete = c.tagDelete
			p := Make(rules(keep(1)), in)
			got := outcomes(p)
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("outcomes (-want +got):\n%s", diff)
			}
			gone := map[string]bool{}
			for _, l := range p.Layers {
				for _, d := range l {
					gone[d] = true
				}
			}
			for _, d := range []string{idx, amd, arm, ref, sg, lchild, pin} {
				if gone[d] {
					t.Errorf("%s is deleted, but a protected reference reaches it", d)
				}
			}
			if !gone[loose] || !gone[old] {
				t.Errorf("the unprotected index %s or image %s is not deleted: %v", loose, old, p.Layers)
			}
			for _, u := range p.Untagged {
				if u.Digest == lchild {
					t.Errorf("the protected digest is deleted with its index: %+v", u)
				}
			}
		})
	}
}

func item(p *Plan, tag string) Item {
	for _, it := range p.Items {
		if it.Tag == tag {
			return it
		}
	}
	return Item{}
}
