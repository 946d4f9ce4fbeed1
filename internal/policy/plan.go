package policy

import (
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"

	"github.com/tagsweep/tagsweep/internal/registry/image"
)

// Tag is one tag of the repository and the digest it points at. An empty
// Digest means the tag could not be inspected: it is kept and keeps
// nothing else, so the engine must not execute a plan built with one.
type Tag struct {
	Name   string
	Digest string
	// Pushed is the registry's push time of the tag, zero when the
	// registry does not report one (see Rules.AgeSource).
	Pushed time.Time
}

// Input is everything the planner knows about one repository.
type Input struct {
	// Tags are the tags as listed.
	Tags []Tag
	// Manifests are every manifest reachable from the tags (index children,
	// referrers, fallback indexes), keyed by digest.
	Manifests map[string]*image.Manifest
	// Referrers maps a subject digest to the digests of its referrers, as
	// the OCI 1.1 referrers API lists them.
	Referrers map[string][]string
	// Exists tells, for subjects of sha256-<hex> tags that no tag reaches,
	// whether the subject manifest still exists in the repository.
	Exists map[string]bool
	// Now is the time ages are measured at.
	Now time.Time
	// TagDelete reports whether the registry can delete a single tag.
	TagDelete bool
	// Forced keeps these tags whatever the rules say, with this reason:
	// the registry protects them, they vanished during the run, or the
	// second look saw them change.
	Forced map[string]Reason
	// Pinned are digests that must survive though no tag of the plan
	// keeps them (rule 7): what the first plan kept, and what tags point
	// at now that the second look saw moved or pushed during the run. A
	// reason that names one says "(changed during run)".
	Pinned []string
	// Decided fixes the decisions for ordinary tags (the second look
	// re-resolves an earlier plan; it never ranks again).
	Decided map[string]Decision
	// ProtectTags are the tags of the repository that protect-images
	// names, each with its reference as the reasons name it
	// ("app:v1"): kept (ReasonProtectImages), taking no keep slot, with
	// all they reach.
	ProtectTags map[string]string
	// ProtectDigests are the digests protect-images names in the
	// repository, each with its reference ("app@sha256:…"): whatever
	// reaches them, they and all they reach are kept; tags on them go only
	// by tag delete.
	ProtectDigests map[string]string
	// Untagged are the manifests without a tag that the registry lists
	// (registry.UntaggedLister), with their push times; nil where it
	// cannot list them. Their manifests must be in Manifests: one that is
	// not is taken to list nothing.
	Untagged []image.Untagged
	// LastTagged, when set, is the registry's rule, in its own words,
	// that the last tagged manifest of a repository cannot be deleted
	// (GHCR: "GitHub keeps the last tagged version of a package"). When
	// a plan would delete every tagged manifest, the newest of them is
	// kept with this reason (ReasonLastTagged). Empty: no such rule.
	LastTagged string
}

// Decision is a fixed outcome for a tag.
type Decision struct {
	Action Action
	Reason Reason
}

// Action is what happens to a tag.
type Action string

// Actions.
const (
	Keep   Action = "keep"
	Delete Action = "delete"
)

// Method is how a deletion is carried out.
type Method string

// Methods.
const (
	// ByDigest deletes the manifest; every tag on it goes too.
	ByDigest Method = "digest"
	// ByTag deletes only the tag; the manifest survives for what keeps it.
	ByTag Method = "tag"
)

// Item is the decision for one tag.
type Item struct {
	Tag     string
	Digest  string
	Created time.Time // the age: zero when unknown (a push time under Rules.AgeSource)
	Action  Action
	Method  Method // set when Action is Delete
	Reason  Reason
	// Subject is, for a sha256-<hex>* tag, the digest it belongs to.
	Subject string
	// Selection is an ordinary tag's decision by the selection rules,
	// before rule 6 keeps a stale tag that shares a kept digest: what the
	// second look fixes (Input.Decided) before applying rule 6 again.
	Selection Decision
}

// Untagged is a manifest without tags deleted with the sub-graph of a
// deleted tag: an index child, a referrer, a fallback-index entry.
type Untagged struct {
	Digest string
	// Under is the deleted tag it is listed under in the report.
	Under string
	// Reason is ReasonChildOfDeleted, ReasonAttestationOf or
	// ReasonAttachedDeleted (a referrer), naming Under.
	Reason Reason
}

// UntaggedItem is the decision for one untagged manifest the registry
// listed (Input.Untagged).
type UntaggedItem struct {
	Digest string
	// Pushed is the registry's push time (zero: unknown).
	Pushed time.Time
	Action Action
	Reason Reason
	// Loose: no tag reaches it, so delete-untagged decided its fate (it
	// counts in deleted-untagged-count). Otherwise it stays or goes with
	// a tag's image; when it goes, it is also in Plan.Untagged under that
	// tag.
	Loose bool
}

// Plan is the outcome for one repository.
type Plan struct {
	// Items has one entry per tag, sorted by tag name.
	Items []Item
	// Untagged lists the untagged manifests deleted by digest with a
	// deleted tag's image (its children, attestations, referrers).
	Untagged []Untagged
	// Listed has one entry per untagged manifest the registry listed
	// (Input.Untagged), sorted by digest: what becomes of it and why.
	Listed []UntaggedItem
	// Layers orders the digest deletions: every digest of Layers[i] is
	// referenced only by digests of earlier layers, so parents go first.
	Layers [][]string
	// Parents maps each digest to delete to the digests to delete that
	// reference it: when a parent's deletion fails, its children stay.
	Parents map[string][]string
	// Kept is every digest that something kept reaches (a kept tag, or a
	// pinned digest), sorted.
	Kept []string
	// ReclaimedBytes estimates the bytes garbage collection frees: blobs
	// referenced only by deleted manifests.
	ReclaimedBytes int64
}

