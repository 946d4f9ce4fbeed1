// Package restore puts back what a sweep deleted, from the entries of its
// undo file (`tagsweep restore`, README "Made a mistake?").
//
// A restore has three steps, the first two of which only read:
//
//  1. select: the entries merged per manifest (a later deletion of a tag
//     wins over an earlier one), narrowed by --only to the tags asked for,
//     what they need (an index's children, a signature's subject) and
//     what was deleted with them (their signatures and referrers);
//  2. check: HEAD of every manifest, of every blob of the manifests to
//     write (config and layers: a blob the garbage collector removed means
//     the manifest is not written, before anything is), of the children and
//     subjects outside the undo file, and of every tag; then the decision,
//     which a dry run reports;
//  3. write: manifests children first (images, then indexes, then
//     referrers: every manifest after what it references), each verified
//     by a HEAD of its digest, through the vendor's restore where the
//     backend is a registry.Undeleter (GHCR) and by a PUT of the bytes as
//     served otherwise; then the tags, each HEADed again just before its
//     PUT and never written over a tag that points elsewhere, each
//     verified by digest.
package restore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/image"
	"github.com/tagsweep/tagsweep/internal/report"
	"github.com/tagsweep/tagsweep/internal/undo"
)

// Ref names what --only asks for: a tag, or a manifest by digest.
type Ref struct {
	Repository string
	// Tag or Digest (one of them).
	Tag, Digest string
}

func (r Ref) String() string {
	if r.Digest != "" {
		return r.Repository + "@" + r.Digest
	}
	return r.Repository + ":" + r.Tag
}

// ParseRef reads "repository:tag" or "repository@sha256:…", with or
// without the registry host in front ("host/repository:tag").
func ParseRef(s, host string) (Ref, error) {
	s = strings.TrimSpace(s)
	if host != "" {
		s = strings.TrimPrefix(s, host+"/")
	}
	if repo, d, ok := strings.Cut(s, "@"); ok {
		if repo == "" || !undo.ValidDigest(d) {
			return Ref{}, errors.New("is not repository@sha256:<64 hex digits>")
		}
		return Ref{Repository: repo, Digest: d}, nil
	}
	i := strings.LastIndex(s, ":")
	if i <= 0 || i == len(s)-1 || strings.Contains(s[i:], "/") {
		return Ref{}, errors.New("is not repository:tag (or repository@digest)")
	}
	return Ref{Repository: s[:i], Tag: s[i+1:]}, nil
}

// Options configure a restore.
type Options struct {
	// Registry and UndoFile are named in the report.
	Registry, UndoFile string
	// Only narrows the restore (nil: everything in the undo file).
	Only []Ref
	// DryRun checks and reports, and writes nothing.
	DryRun bool
	// Concurrency bounds the calls in flight. The default is 8.
	Concurrency int
	// Now is the clock. The default is time.Now.
	Now func() time.Time
	// Log gets a line per step. The default is io.Discard.
	Log io.Writer
	// Refused, when set, is why this registry cannot take anything back:
	// every entry is reported not restored with it, and nothing is sent.
	Refused string
}

// node is one manifest of the undo file.
type node struct {
	repo, digest string
	raw          image.Raw
	handle       string
	subject      string
	children     []string
	blobs        []blob
	tags         []string // the tags to put back on it (selected)
	selected     bool

	// check
	present bool
	why     string // why it cannot be written ("" : it can)

	// decision and outcome
	write  bool
	done   bool // written and verified
	failed string
}

type blob struct {
	digest, kind string // kind: "config" or "layer"
}

// key names a manifest or a tag of a repository.
func key(repo, ref string) string { return repo + "\x00" + ref }

// set is the merged entries.
type set struct {
	nodes map[string]*node // key(repo, digest)
	order []string         // keys, in the undo file's order
	// owner maps key(repo, tag) to the manifest the latest deletion of
	// the tag had it on; shadowed lists the earlier ones.
	owner    map[string]string
	shadowed map[string][]string
}

