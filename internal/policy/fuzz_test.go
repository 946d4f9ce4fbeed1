package policy

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/tagsweep/tagsweep/internal/registry/image"
)

// randomRepo builds a repository graph from a seed: images, indexes (some
// nested, sharing children), sha256-<hex>* tags of images, of children and
// of missing subjects, API referrers (some shared), tags sharing digests.
func randomRepo(seed uint64) (Rules, Input) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	ms := map[string]*image.Manifest{}
	var digests []string
	digest := func() string {
		d := fmt.Sprintf("sha256:%064x", r.Uint64())
		digests = append(digests, d)
		return d
	}
	created := func() time.Time {
		switch r.IntN(6) {
		case 0:
			return time.Time{}
		case 1:
			return time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
		default:
			return now.Add(-time.Duration(r.IntN(90*24)) * time.Hour)
		}
	}
	blobs := func() []image.Blob {
		shared := r.IntN(40) // a blob's size follows from its digest
		out := []image.Blob{{Digest: fmt.Sprintf("sha256:%064x", shared), Size: int64(shared * 10)}}
		return append(out, image.Blob{Digest: fmt.Sprintf("sha256:%064x", r.Uint64()), Size: int64(r.IntN(1000))})
	}
	nImages := 2 + r.IntN(12)
	var images []string
	for range nImages {
		d := digest()
		ms[d] = &image.Manifest{Digest: d, MediaType: image.MediaTypeOCIManifest, Created: created(), Blobs: blobs()}
		images = append(images, d)
	}
	var indexes []string
	for range r.IntN(5) {
		d := digest()
		m := &image.Manifest{Digest: d, MediaType: image.MediaTypeOCIIndex, Created: created(), ChildInfo: map[string]string{}}
		for range 1 + r.IntN(3) {
			c := images[r.IntN(len(images))]
			if len(indexes) > 0 && r.IntN(4) == 0 {
				c = indexes[r.IntN(len(indexes))] // nested
			}
			m.Children = append(m.Children, c)
			if r.IntN(5) == 0 {
				m.ChildInfo[c] = "attestation"
			}
		}
		ms[d] = m
		indexes = append(indexes, d)
	}
	targets := append(append([]string(nil), images...), indexes...)
	in := Input{Now: now, Manifests: ms, Referrers: map[string][]string{}, Exists: map[string]bool{}, TagDelete: r.IntN(2) == 0}
	names := map[string]bool{}
	addTag := func(name, d string) {
		if !names[name] {
			names[name] = true
			in.Tags = append(in.Tags, Tag{Name: name, Digest: d})
		}
	}
	for i := range 1 + r.IntN(15) {
		name := fmt.Sprintf("t%d", i)
		if r.IntN(3) == 0 {
			name = fmt.Sprintf("%d.%d.%d", r.IntN(3), r.IntN(5), r.IntN(5))
		}
		addTag(name, targets[r.IntN(len(targets))])
	}
	for range r.IntN(6) {
		// A signature of some manifest (tagged or a child), or of nothing.
		subject := digests[r.IntN(len(digests))]
		if r.IntN(4) == 0 {
			subject = fmt.Sprintf("sha256:%064x", r.Uint64())
			in.Exists[subject] = r.IntN(2) == 0
		}
		sigm := digest()
		ms[sigm] = &image.Manifest{Digest: sigm, MediaType: image.MediaTypeOCIManifest, Blobs: blobs()}
		if r.IntN(5) == 0 && len(in.Tags) > 0 {
			sigm = in.Tags[r.IntN(len(in.Tags))].Digest // shared with a tag
		}
		addTag(sig(subject, []string{".sig", ".att", ".sbom", ""}[r.IntN(4)]), sigm)
	}
	for range r.IntN(5) {
		subject := targets[r.IntN(len(targets))]
		ref := digest()
		ms[ref] = &image.Manifest{Digest: ref, MediaType: image.MediaTypeOCIManifest, Subject: subject, Blobs: blobs()}
		in.Referrers[subject] = append(in.Referrers[subject], ref)
		if r.IntN(3) == 0 { // shared by a second subject
			other := targets[r.IntN(len(targets))]
			in.Referrers[other] = append(in.Referrers[other], ref)
		}
	}
	if r.IntN(4) == 0 {
		in.Pinned = []string{targets[r.IntN(len(targets))]}
	}
	ru := rules(keep(r.IntN(4)))
	if r.IntN(3) == 0 {
		ru.OlderThan, ru.OlderThanText = 30*24*time.Hour, "30d"
	}
	if r.IntN(3) == 0 {
		ru.OrderBy = OrderSemver
	}
	switch r.IntN(4) {
	case 0:
		ru.Exclude = globs("t1", "t2")
	case 1:
		ru.Exclude = globs("t1", "*.sig")
	}
	ru.DeleteOrphans = r.IntN(2) == 0
	addPlaceholders(seed, &in, addTag)
	addUntagged(seed, &ru, &in)
	return ru, in
}

