package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/tagsweep/tagsweep/bench/internal/seedpush"
)

// Media types of what the seed pushes.
const (
	mtManifest = "application/vnd.oci.image.manifest.v1+json"
	mtIndex    = "application/vnd.oci.image.index.v1+json"
	mtConfig   = "application/vnd.oci.image.config.v1+json"
	mtLayer    = "application/vnd.oci.image.layer.v1.tar"
)

// seedEpoch is the instant the seeded history ends. It is fixed, not the
// wall clock, so that the same -seed gives byte-identical content (and
// digests) on every run.
var seedEpoch = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

type descriptor struct {
	MediaType string    `json:"mediaType"`
	Digest    string    `json:"digest"`
	Size      int64     `json:"size"`
	Platform  *platform `json:"platform,omitempty"`
}

func desc(mt string, b []byte) descriptor {
	return descriptor{MediaType: mt, Digest: seedpush.Digest(b), Size: int64(len(b))}
}

// objKind is what one tagged object of the seed is.
type objKind int

const (
	kindSingle objKind = iota // an image with one tag
	kindPair                  // an image with two tags (a build tagged twice)
	kindIndex                 // a multi-arch index (amd64 + arm64, untagged children), one tag
)

// tagInfo is one seeded tag.
type tagInfo struct {
	Tag     string
	Digest  string
	Created time.Time
	Kind    objKind
}

// repoModel is one seeded repository and what the policy makes of it.
type repoModel struct {
	Name string
	Tags []tagInfo // in the policy's order: created desc, then tag name desc
	// Keep is the set of tags the policy keeps (the first keep of Tags).
	Keep map[string]bool
	// Configs is the number of distinct config blobs reachable from the
	// tags (tagged images and index children).
	Configs int
	// Children is the number of distinct untagged child manifests of the
	// indexes.
	Children int
	// DigestDeletes are the tagged digests the policy removes (no kept tag
	// on them); TagDeletes the stale tags whose digest a kept tag shares
	// (removed by tag); ChildDeletes the untagged children that only
	// deleted indexes reach.
	DigestDeletes, TagDeletes, ChildDeletes int
	// BoundaryPair: the keep boundary splits a build tagged twice (the
	// last kept tag and the first stale one share a digest).
	BoundaryPair bool
	// indexChildren maps an index digest to its children's digests.
	indexChildren map[string][]string
	// base is the layer every image of the repository has; builds the
	// number of the newest build.
	base   descriptor
	builds int
}

// seedJob is one push: its blobs, then a manifest PUT under ref (a tag or
// the manifest's digest).
type seedJob = seedpush.Job

// dataset is everything seeded, in push stages (blobs shared by a
// repository; images and index children; indexes and second tags).
type dataset struct {
	Repos  []*repoModel
	stages [3][]seedJob
	Tags   int
	// counts for the description
	Singles, Pairs, Indexes, Boundary int
}

type datasetOptions struct {
	Repos, TagsPerRepo, Keep int
	Seed                     uint64
	PairFraction             float64 // fraction of tags that share a digest with another tag
	IndexFraction            float64 // fraction of tags that are multi-arch indexes
	BoundaryEvery            int     // every Nth repository gets a build tagged twice split by the keep boundary (0: none forced)
	Span                     time.Duration
}

func repoName(r int) string { return fmt.Sprintf("team/svc-%03d", r) }

// makeDataset builds the content deterministically from o.Seed.
func makeDataset(o datasetOptions) *dataset {
	ds := &dataset{}
	for r := 0; r < o.Repos; r++ {
		ds.addRepo(r, o)
	}
	return ds
}