// Deletes counts the tags the plan deletes.
func (p *Plan) Deletes() int {
	n := 0
	for _, it := range p.Items {
		if it.Action == Delete {
			n++
		}
	}
	return n
}

// LooseDeletes counts the untagged manifests that delete-untagged deletes
// (Listed entries with Loose set and action Delete).
func (p *Plan) LooseDeletes() int {
	n := 0
	for _, u := range p.Listed {
		if u.Loose && u.Action == Delete {
			n++
		}
	}
	return n
}

// NeedsTagDelete reports whether the plan deletes a tag by tag.
func (p *Plan) NeedsTagDelete() bool {
	for _, it := range p.Items {
		if it.Action == Delete && it.Method == ByTag {
			return true
		}
	}
	return false
}

var attachedTag = regexp.MustCompile(`^sha256-([0-9a-f]{64})`)

// SubjectOf returns the subject digest of a sha256-<64 hex>[suffix] tag
// (cosign .sig/.att/.sbom, OCI referrers fallback tag), or "".
func SubjectOf(tag string) string {
	m := attachedTag.FindStringSubmatch(tag)
	if m == nil {
		return ""
	}
	return "sha256:" + m[1]
}

// edge kinds, for reasons
const (
	viaTag      = "tag"
	viaChild    = "child"
	viaAttached = "attached"
)

type reach struct {
	root   string // the tag the digest was reached from
	pinned bool   // reached from a pinned digest (Input.Pinned), not a tag
	kind   string // how: viaTag (the tag's own digest), viaChild, viaAttached
	// protect is the protect-images reference it was reached from (a
	// protected tag's, or a protected digest's), or "".
	protect string
}

// keptBy is the Reason of kind k naming what reached a kept digest: the
// protect-images reference, else the tag, else a pinned digest.
func keptBy(k ReasonKind, r reach) Reason {
	if r.protect != "" {
		return Reason{Kind: k, Name: r.protect, Protect: true}
	}
	return Reason{Kind: k, Name: r.root, Pinned: r.pinned}
}

type planner struct {
	in       Input
	rules    Rules
	ages     map[string]ageMemo
	attached map[string][]int // subject digest -> indexes into items
	// referredBy maps a subject digest to the listed untagged manifests
	// whose OCI subject it is (GHCR has no referrers API but keeps the
	// subject field: a signature pushed as a referrer is such a manifest).
	referredBy map[string][]string
	items      []Item
	pushed     bool // some age is a push time
	// last are the tags kept by the registry's last-tagged rule
	// (Input.LastTagged), once a first plan found it applies.
	last map[string]bool
	// listedUntagged are the digests of Input.Untagged.
	listedUntagged map[string]bool
}

type ageMemo struct {
	t  time.Time
	ok bool
}

// Make plans one repository. It is deterministic: the same Input and Rules
// give the same Plan.
func Make(rules Rules, in Input) *Plan {
	p := &planner{in: in, rules: rules, ages: map[string]ageMemo{}, attached: map[string][]int{}, referredBy: map[string][]string{},
		listedUntagged: map[string]bool{}}
	for _, u := range in.Untagged {
		p.listedUntagged[u.Digest] = true
		if m := in.Manifests[u.Digest]; m != nil && m.Subject != "" && m.Subject != u.Digest && !slices.Contains(p.referredBy[m.Subject], u.Digest) {
			p.referredBy[m.Subject] = append(p.referredBy[m.Subject], u.Digest)
		}
	}
	for _, rs := range p.referredBy {
		sort.Strings(rs)
	}
	tags := append([]Tag(nil), in.Tags...)
	sort.Slice(tags, func(i, j int) bool { return tags[i].Name < tags[j].Name })
	p.items = make([]Item, len(tags))
	for i, t := range tags {
		it := Item{Tag: t.Name, Digest: t.Digest}
		src := rules.AgeSource
		switch {
		case t.Digest == "":
		case src != AgeCreated && Plausible(t.Pushed, in.Now):
			it.Created = t.Pushed
			// A leftover placeholder is never ranked, so its push time
			// does not name the ranking.
			p.pushed = p.pushed || !p.placeholder(t.Digest)
		case src == AgePushed:
			// no push time: unknown age
		default:
			if c, ok := p.age(t.Digest, 0); ok {
				it.Created = c
			}
		}
		if s := SubjectOf(t.Name); s != "" {
			it.Subject = s
			p.attached[s] = append(p.attached[s], i)
		}
		p.items[i] = it
	}
	return p.plan()
}

// plan selects and resolves; where the registry keeps the last tagged
// manifest (Input.LastTagged) and the plan would delete every one, it
// plans again with the newest of them kept, so that what it reaches
// (children, signatures) is kept too.
func (p *planner) plan() *Plan {
	first := p.items
	p.items = append([]Item(nil), first...)
	p.selectTags()
	plan := p.resolve()
	if p.in.LastTagged == "" || p.last != nil {
		return plan
	}
	last := lastTagged(plan)
	if len(last) == 0 {
		return plan
	}
	p.last = map[string]bool{}
	for _, t := range last {
		p.last[t] = true
	}
	p.items = first
	return p.plan()
}

