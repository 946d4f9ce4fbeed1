package e2e

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/tagsweep/tagsweep/internal/report"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// deleteRef deletes a manifest behind tagsweep's back.
func deleteRef(ctx context.Context, ref string) error {
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return err
	}
	return remote.Delete(r, remote.WithContext(ctx))
}

// check unwraps a setup step's result; a setup failure panics, which
// fails the test with the stack of the step.
func check[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func platformImage(t *testing.T, created float64, seed int64, arch string) v1.Image {
	t.Helper()
	img, err := testregistry.BuildImage(testregistry.ImageSpec{Created: daysAgo(created), Seed: seed, Platform: &v1.Platform{OS: "linux", Architecture: arch}})
	return check(img, err)
}

// deletedDigests lists the digests the registry was asked to delete.
func deletedDigests(r testregistry.Server) map[string]int {
	out := map[string]int{}
	for i, d := range r.Deletes() {
		if _, after, ok := strings.Cut(d, "/manifests/"); ok {
			out[after] = i + 1
		}
	}
	return out
}

// TestGraphOnDistribution covers the tag schema on the CNCF registry v3
// (no referrers API): multi-arch images sharing a child, cosign .sig/.att
// tags of images and of index children, a nested index, a buildx index with
// an attestation manifest, and the referrers fallback tag. After the sweep
// and the garbage collector every kept image and its signatures pull.
func TestGraphOnDistribution(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRegistry(t)
	a := r.Addr()
	repo := a + "/app"

	shared := platformImage(t, 90, 1, "arm64") // the same arm64 image in an old and a new release
	// v2: kept (newest). v1: stale, shares the arm64 child with v2.
	v2 := check(testregistry.PushIndex(ctx, repo+":v2", testregistry.IndexSpec{Children: []v1.Image{platformImage(t, 2, 2, "amd64"), shared}}))
	v1amd := platformImage(t, 80, 3, "amd64")
	amd, _ := v1amd.Digest()
	v1idx := check(testregistry.PushIndex(ctx, repo+":v1", testregistry.IndexSpec{Children: []v1.Image{v1amd, shared}}))
	sharedDigest, _ := shared.Digest()

	// Signatures: of both releases, of v1's amd64 child (cosign --recursive).
	sigV2 := check(testregistry.PushCosignSignature(ctx, repo, v2, "sig", 10))
	attV2 := check(testregistry.PushCosignSignature(ctx, repo, v2, "att", 11))
	sigV1 := check(testregistry.PushCosignSignature(ctx, repo, v1idx, "sig", 12))
	sigV1amd := check(testregistry.PushCosignSignature(ctx, repo, amd, "sig", 13))
	sigShared := check(testregistry.PushCosignSignature(ctx, repo, sharedDigest, "sig", 14))

	// A nested index, stale: outer -> inner -> two images.
	inner := check(testregistry.BuildIndex(testregistry.IndexSpec{Children: []v1.Image{platformImage(t, 70, 20, "amd64"), platformImage(t, 70, 21, "s390x")}}))
	nested := check(testregistry.PushIndex(ctx, repo+":nested-old", testregistry.IndexSpec{Indexes: []v1.ImageIndex{inner}}))
	innerDigest, _ := inner.Digest()

	// A buildx-style stale index: one platform and its attestation manifest.
	plat := platformImage(t, 60, 30, "amd64")
	platDigest, _ := plat.Digest()
	att := check(testregistry.BuildImage(testregistry.ImageSpec{Seed: 31}))
	attDigest, _ := att.Digest()
	check(testregistry.PushIndex(ctx, repo+":buildx-old", testregistry.IndexSpec{Addenda: []mutate.IndexAddendum{
		{Add: plat, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		{Add: att, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": platDigest.String()}}},
	}}))

	// An OCI 1.1 referrer of v1 (an SBOM); on this registry ggcr keeps the
	// sha256-<hex> fallback index tag up to date.
	v1desc := check(testregistry.Descriptor(ctx, repo+":v1"))
	sbom := check(testregistry.PushReferrer(ctx, repo, v1desc, "application/spdx+json", 40, ""))

	res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "1"})
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.summary)
	}
	got := actions(t, res.report, "app")
	want := map[string]string{
		"v2": report.Kept, "v1": report.Deleted, "nested-old": report.Deleted, "buildx-old": report.Deleted,
		testregistry.CosignTag(v2, "sig"):           report.Kept,
		testregistry.CosignTag(v2, "att"):           report.Kept,
		testregistry.CosignTag(v1idx, "sig"):        report.Deleted,
		testregistry.CosignTag(amd, "sig"):          report.Deleted,
		testregistry.CosignTag(sharedDigest, "sig"): report.Kept,
		testregistry.FallbackTag(v1idx):             report.Deleted,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
	tags := byTag(t, res.report, "app")
	for tg, reason := range map[string]string{
		testregistry.CosignTag(v1idx, "sig"):        "attached to deleted v1",
		testregistry.CosignTag(amd, "sig"):          "attached to deleted v1",
		testregistry.FallbackTag(v1idx):             "attached to deleted v1",
		testregistry.CosignTag(v2, "sig"):           "attached to kept v2",
		testregistry.CosignTag(sharedDigest, "sig"): "attached to kept v2",
	} {
		if tags[tg].Reason != reason {
			t.Errorf("%s: reason %q, want %q", tg, tags[tg].Reason, reason)
		}
	}
	// Untagged manifests that went are listed under their tag.
	attached := map[string]string{}
	for _, tg := range tags {
		for _, x := range tg.Attached {
			attached[x.Digest] = tg.Tag + ": " + x.Reason
		}
	}
	for d, want := range map[string]string{
		amd.String():         "v1: child of deleted index v1",
		sbom.String():        "v1: attached to deleted v1",
		innerDigest.String(): "nested-old: child of deleted index nested-old",
		attDigest.String():   "buildx-old: attestation of deleted buildx-old",
		platDigest.String():  "buildx-old: child of deleted index buildx-old",
	} {
		if attached[d] != want {
			t.Errorf("attached %s = %q, want %q", d, attached[d], want)
		}
	}

	dels := deletedDigests(r)
	for _, kept := range []v1.Hash{v2, sharedDigest, sigV2, attV2, sigShared} {
		if dels[kept.String()] != 0 {
			t.Errorf("kept %s was sent a DELETE", kept)
		}
	}
	for _, gone := range []v1.Hash{v1idx, amd, sigV1, sigV1amd, nested, innerDigest, sbom} {
		if dels[gone.String()] == 0 {
			t.Errorf("%s was not deleted; deletes: %v", gone, r.Deletes())
		}
	}
	if dels[v1idx.String()] > dels[amd.String()] || dels[nested.String()] > dels[innerDigest.String()] || dels[v1idx.String()] > dels[sigV1.String()] {
		t.Errorf("parents must be deleted before children and signatures: %v", r.Deletes())
	}
	before := check(r.BlobBytes())
	gcAndVerify(t, r, true, "app:v2", "app:"+testregistry.CosignTag(v2, "sig"), "app:"+testregistry.CosignTag(v2, "att"),
		"app:"+testregistry.CosignTag(sharedDigest, "sig"))
	// reclaimed-bytes is what the garbage collector freed: the deleted
	// manifests and the configs and layers only they used.
	if freed := before - check(r.BlobBytes()); res.outputs["reclaimed-bytes"] != strconv.FormatInt(freed, 10) {
		t.Errorf("reclaimed-bytes = %s, the garbage collector freed %d bytes", res.outputs["reclaimed-bytes"], freed)
	}
	left := []string{testregistry.CosignTag(v2, "att"), testregistry.CosignTag(v2, "sig"), testregistry.CosignTag(sharedDigest, "sig"), "v2"}
	sort.Strings(left)
	if diff := cmp.Diff(left, listTags(t, a, "app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
}

// TestOrphans: a signature whose subject is gone is kept, with its reason,
// unless delete-orphans; a signature of an untagged manifest that still
// exists is kept either way.
func TestOrphans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRegistry(t)
	a := r.Addr()
	repo := a + "/app"
	pushImage(t, a, "app:v1", daysAgo(1), 1)
	gone := pushImage(t, a, "app:gone", daysAgo(5), 2)
	untagged := pushImage(t, a, "app:untagged", daysAgo(5), 3)
	orphanSig := check(testregistry.PushCosignSignature(ctx, repo, gone, "sig", 4))
	check(testregistry.PushCosignSignature(ctx, repo, untagged, "sig", 5))
	// Make the subjects disappear behind tagsweep's back: one deleted, one
	// left without a tag (it still exists by digest).
	if err := deleteRef(ctx, repo+"@"+gone.String()); err != nil {
		t.Fatal(err)
	}
	if err := deleteRef(ctx, repo+":untagged"); err != nil {
		t.Fatal(err)
	}

	r.ResetRequests()
	in := inputs{"registry": a, "repositories": "app", "keep": "5"}
	res := runAction(t, in)
	tags := byTag(t, res.report, "app")
	if tg := tags[testregistry.CosignTag(gone, "sig")]; tg.Action != report.Kept || tg.Reason != "orphaned: subject "+gone.String()+" is gone (delete-orphans is off)" {
		t.Errorf("orphan without delete-orphans: %+v", tg)
	}
	if tg := tags[testregistry.CosignTag(untagged, "sig")]; tg.Action != report.Kept || tg.Reason != "attached to untagged manifest "+untagged.String() {
		t.Errorf("signature of an untagged manifest: %+v", tg)
	}
	if res.code != 0 || len(r.Deletes()) != 0 {
		t.Fatalf("exit %d, deletes %v", res.code, r.Deletes())
	}

	in["delete-orphans"] = "true"
	res = runAction(t, in)
	tags = byTag(t, res.report, "app")
	if tg := tags[testregistry.CosignTag(gone, "sig")]; tg.Action != report.Deleted || tg.Reason != "orphaned: subject "+gone.String()+" is gone" {
		t.Errorf("orphan with delete-orphans: %+v", tg)
	}
	if tg := tags[testregistry.CosignTag(untagged, "sig")]; tg.Action != report.Kept {
		t.Errorf("signature of an untagged manifest deleted: %+v", tg)
	}
	if d := deletedDigests(r); len(d) != 1 || d[orphanSig.String()] == 0 {
		t.Errorf("deletes: %v", r.Deletes())
	}
	gcAndVerify(t, r, false, "app:v1", "app:"+testregistry.CosignTag(untagged, "sig"))
}

// TestReferrersAPI runs on go-containerregistry's registry with the OCI 1.1
// referrers API: referrers of a deleted image go with it, referrers of a
// kept image and of a kept index's child stay. That registry keeps tags
// when their digest is deleted, so the test asserts on what was requested.
func TestReferrersAPI(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, err := testregistry.NewOCIRegistry()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	a := r.Addr()
	repo := a + "/app"
	child := platformImage(t, 3, 1, "amd64")
	childDigest, _ := child.Digest()
	kept := check(testregistry.PushIndex(ctx, repo+":new", testregistry.IndexSpec{Children: []v1.Image{child}}))
	stale := pushImage(t, a, "app:old", daysAgo(40), 2)

	at := "application/spdx+json"
	opts := []testregistry.ReferrerOption{testregistry.WithoutFallbackTag(), testregistry.WithConfigMediaType(at)}
	keptRef := check(testregistry.PushReferrer(ctx, repo, check(testregistry.Descriptor(ctx, repo+":new")), at, 10, "", opts...))
	childRef := check(testregistry.PushReferrer(ctx, repo, check(testregistry.Descriptor(ctx, repo+"@"+childDigest.String())), at, 11, "", opts...))
	staleRef := check(testregistry.PushReferrer(ctx, repo, check(testregistry.Descriptor(ctx, repo+":old")), at, 12, "", opts...))
	// A signature of the stale SBOM: referrers of referrers go too.
	staleRefRef := check(testregistry.PushReferrer(ctx, repo, check(testregistry.Descriptor(ctx, repo+"@"+staleRef.String())), "application/vnd.dev.cosign.artifact.sig.v1+json", 13, "",
		testregistry.WithoutFallbackTag(), testregistry.WithConfigMediaType("application/vnd.dev.cosign.artifact.sig.v1+json")))

	res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "1"})
	if res.code != 0 {
		t.Fatalf("exit %d", res.code)
	}
	if got := actions(t, res.report, "app"); got["new"] != report.Kept || got["old"] != report.Deleted {
		t.Errorf("actions: %v", got)
	}
	dels := deletedDigests(r)
	for _, h := range []v1.Hash{stale, staleRef, staleRefRef} {
		if dels[h.String()] == 0 {
			t.Errorf("%s not deleted: %v", h, r.Deletes())
		}
	}
	for _, h := range []v1.Hash{kept, childDigest, keptRef, childRef} {
		if dels[h.String()] != 0 {
			t.Errorf("kept %s was sent a DELETE", h)
		}
	}
	if !(dels[stale.String()] < dels[staleRef.String()] && dels[staleRef.String()] < dels[staleRefRef.String()]) {
		t.Errorf("want subject, then referrer, then its referrer: %v", r.Deletes())
	}
	old := byTag(t, res.report, "app")["old"]
	reasons := map[string]string{}
	for _, x := range old.Attached {
		reasons[x.Digest] = x.Kind + ": " + x.Reason
	}
	if diff := cmp.Diff(map[string]string{
		staleRef.String():    "referrer: attached to deleted old",
		staleRefRef.String(): "referrer: attached to deleted old",
	}, reasons); diff != "" {
		t.Errorf("attached under old (-want +got):\n%s", diff)
	}
	for _, ref := range []string{"app:new", "app@" + keptRef.String(), "app@" + childRef.String()} {
		if err := testregistry.VerifyPull(ctx, a+"/"+ref); err != nil {
			t.Errorf("%s: %v", ref, err)
		}
	}
}