// Select merges entries and narrows them to only (nil: all). A reference
// of only that names nothing in the entries is an error (invalid input).
func Select(entries []undo.Entry, only []Ref) (*Plan, error) {
	s := &set{nodes: map[string]*node{}, owner: map[string]string{}, shadowed: map[string][]string{}}
	for _, e := range entries {
		k := key(e.Repository, e.Digest)
		n := s.nodes[k]
		if n == nil {
			n = &node{repo: e.Repository, digest: e.Digest}
			s.nodes[k] = n
			s.order = append(s.order, k)
		}
		n.raw = image.Raw{MediaType: e.MediaType, Bytes: e.Bytes()}
		n.handle = cmp.Or(e.Handle, n.handle)
		n.subject = cmp.Or(e.Subject, n.subject)
		for _, t := range e.Tags {
			tk := key(e.Repository, t)
			if prev, ok := s.owner[tk]; ok && prev != k {
				s.shadowed[tk] = append(s.shadowed[tk], prev)
			}
			s.owner[tk] = k
		}
	}
	for _, k := range s.order {
		n := s.nodes[k]
		n.children, n.blobs = parse(n.raw)
	}
	// Every tag goes to the manifest its latest deletion had it on.
	tagsOf := map[string][]string{}
	for tk, k := range s.owner {
		_, t, _ := strings.Cut(tk, "\x00")
		tagsOf[k] = append(tagsOf[k], t)
	}
	p := &Plan{s: s, asked: map[string]bool{}}
	if len(only) == 0 {
		for k, n := range s.nodes {
			n.selected = true
			n.tags = tagsOf[k]
		}
	} else {
		p.narrowed = true
		var missing []string
		for _, r := range only {
			var k string
			if r.Digest != "" {
				k = key(r.Repository, r.Digest)
				if s.nodes[k] == nil {
					missing = append(missing, r.String())
					continue
				}
			} else {
				var ok bool
				if k, ok = s.owner[key(r.Repository, r.Tag)]; !ok {
					missing = append(missing, r.String())
					continue
				}
				n := s.nodes[k]
				if !slices.Contains(n.tags, r.Tag) {
					n.tags = append(n.tags, r.Tag)
				}
				p.asked[key(r.Repository, r.Tag)] = true
			}
			p.want(k, tagsOf)
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("%s: not in the undo file", strings.Join(missing, ", "))
		}
	}
	for _, n := range s.nodes {
		slices.Sort(n.tags)
	}
	return p, nil
}

// Plan is a selection of the undo file's entries, to check and restore.
type Plan struct {
	s *set
	// asked are the tags --only named.
	asked map[string]bool
	// narrowed: --only was given.
	narrowed bool
}

// want selects the manifest k with what it needs (children, subject, in
// the undo file) and what was deleted with it (the manifests whose subject
// it is, with their tags: signatures, attestations, referrers).
func (p *Plan) want(k string, tagsOf map[string][]string) {
	n := p.s.nodes[k]
	if n == nil || n.selected {
		return
	}
	n.selected = true
	for _, c := range n.children {
		p.want(key(n.repo, c), tagsOf)
	}
	if n.subject != "" {
		p.want(key(n.repo, n.subject), tagsOf)
	}
	for _, ok := range p.s.order {
		o := p.s.nodes[ok]
		if o.repo == n.repo && o.subject == n.digest && !o.selected {
			o.tags = tagsOf[ok]
			p.want(ok, tagsOf)
		}
	}
}

// manifest is what parse reads of a manifest's bytes.
type manifest struct {
	Manifests []descriptor `json:"manifests"`
	Config    *descriptor  `json:"config"`
	Layers    []descriptor `json:"layers"`
}

type descriptor struct {
	Digest string   `json:"digest"`
	URLs   []string `json:"urls"`
}

// parse reads the children of an index and the blobs of an image from
// raw. Layers with URLs (Windows foreign layers) are not stored by the
// registry and are not checked.
func parse(raw image.Raw) (children []string, blobs []blob) {
	var m manifest
	if json.Unmarshal(raw.Bytes, &m) != nil {
		return nil, nil // schema 1 or unknown: the registry's PUT tells
	}
	if image.IsIndex(raw.MediaType) {
		for _, d := range m.Manifests {
			children = append(children, d.Digest)
		}
		return children, nil
	}
	for _, l := range m.Layers {
		if len(l.URLs) == 0 && l.Digest != "" {
			blobs = append(blobs, blob{l.Digest, "layer"})
		}
	}
	if m.Config != nil && m.Config.Digest != "" {
		blobs = append(blobs, blob{m.Config.Digest, "config"})
	}
	return nil, blobs
}