// lastTagged returns, when the plan leaves no tag in the repository, the
// tags to keep so that one tagged manifest stays: those the plan deletes
// on the digest of the newest deleted tag (by the ranking of rule 4; a
// placeholder leftover is never chosen). It returns nil when some tag
// stays (or nothing is deleted).
func lastTagged(plan *Plan) []string {
	var best *Item
	for i := range plan.Items {
		it := &plan.Items[i]
		if it.Action == Keep {
			gone := it.Digest == "" && (it.Reason.Kind == ReasonVanished || it.Reason.Kind == ReasonChanged)
			if !gone {
				return nil // a tag stays, and so does a tagged manifest
			}
			continue
		}
		if it.Reason.Kind == ReasonPlaceholder || it.Digest == "" {
			continue
		}
		if best == nil || newer(it, best) {
			best = it
		}
	}
	if best == nil {
		return nil
	}
	var out []string
	for _, it := range plan.Items {
		if it.Action == Delete && it.Digest == best.Digest {
			out = append(out, it.Tag)
		}
	}
	return out
}

// newer orders deleted tags for lastTagged: ranked candidates first, by
// rank; then ordinary tags before sha256-<hex> tags; then by age, newest
// first; then by name, highest first (rule 4's tie-break).
func newer(a, b *Item) bool {
	ra, rb := a.Reason.Rank.N, b.Reason.Rank.N
	switch {
	case (ra > 0) != (rb > 0):
		return ra > 0
	case ra != rb:
		return ra < rb
	case (a.Subject == "") != (b.Subject == ""):
		return a.Subject == ""
	case !a.Created.Equal(b.Created):
		return a.Created.After(b.Created)
	}
	return a.Tag > b.Tag
}

// Age is the creation time of the manifest d by README's rule 1 (see the
// planner's age), for callers that list without planning.
func Age(manifests map[string]*image.Manifest, d string, now time.Time) (time.Time, bool) {
	p := &planner{in: Input{Manifests: manifests, Now: now}, ages: map[string]ageMemo{}}
	return p.age(d, 0)
}

// age is the creation time of a manifest by rule 1: the config
// created of an image; the created annotation of an index, else the newest
// known age among its children (nested indexes included).
func (p *planner) age(d string, depth int) (time.Time, bool) {
	if a, ok := p.ages[d]; ok {
		return a.t, a.ok
	}
	var res ageMemo
	m := p.in.Manifests[d]
	switch {
	case m == nil || depth > 16:
	case Plausible(m.Created, p.in.Now):
		res = ageMemo{m.Created, true}
	case m.IsIndex():
		for _, c := range m.Children {
			if t, ok := p.age(c, depth+1); ok && (!res.ok || t.After(res.t)) {
				res = ageMemo{t, true}
			}
		}
	}
	p.ages[d] = res
	return res.t, res.ok
}

type candidate struct {
	i   int
	ver *semver.Version
}

// selectTags applies rules 3-5 to the ordinary tags, each within the rule
// that governs it (Rules.Policy, else the inputs' one rule).
func (p *planner) selectTags() {
	r := p.rules
	gov := r.governing()
	cands := make([][]candidate, len(gov))
	for i := range p.items {
		it := &p.items[i]
		if it.Subject != "" {
			continue // decided by resolve, from the subject
		}
		if reason, ok := p.in.Forced[it.Tag]; ok {
			it.Action, it.Reason = Keep, reason
			continue
		}
		if p.protected(*it) {
			it.Action, it.Reason = Keep, Because(ReasonProtectImages)
			continue
		}
		if d, ok := p.in.Decided[it.Tag]; ok {
			it.Action, it.Reason = d.Action, d.Reason
			if d.Action == Delete && p.last[it.Tag] {
				it.Action, it.Reason = Keep, p.lastReason(d.Reason.Rank)
			}
			continue
		}
		if it.Digest == "" {
			it.Action, it.Reason = Keep, Because(ReasonUninspected)
			continue
		}
		if p.placeholder(it.Digest) {
			it.Action, it.Reason = Delete, Because(ReasonPlaceholder)
			continue
		}
		if g, ok := firstMatch(r.Exclude, it.Tag); ok {
			it.Action, it.Reason = Keep, Naming(ReasonExcluded, g)
			continue
		}
		n := p.governor(gov, it.Tag)
		if n < 0 {
			if len(r.Policy) > 0 {
				it.Action, it.Reason = Keep, Because(ReasonNoRule)
			} else {
				it.Action, it.Reason = Keep, Naming(ReasonNotIncluded, patterns(r.Include))
			}
			continue
		}
		ru := &gov[n]
		v, isVer := ParseSemver(it.Tag)
		switch {
		case ru.OrderBy == OrderSemver && !isVer:
			it.Action, it.Reason = Keep, ru.named(Because(ReasonNotSemver))
			continue
		case ru.OrderBy != OrderSemver && it.Created.IsZero():
			it.Action, it.Reason = Keep, ru.named(Because(ReasonUnknownAge))
			continue
		}
		cands[n] = append(cands[n], candidate{i: i, ver: v})
	}
	for n := range gov {
		p.rank(&gov[n], cands[n])
	}
}

// governor is the index of the rule that governs an ordinary tag: the
// first whose Include matches it and whose Exclude does not; -1: none.
func (p *planner) governor(gov []Rule, tag string) int {
	for n := range gov {
		if _, ok := firstMatch(gov[n].Include, tag); !ok {
			continue
		}
		if _, ok := firstMatch(gov[n].Exclude, tag); ok {
			continue
		}
		return n
	}
	return -1
}

