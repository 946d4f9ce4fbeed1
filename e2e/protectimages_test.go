package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tagsweep/tagsweep/internal/report"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// TestProtectImages: a keep-0 sweep with protect-images from an @file, the
// way a Deployment's images are written by kubectl (host, tag, digest,
// comments, another registry's image, a typo): the protected old
// multi-arch tag survives with its children, its signature and the other
// tag on its digest; the image named by digest survives with its
// signature though its only tag goes; everything else is deleted; dry ==
// real; the summary counts what was protected and lists the typo; every
// kept image pulls after the garbage collector ran.
func TestProtectImages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRegistry(t)
	a := r.Addr()
	repo := a + "/app"

	deployed, _ := multiarch(t, a, "app:deployed", daysAgo(90), 1)
	tag(t, a, "app:v1.0", "app:deployed")
	sigDeployed := check(testregistry.PushCosignSignature(ctx, repo, deployed, "sig", 2))
	pinned := pushImage(t, a, "app:build-77", daysAgo(60), 3)
	sigPinned := check(testregistry.PushCosignSignature(ctx, repo, pinned, "sig", 4))
	pushImage(t, a, "app:old", daysAgo(30), 5)
	pushImage(t, a, "app:new", daysAgo(1), 6)
	pushImage(t, a, "tools:x", daysAgo(40), 7)

	images := filepath.Join(t.TempDir(), "images.txt")
	list := "# kubectl get pods -A -o jsonpath='{..image}'\n" +
		a + "/app:deployed docker.io/library/nginx:1.25\n" +
		"  " + a + "/app@" + pinned.String() + "   # pinned by digest\n" +
		"app:deployd\n"
	if err := os.WriteFile(images, []byte(list), 0o644); err != nil {
		t.Fatal(err)
	}
	in := inputs{"registry": a, "repositories": "app,tools", "keep": "0", "protect-images": "@" + images, "dry-run": "true"}
	dry := runAction(t, in)
	if dry.code != 0 {
		t.Fatalf("dry run: exit %d\n%s", dry.code, dry.stderr)
	}
	real := runReal(t, in, dry)
	checkCounts(t, real)

	got := map[string]string{}
	for tg, rt := range byTag(t, real.report, "app") {
		got[tg] = rt.Action + ": " + rt.Reason
	}
	want := map[string]string{
		"deployed":                              "kept: protected by protect-images",
		testregistry.CosignTag(deployed, "sig"): "kept: attached to protected app:deployed",
		testregistry.CosignTag(pinned, "sig"):   "kept: attached to protected app@" + pinned.String(),
		"old":                                   "deleted: rank 2 of 3 by created, beyond keep=0",
		"new":                                   "deleted: rank 1 of 3 by created, beyond keep=0",
	}
	// The other tag on the protected tag's digest goes by tag where the
	// registry deletes single tags, else stays for sharing the digest; the
	// tag on the digest named by digest is protected itself (without a tag
	// the registry's garbage collector would remove the image).
	v10, b77 := got["v1.0"], got["build-77"]
	want["build-77"] = "kept: protected by protect-images"
	if strings.HasPrefix(v10, report.Deleted) {
		want["v1.0"] = "deleted: rank 3 of 3 by created, beyond keep=0"
	} else {
		want["v1.0"] = "kept: shares digest with protected app:deployed (this registry cannot delete a single tag)"
	}
	t.Logf("v1.0: %s; build-77: %s", v10, b77)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("app (-want +got):\n%s", diff)
	}
	for _, d := range []v1.Hash{deployed, sigDeployed, pinned, sigPinned} {
		if deletedDigests(r)["app/"+d.String()] > 0 || deletedDigests(r)[d.String()] > 0 {
			t.Errorf("protected %s was deleted", d)
		}
	}
	if left := listTags(t, a, "tools"); len(left) != 0 {
		t.Errorf("tools has tags %v left; keep 0 and nothing protects them", left)
	}
	pr := real.report.Protection
	if pr == nil || pr.References != 3 || pr.Matched != 2 || pr.Elsewhere != 1 || !cmp.Equal(pr.Unmatched, []string{"app:deployd"}) {
		t.Errorf("report protection = %+v, want 3 references, 2 matched, 1 elsewhere, app:deployd unmatched", pr)
	}
	for _, s := range []string{"**protect-images**: 2 references matched (of 3)", "1 reference to other registries ignored", "1 protected reference matched nothing:", "- `app:deployd`"} {
		if !strings.Contains(real.summary, s) {
			t.Errorf("the summary lacks %q:\n%s", s, real.summary)
		}
	}
	keptRefs := []string{"app:deployed", "app:" + testregistry.CosignTag(deployed, "sig"), "app:build-77", "app@" + pinned.String(), "app:" + testregistry.CosignTag(pinned, "sig")}
	gcAndVerify(t, r, true, keptRefs...)
}