func (ds *dataset) addRepo(r int, o datasetOptions) {
	name := repoName(r)
	rng := rand.New(rand.NewPCG(o.Seed, uint64(r)+1))
	T := o.TagsPerRepo
	nIdx := int(float64(T)*o.IndexFraction + 0.5)
	if nIdx < 1 && T >= 20 {
		nIdx = 1
	}
	nPairs := int(float64(T)*o.PairFraction/2 + 0.5)
	for 2*nPairs+nIdx > T {
		nPairs--
	}
	nSingle := T - 2*nPairs - nIdx
	nObj := nSingle + nPairs + nIdx

	// Distinct creation times (whole seconds) over the span, newest first.
	seen := map[int64]bool{}
	created := make([]time.Time, 0, nObj)
	for len(created) < nObj {
		s := rng.Int64N(int64(o.Span / time.Second))
		if seen[s] {
			continue
		}
		seen[s] = true
		created = append(created, seedEpoch.Add(-time.Duration(s)*time.Second))
	}
	sort.Slice(created, func(i, j int) bool { return created[i].After(created[j]) })

	kinds := make([]objKind, 0, nObj)
	for i := 0; i < nSingle; i++ {
		kinds = append(kinds, kindSingle)
	}
	for i := 0; i < nPairs; i++ {
		kinds = append(kinds, kindPair)
	}
	for i := 0; i < nIdx; i++ {
		kinds = append(kinds, kindIndex)
	}
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	if o.BoundaryEvery > 0 && r%o.BoundaryEvery == 0 && nPairs > 0 {
		forceBoundaryPair(kinds, o.Keep)
	}

	m := &repoModel{Name: name, Keep: map[string]bool{}, indexChildren: map[string][]string{}}
	ds.Repos = append(ds.Repos, m)
	ds.Tags += T

	// One base layer per repository, shared by every image.
	baseLayer := make([]byte, 2048)
	for i := range baseLayer {
		baseLayer[i] = byte(rng.UintN(256))
	}
	ds.stages[0] = append(ds.stages[0], seedJob{Repo: name, Blobs: [][]byte{baseLayer}})
	base := desc(mtLayer, baseLayer)

	m.base, m.builds = base, nObj

	// Build numbers grow with time: the oldest object is build 1.
	for i := 0; i < nObj; i++ {
		when := created[i]
		build := nObj - i
		tag := fmt.Sprintf("build-%05d", build)
		label := name + ":" + tag
		switch kinds[i] {
		case kindSingle, kindPair:
			j, d := m.image(when, "amd64", label)
			j.Ref = tag
			ds.stages[1] = append(ds.stages[1], j)
			m.Configs++
			m.Tags = append(m.Tags, tagInfo{Tag: tag, Digest: d.Digest, Created: when, Kind: kinds[i]})
			if kinds[i] == kindPair {
				sum := sha256.Sum256([]byte(label))
				second := "git-" + hex.EncodeToString(sum[:])[:7]
				ds.stages[2] = append(ds.stages[2], seedJob{Repo: name, Ref: second, MediaType: mtManifest, Manifest: j.Manifest})
				m.Tags = append(m.Tags, tagInfo{Tag: second, Digest: d.Digest, Created: when, Kind: kindPair})
				ds.Pairs++
			} else {
				ds.Singles++
			}
		case kindIndex:
			amd, amdD := m.image(when, "amd64", label+"/amd64")
			arm, armD := m.image(when, "arm64", label+"/arm64")
			amd.Ref, arm.Ref = amdD.Digest, armD.Digest
			ds.stages[1] = append(ds.stages[1], amd, arm)
			m.Configs += 2
			m.Children += 2
			amdD.Platform = &platform{Architecture: "amd64", OS: "linux"}
			armD.Platform = &platform{Architecture: "arm64", OS: "linux"}
			idx, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": mtIndex, "manifests": []descriptor{amdD, armD}})
			ds.stages[2] = append(ds.stages[2], seedJob{Repo: name, Ref: tag, MediaType: mtIndex, Manifest: idx})
			d := seedpush.Digest(idx)
			m.indexChildren[d] = []string{amdD.Digest, armD.Digest}
			m.Tags = append(m.Tags, tagInfo{Tag: tag, Digest: d, Created: when, Kind: kindIndex})
			ds.Indexes++
		}
	}
	m.applyPolicy(o.Keep)
	if m.BoundaryPair {
		ds.Boundary++
	}
}