// named is the reason with the rule named, when it is a policy file's.
func (ru *Rule) named(reason Reason) Reason {
	reason.Rule, reason.RuleLabel = ru.N, ru.Label
	return reason
}

// rank applies rules 4 and 5 to the candidates of one rule: sorted newest
// first, the first Keep kept, the rest deleted unless keep-semver (the
// rule's, then the input's across rules) or older-than keeps them.
func (p *planner) rank(ru *Rule, cands []candidate) {
	r := p.rules
	// Tag names are unique, so the order is total and a plain sort suffices.
	sort.Slice(cands, func(a, b int) bool {
		x, y := &p.items[cands[a].i], &p.items[cands[b].i]
		if ru.OrderBy == OrderSemver {
			if c := cands[a].ver.Compare(cands[b].ver); c != 0 {
				return c > 0
			}
		} else if !x.Created.Equal(y.Created) {
			return x.Created.After(y.Created)
		}
		return x.Tag > y.Tag
	})
	by := RankByCreated
	switch {
	case ru.OrderBy == OrderSemver:
		by = RankByVersion
	case p.pushed:
		by = RankByPushTime
	}
	for rank, c := range cands {
		it := &p.items[c.i]
		pos := Rank{N: rank + 1, Of: len(cands), By: by, Keep: ru.Keep}
		keep, del := func(reason Reason) { it.Action, it.Reason = Keep, ru.named(reason) }, func(reason Reason) { it.Action, it.Reason = Delete, ru.named(reason) }
		switch {
		case rank < ru.Keep:
			keep(Reason{Kind: ReasonWithinKeep, Rank: pos})
		case p.last[it.Tag]:
			it.Action, it.Reason = Keep, p.lastReason(pos)
		case ru.KeepSemver != nil && c.ver != nil && ru.KeepSemver.Check(c.ver):
			keep(Naming(ReasonKeepSemver, ru.KeepSemverText))
		case len(r.Policy) > 0 && r.KeepSemver != nil && c.ver != nil && r.KeepSemver.Check(c.ver):
			keep(Naming(ReasonKeepSemver, r.KeepSemverText))
		case ru.OlderThan > 0 && it.Created.IsZero():
			keep(Because(ReasonUnknownAge))
		case ru.OlderThan > 0 && p.in.Now.Sub(it.Created) <= ru.OlderThan:
			keep(Reason{Kind: ReasonNotOlder, Rank: pos, Age: p.in.Now.Sub(it.Created), OlderThan: ru.OlderThanText})
		case ru.OlderThan > 0:
			del(Reason{Kind: ReasonOlder, Rank: pos, Age: p.in.Now.Sub(it.Created), OlderThan: ru.OlderThanText})
		default:
			del(Reason{Kind: ReasonBeyondKeep, Rank: pos})
		}
	}
}

// lastReason is the reason of a tag kept by the registry's last-tagged
// rule, with the rank it had: the registry's words alone (no rule named).
func (p *planner) lastReason(pos Rank) Reason {
	return Reason{Kind: ReasonLastTagged, Text: p.in.LastTagged, Rank: pos}
}

// protected reports whether protect-images names the tag, or its digest
// (the contract: "Protected tags are kept with the reason \"protected by
// protect-images\" and take no keep slot"). A tag left on a placeholder is
// not: its image is gone already (ReasonPlaceholder), and so is a
// placeholder digest's.
func (p *planner) protected(it Item) bool {
	return p.protectRef(it) != "" && it.Digest != "" && !p.placeholder(it.Digest)
}

// protectRef is the protect-images reference that names the tag, else its
// digest; "" when none does.
func (p *planner) protectRef(it Item) string {
	if ref := p.in.ProtectTags[it.Tag]; ref != "" {
		return ref
	}
	return p.in.ProtectDigests[it.Digest]
}

// placeholder reports whether d is a placeholder image.
func (p *planner) placeholder(d string) bool {
	m := p.in.Manifests[d]
	return m != nil && m.Placeholder
}

func firstMatch(gs []Glob, s string) (string, bool) {
	for _, g := range gs {
		if g.Match(s) {
			return g.Pattern, true
		}
	}
	return "", false
}

func patterns(gs []Glob) string {
	var s []string
	for _, g := range gs {
		s = append(s, g.Pattern)
	}
	return strings.Join(s, ", ")
}

// edges lists what a manifest drags along: index children, referrers, and
// the targets of its sha256-<hex>* tags (but placeholders), in a stable order.
func (p *planner) edges(d string) []struct{ to, kind string } {
	var out []struct{ to, kind string }
	if m := p.in.Manifests[d]; m != nil {
		for _, c := range m.Children {
			out = append(out, struct{ to, kind string }{c, viaChild})
		}
	}
	for _, r := range p.in.Referrers[d] {
		out = append(out, struct{ to, kind string }{r, viaAttached})
	}
	for _, i := range p.attached[d] {
		// A sha256-<hex>* tag left on a placeholder no longer names
		// anything of its subject's.
		if t := p.items[i].Digest; t != "" && !p.placeholder(t) {
			out = append(out, struct{ to, kind string }{t, viaAttached})
		}
	}
	for _, r := range p.referredBy[d] {
		out = append(out, struct{ to, kind string }{r, viaAttached})
	}
	return out
}