// TestExcludeKeepsSignatures: exclude-tags "*.sig" keeps every signature
// tag, the one of a deleted image too (it wins over "attached tags go with
// their subject"); the attestation of the deleted image still goes with it.
func TestExcludeKeepsSignatures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRegistry(t)
	a := r.Addr()
	repo := a + "/app"
	pushImage(t, a, "app:new", daysAgo(1), 1)
	old := pushImage(t, a, "app:old", daysAgo(5), 2)
	sigOld := check(testregistry.PushCosignSignature(ctx, repo, old, "sig", 3))
	attOld := check(testregistry.PushCosignSignature(ctx, repo, old, "att", 4))
	for _, dry := range []string{"true", "false"} {
		res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "1", "exclude-tags": "*.sig", "dry-run": dry})
		if res.code != 0 {
			t.Fatalf("dry-run=%s: exit %d\n%s", dry, res.code, res.stderr)
		}
		gone := report.Deleted
		if dry == "true" {
			gone = report.WouldDelete
		}
		want := map[string]string{
			"new": report.Kept, "old": gone,
			testregistry.CosignTag(old, "sig"): report.Kept + `: matches exclude-tags "*.sig"`,
			testregistry.CosignTag(old, "att"): gone + ": attached to deleted old",
		}
		got := map[string]string{}
		for name, tg := range byTag(t, res.report, "app") {
			got[name] = tg.Action
			if strings.HasPrefix(name, "sha256-") {
				got[name] += ": " + tg.Reason
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("dry-run=%s (-want +got):\n%s", dry, diff)
		}
	}
	if dels := deletedDigests(r); dels[sigOld.String()] != 0 || dels[old.String()] == 0 || dels[attOld.String()] == 0 {
		t.Errorf("deletes: %v", r.Deletes())
	}
	gcAndVerify(t, r, true, "app:new", "app:"+testregistry.CosignTag(old, "sig"))
}
