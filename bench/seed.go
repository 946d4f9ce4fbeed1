package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/tagsweep/tagsweep/bench/internal/seedpush"
)

// Media types the seeder writes.
const (
	mtIndex    = "application/vnd.oci.image.index.v1+json"
	mtManifest = "application/vnd.oci.image.manifest.v1+json"
	mtConfig   = "application/vnd.oci.image.config.v1+json"
	mtLayer    = "application/vnd.oci.image.layer.v1.tar"
	mtEmpty    = "application/vnd.oci.empty.v1+json"
	mtSigning  = "application/vnd.dev.cosign.simplesigning.v1+json"
	mtSPDX     = "application/spdx+json"
)

type descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	Platform     *platform         `json:"platform,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	ArtifactType string            `json:"artifactType,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

func desc(mt string, b []byte) descriptor {
	return descriptor{MediaType: mt, Digest: seedpush.Digest(b), Size: int64(len(b))}
}

// tarBlob is an uncompressed tar holding one file of size bytes derived
// from name (uncompressed, so its digest is its diff ID).
func tarBlob(name string, size int) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	content := bytes.Repeat([]byte(name+"\n"), size/(len(name)+1)+1)[:size]
	_ = tw.WriteHeader(&tar.Header{Name: "bench/" + name, Mode: 0o644, Size: int64(size), ModTime: time.Unix(0, 0)})
	_, _ = tw.Write(content)
	_ = tw.Close()
	return buf.Bytes()
}