// image is one image of the repository: a config of its own (created
// when, labelled label) over the repository's base layer.
func (m *repoModel) image(when time.Time, arch, label string) (seedJob, descriptor) {
	cfg, _ := json.Marshal(map[string]any{
		"architecture": arch,
		"os":           "linux",
		"created":      when.UTC().Format(time.RFC3339),
		"config":       map[string]any{"Labels": map[string]string{"bench.image": label}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{m.base.Digest}},
	})
	man, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": mtManifest,
		"config": desc(mtConfig, cfg), "layers": []descriptor{m.base},
	})
	return seedJob{Repo: m.Name, Blobs: [][]byte{cfg}, MediaType: mtManifest, Manifest: man}, desc(mtManifest, man)
}

// forceBoundaryPair reorders kinds (in created order, newest first) so
// that the object holding the keep-th and (keep+1)-th tags is a pair.
func forceBoundaryPair(kinds []objKind, keep int) {
	tags := func(k objKind) int {
		if k == kindPair {
			return 2
		}
		return 1
	}
	swapLater := func(i int, want func(objKind) bool) bool {
		for j := i + 1; j < len(kinds); j++ {
			if want(kinds[j]) {
				kinds[i], kinds[j] = kinds[j], kinds[i]
				return true
			}
		}
		return false
	}
	for attempt := 0; attempt < 4; attempt++ {
		acc := 0
		i := 0
		for ; i < len(kinds) && acc < keep-1; i++ {
			acc += tags(kinds[i])
		}
		if i >= len(kinds) {
			return
		}
		if acc == keep-1 {
			if kinds[i] == kindPair || !swapLater(i, func(k objKind) bool { return k == kindPair }) {
				return
			}
			continue
		}
		// acc == keep: the pair before i overshot; make it a single.
		if !swapLater(i-1, func(k objKind) bool { return k != kindPair }) {
			return
		}
	}
}

// applyPolicy sorts the tags in the policy's order (created desc, ties by
// tag name, byte-wise, highest first) and derives what the policy keeps
// and deletes.
func (m *repoModel) applyPolicy(keep int) {
	sort.Slice(m.Tags, func(i, j int) bool {
		a, b := m.Tags[i], m.Tags[j]
		if !a.Created.Equal(b.Created) {
			return a.Created.After(b.Created)
		}
		return a.Tag > b.Tag
	})
	keptDigest := map[string]bool{}
	for i, t := range m.Tags {
		if i < keep {
			m.Keep[t.Tag] = true
			keptDigest[t.Digest] = true
		}
	}
	keptChild := map[string]bool{}
	for d := range keptDigest {
		for _, c := range m.indexChildren[d] {
			keptChild[c] = true
		}
	}
	staleDigest := map[string]bool{}
	for i, t := range m.Tags {
		if i < keep {
			continue
		}
		if keptDigest[t.Digest] {
			m.TagDeletes++
			if i == keep {
				m.BoundaryPair = true
			}
			continue
		}
		staleDigest[t.Digest] = true
	}
	m.DigestDeletes = len(staleDigest)
	for d := range staleDigest {
		for _, c := range m.indexChildren[d] {
			if !keptChild[c] {
				m.ChildDeletes++
			}
		}
	}
}

// freedDigests returns the manifests the policy frees: tagged digests no
// kept tag is on, and the index children that only those reach.
func (m *repoModel) freedDigests() []string {
	kept := map[string]bool{}
	for _, t := range m.Tags {
		if m.Keep[t.Tag] {
			kept[t.Digest] = true
			for _, c := range m.indexChildren[t.Digest] {
				kept[c] = true
			}
		}
	}
	seen := map[string]bool{}
	var out []string
	add := func(d string) {
		if !kept[d] && !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	for _, t := range m.Tags {
		if !m.Keep[t.Tag] {
			add(t.Digest)
			for _, c := range m.indexChildren[t.Digest] {
				add(c)
			}
		}
	}
	return out
}
