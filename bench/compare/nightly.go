package main

import (
	"fmt"
	"time"
)

// dayTwo is the second day of the nightly mode (-nightly): every
// repository as the first day's sweep left it (the tags the policy kept),
// then a day of CI in it: added new builds pushed, created after
// everything before, and moved of the kept tags (the newest) pushed again
// as rebuilds, so that they point at new images. The policy then keeps
// the keep newest again and deletes the rest.
type dayTwo struct {
	ds *dataset
	// Added and Moved are the tags pushed and re-pointed, over all
	// repositories; NewImages the images (manifests and configs) the
	// registry never held on day one, one per pushed tag.
	Added, Moved, NewImages int
}

// nextDay builds the second day from the first day's dataset: the model
// of every repository after day two's pushes, and the pushes themselves
// (ds.stages[0]: a config blob and a manifest PUT under the tag).
func (ds *dataset) nextDay(keep, added, moved int) *dayTwo {
	d := &dayTwo{ds: &dataset{}}
	for r, m := range ds.Repos {
		n := &repoModel{Name: m.Name, Keep: map[string]bool{}, indexChildren: m.indexChildren, base: m.base, builds: m.builds + added}
		// Day two's pushes come an hour apart, per repository, after the
		// seeded history ends.
		at := func(k int) time.Time { return seedEpoch.Add(time.Duration(r*(added+moved)+k+1) * time.Hour) }
		push := func(tag string, when time.Time) {
			j, dd := m.image(when, "amd64", m.Name+":"+tag+"@day2")
			j.Ref = tag
			d.ds.stages[0] = append(d.ds.stages[0], j)
			n.Tags = append(n.Tags, tagInfo{Tag: tag, Digest: dd.Digest, Created: when, Kind: kindSingle})
			d.NewImages++
		}
		k := 0
		for i, t := range m.Tags { // in the policy's order: the newest kept first
			if !m.Keep[t.Tag] {
				continue
			}
			if i < moved {
				push(t.Tag, at(k))
				k++
				d.Moved++
				continue
			}
			n.Tags = append(n.Tags, t)
		}
		for b := range added {
			push(fmt.Sprintf("build-%05d", m.builds+b+1), at(k))
			k++
			d.Added++
		}
		seen := map[string]bool{}
		for _, t := range n.Tags {
			if seen[t.Digest] {
				continue
			}
			seen[t.Digest] = true
			if kids := m.indexChildren[t.Digest]; len(kids) > 0 {
				n.Children += len(kids)
				n.Configs += len(kids)
			} else {
				n.Configs++
			}
		}
		n.applyPolicy(keep)
		d.ds.Repos = append(d.ds.Repos, n)
		d.ds.Tags += len(n.Tags)
		if n.BoundaryPair {
			d.ds.Boundary++
		}
	}
	return d
}

// rerunBound is the fewest requests of a re-run with the first day's
// cache (issue 16): list pages + one HEAD per tag + one GET per new
// digest + one config GET per new image + the second look + the
// deletions. Nothing seen the day before is read again.
func (d *dayTwo) rerunBound() bound {
	b := computeBound(d.ds)
	b.Heads = b.Manifests
	b.Manifests, b.Children, b.Configs = d.NewImages, 0, d.NewImages
	return b
}