// addUntagged, from a random stream of its own (the rest is what the seed
// gave before), makes the registry list untagged manifests, as GHCR does:
// some of the manifests no tag points at (children, referrers,
// signatures), dangling images and dangling indexes over existing
// manifests, each with a push time (unknown, minutes ago, days ago); and
// turns on delete-untagged, keep-untagged and the last-tagged rule.
func addUntagged(seed uint64, ru *Rules, in *Input) {
	r := rand.New(rand.NewPCG(seed^0x756e746167676564, seed))
	if r.IntN(3) == 0 {
		return
	}
	pushed := func() time.Time {
		switch r.IntN(5) {
		case 0:
			return time.Time{}
		case 1:
			return now.Add(-time.Duration(r.IntN(120)) * time.Minute)
		default:
			return now.Add(-time.Duration(r.IntN(60*24)) * time.Hour)
		}
	}
	tagged := map[string]bool{}
	for _, t := range in.Tags {
		tagged[t.Digest] = true
	}
	var all []string // no placeholder: nothing lists one, nothing refers to one
	for d, m := range in.Manifests {
		if !m.Placeholder {
			all = append(all, d)
		}
	}
	sort.Strings(all)
	for range r.IntN(6) {
		d := fmt.Sprintf("sha256:%064x", r.Uint64())
		shared := r.IntN(40) // a blob's size follows from its digest, as in randomRepo
		m := &image.Manifest{Digest: d, MediaType: image.MediaTypeOCIManifest, Blobs: []image.Blob{{Digest: fmt.Sprintf("sha256:%064x", shared), Size: int64(shared * 10)}}}
		switch r.IntN(3) {
		case 0: // a dangling index over what is there
			m.MediaType = image.MediaTypeOCIIndex
			m.Blobs = nil
			for range 1 + r.IntN(3) {
				m.Children = append(m.Children, all[r.IntN(len(all))])
			}
		case 1: // a referrer by its subject field only
			m.Subject = all[r.IntN(len(all))]
		}
		in.Manifests[d] = m
		all = append(all, d)
	}
	for _, d := range all {
		if !tagged[d] && r.IntN(4) != 0 {
			in.Untagged = append(in.Untagged, image.Untagged{Digest: d, Pushed: pushed()})
		}
	}
	ru.DeleteUntagged = r.IntN(3) != 0
	ru.KeepUntagged = r.IntN(3)
	if r.IntN(2) == 0 {
		in.LastTagged = "the registry keeps the last tagged manifest"
	}
}

// addPlaceholders adds, from a random stream of their own (so the rest of
// the repository is what the seed gave before placeholders existed), the
// leftovers of interrupted GHCR tag deletes: placeholder images, each with
// one tag or two, some of them pushed more recently than anything, some
// named like versions, like excluded tags or like signatures of images.
func addPlaceholders(seed uint64, in *Input, addTag func(name, d string)) {
	r := rand.New(rand.NewPCG(seed^0x706c616365686f6c, seed))
	var images []string
	for d, m := range in.Manifests {
		if !m.IsIndex() {
			images = append(images, d)
		}
	}
	sort.Strings(images)
	for i := range r.IntN(3) {
		d := fmt.Sprintf("sha256:%064x", r.Uint64())
		in.Manifests[d] = &image.Manifest{Digest: d, MediaType: image.MediaTypeOCIManifest, Size: 400, Placeholder: true,
			Blobs: []image.Blob{{Digest: fmt.Sprintf("sha256:%064x", 0xe0), Size: 2}}}
		for range 1 + r.IntN(2) {
			name := []string{fmt.Sprintf("p%d-%d", i, r.IntN(100)), fmt.Sprintf("%d.%d.%d", r.IntN(3), r.IntN(5), r.IntN(5)), "t1", "t2"}[r.IntN(4)]
			if r.IntN(4) == 0 && len(images) > 0 {
				name = sig(images[r.IntN(len(images))], ".sig")
			}
			addTag(name, d)
			if r.IntN(2) == 0 {
				in.Tags[len(in.Tags)-1].Pushed = now.Add(-time.Minute) // the newest push
			}
		}
	}
}