// closure walks the graph from the roots, breadth first, and records how
// each digest was first reached. The tags are walked first, then (for what
// keeps: keeps set) the digests protect-images names, then the pinned
// digests, so reasons name a tag whenever one reaches the digest.
func (p *planner) closure(roots []Item, pinned []string, keeps bool) map[string]reach {
	seen := map[string]reach{}
	var queue []string
	bfs := func() {
		for len(queue) > 0 {
			d := queue[0]
			queue = queue[1:]
			for _, e := range p.edges(d) {
				if _, ok := seen[e.to]; ok {
					continue
				}
				kind := e.kind
				if prev := seen[d]; prev.kind == viaAttached {
					kind = viaAttached // a child of a signature is still the signature's
				}
				seen[e.to] = reach{root: seen[d].root, pinned: seen[d].pinned, kind: kind, protect: seen[d].protect}
				queue = append(queue, e.to)
			}
		}
	}
	for _, r := range roots {
		if _, ok := seen[r.Digest]; r.Digest != "" && !ok {
			seen[r.Digest] = reach{root: r.Tag, kind: viaTag}
			if r.Reason.Kind == ReasonProtectImages {
				seen[r.Digest] = reach{root: r.Tag, kind: viaTag, protect: p.protectRef(r)}
			}
			queue = append(queue, r.Digest)
		}
	}
	bfs()
	if keeps {
		// What protect-images names by digest is kept with what keeps.
		var ds []string
		for d := range p.in.ProtectDigests {
			ds = append(ds, d)
		}
		sort.Strings(ds)
		for _, d := range ds {
			if _, ok := seen[d]; !ok && !p.placeholder(d) {
				seen[d] = reach{kind: viaTag, protect: p.in.ProtectDigests[d]}
				queue = append(queue, d)
			}
		}
		bfs()
	}
	for _, d := range pinned {
		if _, ok := seen[d]; d != "" && !ok {
			seen[d] = reach{pinned: true, kind: viaTag}
			queue = append(queue, d)
		}
	}
	bfs()
	return seen
}

