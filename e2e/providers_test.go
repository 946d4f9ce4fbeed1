package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/registry/gar/gartest"
	"github.com/tagsweep/tagsweep/internal/report"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// artifactRegistryHook makes the in-process registry refuse, as Artifact
// Registry does, to delete a manifest that a tag still points at:
// 400 GOOGLE_MANIFEST_DANGLING_TAG (reg#136, kube-image-keeper#636).
func artifactRegistryHook(t *testing.T, addr string) testregistry.Hook {
	return func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method != http.MethodDelete || !strings.Contains(req.URL.Path, "/manifests/sha256:") {
			return false
		}
		repo, digest, _ := strings.Cut(strings.TrimPrefix(req.URL.Path, "/v2/"), "/manifests/")
		tags, err := testregistry.ListTags(context.Background(), addr+"/"+repo)
		if err != nil {
			return false
		}
		for _, tg := range tags {
			d, err := testregistry.Digest(context.Background(), addr+"/"+repo+":"+tg)
			if err == nil && d.String() == digest {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprintf(w, `{"errors":[{"code":"GOOGLE_MANIFEST_DANGLING_TAG","message":"Manifest is still referenced by tag: %s"}]}`, tg)
				return true
			}
		}
		return false
	}
}

// On Artifact Registry a tagged manifest is deleted by deleting its tags
// first; the generic OCI provider cannot, and says so per tag.
func TestArtifactRegistryUntagsFirst(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		provider string
		code     int
		left     []string
	}{
		{"gar", 0, []string{"new"}},
		{"oci", 1, []string{"new", "old", "old-alias"}},
	} {
		t.Run(tc.provider, func(t *testing.T) {
			t.Parallel()
			r := newRegistry(t)
			a := r.Addr()
			pushImage(t, a, "app:new", daysAgo(1), 1)
			pushImage(t, a, "app:old", daysAgo(30), 2)
			tag(t, a, "app:old-alias", "app:old")
			r.SetHook(artifactRegistryHook(t, a))
			res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "1", "provider": tc.provider})
			if res.code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", res.code, tc.code, res.stderr)
			}
			if diff := cmp.Diff(tc.left, listTags(t, a, "app")); diff != "" {
				t.Errorf("tags left (-want +got):\n%s", diff)
			}
			checkCounts(t, res)
			if tc.provider == "gar" {
				gcAndVerify(t, r, true, "app:new")
				if res.report.Policy.Provider != "gar" {
					t.Errorf("report policy provider = %q", res.report.Policy.Provider)
				}
				return
			}
			if !strings.Contains(res.stderr, "GOOGLE_MANIFEST_DANGLING_TAG") {
				t.Errorf("the registry's refusal is not shown:\n%s", res.stderr)
			}
		})
	}
}

// TestArtifactRegistryImmutableTags: on an Artifact Registry repository
// with immutable tags, every tag is kept with the reason in the dry run
// and the real run, read from the repository's setting through the
// Artifact Registry API with the registry's access token; nothing there
// is sent a DELETE, and a mutable repository of the same run is swept.
func TestArtifactRegistryImmutableTags(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	const token = "ya29.e2e-access-token"
	srv, err := gartest.New(gartest.Options{Registry: r, Token: token, Location: "europe-west1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	a := r.Addr()
	pushImage(t, a, "proj/frozen/app:new", daysAgo(1), 1)
	pushImage(t, a, "proj/frozen/app:old", daysAgo(40), 2)
	pushImage(t, a, "proj/open/app:new", daysAgo(1), 3)
	pushImage(t, a, "proj/open/app:old", daysAgo(40), 4)
	srv.SetImmutable("proj/frozen", true)
	env := []string{"TAGSWEEP_GAR_API_URL=" + srv.APIURL(), "TAGSWEEP_GAR_LOCATION=europe-west1"}
	in := inputs{"registry": a, "provider": "gar", "username": "oauth2accesstoken", "password": token,
		"repositories": "proj/frozen/app,proj/open/app", "keep": "1", "older-than": "30d", "dry-run": "true"}
	const reason = "immutable tags on Artifact Registry (the repository's immutableTags setting: no tag may be deleted or moved, no tagged image deleted)"
	for _, dry := range []string{"true", "false"} {
		in["dry-run"] = dry
		res := runActionWith(t, in, env)
		if res.code != 0 {
			t.Fatalf("dry-run %s: exit %d\n%s", dry, res.code, res.stderr)
		}
		if diff := cmp.Diff([]string{"proj/open/app:old"}, deletedTagsOutput(t, res)); diff != "" {
			t.Errorf("dry-run %s: deleted-tags (-want +got):\n%s", dry, diff)
		}
		for _, tg := range []string{"new", "old"} {
			if got := byTag(t, res.report, "proj/frozen/app")[tg]; got.Action != report.Kept || got.Reason != reason {
				t.Errorf("dry-run %s: %s %+v", dry, tg, got)
			}
		}
		checkCounts(t, res)
		secretNotPrinted(t, res, token) // the token appears nowhere but in the mask command
	}
	for _, d := range srv.RegistryDeletes() {
		if strings.Contains(d, "/proj/frozen/") {
			t.Errorf("a DELETE was sent to the immutable repository: %s", d)
		}
	}
	if diff := cmp.Diff([]string{"new", "old"}, listTags(t, a, "proj/frozen/app")); diff != "" {
		t.Errorf("immutable tags left (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"new"}, listTags(t, a, "proj/open/app")); diff != "" {
		t.Errorf("open tags left (-want +got):\n%s", diff)
	}
}