// checkInvariants asserts what must hold for any plan: nothing a kept tag
// reaches is deleted by digest, every tag has one decision and a reason,
// tag deletes only where supported, parents before children.
func checkInvariants(t *testing.T, ru Rules, in Input, p *Plan) {
	t.Helper()
	if len(p.Items) != len(in.Tags) {
		t.Fatalf("%d items for %d tags", len(p.Items), len(in.Tags))
	}
	edges := func(d string) []string {
		var out []string
		if m := in.Manifests[d]; m != nil {
			out = append(out, m.Children...)
		}
		out = append(out, in.Referrers[d]...)
		for _, it := range p.Items {
			// A sha256-<hex>* tag left on a placeholder is not its
			// subject's signature any more.
			if it.Subject == d && it.Digest != "" && !isPlaceholder(in, it.Digest) {
				out = append(out, it.Digest)
			}
		}
		return out
	}
	reached := map[string]bool{}
	var walk func(d string)
	walk = func(d string) {
		if d == "" || reached[d] {
			return
		}
		reached[d] = true
		for _, e := range edges(d) {
			walk(e)
		}
	}
	for _, it := range p.Items {
		if it.Action == Keep {
			walk(it.Digest)
		}
	}
	for _, d := range in.Pinned {
		walk(d)
	}
	listed := map[string]bool{}
	for _, u := range in.Untagged {
		listed[u.Digest] = true
	}
	tagged := map[string]bool{}
	for _, it := range p.Items {
		tagged[it.Digest] = true
	}
	pushedAt := map[string]time.Time{}
	for _, u := range in.Untagged {
		pushedAt[u.Digest] = u.Pushed
	}
	seenListed := map[string]bool{}
	for _, u := range p.Listed {
		if !listed[u.Digest] || tagged[u.Digest] || seenListed[u.Digest] {
			t.Errorf("Listed has %s, which the registry did not list untagged (or twice)", u.Digest)
		}
		seenListed[u.Digest] = true
		if u.Reason.String() == "" {
			t.Errorf("untagged %s has no reason", u.Digest)
		}
		if u.Action == Keep {
			walk(u.Digest)
		}
		if u.Loose && u.Action == Delete {
			if !ru.DeleteUntagged {
				t.Errorf("untagged %s deleted as untagged without delete-untagged", u.Digest)
			}
			if u.Reason.Kind == ReasonUntaggedStale && (!Plausible(u.Pushed, now) || now.Sub(u.Pushed) <= UntaggedGrace ||
				(ru.OlderThan > 0 && now.Sub(u.Pushed) <= ru.OlderThan)) {
				t.Errorf("untagged %s pushed %s deleted", u.Digest, u.Pushed)
			}
		}
	}
	for d := range listed {
		if !tagged[d] && !seenListed[d] {
			t.Errorf("listed untagged %s has no decision", d)
		}
	}
	if in.LastTagged != "" {
		deleted, stays, real := false, false, false
		for _, it := range p.Items {
			switch {
			case it.Action == Delete:
				deleted = true
				real = real || (it.Digest != "" && !isPlaceholder(in, it.Digest))
			case it.Digest != "" || (it.Reason.Kind != ReasonVanished && it.Reason.Kind != ReasonChanged):
				stays = true
			}
		}
		if deleted && real && !stays {
			t.Errorf("the plan deletes every tagged manifest though the registry keeps the last one")
		}
	}
	layer := map[string]int{}
	for i, l := range p.Layers {
		for _, d := range l {
			if _, dup := layer[d]; dup {
				t.Errorf("%s in two layers", d)
			}
			layer[d] = i
			if reached[d] {
				t.Errorf("digest %s is deleted but a kept tag reaches it", d)
			}
		}
	}
	for _, it := range p.Items {
		if it.Reason.String() == "" {
			t.Errorf("tag %s has no reason", it.Tag)
		}
		if it.Action != Delete {
			continue
		}
		switch it.Method {
		case ByDigest:
			if _, ok := layer[it.Digest]; !ok {
				t.Errorf("tag %s deleted by digest %s, which is in no layer", it.Tag, it.Digest)
			}
		case ByTag:
			if !in.TagDelete {
				t.Errorf("tag %s deleted by tag on a registry that cannot", it.Tag)
			}
		default:
			t.Errorf("tag %s deleted without a method", it.Tag)
		}
		if isPlaceholder(in, it.Digest) {
			continue // a leftover: deleted whatever the rules say
		}
		if _, excluded := firstMatch(ru.Exclude, it.Tag); excluded {
			t.Errorf("excluded tag %s deleted", it.Tag)
		}
		if it.Subject == "" {
			if v, ok := ParseSemver(it.Tag); ok && ru.KeepSemver != nil && ru.KeepSemver.Check(v) {
				t.Errorf("tag %s satisfies keep-semver but is deleted", it.Tag)
			}
		}
	}
	for d, parents := range p.Parents {
		for _, par := range parents {
			if layer[par] >= layer[d] && !inCycle(p, d) {
				t.Errorf("%s (layer %d) is not deleted after its parent %s (layer %d)", d, layer[d], par, layer[par])
			}
		}
	}
	again := Make(ru, in)
	if fmt.Sprint(again) != fmt.Sprint(p) {
		t.Errorf("planning twice gives different plans")
	}
	checkPlaceholders(t, ru, in, p)
}

