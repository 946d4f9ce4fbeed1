package policy

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
)

// addProtect, from a random stream of its own, names some tags and some
// digests (tagged, children, referrers, unknown) in protect-images.
func addProtect(seed uint64, in *Input) {
	r := rand.New(rand.NewPCG(seed^0x70726f74656374, seed))
	in.ProtectTags, in.ProtectDigests = map[string]string{}, map[string]string{}
	for _, t := range in.Tags {
		if r.IntN(5) == 0 {
			in.ProtectTags[t.Name] = "app:" + t.Name
		}
	}
	var ds []string
	for d := range in.Manifests {
		ds = append(ds, d)
	}
	sort.Strings(ds)
	for _, d := range ds {
		if r.IntN(8) == 0 {
			in.ProtectDigests[d] = "app@" + d
		}
	}
	if r.IntN(4) == 0 {
		in.ProtectDigests[fmt.Sprintf("sha256:%064x", r.Uint64())] = "app@gone"
	}
}

// checkProtected asserts that nothing a protected reference reaches is
// deleted: not its digest, nor anything under it, nor the protected tag.
func checkProtected(t *testing.T, in Input, p *Plan) {
	t.Helper()
	byDigest := map[string][]string{}
	for _, it := range p.Items {
		if s := it.Subject; s != "" && it.Digest != "" && !isPlaceholder(in, it.Digest) {
			// (a sha256-<hex> tag left on a placeholder is no longer its
			// subject's: the planner's edges skip it too)
			byDigest[s] = append(byDigest[s], it.Digest)
		}
	}
	reached := map[string]bool{}
	var walk func(d string, depth int)
	walk = func(d string, depth int) {
		if d == "" || reached[d] || depth > 64 {
			return
		}
		reached[d] = true
		if m := in.Manifests[d]; m != nil {
			for _, c := range m.Children {
				walk(c, depth+1)
			}
		}
		for _, x := range in.Referrers[d] {
			walk(x, depth+1)
		}
		for _, x := range byDigest[d] {
			walk(x, depth+1)
		}
	}
	for _, it := range p.Items {
		if _, ok := in.ProtectTags[it.Tag]; ok && it.Digest != "" && !isPlaceholder(in, it.Digest) {
			if it.Action == Delete {
				t.Errorf("protected tag %s is deleted: %s", it.Tag, it.Reason)
			}
			walk(it.Digest, 0)
		}
	}
	for d := range in.ProtectDigests {
		if !isPlaceholder(in, d) {
			walk(d, 0)
		}
	}
	for _, l := range p.Layers {
		for _, d := range l {
			if reached[d] {
				t.Errorf("digest %s is deleted, but a protected reference reaches it", d)
			}
		}
	}
	for _, it := range p.Items {
		if it.Action == Delete && it.Method == ByDigest && reached[it.Digest] {
			t.Errorf("tag %s deletes %s by digest, which a protected reference reaches", it.Tag, it.Digest)
		}
		// A tag a protected reference reaches (a signature tag) stays.
		if it.Action == Delete && it.Subject != "" && reached[it.Subject] && !isPlaceholder(in, it.Digest) {
			t.Errorf("attached tag %s of protected %s is deleted", it.Tag, it.Subject)
		}
	}
}

// FuzzProtectAndPolicy checks, on random repositories, that nothing a
// protect-images reference reaches is planned for deletion (with the other
// invariants), and that a policy file of one rule plans exactly what the
// same inputs plan, the reasons but named by the rule.
func FuzzProtectAndPolicy(f *testing.F) {
	for s := range uint64(300) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, seed uint64) {
		ru, in := randomRepo(seed)
		addProtect(seed, &in)
		p := Make(ru, in)
		checkInvariants(t, ru, in, p)
		checkProtected(t, in, p)

		file := ru
		file.Policy = []Rule{{N: 1, Label: "** *", Include: ru.Include, Keep: ru.Keep, OlderThan: ru.OlderThan, OlderThanText: ru.OlderThanText,
			KeepSemver: ru.KeepSemver, KeepSemverText: ru.KeepSemverText, OrderBy: ru.OrderBy, DeleteUntagged: ru.DeleteUntagged, KeepUntagged: ru.KeepUntagged}}
		if seed%2 == 0 {
			file.KeepSemver, file.KeepSemverText = nil, "" // the rule's own, or the input's across rules: the same
			file.Policy[0].KeepSemver, file.Policy[0].KeepSemverText = ru.KeepSemver, ru.KeepSemverText
		} else {
			file.Policy[0].KeepSemver, file.Policy[0].KeepSemverText = nil, ""
		}
		file.Keep, file.OlderThan, file.Include, file.OrderBy = 99, 0, nil, OrderSemver // unused with a policy
		file.DeleteUntagged, file.KeepUntagged = !ru.DeleteUntagged, 7                  // the rule's decide
		q := Make(file, in)
		strip := func(r Reason) string {
			s := r.String()
			if r.Rule > 0 {
				s = strings.TrimPrefix(s, "rule 1 (** *): ")
			}
			return s
		}
		if len(p.Items) != len(q.Items) {
			t.Fatalf("%d items, %d with the policy file", len(p.Items), len(q.Items))
		}
		for i := range p.Items {
			a, b := p.Items[i], q.Items[i]
			if a.Action != b.Action || a.Method != b.Method || strip(a.Reason) != strip(b.Reason) {
				t.Errorf("tag %s: inputs plan %s %s %q, the one-rule file %s %s %q", a.Tag, a.Action, a.Method, a.Reason, b.Action, b.Method, b.Reason)
			}
		}
		for i := range p.Listed {
			if a, b := p.Listed[i], q.Listed[i]; a.Action != b.Action || strip(a.Reason) != strip(b.Reason) {
				t.Errorf("untagged %s: inputs plan %s %q, the one-rule file %s %q", a.Digest, a.Action, a.Reason, b.Action, b.Reason)
			}
		}
		if fmt.Sprint(p.Layers, p.Untagged, p.Kept, p.ReclaimedBytes) != fmt.Sprint(q.Layers, q.Untagged, q.Kept, q.ReclaimedBytes) {
			t.Errorf("the one-rule file deletes other digests than the inputs")
		}
	})
}