// state is what the check saw of the registry.
type state struct {
	mu     sync.Mutex
	exists map[string]bool   // key(repo, digest): manifests outside or inside the undo file
	blobs  map[string]bool   // key(repo, blob digest)
	tags   map[string]string // key(repo, tag) -> digest now ("" : no such tag)
	errs   []error
	logw   io.Writer
	b      registry.Restorer
	undel  registry.Undeleter
	limit  int
	dryRun bool
	// written are the tags written (or found pushed just before).
	written []*tagWrite
}

func (st *state) fail(err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.errs = append(st.errs, err)
}

// each runs f over items with at most limit at once.
func each[T any](limit int, items []T, f func(T)) {
	var g errgroup.Group
	g.SetLimit(limit)
	for _, it := range items {
		g.Go(func() error {
			f(it)
			return nil
		})
	}
	_ = g.Wait()
}

// Run checks the plan against the registry behind b, writes what can be
// restored (unless DryRun), and reports what became of every tag and
// manifest.
func Run(ctx context.Context, b registry.Restorer, p *Plan, o Options) *report.Restore {
	if o.Concurrency < 1 {
		o.Concurrency = 8
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	rep := &report.Restore{Registry: o.Registry, UndoFile: o.UndoFile, DryRun: o.DryRun, StartedAt: o.Now().UTC(), Repositories: []report.RestoreRepository{}}
	for _, r := range o.Only {
		rep.Only = append(rep.Only, r.String())
	}
	st := &state{exists: map[string]bool{}, blobs: map[string]bool{}, tags: map[string]string{}, logw: o.Log, b: b, limit: o.Concurrency, dryRun: o.DryRun}
	st.undel, _ = b.(registry.Undeleter)
	nodes := p.selected()
	if o.Refused != "" {
		for _, n := range nodes {
			n.why = o.Refused
		}
	} else {
		st.check(ctx, nodes, p)
		p.decide(nodes, st)
		if !o.DryRun && len(st.errs) == 0 {
			st.write(ctx, nodes, p)
		}
	}
	for _, err := range st.errs {
		rep.Errors = append(rep.Errors, err.Error())
	}
	rep.Repositories = p.report(nodes, st, o)
	rep.FinishedAt = o.Now().UTC()
	rep.Tally()
	return rep
}

// selected lists the selected manifests in the undo file's order.
func (p *Plan) selected() []*node {
	var out []*node
	for _, k := range p.s.order {
		if n := p.s.nodes[k]; n.selected {
			out = append(out, n)
		}
	}
	return out
}

// node is the manifest digest of repo in the undo file, selected, or nil.
func (p *Plan) node(repo, digest string) *node {
	if n := p.s.nodes[key(repo, digest)]; n != nil && n.selected {
		return n
	}
	return nil
}

// check reads what the registry holds now: every selected manifest, the
// blobs of those it would write (unless the vendor restores them), the
// children and subjects that are not in the undo file, and every tag.
// Nothing is written.
func (st *state) check(ctx context.Context, nodes []*node, p *Plan) {
	exists := func(repo, d string) {
		ok, err := st.b.Exists(ctx, repo, d)
		if err != nil {
			st.fail(fmt.Errorf("%s@%s: %w", repo, d, err))
			return
		}
		st.mu.Lock()
		st.exists[key(repo, d)] = ok
		st.mu.Unlock()
	}
	each(st.limit, nodes, func(n *node) { exists(n.repo, n.digest) })
	var outside [][2]string
	seen := map[string]bool{}
	var blobs [][2]string
	for _, n := range nodes {
		n.present = st.exists[key(n.repo, n.digest)]
		if n.present {
			continue
		}
		for _, c := range append(slices.Clone(n.children), n.subject) {
			if c != "" && p.node(n.repo, c) == nil && !seen[key(n.repo, c)] {
				seen[key(n.repo, c)] = true
				outside = append(outside, [2]string{n.repo, c})
			}
		}
		if st.undel != nil && n.handle != "" {
			continue // the vendor restores the blobs with the manifest
		}
		for _, bl := range n.blobs {
			if !seen["blob"+key(n.repo, bl.digest)] {
				seen["blob"+key(n.repo, bl.digest)] = true
				blobs = append(blobs, [2]string{n.repo, bl.digest})
			}
		}
	}
	each(st.limit, outside, func(x [2]string) { exists(x[0], x[1]) })
	each(st.limit, blobs, func(x [2]string) {
		ok, err := st.b.BlobExists(ctx, x[0], x[1])
		if err != nil {
			st.fail(fmt.Errorf("%s blob %s: %w", x[0], x[1], err))
			return
		}
		st.mu.Lock()
		st.blobs[key(x[0], x[1])] = ok
		st.mu.Unlock()
	})
	var tags [][2]string
	for _, n := range nodes {
		for _, t := range n.tags {
			tags = append(tags, [2]string{n.repo, t})
		}
	}
	each(st.limit, tags, func(x [2]string) {
		d, err := st.b.Resolve(ctx, x[0], x[1])
		if errors.Is(err, registry.ErrNotFound) {
			d, err = "", nil
		}
		if err != nil {
			st.fail(fmt.Errorf("%s:%s: %w", x[0], x[1], err))
			return
		}
		st.mu.Lock()
		st.tags[key(x[0], x[1])] = d
		st.mu.Unlock()
	})
	fmt.Fprintf(st.logw, "restore: checked %s, %s and %s\n", report.Count(len(nodes)+len(outside), "manifest"), report.Count(len(blobs), "blob"), report.Count(len(tags), "tag"))
}

// decide works out, from what the check saw, which manifests to write:
// those that can be (present already, or every blob there, every child and
// the subject present or written too) and that something needs (a tag to
// put back on it, a manifest written that references it, or a subject
// that will be there, for a referrer).
func (p *Plan) decide(nodes []*node, st *state) {
	var can func(n *node, depth int) string
	memo := map[*node]bool{}
	can = func(n *node, depth int) string {
		if n.present || memo[n] || depth > 16 {
			return n.why
		}
		memo[n] = true
		for _, bl := range n.blobs {
			if st.undel != nil && n.handle != "" {
				break
			}
			if !st.blobs[key(n.repo, bl.digest)] {
				n.why = fmt.Sprintf("%s %s is gone: the garbage collector ran", bl.kind, bl.digest)
				return n.why
			}
		}
		for _, c := range n.children {
			if cn := p.node(n.repo, c); cn != nil {
				if why := can(cn, depth+1); why != "" {
					n.why = fmt.Sprintf("child %s cannot be restored: %s", c, why)
					return n.why
				}
			} else if !st.exists[key(n.repo, c)] {
				n.why = fmt.Sprintf("child %s is gone and is not in the undo file", c)
				return n.why
			}
		}
		if s := n.subject; s != "" {
			if sn := p.node(n.repo, s); sn != nil {
				if why := can(sn, depth+1); why != "" {
					n.why = fmt.Sprintf("its subject %s cannot be restored: %s", s, why)
				}
			} else if !st.exists[key(n.repo, s)] {
				n.why = fmt.Sprintf("its subject %s is gone and is not in the undo file", s)
			}
		}
		return n.why
	}
	var need func(n *node)
	need = func(n *node) {
		if n.write || n.present || n.why != "" {
			return
		}
		n.write = true
		for _, c := range n.children {
			if cn := p.node(n.repo, c); cn != nil {
				need(cn)
			}
		}
		if sn := p.node(n.repo, n.subject); sn != nil {
			need(sn)
		}
	}
	for _, n := range nodes {
		can(n, 0)
	}
	// Roots: a tag to put back on it, or a referrer whose subject will be there.
	for changed := true; changed; {
		changed = false
		for _, n := range nodes {
			if n.write || n.present || n.why != "" {
				continue
			}
			// Without --only, everything goes back (but a manifest all of
			// whose tags point elsewhere now, which nothing needs).
			root := len(n.tags) == 0 && !p.narrowed
			for _, t := range n.tags {
				root = root || st.tags[key(n.repo, t)] == ""
			}
			if n.subject != "" {
				sn := p.node(n.repo, n.subject)
				root = root || (sn == nil && st.exists[key(n.repo, n.subject)]) || (sn != nil && (sn.present || sn.write))
			}
			if root {
				need(n)
				changed = true
			}
		}
	}
}

// write puts the manifests back, every one after what it references, then
// the tags.
func (st *state) write(ctx context.Context, nodes []*node, p *Plan) {
	var todo []*node
	for _, n := range nodes {
		if n.write {
			todo = append(todo, n)
		}
	}
	for len(todo) > 0 {
		var layer, rest []*node
		for _, n := range todo {
			ready := true
			for _, d := range append(slices.Clone(n.children), n.subject) {
				if dn := p.node(n.repo, d); dn != nil && dn.write && !dn.done && dn.failed == "" {
					ready = false
				}
			}
			if ready {
				layer = append(layer, n)
			} else {
				rest = append(rest, n)
			}
		}
		if len(layer) == 0 { // a cycle: nothing references itself in a registry
			for _, n := range rest {
				n.failed = "it references itself through its children"
			}
			return
		}
		slices.SortStableFunc(layer, func(a, b *node) int { return cmp.Compare(a.class(), b.class()) })
		each(st.limit, layer, func(n *node) { st.putManifest(ctx, n, p) })
		todo = rest
	}
	var tags []*tagWrite
	for _, n := range nodes {
		if !n.done && !n.present {
			continue
		}
		for _, t := range n.tags {
			if st.tags[key(n.repo, t)] == "" {
				tags = append(tags, &tagWrite{n: n, tag: t})
			}
		}
	}
	each(st.limit, tags, func(tw *tagWrite) { st.putTag(ctx, tw) })
	manifests, tagged := 0, 0
	for _, n := range nodes {
		if n.done {
			manifests++
		}
	}
	for _, tw := range tags {
		if tw.done {
			tagged++
		}
	}
	fmt.Fprintf(st.logw, "restore: wrote %s and %s\n", report.Count(manifests, "manifest"), report.Count(tagged, "tag"))
}

// class orders a layer for the log and the registry's view: images, then
// indexes, then referrers.
func (n *node) class() int {
	switch {
	case n.subject != "":
		return 2
	case image.IsIndex(n.raw.MediaType):
		return 1
	}
	return 0
}

// putManifest writes n: by the vendor's restore where it has one, else by
// a PUT of its bytes; then checks that the registry serves its digest.
func (st *state) putManifest(ctx context.Context, n *node, p *Plan) {
	for _, d := range append(slices.Clone(n.children), n.subject) {
		if dn := p.node(n.repo, d); dn != nil && dn.failed != "" {
			n.failed = fmt.Sprintf("not written: %s, which it references, could not be restored", d)
			return
		}
	}
	if err := ctx.Err(); err != nil {
		n.failed = "not written: the restore stopped: " + context.Cause(ctx).Error()
		return
	}
	var err error
	if st.undel != nil && n.handle != "" {
		err = st.undel.Undelete(ctx, n.repo, n.digest, n.handle)
	} else {
		raw := n.raw
		err = st.b.PutManifest(ctx, n.repo, n.digest, &raw)
	}
	if err != nil {
		n.failed = err.Error()
		return
	}
	ok, err := st.b.Exists(ctx, n.repo, n.digest)
	switch {
	case err != nil:
		n.failed = "written, but could not be verified: " + err.Error()
	case !ok:
		n.failed = "written, but the registry does not serve " + n.digest
	default:
		n.done = true
	}
}

// tagWrite is one tag to put back, and what became of it.
type tagWrite struct {
	n      *node
	tag    string
	now    string // the digest the tag was found on just before the PUT
	failed string
	done   bool
}

// putTag puts the tag back on its manifest, unless it was pushed since
// the check (a HEAD just before the PUT), and checks it by digest.
func (st *state) putTag(ctx context.Context, tw *tagWrite) {
	n := tw.n
	defer func() {
		st.mu.Lock()
		defer st.mu.Unlock()
		st.written = append(st.written, tw)
	}()
	cur, err := st.b.Resolve(ctx, n.repo, tw.tag)
	switch {
	case errors.Is(err, registry.ErrNotFound):
	case err != nil:
		tw.failed = err.Error()
		return
	case cur == n.digest:
		tw.done = true // back with its manifest (a vendor's restore), verified
		return
	default:
		tw.now = cur
		return // pushed since the check: never overwritten
	}
	raw := n.raw
	if err := st.b.PutManifest(ctx, n.repo, tw.tag, &raw); err != nil {
		tw.failed = err.Error()
		return
	}
	d, err := st.b.Resolve(ctx, n.repo, tw.tag)
	switch {
	case err != nil:
		tw.failed = "written, but could not be verified: " + err.Error()
	case d != n.digest:
		tw.failed = fmt.Sprintf("written, but it resolves to %s, not %s", d, n.digest)
	default:
		tw.done = true
	}
}