func isPlaceholder(in Input, d string) bool {
	m := in.Manifests[d]
	return m != nil && m.Placeholder
}

// checkPlaceholders asserts that a placeholder is never ranked: every tag
// on one is deleted by digest as a leftover (unless the input forces it
// kept), and every other tag gets the decision, method and reason it gets
// in the same repository without the tags on placeholders, which changes
// nothing else that is deleted or kept.
func checkPlaceholders(t *testing.T, ru Rules, in Input, p *Plan) {
	t.Helper()
	var rest Input = in
	rest.Tags = nil
	for _, tg := range in.Tags {
		if !isPlaceholder(in, tg.Digest) {
			rest.Tags = append(rest.Tags, tg)
		}
	}
	if len(rest.Tags) == len(in.Tags) {
		return
	}
	without := Make(ru, rest)
	other := map[string]Item{}
	for _, it := range without.Items {
		other[it.Tag] = it
	}
	for _, it := range p.Items {
		if !isPlaceholder(in, it.Digest) {
			if o := other[it.Tag]; o.Action != it.Action || o.Method != it.Method || o.Reason != it.Reason {
				t.Errorf("tag %s: %s/%s %q beside leftovers, %s/%s %q without them", it.Tag, it.Action, it.Method, it.Reason, o.Action, o.Method, o.Reason)
			}
			continue
		}
		if _, forced := in.Forced[it.Tag]; forced {
			continue
		}
		if it.Action != Delete || it.Method != ByDigest || it.Reason != Because(ReasonPlaceholder) {
			t.Errorf("tag %s on a placeholder: %s/%s %q, want deleted by digest as a leftover", it.Tag, it.Action, it.Method, it.Reason)
		}
	}
	var layers, wantLayers []string
	for _, l := range p.Layers {
		for _, d := range l {
			if !isPlaceholder(in, d) {
				layers = append(layers, d)
			}
		}
	}
	for _, l := range without.Layers {
		wantLayers = append(wantLayers, l...)
	}
	if fmt.Sprint(layers) != fmt.Sprint(wantLayers) || fmt.Sprint(p.Kept) != fmt.Sprint(without.Kept) {
		t.Errorf("leftovers changed what else goes or stays: layers %v kept %v, without them %v kept %v", p.Layers, p.Kept, without.Layers, without.Kept)
	}
}

func inCycle(p *Plan, d string) bool {
	seen := map[string]bool{}
	var up func(x string) bool
	up = func(x string) bool {
		for _, par := range p.Parents[x] {
			if par == d {
				return true
			}
			if !seen[par] {
				seen[par] = true
				if up(par) {
					return true
				}
			}
		}
		return false
	}
	return up(d)
}

// FuzzPlanInvariants checks the invariants on random repositories. Its seed
// corpus runs with every `go test`; `go test -fuzz FuzzPlanInvariants
// ./internal/policy` searches further (see .ci/long).
func FuzzPlanInvariants(f *testing.F) {
	for s := range uint64(300) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, seed uint64) {
		ru, in := randomRepo(seed)
		checkInvariants(t, ru, in, Make(ru, in))
	})
}
