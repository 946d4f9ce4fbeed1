package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

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