// resolve decides the sha256-<hex>* tags from their subjects, then how each
// deletion is carried out (rule 6 and the graph rules), the untagged
// manifests that go along, the order of digest deletions and the bytes
// reclaimed.
func (p *planner) resolve() *Plan {
	var keptRoots, delRoots, plain []Item
	for i := range p.items {
		if p.items[i].Subject == "" {
			p.items[i].Selection = Decision{Action: p.items[i].Action, Reason: p.items[i].Reason}
		}
	}
	for _, it := range p.items {
		if it.Subject != "" {
			continue
		}
		plain = append(plain, it)
		if it.Action == Delete {
			delRoots = append(delRoots, it)
		} else {
			keptRoots = append(keptRoots, it)
		}
	}

	// Attached tags whose subject no ordinary tag reaches decide for
	// themselves (orphans, subjects without tags); the others follow
	// their subject, decided below.
	fromPlain := p.closure(plain, nil, false)
	var free []Item
	for _, it := range p.items {
		if it.Subject != "" && it.Digest != "" {
			if _, ok := fromPlain[it.Subject]; !ok {
				free = append(free, it)
			}
		}
	}
	fromFree := p.closure(free, nil, false)
	var followers, onLoose []int
	for i := range p.items {
		it := &p.items[i]
		if it.Subject == "" {
			continue
		}
		if reason, ok := p.in.Forced[it.Tag]; ok || p.last[it.Tag] {
			// The registry protects it (or it vanished, or it is the
			// last tagged manifest): kept whatever its subject's fate,
			// and what it reaches with it.
			if !ok {
				reason = p.lastReason(Rank{})
			}
			it.Action, it.Reason = Keep, reason
			if it.Digest != "" {
				keptRoots = append(keptRoots, *it)
			}
			continue
		}
		if p.protected(*it) {
			it.Action, it.Reason = Keep, Because(ReasonProtectImages)
			keptRoots = append(keptRoots, *it)
			continue
		}
		if it.Digest != "" && p.placeholder(it.Digest) {
			// Moved onto a placeholder by a run that stopped: its
			// signature is gone already, whatever its subject's fate.
			it.Action, it.Reason = Delete, Because(ReasonPlaceholder)
			delRoots = append(delRoots, *it)
			continue
		}
		if g, ok := firstMatch(p.rules.Exclude, it.Tag); ok && it.Digest != "" {
			// exclude-tags: never deleted, whatever its subject's fate
			// (a user who excludes *.sig keeps every signature).
			it.Action, it.Reason = Keep, Naming(ReasonExcluded, g)
			keptRoots = append(keptRoots, *it)
			continue
		}
		if it.Digest == "" {
			it.Action, it.Reason = Keep, Because(ReasonUninspected)
			continue
		}
		if _, ok := fromPlain[it.Subject]; ok {
			followers = append(followers, i)
			continue
		}
		if r, ok := fromFree[it.Subject]; ok && r.root != it.Tag {
			// follows the attached tag whose target is its subject
			followers = append(followers, i)
			continue
		}
		if p.listedUntagged[it.Subject] {
			// Its subject is an untagged manifest the registry lists:
			// it follows what the untagged rules decide for it.
			onLoose = append(onLoose, i)
			continue
		}
		exists, known := p.in.Exists[it.Subject]
		switch {
		case known && exists:
			it.Action, it.Reason = Keep, Naming(ReasonAttachedUntagged, it.Subject)
			keptRoots = append(keptRoots, *it)
		case known && p.rules.DeleteOrphans:
			it.Action, it.Reason = Delete, Naming(ReasonOrphaned, it.Subject)
			delRoots = append(delRoots, *it)
		case known:
			it.Action, it.Reason = Keep, Naming(ReasonOrphanKept, it.Subject)
			keptRoots = append(keptRoots, *it)
		default:
			it.Action, it.Reason = Keep, Naming(ReasonSubjectUnchecked, it.Subject)
			keptRoots = append(keptRoots, *it)
		}
	}

	// The followers go with their subject. They are reached through their
	// subject, so they are not roots of their own, except those whose
	// subject nothing reaches.
	kept, doomed := p.closure(keptRoots, p.in.Pinned, true), p.closure(delRoots, nil, false)
	var strays []Item
	for _, i := range followers {
		it := &p.items[i]
		if r, ok := kept[it.Subject]; ok {
			it.Action, it.Reason = Keep, keptBy(ReasonAttachedKept, r)
		} else if r, ok := doomed[it.Subject]; ok {
			it.Action, it.Reason = Delete, Naming(ReasonAttachedDeleted, r.root)
		} else {
			it.Action, it.Reason = Keep, Naming(ReasonAttachedUntagged, it.Subject)
			strays = append(strays, *it)
		}
	}
	keptRoots = append(keptRoots, strays...)
	if len(strays) > 0 {
		kept = p.closure(keptRoots, p.in.Pinned, true)
	}

	// The untagged manifests the registry lists that no tag reaches: kept
	// ones keep what they reach (a push in progress keeps its children
	// even where a deleted tag's image lists them too), before rule 6.
	loose := p.looseUntagged(kept, doomed)
	if len(loose.keep) > 0 {
		kept = p.closure(append(keptRoots, loose.keep...), p.in.Pinned, true)
	}
	looseDoomed := p.closure(loose.del, nil, false)
	for _, i := range onLoose {
		it := &p.items[i]
		if r, ok := looseDoomed[it.Subject]; ok {
			if _, k := kept[it.Subject]; !k {
				it.Action, it.Reason = Delete, Naming(ReasonAttachedDeleted, r.root)
				continue
			}
		}
		it.Action, it.Reason = Keep, Naming(ReasonAttachedUntagged, it.Subject)
	}

	// Rule 6: delete by digest only what nothing kept reaches.
	keptTagOn := map[string]string{}
	for _, it := range p.items {
		if it.Action == Keep && it.Digest != "" {
			if _, ok := keptTagOn[it.Digest]; !ok {
				keptTagOn[it.Digest] = it.Tag
			}
		}
	}
	for _, it := range p.items {
		// A protected tag on the digest is the one named.
		if it.Reason.Kind == ReasonProtectImages {
			keptTagOn[it.Digest] = it.Tag
		}
	}
	for i := range p.items {
		it := &p.items[i]
		if it.Action != Delete {
			continue
		}
		r, reached := kept[it.Digest]
		if !reached {
			it.Method = ByDigest
			continue
		}
		if ref := p.in.ProtectDigests[it.Digest]; ref != "" && !p.placeholder(it.Digest) {
			// Named by digest: its tags stay, for a manifest left without
			// a tag is what a registry's garbage collector (distribution's
			// --delete-untagged, GHCR's untagged versions) removes.
			it.Action, it.Reason = Keep, Reason{Kind: ReasonSharesDigest, Name: ref, Protect: true}
			continue
		}
		if p.in.TagDelete {
			it.Method = ByTag
			continue
		}
		it.Action = Keep
		// A kept tag on the digest, else what reaches it from a kept tag;
		// the pinned digests (the first plan's kept ones) only when no tag
		// does, so both looks give the same reason.
		switch on := keptTagOn[it.Digest]; {
		case on != "" && p.in.ProtectTags[on] != "":
			it.Reason = Reason{Kind: ReasonSharesDigest, Name: p.in.ProtectTags[on], Protect: true}
		case on != "":
			it.Reason = Naming(ReasonSharesDigest, on)
		case r.kind == viaTag && r.protect != "":
			it.Reason = keptBy(ReasonSharesDigest, r)
		case r.pinned:
			it.Reason = Reason{Kind: ReasonSharesDigest, Pinned: true}
		case r.kind == viaChild:
			it.Reason = keptBy(ReasonChildOfKept, r)
		default:
			it.Reason = keptBy(ReasonAttachedKept, r)
		}
		// Where single tags can be deleted, it would go by tag: say why not.
		it.Reason.NoTagDelete = true
	}

	plan := &Plan{Items: p.items}
	tagged := p.tagged()
	goneSet := map[string]bool{}
	for _, set := range []map[string]reach{doomed, looseDoomed} {
		for d := range set {
			if _, ok := kept[d]; !ok {
				goneSet[d] = true
			}
		}
	}
	gone := make([]string, 0, len(goneSet))
	for d := range goneSet {
		gone = append(gone, d)
	}
	sort.Strings(gone)
	attest := p.attestations()
	for _, d := range gone {
		r, byTag := doomed[d]
		if tagged[d] || !byTag {
			continue
		}
		plan.Untagged = append(plan.Untagged, Untagged{Digest: d, Under: r.root, Reason: p.deletedWith(r, attest[d])})
	}
	plan.Listed = p.listed(loose, kept, doomed, looseDoomed, goneSet, attest)
	plan.Layers = p.layers(goneSet, gone)
	plan.Parents = map[string][]string{}
	for _, d := range gone {
		for _, e := range p.edges(d) {
			if goneSet[e.to] && e.to != d {
				plan.Parents[e.to] = append(plan.Parents[e.to], d)
			}
		}
	}
	for d := range kept {
		plan.Kept = append(plan.Kept, d)
	}
	sort.Strings(plan.Kept)
	plan.ReclaimedBytes = Reclaimed(p.in.Manifests, goneSet)
	return plan
}

