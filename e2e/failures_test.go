package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tagsweep/tagsweep/internal/cli/clitest"
	"github.com/tagsweep/tagsweep/internal/report"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// basicAuth is a hook that demands HTTP Basic credentials user:pass: a
// request without them, or with others, gets 401 with a Basic challenge.
// Authorised requests go to next (nil: to the registry).
func basicAuth(user, pass string, next testregistry.Hook) testregistry.Hook {
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	return func(w http.ResponseWriter, req *http.Request) bool {
		if req.Header.Get("Authorization") != want {
			w.Header().Set("WWW-Authenticate", `Basic realm="x"`)
			testregistry.WriteError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
			return true
		}
		return next != nil && next(w, req)
	}
}

// noSecret fails the test if any of secrets shows in what the run left:
// stdout (the ::add-mask:: lines aside, the only place the contract allows
// a secret), stderr, the summary, the report file and the outputs.
func noSecret(t *testing.T, res result, reportFile string, secrets ...string) {
	t.Helper()
	var stdout []string
	for _, l := range strings.Split(res.stdout, "\n") {
		if !strings.HasPrefix(l, "::add-mask::") {
			stdout = append(stdout, l)
		}
	}
	places := map[string]string{"stdout": strings.Join(stdout, "\n"), "stderr": res.stderr, "summary": res.summary, "report": read(t, reportFile)}
	var outs []string
	for k, v := range res.outputs {
		outs = append(outs, k+"="+v)
	}
	places["outputs"] = strings.Join(outs, "\n")
	for _, s := range secrets {
		for name, text := range places {
			if n := strings.Count(text, s); n > 0 {
				t.Errorf("%s shows the secret %q %d times", name, s, n)
			}
		}
	}
}