func imageConfig(created time.Time, arch, label string, layers []descriptor) []byte {
	diffs := make([]string, len(layers))
	for i, l := range layers {
		diffs[i] = l.Digest
	}
	b, _ := json.Marshal(map[string]any{
		"architecture": arch,
		"os":           "linux",
		"created":      created.UTC().Format(time.RFC3339Nano),
		"config":       map[string]any{"Labels": map[string]string{"bench.image": label}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": diffs},
	})
	return b
}

func manifestJSON(config descriptor, layers []descriptor, subject *descriptor, artifactType string, ann map[string]string) []byte {
	m := map[string]any{"schemaVersion": 2, "mediaType": mtManifest, "config": config, "layers": layers}
	if subject != nil {
		m["subject"] = subject
	}
	if artifactType != "" {
		m["artifactType"] = artifactType
	}
	if len(ann) > 0 {
		m["annotations"] = ann
	}
	b, _ := json.Marshal(m)
	return b
}

// seedJob is one push: its own blobs (uploaded first), then a manifest
// PUT under ref (a tag or the manifest's digest).
type seedJob = seedpush.Job

// seedPlan is everything to push, in stages: shared blobs, then images
// and artifacts, then what references them (indexes, alias tags).
type seedPlan struct {
	stages [3][]seedJob
	repos  []string
	// counts, for the report
	tags, builds, indexes, children, sigs, referrers, aliases, unknownAge int
}

// repoName names repository r.
func repoName(r int) string { return fmt.Sprintf("bench/svc-%04d", r) }

// makeSeedPlan builds the content of repos repositories holding total tags
// together. Per repository of T tags: T/25 multi-arch indexes (two
// platform images each, every second index sharing its arm64 image with
// the previous one), T/25 cosign signature tags sha256-<hex>.sig on build
// images, T/100 release-N tags and the tags latest and main as second
// tags on build images (excluded by the policy, so the build tags sharing
// their digests are deleted by tag), T/200 images of unknown age
// (created 1970), and build-N images for the rest, with created spread
// uniformly over the last 180 days. One build image in 50 also gets an
// OCI 1.1 SBOM referrer (untagged). Images share two base layers per
// repository and a group layer per 16 images; every config is unique.
func makeSeedPlan(repos, total int, now time.Time) *seedPlan {
	p := &seedPlan{}
	for r := 0; r < repos; r++ {
		t := total / repos
		if r < total%repos {
			t++
		}
		if t > 0 {
			p.addRepo(repoName(r), r, t, now)
		}
	}
	return p
}

func (p *seedPlan) addRepo(repo string, r, t int, now time.Time) {
	p.repos = append(p.repos, repo)
	rng := rand.New(rand.NewPCG(uint64(r), 0x7a65))
	nRelease, nSig, nIdx, nRepro := t/100, t/25, t/25, t/200
	nAlias := 0
	if t >= 20 {
		nAlias = 2
	}
	nBuild := t - nRelease - nSig - nIdx - nRepro - nAlias
	p.tags += t
	p.builds += nBuild
	p.indexes += nIdx
	p.sigs += nSig
	p.aliases += nRelease + nAlias
	p.unknownAge += nRepro

	shared := func(b []byte) { p.stages[0] = append(p.stages[0], seedJob{Repo: repo, Blobs: [][]byte{b}}) }
	base := []descriptor{}
	for i, size := range []int{6000, 3000} {
		b := tarBlob(fmt.Sprintf("base-%d", i), size)
		shared(b)
		base = append(base, desc(mtLayer, b))
	}
	groups := map[int]descriptor{}
	group := func(i int) descriptor {
		g := i / 16
		if d, ok := groups[g]; ok {
			return d
		}
		b := tarBlob(fmt.Sprintf("%s-group-%d", repo, g), 1500)
		shared(b)
		groups[g] = desc(mtLayer, b)
		return groups[g]
	}
	emptyBlob := []byte("{}")
	shared(emptyBlob)
	sigConfig, _ := json.Marshal(map[string]any{"architecture": "", "os": "", "config": map[string]any{}, "rootfs": map[string]any{"type": "layers", "diff_ids": []string{}}})
	shared(sigConfig)

	// image builds an image manifest; its config is pushed with it.
	image := func(created time.Time, arch, label string, layers []descriptor) (seedJob, descriptor) {
		cfg := imageConfig(created, arch, label, layers)
		m := manifestJSON(desc(mtConfig, cfg), layers, nil, "", nil)
		return seedJob{Repo: repo, Blobs: [][]byte{cfg}, MediaType: mtManifest, Manifest: m}, desc(mtManifest, m)
	}
	span := int64(180 * 24 * time.Hour)
	type build struct {
		job     seedJob
		d       descriptor
		created time.Time
	}
	builds := make([]build, nBuild)
	newest := 0
	for i := range builds {
		created := now.Add(-time.Duration(rng.Int64N(span))).Truncate(time.Second)
		layers := append(append([]descriptor{}, base...), group(i))
		j, d := image(created, "amd64", fmt.Sprintf("%s:build-%06d", repo, i), layers)
		j.Ref = fmt.Sprintf("build-%06d", i)
		builds[i] = build{j, d, created}
		p.stages[1] = append(p.stages[1], j)
		if created.After(builds[newest].created) {
			newest = i
		}
	}
	for i := 0; i < nRepro; i++ {
		j, _ := image(time.Unix(0, 0), "amd64", fmt.Sprintf("%s:repro-%04d", repo, i), base)
		j.Ref = fmt.Sprintf("repro-%04d", i)
		p.stages[1] = append(p.stages[1], j)
	}
	var prevArm descriptor
	for k := 0; k < nIdx; k++ {
		created := now.Add(-time.Duration(rng.Int64N(span))).Truncate(time.Second)
		amd, amdD := image(created, "amd64", fmt.Sprintf("%s:mr-%05d/amd64", repo, k), base)
		amd.Ref = amdD.Digest
		p.stages[1] = append(p.stages[1], amd)
		p.children++
		armD := prevArm
		if k%2 == 0 {
			var arm seedJob
			arm, armD = image(created.Add(time.Minute), "arm64", fmt.Sprintf("%s:mr-%05d/arm64", repo, k), base)
			arm.Ref = armD.Digest
			p.stages[1] = append(p.stages[1], arm)
			p.children++
			prevArm = armD
		}
		amdD.Platform = &platform{Architecture: "amd64", OS: "linux"}
		armD.Platform = &platform{Architecture: "arm64", OS: "linux"}
		idx, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": mtIndex, "manifests": []descriptor{amdD, armD}})
		p.stages[2] = append(p.stages[2], seedJob{Repo: repo, Ref: fmt.Sprintf("mr-%05d", k), MediaType: mtIndex, Manifest: idx})
	}
	// Signatures, spread over the builds.
	for k := 0; k < nSig; k++ {
		subject := builds[(k*nBuild/max(nSig, 1)+1)%nBuild].d
		payload, _ := json.Marshal(map[string]any{"critical": map[string]any{
			"identity": map[string]string{"docker-reference": repo},
			"image":    map[string]string{"docker-manifest-digest": subject.Digest},
			"type":     "cosign container image signature",
		}})
		l := desc(mtSigning, payload)
		l.Annotations = map[string]string{"dev.cosignproject.cosign/signature": fmt.Sprintf("MEUCIQ%x", sha256.Sum256(payload))}
		m := manifestJSON(desc(mtConfig, sigConfig), []descriptor{l}, nil, "", nil)
		p.stages[1] = append(p.stages[1], seedJob{Repo: repo, Blobs: [][]byte{payload}, Ref: "sha256-" + subject.Digest[len("sha256:"):] + ".sig", MediaType: mtManifest, Manifest: m})
	}
	// OCI 1.1 referrers (SBOMs), untagged.
	for i := 7; i < nBuild; i += 50 {
		subject := builds[i].d
		payload, _ := json.Marshal(map[string]any{"spdxVersion": "SPDX-2.3", "name": subject.Digest})
		m := manifestJSON(desc(mtEmpty, emptyBlob), []descriptor{desc(mtSPDX, payload)}, &subject, mtSPDX, nil)
		p.stages[1] = append(p.stages[1], seedJob{Repo: repo, Blobs: [][]byte{payload}, Ref: seedpush.Digest(m), MediaType: mtManifest, Manifest: m})
		p.referrers++
	}
	// Second tags on build images: release-N (spread), latest (the newest
	// build), main (some build).
	alias := func(tag string, b build) {
		p.stages[2] = append(p.stages[2], seedJob{Repo: repo, Ref: tag, MediaType: mtManifest, Manifest: b.job.Manifest})
	}
	for k := 0; k < nRelease; k++ {
		alias(fmt.Sprintf("release-%04d", k), builds[(k*nBuild/max(nRelease, 1)+3)%nBuild])
	}
	if nAlias == 2 {
		alias("latest", builds[newest])
		alias("main", builds[rng.IntN(nBuild)])
	}
}