// deletedWith is the reason of an untagged manifest deleted with root's
// sub-graph, as reached r: a child, an attestation or a referrer of it.
func (p *planner) deletedWith(r reach, attestation bool) Reason {
	kind := ReasonChildOfDeleted
	switch {
	case r.kind == viaAttached:
		kind = ReasonAttachedDeleted
	case attestation:
		kind = ReasonAttestationOf
	}
	return Naming(kind, r.root)
}

// untaggedKeptBy is the reason of an untagged manifest that something
// kept reaches, as reached r.
func untaggedKeptBy(r reach) Reason {
	switch {
	case r.protect != "" && r.kind == viaTag:
		return Because(ReasonProtectImages) // protect-images names it by digest
	case r.pinned && r.kind == viaTag:
		return Because(ReasonChanged) // a tag moved onto it during the run
	case r.kind == viaAttached:
		return keptBy(ReasonAttachedKept, r)
	}
	return keptBy(ReasonChildOfKept, r)
}

// tagged is the set of digests a tag points at.
func (p *planner) tagged() map[string]bool {
	out := map[string]bool{}
	for _, it := range p.items {
		if it.Digest != "" {
			out[it.Digest] = true
		}
	}
	return out
}

// looseSet is what looseUntagged decided: the roots to keep and to delete
// (as closure roots named by their digest), the reason of each root, and
// the listed untagged manifests (digest -> push time, and sorted).
type looseSet struct {
	keep, del []Item
	why       map[string]Reason
	pushed    map[string]time.Time
	order     []string
}

// looseUntagged decides the untagged manifests the registry listed that
// no tag reaches (README "Untagged manifests"). Only the top of each such
// sub-graph is decided (a dangling index, not its children, which follow
// it): the subject of a kept sha256-<hex> tag is kept; without
// delete-untagged every one is kept; one of unknown push time, pushed
// within UntaggedGrace, or not older than older-than is kept; of the
// rest, the keep-untagged most recently pushed are kept and the others
// deleted.
func (p *planner) looseUntagged(kept, doomed map[string]reach) looseSet {
	ls := looseSet{why: map[string]Reason{}, pushed: map[string]time.Time{}}
	tagged := p.tagged()
	for _, u := range p.in.Untagged {
		if _, dup := ls.pushed[u.Digest]; u.Digest == "" || dup || tagged[u.Digest] {
			continue // a tag moved onto it since the listing: the tag decides
		}
		ls.pushed[u.Digest] = u.Pushed
		ls.order = append(ls.order, u.Digest)
	}
	sort.Strings(ls.order)
	free := func(d string) bool {
		_, listed := ls.pushed[d]
		_, k := kept[d]
		_, gone := doomed[d]
		return listed && !k && !gone
	}
	subjectOfKept := map[string]string{}
	for _, it := range p.items {
		if it.Subject != "" && it.Action == Keep && it.Digest != "" && subjectOfKept[it.Subject] == "" {
			subjectOfKept[it.Subject] = it.Tag
		}
	}
	var members []string
	below := map[string]bool{}
	for _, d := range ls.order {
		if !free(d) {
			continue
		}
		members = append(members, d)
		for _, e := range p.edges(d) {
			if e.to != d && free(e.to) {
				below[e.to] = true
			}
		}
	}
	// The tops of the sub-graphs; a member that no top reaches (a cycle,
	// which content addressing makes impossible but for a registry that
	// lies) is a top of its own.
	var roots []string
	covered := map[string]bool{}
	cover := func(d string) {
		stack := []string{d}
		for len(stack) > 0 {
			x := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if covered[x] {
				continue
			}
			covered[x] = true
			for _, e := range p.edges(x) {
				if free(e.to) {
					stack = append(stack, e.to)
				}
			}
		}
	}
	for _, pass := range []bool{false, true} {
		for _, d := range members {
			if (!pass && !below[d]) || (pass && !covered[d]) {
				roots = append(roots, d)
				cover(d)
			}
		}
	}
	var cands []string
	now, r := p.in.Now, p.rules.UntaggedRule()
	for _, d := range roots {
		age := now.Sub(ls.pushed[d])
		switch {
		case subjectOfKept[d] != "":
			ls.why[d] = Naming(ReasonSubjectOfKept, subjectOfKept[d])
		case !r.DeleteUntagged:
			ls.why[d] = Because(ReasonUntaggedOff)
		case !Plausible(ls.pushed[d], now):
			ls.why[d] = Because(ReasonUntaggedUnknown)
		case age <= UntaggedGrace:
			ls.why[d] = Reason{Kind: ReasonUntaggedRecent, Age: max(age, 0)}
		case r.OlderThan > 0 && age <= r.OlderThan:
			ls.why[d] = Reason{Kind: ReasonUntaggedNotOlder, Age: age, OlderThan: r.OlderThanText}
		default:
			cands = append(cands, d)
			continue
		}
		ls.keep = append(ls.keep, Item{Tag: d, Digest: d})
	}
	sort.Slice(cands, func(i, j int) bool {
		a, b := ls.pushed[cands[i]], ls.pushed[cands[j]]
		if !a.Equal(b) {
			return a.After(b)
		}
		return cands[i] > cands[j]
	})
	for i, d := range cands {
		if i < r.KeepUntagged {
			ls.why[d] = Reason{Kind: ReasonNewestUntagged, Rank: Rank{Keep: r.KeepUntagged}}
			ls.keep = append(ls.keep, Item{Tag: d, Digest: d})
			continue
		}
		ls.why[d] = Reason{Kind: ReasonUntaggedStale, Age: now.Sub(ls.pushed[d])}
		ls.del = append(ls.del, Item{Tag: d, Digest: d})
	}
	// A kept sha256-<hex> tag's subject below a dangling index is kept
	// too, though the index may go.
	for _, d := range members {
		if _, top := ls.why[d]; !top && subjectOfKept[d] != "" {
			ls.why[d] = Naming(ReasonSubjectOfKept, subjectOfKept[d])
			ls.keep = append(ls.keep, Item{Tag: d, Digest: d})
		}
	}
	return ls
}