// TestCredentials: username/password work against a registry that demands
// Basic auth; the password appears exactly once, in the ::add-mask:: line.
func TestCredentials(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	seedAges(t, a, "app", "new", "old", "older")
	const user, pass = "bob", "pa55-Wq9zRt-secret"
	r.SetHook(basicAuth(user, pass, nil))
	in := inputs{"registry": a, "repositories": "app", "keep": "1", "username": user, "password": pass}
	res := runAction(t, in)
	r.SetHook(nil)
	if res.code != 0 {
		t.Fatalf("exit %d", res.code)
	}
	if diff := cmp.Diff([]string{"new"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	if res.outputs["deleted-count"] != "2" {
		t.Errorf("deleted-count %q, want 2", res.outputs["deleted-count"])
	}
	var withPass []string
	for _, l := range strings.Split(res.stdout, "\n") {
		if strings.Contains(l, pass) {
			withPass = append(withPass, l)
		}
	}
	if diff := cmp.Diff([]string{"::add-mask::" + pass}, withPass); diff != "" {
		t.Errorf("stdout lines showing the password (-want +got):\n%s", diff)
	}
	noSecret(t, res, in["report-file"], pass, base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
}

// TestWrongPassword: refused credentials fail the run (exit 1) with a
// message that names the user and the permission, never the password.
func TestWrongPassword(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	seedAges(t, a, "app", "new", "old")
	const wrong = "not-the-Pa55word-81"
	r.SetHook(basicAuth("bob", "right-password", nil))
	in := inputs{"registry": a, "repositories": "app", "keep": "1", "username": "bob", "password": wrong}
	res := runAction(t, in)
	r.SetHook(nil)
	if res.code != 1 {
		t.Errorf("exit %d, want 1", res.code)
	}
	if res.report == nil {
		t.Fatal("no report")
	}
	repoErr := ""
	for _, repo := range res.report.Repositories {
		repoErr += repo.Error
	}
	for name, text := range map[string]string{"stderr": res.stderr, "summary": res.summary, "report": repoErr + strings.Join(res.report.Errors, "\n")} {
		for _, w := range []string{`user "bob"`, "pull"} {
			if !strings.Contains(text, w) {
				t.Errorf("%s does not say %q:\n%s", name, w, text)
			}
		}
	}
	noSecret(t, res, in["report-file"], wrong)
	if strings.Contains(res.stdout, wrong) && !strings.Contains(res.stdout, "::add-mask::"+wrong) {
		t.Errorf("stdout shows the password outside ::add-mask::")
	}
	checkCounts(t, res)
	if diff := cmp.Diff([]string{"new", "old"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
}

// needsDelete matches a message saying that the delete permission is
// needed (not merely the word "delete" of the failed operation).
var needsDelete = regexp.MustCompile(`(?i)needs? (the )?delete|delete (permission|access|scope)|permission to delete`)

// TestDeleteDenied: 403 DENIED on every DELETE: exit 1, every planned
// deletion counted as failed with a message naming the user and the
// delete permission, nothing gone, outputs still written.
func TestDeleteDenied(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	seedAges(t, a, "app", "new", "o1", "o2", "o3")
	r.SetHook(basicAuth("bob", "pw-delete-test", func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method != http.MethodDelete {
			return false
		}
		testregistry.WriteError(w, http.StatusForbidden, "DENIED", "requires delete")
		return true
	}))
	res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "1", "username": "bob", "password": "pw-delete-test"})
	r.SetHook(nil)
	if res.code != 1 {
		t.Errorf("exit %d, want 1", res.code)
	}
	if len(r.Deletes()) == 0 {
		t.Fatal("no DELETE was sent")
	}
	want := map[string]string{"failed-count": "3", "deleted-count": "0", "kept-count": "1", "deleted-tags": "[]"}
	for k, v := range want {
		if res.outputs[k] != v {
			t.Errorf("output %s = %q, want %q", k, res.outputs[k], v)
		}
	}
	checkCounts(t, res)
	for name, tg := range byTag(t, res.report, "app") {
		if name == "new" {
			continue
		}
		if tg.Action != report.Failed || !strings.Contains(tg.Error, `user "bob"`) || !needsDelete.MatchString(tg.Error) {
			t.Errorf("%s: %s %q, want failed naming user \"bob\" and the delete permission", name, tg.Action, tg.Error)
		}
	}
	if !strings.Contains(res.stderr, `user "bob"`) {
		t.Errorf("stderr does not name the user:\n%s", res.stderr)
	}
	if diff := cmp.Diff([]string{"new", "o1", "o2", "o3"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
}

// duringSecondLook installs a hook that runs f once, when the repository's
// tags are listed for the second time (the second look; the first listing
// is the plan's), before that listing is answered. Requests f sends pass
// through the hook untouched. It returns a function that reports how many
// listings were seen and the error f returned.
func duringSecondLook(r testregistry.Server, repo string, f func() error) func() (int, error) {
	var (
		listings atomic.Int32
		busy     atomic.Bool
		mu       sync.Mutex
		ferr     error
	)
	path := "/v2/" + repo + "/tags/list"
	r.SetHook(func(w http.ResponseWriter, req *http.Request) bool {
		if busy.Load() || req.Method != http.MethodGet || req.URL.Path != path {
			return false
		}
		if listings.Add(1) == 2 && busy.CompareAndSwap(false, true) {
			err := f()
			mu.Lock()
			ferr = err
			mu.Unlock()
			busy.Store(false)
		}
		return false
	})
	return func() (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return int(listings.Load()), ferr
	}
}

// secondLookDone removes the hook and checks that it ran at the second
// listing and that what it pushed went in.
func secondLookDone(t *testing.T, r testregistry.Server, seen func() (int, error)) {
	t.Helper()
	r.SetHook(nil)
	if n, err := seen(); err != nil || n < 2 {
		t.Fatalf("second listing seen %d times, push error %v", n, err)
	}
}

// noDigestDelete checks that the registry got no DELETE of digest.
func noDigestDelete(t *testing.T, r testregistry.Server, digest v1.Hash, what string) {
	t.Helper()
	for _, d := range r.Deletes() {
		if strings.HasSuffix(d, digest.String()) {
			t.Errorf("%s: %s", what, d)
		}
	}
}

// TestSecondLookRetagged: the stale tag is pushed anew between the plan
// and the deletions: it is kept ("changed during run") with its new image.
func TestSecondLookRetagged(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	pushImage(t, a, "app:new", daysAgo(1), 1)
	oldDigest := pushImage(t, a, "app:old", daysAgo(40), 2)
	var pushed v1.Hash
	seen := duringSecondLook(r, "app", func() (err error) {
		pushed, err = testregistry.PushImage(context.Background(), a+"/app:old", testregistry.ImageSpec{Created: now, Seed: 99})
		return err
	})
	r.ResetRequests()
	res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "1"})
	r.SetHook(nil)
	n, err := seen()
	if err != nil {
		t.Fatalf("re-push during the run: %v", err)
	}
	if n < 2 {
		t.Fatalf("tags of app were listed %d times: no second look before deleting", n)
	}
	if res.code != 0 {
		t.Errorf("exit %d, want 0", res.code)
	}
	if got := byTag(t, res.report, "app")["old"]; got.Action != report.Kept || got.Reason != "changed during run" {
		t.Errorf("old: %s %q, want kept \"changed during run\"", got.Action, got.Reason)
	}
	for _, d := range r.Deletes() {
		if strings.HasSuffix(d, "/manifests/old") || strings.HasSuffix(d, pushed.String()) {
			t.Errorf("deleted the re-pushed image: %s", d)
		}
	}
	if got := digestOf(t, a+"/app:old"); got != pushed {
		t.Errorf("app:old is %s, want the re-pushed %s (planned %s)", got, pushed, oldDigest)
	}
	checkCounts(t, res)
	gcAndVerify(t, r, true, "app:old", "app:new")
}

// TestSecondLookKeptMoved: a kept tag moves onto the digest of the stale
// tag during the run: that digest must not be deleted by digest; the stale
// tag goes by tag delete and the kept tag still pulls after GC.
func TestSecondLookKeptMoved(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	pushImage(t, a, "app:new", daysAgo(1), 1)
	pushImage(t, a, "app:stable", daysAgo(30), 2)
	staleDigest := pushImage(t, a, "app:stale", daysAgo(40), 3)
	seen := duringSecondLook(r, "app", func() error {
		return testregistry.Tag(context.Background(), a+"/app:stable", a+"/app:stale")
	})
	r.ResetRequests()
	res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "1", "exclude-tags": "stable"})
	r.SetHook(nil)
	n, err := seen()
	if err != nil {
		t.Fatalf("moving stable during the run: %v", err)
	}
	if n < 2 {
		t.Fatalf("tags of app were listed %d times: no second look before deleting", n)
	}
	if res.code != 0 {
		t.Errorf("exit %d, want 0", res.code)
	}
	var byTagDelete bool
	for _, d := range r.Deletes() {
		if strings.HasSuffix(d, staleDigest.String()) {
			t.Errorf("deleted by digest the manifest kept tag stable moved onto: %s", d)
		}
		byTagDelete = byTagDelete || d == "DELETE /v2/app/manifests/stale"
	}
	if !byTagDelete {
		t.Errorf("stale not removed by a tag delete; deletes %v", r.Deletes())
	}
	if diff := cmp.Diff([]string{"new", "stable"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	if got := digestOf(t, a+"/app:stable"); got != staleDigest {
		t.Errorf("app:stable is %s, want %s", got, staleDigest)
	}
	checkCounts(t, res)
	gcAndVerify(t, r, true, "app:stable", "app:new")
}

// TestSecondLookNewTag: a new tag is pushed onto the stale tag's image
// during the run: the digest stays, the stale tag goes by tag delete.
func TestSecondLookNewTag(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	pushImage(t, a, "app:new", daysAgo(1), 1)
	staleDigest := pushImage(t, a, "app:stale", daysAgo(40), 3)
	seen := duringSecondLook(r, "app", func() error {
		return testregistry.Tag(context.Background(), a+"/app:hotfix", a+"/app:stale")
	})
	res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "1"})
	secondLookDone(t, r, seen)
	if res.code != 0 {
		t.Errorf("exit %d, want 0", res.code)
	}
	noDigestDelete(t, r, staleDigest, "deleted by digest the manifest a tag pushed during the run points at")
	if diff := cmp.Diff([]string{"hotfix", "new"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	gcAndVerify(t, r, true, "app:hotfix", "app:new")
}

// TestSecondLookNewIndex: an index pushed during the run lists the stale
// tag's image as a platform child: the image stays (it is reached through
// the new tag), the stale tag goes by tag delete, the new index pulls.
func TestSecondLookNewIndex(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	pushImage(t, a, "app:new", daysAgo(1), 1)
	staleDigest := pushImage(t, a, "app:stale", daysAgo(40), 3)
	same, err := testregistry.BuildImage(testregistry.ImageSpec{Created: daysAgo(40), Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := same.Digest(); d != staleDigest {
		t.Fatalf("rebuilt image %s differs from the pushed %s", d, staleDigest)
	}
	arm := platformChild(t, 0, 50, "arm64")
	seen := duringSecondLook(r, "app", func() error {
		_, err := testregistry.PushIndex(context.Background(), a+"/app:bundle", testregistry.IndexSpec{Children: []v1.Image{same, arm}})
		return err
	})
	res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "1"})
	secondLookDone(t, r, seen)
	if res.code != 0 {
		t.Errorf("exit %d, want 0", res.code)
	}
	noDigestDelete(t, r, staleDigest, "deleted by digest a child of an index pushed during the run")
	if diff := cmp.Diff([]string{"bundle", "new"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	gcAndVerify(t, r, true, "app:bundle", "app:new")
}

// TestConcurrencyOne: concurrency 1 with Basic auth and multi-arch
// indexes (nested requests, a delete client of its own) completes.
func TestConcurrencyOne(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	multiarch(t, a, "app:new", daysAgo(1), 1)
	multiarch(t, a, "app:old", daysAgo(40), 2)
	pushImage(t, a, "app:older", daysAgo(50), 3)
	tag(t, a, "app:dup", "app:new")
	r.SetHook(basicAuth("bob", "pw-c1", nil))
	res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "1", "concurrency": "1", "username": "bob", "password": "pw-c1"})
	r.SetHook(nil)
	if res.code != 0 {
		t.Fatalf("exit %d", res.code)
	}
	if diff := cmp.Diff([]string{"new"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	gcAndVerify(t, r, true, "app:new")
}

// TestSecondLookChildTagged: during the run a platform child of the index
// to delete gets a tag of its own: the index goes, the newly tagged child
// stays and pulls, the other child goes.
func TestSecondLookChildTagged(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	pushImage(t, a, "app:new", daysAgo(1), 1)
	oldIdx, kids := multiarch(t, a, "app:old", daysAgo(40), 2)
	k0, _ := kids[0].Digest()
	k1, _ := kids[1].Digest()
	seen := duringSecondLook(r, "app", func() error {
		return testregistry.Tag(context.Background(), a+"/app:plat", a+"/app@"+k0.String())
	})
	res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "1"})
	r.SetHook(nil)
	if n, err := seen(); err != nil || n < 2 {
		t.Fatalf("second listing seen %d times, tag error %v", n, err)
	}
	if res.code != 0 {
		t.Errorf("exit %d, want 0", res.code)
	}
	digests, _ := digestDeletes(r)
	if diff := cmp.Diff([]string{oldIdx.String(), k1.String()}, digests, sortStrings); diff != "" {
		t.Errorf("digests deleted (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"new", "plat"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	gcAndVerify(t, r, true, "app:plat", "app:new")
}

// bearerAuth is a hook that acts like a registry with a token service
// (Docker Hub, GHCR, Harbor): requests without the bearer token get 401
// with a Bearer challenge whose realm is /token on the same host; /token
// hands out the token for the Basic credentials user:pass.
func bearerAuth(user, pass string) testregistry.Hook {
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	const token = "tok-e2e-0123456789"
	return func(w http.ResponseWriter, req *http.Request) bool {
		if req.URL.Path == "/token" {
			if req.Header.Get("Authorization") != basic {
				testregistry.WriteError(w, http.StatusUnauthorized, "UNAUTHORIZED", "bad credentials")
				return true
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"token":"` + token + `"}`))
			return true
		}
		if req.Header.Get("Authorization") != "Bearer "+token {
			w.Header().Set("WWW-Authenticate", `Bearer realm="http://`+req.Host+`/token",service="e2e"`)
			testregistry.WriteError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
			return true
		}
		return false
	}
}

// TestBearerToken: credentials are exchanged for a token; deletions work;
// a wrong password fails naming the user, never the password.
func TestBearerToken(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	seedAges(t, a, "app", "new", "old")
	const pass = "Tok3n-pa55-e2e"
	r.SetHook(bearerAuth("bob", pass))
	in := inputs{"registry": a, "repositories": "app", "keep": "1", "username": "bob", "password": "wrong-" + pass}
	bad := runAction(t, in)
	if bad.code != 1 || !strings.Contains(bad.stderr, `user "bob"`) {
		t.Errorf("wrong password: exit %d, want 1 naming user \"bob\":\n%s", bad.code, bad.stderr)
	}
	noSecret(t, bad, in["report-file"], "wrong-"+pass)
	in = inputs{"registry": a, "repositories": "app", "keep": "1", "username": "bob", "password": pass}
	res := runAction(t, in)
	r.SetHook(nil)
	if res.code != 0 {
		t.Fatalf("exit %d", res.code)
	}
	if diff := cmp.Diff([]string{"new"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	noSecret(t, res, in["report-file"], pass)
}

// TestDockerConfigCredentials: without username/password inputs the
// docker config's credentials are used, and errors say so (the user and
// where the credentials came from), never the password, which is masked.
func TestDockerConfigCredentials(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	seedAges(t, a, "app", "new", "old", "older")
	const pass = "cfg-pa55-e2e-77"
	dir := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte("carol:" + pass))
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"auths":{"`+a+`":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"DOCKER_CONFIG=" + dir}
	var denied atomic.Bool
	denied.Store(true)
	r.SetHook(basicAuth("carol", pass, func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method == http.MethodDelete && denied.Load() {
			testregistry.WriteError(w, http.StatusForbidden, "DENIED", "requires delete")
			return true
		}
		return false
	}))
	in := inputs{"registry": a, "repositories": "app", "keep": "2"}
	res := runActionWith(t, in, env)
	if res.code != 1 || res.outputs["failed-count"] != "1" {
		t.Errorf("DELETE denied: exit %d, outputs %v; want 1 and failed-count 1", res.code, res.outputs)
	}
	if !strings.Contains(res.stderr, `user "carol"`) || !strings.Contains(res.stderr, "docker config") {
		t.Errorf("stderr does not name the docker config's user:\n%s", res.stderr)
	}
	// Learned from the Authorization header tagsweep sent, the docker
	// config's credentials are masked in Actions like the password input,
	// and appear nowhere else.
	noSecret(t, res, in["report-file"], pass, auth)
	for _, s := range []string{pass, auth} {
		if !strings.Contains(res.stdout, "::add-mask::"+s+"\n") {
			t.Errorf("the docker config's %q is not masked:\n%s", s, res.stdout)
		}
	}
	denied.Store(false)
	in = inputs{"registry": a, "repositories": "app", "keep": "2"}
	res = runActionWith(t, in, env)
	r.SetHook(nil)
	if res.code != 0 {
		t.Fatalf("exit %d", res.code)
	}
	if diff := cmp.Diff([]string{"new", "old"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
}

var denyDeletesOf = clitest.DenyDeletesOf

// TestIndexDeleteFails: when the DELETE of an old index is refused, its
// children are not deleted (the index would stop pulling): the index is
// failed, and still pulls completely after GC.
func TestIndexDeleteFails(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	pushImage(t, a, "app:new", daysAgo(1), 1)
	oldIdx, _ := multiarch(t, a, "app:old", daysAgo(40), 2)
	r.SetHook(denyDeletesOf(oldIdx.String()))
	res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "1"})
	r.SetHook(nil)
	if res.code != 1 {
		t.Errorf("exit %d, want 1", res.code)
	}
	if diff := cmp.Diff([]string{"DELETE /v2/app/manifests/" + oldIdx.String()}, r.Deletes()); diff != "" {
		t.Errorf("deletes (-want +got):\n%s", diff)
	}
	if got := byTag(t, res.report, "app")["old"]; got.Action != report.Failed {
		t.Errorf("old: %s, want failed", got.Action)
	}
	if res.outputs["failed-count"] != "1" || res.outputs["deleted-count"] != "0" {
		t.Errorf("outputs %v, want failed 1, deleted 0", res.outputs)
	}
	gcAndVerify(t, r, true, "app:old", "app:new")
}

// TestBearerTokenReused: behind a token service, tagsweep pings the
// registry once per run and asks for one token per repository, for its
// reads and its deletes together, never per tag or per request: with 3
// repositories of 12 tags (36 manifest GETs, 36 config GETs, 36
// second-look HEADs, 30 DELETEs) it fetches exactly one token per
// repository plus one for the catalog, and no request is answered 401 but
// the one ping.
func TestBearerTokenReused(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	repos := []string{"svc/a", "svc/b", "svc/c"}
	var tags []string
	for i := range 12 {
		tags = append(tags, fmt.Sprintf("b%02d", i))
	}
	for _, repo := range repos {
		seedAges(t, a, repo, tags...)
	}
	const pass = "reuse-pa55-e2e"
	auth := bearerAuth("dora", pass)
	var tokens, challenged, total, pings atomic.Int32
	r.SetHook(func(w http.ResponseWriter, req *http.Request) bool {
		total.Add(1)
		switch req.URL.Path {
		case "/token":
			tokens.Add(1)
		case "/v2/":
			pings.Add(1)
		}
		rec := &testregistry.StatusWriter{ResponseWriter: w}
		handled := auth(rec, req)
		if rec.Code == http.StatusUnauthorized {
			challenged.Add(1)
		}
		return handled
	})
	in := inputs{"registry": a, "repositories": "svc/*", "keep": "2", "username": "dora", "password": pass}
	res := runAction(t, in)
	r.SetHook(nil)
	if res.code != 0 || res.outputs["deleted-count"] != "30" {
		t.Fatalf("exit %d, outputs %v; want 0 and 30 deleted\n%s", res.code, res.outputs, res.stderr)
	}
	for _, repo := range repos {
		if diff := cmp.Diff([]string{"b00", "b01"}, listTags(t, a, repo)); diff != "" {
			t.Errorf("%s: tags left (-want +got):\n%s", repo, diff)
		}
	}
	if n, want := tokens.Load(), int32(len(repos)+1); n != want {
		t.Errorf("%d token requests for %d repositories (%d requests in all); want %d, one per repository and the catalog's", n, len(repos), total.Load(), want)
	}
	if n := pings.Load(); n != 1 {
		t.Errorf("%d pings of /v2/, want 1 for the run", n)
	}
	// The ping is the one request answered 401; anything more is a request
	// sent without its token.
	if c := challenged.Load(); c != 1 {
		t.Errorf("%d requests answered 401: requests went out without the token", c)
	}
	t.Logf("%d requests, %d tokens, %d pings, %d challenged", total.Load(), tokens.Load(), pings.Load(), challenged.Load())
}
