package testregistry

import (
	_ "embed"
	"net/http"
	"strings"
)

// acrLocked is Azure Container Registry's answer to a DELETE of a locked
// image, tag or repository (testdata/README.md names the source).
//
//go:embed testdata/acr-locked.json
var acrLocked []byte

// ACRLocked returns a [Hook] that answers, as Azure Container Registry
// does for a locked item (writeEnabled or deleteEnabled false), every
// DELETE of /v2/<repo>/manifests/<ref> whose "<repo>/<ref>" is in locked
// (a digest or a tag) with 405 REGISTRY_DISALLOWED_OPERATION. Other
// requests pass through.
func ACRLocked(locked ...string) Hook {
	set := map[string]bool{}
	for _, l := range locked {
		set[l] = true
	}
	return func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method != http.MethodDelete || Classify(req.URL.Path) != ClassManifest {
			return false
		}
		repo, ref, ok := strings.Cut(strings.TrimPrefix(req.URL.Path, "/v2/"), "/manifests/")
		if !ok || !set[repo+"/"+ref] {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusMethodNotAllowed)
		_, _ = w.Write(acrLocked)
		return true
	}
}
