package engine

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/tagsweep/tagsweep/internal/policy"
	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/image"
)

// Listed is one repository as `tagsweep ls` shows it.
type Listed struct {
	Name  string      `json:"name"`
	Tags  []ListedTag `json:"tags"`
	Error string      `json:"error,omitempty"`
}

// ListedTag is one tag as `tagsweep ls` shows it.
type ListedTag struct {
	Tag       string     `json:"tag"`
	Digest    string     `json:"digest"`
	MediaType string     `json:"mediaType"`
	Created   *time.Time `json:"created"`
	// Pushed is the registry's push time, where the provider reports one.
	Pushed *time.Time `json:"pushed,omitempty"`
	// Size is the bytes of the blobs (config and layers) the tag pulls,
	// over every platform of an index.
	Size int64 `json:"size"`
}

// List discovers the repositories and inspects the tags that match
// include and none of exclude, without planning or deleting.
func (e *Engine) List(ctx context.Context, include, exclude []policy.Glob) ([]Listed, error) {
	repos, _, err := e.discover(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Listed, len(repos))
	e.eachRepository(len(repos), func(i int) { out[i] = e.listOne(ctx, repos[i], include, exclude) })
	return out, nil
}

func (e *Engine) listOne(ctx context.Context, name string, include, exclude []policy.Glob) Listed {
	l := Listed{Name: name, Tags: []ListedTag{}}
	all, err := call(e.work, func(b registry.Backend) ([]image.Tag, error) { return b.Tags(ctx, name) })
	if err != nil {
		l.Error = err.Error()
		return l
	}
	var tags []image.Tag
	for _, t := range all {
		if matchAny(include, t.Name) && !matchAny(exclude, t.Name) {
			tags = append(tags, t)
		}
	}
	sort.Slice(tags, func(i, j int) bool { return tags[i].Name < tags[j].Name })
	snap := e.inspect(ctx, name, tags)
	if len(snap.errs) > 0 {
		l.Error = errors.Join(snap.errs...).Error()
	}
	now := e.o.Now()
	for _, t := range snap.tags {
		if t.Digest == "" {
			continue
		}
		m := snap.manifests[t.Digest]
		lt := ListedTag{Tag: t.Name, Digest: t.Digest, MediaType: m.MediaType, Size: size(snap.manifests, t.Digest)}
		if c, ok := policy.Age(snap.manifests, t.Digest, now); ok {
			c = c.UTC()
			lt.Created = &c
		}
		if policy.Plausible(t.Pushed, now) {
			p := t.Pushed.UTC()
			lt.Pushed = &p
		}
		l.Tags = append(l.Tags, lt)
	}
	return l
}

func matchAny(gs []policy.Glob, s string) bool {
	for _, g := range gs {
		if g.Match(s) {
			return true
		}
	}
	return false
}

// size sums the distinct blobs a manifest pulls, through index children.
func size(ms map[string]*image.Manifest, d string) int64 {
	seen := map[string]bool{}
	var n int64
	var walk func(d string, depth int)
	walk = func(d string, depth int) {
		m := ms[d]
		if m == nil || depth > maxDepth {
			return
		}
		for _, b := range m.Blobs {
			if !seen[b.Digest] {
				seen[b.Digest] = true
				n += b.Size
			}
		}
		for _, c := range m.Children {
			walk(c, depth+1)
		}
	}
	walk(d, 0)
	return n
}
