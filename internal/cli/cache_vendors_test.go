package cli_test

import (
	"flag"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/tagsweep/tagsweep/internal/cli/clitest"
	"github.com/tagsweep/tagsweep/internal/registry/dockerhub/hubtest"
	"github.com/tagsweep/tagsweep/internal/registry/ghcr/ghcrtest"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// vendorTagsFlag is the size of the package (repository) the vendor re-runs
// sweep: enough that a per-tag request shows. bench/RESULTS.md records the
// figures at -vendor-tags 1000, the size.
var vendorTagsFlag = flag.Int("vendor-tags", 200, "tags in the package (repository) of the GHCR and Docker Hub cache re-runs")

// countTagsweep puts a counting proxy in front of r: what tagsweep sends
// through it is counted apart from the replica's own reads of r.
func countTagsweep(t *testing.T, r *testregistry.Registry) *testregistry.CountingProxy {
	t.Helper()
	p, err := testregistry.NewCountingProxy(r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// perTag is the bound on a re-run over unchanged tags, where the
// listing gives every digest: requests per tag before the second look.
const perTag = 0.05

// TestCacheRerunGHCR: on GHCR, whose versions listing gives every digest,
// a re-run over an unchanged 200-tag package sends no per-tag request at
// all: the listing pages and a handful of requests, at most 0.05 per tag,
// and no manifest GET (each one counts as a download of the version).
// Nothing is deleted (keep is above the tag count), so there is no second
// look: every request counted is before it.
func TestCacheRerunGHCR(t *testing.T) {
	t.Parallel()
	vendorTags := *vendorTagsFlag
	r := newRegistry(t)
	const token = "ghp_cacheTokenValue0123456789abcdef"
	api, err := ghcrtest.Start(ghcrtest.Options{Registry: r, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(api.Close)
	a := r.Addr()
	for i := range vendorTags {
		pushImage(t, a, fmt.Sprintf("octo/app:b%03d", i), daysAgo(float64(i+1)), int64(5000+i))
	}
	px := countTagsweep(t, r)
	in := inputs{"registry": px.Addr(), "provider": "ghcr", "password": token, "repositories": "octo/app", "keep": "1000",
		"cache-dir": filepath.Join(t.TempDir(), "cache")}
	env := []string{"GITHUB_API_URL=" + api.URL()}
	for run := range 2 {
		px.ResetRequests()
		api.ResetRequests()
		res := clitest.Action(t, clitest.InProcess, in, env)
		if res.Code != 0 || res.Outputs["kept-count"] != fmt.Sprint(vendorTags) {
			t.Fatalf("run %d: exit %d, outputs %v", run, res.Code, res.Outputs)
		}
		reg, rest := px.Requests(), len(api.Requests())
		total := reg.Total + rest
		t.Logf("run %d: %d requests for %d tags (%.3f per tag): registry %v, API %d", run, total, vendorTags, float64(total)/float64(vendorTags), reg.ByRoute, rest)
		if run == 0 {
			continue
		}
		if got := float64(total) / float64(vendorTags); got > perTag {
			t.Errorf("re-run: %.3f requests per tag, want at most %.2f", got, perTag)
		}
		if n := reg.Of("GET", testregistry.ClassManifest); n != 0 {
			t.Errorf("re-run: %d manifest GETs (GitHub counts each as a download), want 0", n)
		}
	}
}

// TestCacheRerunDockerHub: on Docker Hub, whose tag listing gives every
// digest, a re-run over an unchanged 200-tag repository sends no manifest
// GET (each one is a pull against the account's limit) and at most 0.05
// requests per tag.
func TestCacheRerunDockerHub(t *testing.T) {
	t.Parallel()
	vendorTags := *vendorTagsFlag
	r := newRegistry(t)
	const secret = "dckr_pat_cache-s3cret"
	hub, err := hubtest.New(r, hubtest.Options{Users: []hubtest.User{{Name: "acme", Secret: secret, Scope: hubtest.ScopeDelete}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close() })
	a := r.Addr()
	for i := range vendorTags {
		tg := fmt.Sprintf("b%03d", i)
		pushImage(t, a, "acme/app:"+tg, daysAgo(float64(i+1)), int64(7000+i))
		hub.SetPushed("acme/app", tg, daysAgo(float64(i+1)))
	}
	px := countTagsweep(t, r)
	in := inputs{"registry": px.Addr(), "provider": "dockerhub", "username": "acme", "password": secret, "repositories": "acme/app",
		"keep": "1000", "cache-dir": filepath.Join(t.TempDir(), "cache")}
	env := []string{"TAGSWEEP_DOCKERHUB_API_URL=" + hub.URL()}
	for run := range 2 {
		px.ResetRequests()
		hub.ResetRequests()
		res := clitest.Action(t, clitest.InProcess, in, env)
		if res.Code != 0 || res.Outputs["kept-count"] != fmt.Sprint(vendorTags) {
			t.Fatalf("run %d: exit %d, outputs %v", run, res.Code, res.Outputs)
		}
		reg, rest := px.Requests(), len(hub.Requests())
		total := reg.Total + rest
		t.Logf("run %d: %d requests for %d tags (%.3f per tag): registry %v, Hub API %d", run, total, vendorTags, float64(total)/float64(vendorTags), reg.ByRoute, rest)
		if run == 0 {
			continue
		}
		if n := reg.Of("GET", testregistry.ClassManifest); n != 0 {
			t.Errorf("re-run: %d manifest GETs (pulls), want 0", n)
		}
		if got := float64(total) / float64(vendorTags); got > perTag {
			t.Errorf("re-run: %.3f requests per tag, want at most %.2f", got, perTag)
		}
	}
}