// listed is the decision for each untagged manifest the registry listed.
func (p *planner) listed(ls looseSet, kept, doomed, looseDoomed map[string]reach, gone, attest map[string]bool) []UntaggedItem {
	out := make([]UntaggedItem, 0, len(ls.order))
	for _, d := range ls.order {
		u := UntaggedItem{Digest: d, Pushed: ls.pushed[d], Action: Keep}
		top, isTop := ls.why[d]
		r, byTag := doomed[d]
		lr, byLoose := looseDoomed[d]
		k, isKept := kept[d]
		switch {
		case isKept && isTop && k.kind == viaTag && !k.pinned:
			u.Reason, u.Loose = top, true
		case isKept:
			u.Reason = untaggedKeptBy(k)
			_, u.Loose = ls.why[k.root] // below a kept dangling index
		case gone[d] && byTag:
			u.Action, u.Reason = Delete, p.deletedWith(r, attest[d])
		case gone[d] && byLoose && isTop:
			u.Action, u.Reason, u.Loose = Delete, top, true
		case gone[d] && byLoose:
			u.Action, u.Reason, u.Loose = Delete, p.deletedWith(lr, attest[d]), true
		default: // not reached by anything (cannot happen: every member has a top)
			u.Reason, u.Loose = cmpOr(top, Because(ReasonUntaggedOff)), true
		}
		out = append(out, u)
	}
	return out
}

func cmpOr(r, def Reason) Reason {
	if r.Kind == ReasonNone {
		return def
	}
	return r
}

// attestations lists the digests an index marks as buildx attestation
// manifests.
func (p *planner) attestations() map[string]bool {
	out := map[string]bool{}
	for _, m := range p.in.Manifests {
		for d, info := range m.ChildInfo {
			if info == "attestation" {
				out[d] = true
			}
		}
	}
	return out
}

// layers orders the digests to delete so that a digest comes after every
// doomed digest that references it (parents first); a cycle is broken at
// its first digest.
func (p *planner) layers(gone map[string]bool, order []string) [][]string {
	indeg := map[string]int{}
	for _, d := range order {
		for _, e := range p.edges(d) {
			if gone[e.to] && e.to != d {
				indeg[e.to]++
			}
		}
	}
	var out [][]string
	done := map[string]bool{}
	for len(done) < len(order) {
		var layer []string
		for _, d := range order {
			if !done[d] && indeg[d] == 0 {
				layer = append(layer, d)
			}
		}
		if len(layer) == 0 {
			// A cycle (only tags can close one: a signature tag pointing
			// at an ancestor of its subject): break it at its first node.
			for _, d := range order {
				if !done[d] && p.onCycle(d, gone, done) {
					layer = append(layer, d)
					break
				}
			}
		}
		if len(layer) == 0 { // unreachable; never loop forever
			for _, d := range order {
				if !done[d] {
					layer = append(layer, d)
				}
			}
		}
		for _, d := range layer {
			done[d] = true
		}
		for _, d := range layer {
			for _, e := range p.edges(d) {
				if gone[e.to] && e.to != d {
					indeg[e.to]--
				}
			}
		}
		out = append(out, layer)
	}
	return out
}

// onCycle reports whether d reaches itself through doomed digests not done.
func (p *planner) onCycle(d string, gone, done map[string]bool) bool {
	seen := map[string]bool{}
	stack := []string{d}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, e := range p.edges(x) {
			if e.to == d {
				return true
			}
			if gone[e.to] && !done[e.to] && !seen[e.to] {
				seen[e.to] = true
				stack = append(stack, e.to)
			}
		}
	}
	return false
}

// Reclaimed sums what the registry's garbage collector frees: the gone
// manifests themselves (a manifest is stored as a blob too) and the blobs
// (configs and layers) they reference that no other manifest of the
// repository does.
func Reclaimed(manifests map[string]*image.Manifest, gone map[string]bool) int64 {
	used := map[string]bool{}
	for d, m := range manifests {
		if !gone[d] {
			for _, b := range m.Blobs {
				used[b.Digest] = true
			}
		}
	}
	freed := map[string]int64{}
	for d := range gone {
		if m := manifests[d]; m != nil {
			freed[d] = m.Size
			for _, b := range m.Blobs {
				if !used[b.Digest] {
					freed[b.Digest] = b.Size
				}
			}
		}
	}
	var n int64
	for _, s := range freed {
		n += s
	}
	return n
}
