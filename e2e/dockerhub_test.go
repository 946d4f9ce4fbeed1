package e2e

import (
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/registry/dockerhub/hubtest"
	"github.com/tagsweep/tagsweep/internal/report"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

const (
	hubSecret       = "dckr_pat_e2e-hub-s3cret"
	hubWriterSecret = "dckr_pat_e2e-writer-s3cret"
)

// dockerHub is the in-process registry (standing in for
// registry-1.docker.io, which refuses DELETE) and the Hub API replica in
// front of it.
type dockerHub struct {
	r   *testregistry.Registry
	hub *hubtest.Server
	env []string
}

func newDockerHub(t *testing.T, o hubtest.Options) *dockerHub {
	t.Helper()
	r := newRegistry(t)
	o.Users = append(o.Users,
		hubtest.User{Name: "acme", Secret: hubSecret, Scope: hubtest.ScopeDelete},
		hubtest.User{Name: "ci-writer", Secret: hubWriterSecret, Scope: hubtest.ScopeWrite, Namespaces: []string{"acme"}})
	hub, err := hubtest.New(r, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close() })
	return &dockerHub{r: r, hub: hub, env: []string{"TAGSWEEP_DOCKERHUB_API_URL=" + hub.URL()}}
}

// seed fills acme/app: new (1 day), old (30 days) with stable (excluded)
// on its digest, older (60 days); and acme/tool with one tag. Push times
// on the Hub match the ages.
func (h *dockerHub) seed(t *testing.T) {
	t.Helper()
	a := h.r.Addr()
	pushImage(t, a, "acme/app:new", daysAgo(1), 1)
	pushImage(t, a, "acme/app:old", daysAgo(30), 2)
	tag(t, a, "acme/app:stable", "acme/app:old")
	pushImage(t, a, "acme/app:older", daysAgo(60), 3)
	pushImage(t, a, "acme/tool:v1", daysAgo(90), 4)
	for tg, age := range map[string]float64{"new": 1, "old": 30, "stable": 30, "older": 60} {
		h.hub.SetPushed("acme/app", tg, daysAgo(age))
	}
	h.hub.SetPushed("acme/tool", "v1", daysAgo(90))
}

func (h *dockerHub) inputs(password string) inputs {
	return inputs{"registry": h.r.Addr(), "provider": "dockerhub", "username": "acme", "password": password,
		"repositories": "acme/**", "keep": "1", "exclude-tags": "stable"}
}

// requests renders the Hub API requests received, "METHOD path?query".
func (h *dockerHub) requests() []string {
	var out []string
	for _, r := range h.hub.Requests() {
		out = append(out, r.String())
	}
	return out
}

func (h *dockerHub) deletesSent() []string {
	var out []string
	for _, r := range h.hub.Requests() {
		if r.Method == http.MethodDelete {
			out = append(out, r.Path)
		}
	}
	sort.Strings(out)
	return out
}

// TestDockerHubSweep: with provider dockerhub the stale tags go through
// the Hub API's tag delete, one request per tag, and a stale digest's
// untagged manifest then through the registry API's DELETE by digest; the
// stale tag sharing its digest with the kept `stable` goes while `stable`
// still pulls (its manifest stays); the dry run plans the same and sends
// no DELETE; ages are the Hub's push times.
func TestDockerHubSweep(t *testing.T) {
	t.Parallel()
	h := newDockerHub(t, hubtest.Options{})
	h.seed(t)
	a := h.r.Addr()

	in := h.inputs(hubSecret)
	in["dry-run"] = "true"
	dry := runActionWith(t, in, h.env)
	if dry.code != 0 {
		t.Fatalf("dry run exit %d\n%s", dry.code, dry.stderr)
	}
	if d := h.deletesSent(); len(d) != 0 {
		t.Errorf("dry run sent Hub API deletes: %v", d)
	}
	if d := h.r.Deletes(); len(d) != 0 {
		t.Errorf("dry run sent registry deletes: %v", d)
	}
	want := []string{"acme/app:old", "acme/app:older"}
	if diff := cmp.Diff(want, deletedTagsOutput(t, dry)); diff != "" {
		t.Errorf("dry-run deleted-tags (-want +got):\n%s", diff)
	}
	if got := actions(t, dry.report, "acme/app"); got["old"] != report.WouldDelete || got["stable"] != report.Kept || got["new"] != report.Kept {
		t.Errorf("dry-run actions: %v", got)
	}
	checkCounts(t, dry)

	h.hub.ResetRequests()
	in["dry-run"] = "false"
	res := runActionWith(t, in, h.env)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	if diff := cmp.Diff(want, deletedTagsOutput(t, res)); diff != "" {
		t.Errorf("deleted-tags (-want +got):\n%s", diff)
	}
	checkCounts(t, res)
	if diff := cmp.Diff([]string{"new", "stable"}, listTags(t, a, "acme/app")); diff != "" {
		t.Errorf("acme/app tags left (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"v1"}, listTags(t, a, "acme/tool")); diff != "" {
		t.Errorf("acme/tool tags left (-want +got):\n%s", diff)
	}
	// Exactly one Hub API delete per stale tag, and one registry DELETE:
	// older's manifest (old's is stable's).
	if diff := cmp.Diff([]string{"/v2/repositories/acme/app/tags/old/", "/v2/repositories/acme/app/tags/older/"}, h.deletesSent()); diff != "" {
		t.Errorf("Hub API deletes (-want +got):\n%s", diff)
	}
	older := byTag(t, dry.report, "acme/app")["older"].Digest
	if diff := cmp.Diff([]string{"acme/app@" + older}, h.hub.RegistryDeletes()); diff != "" {
		t.Errorf("registry-API DELETEs (-want +got):\n%s", diff)
	}
	if exists(t, a+"/acme/app@"+older) {
		t.Error("older's manifest is still stored")
	}
	// The requests: one login, the namespace's repositories, each
	// repository's settings and tags (twice for acme/app: the second
	// look), the deletes.
	got := h.requests()
	sort.Strings(got)
	wantReqs := []string{
		"DELETE /v2/repositories/acme/app/tags/old/",
		"DELETE /v2/repositories/acme/app/tags/older/",
		"GET /v2/namespaces/acme/repositories/app",
		"GET /v2/namespaces/acme/repositories/app",
		"GET /v2/namespaces/acme/repositories/app/tags?page_size=100",
		"GET /v2/namespaces/acme/repositories/app/tags?page_size=100",
		"GET /v2/namespaces/acme/repositories/tool",
		"GET /v2/namespaces/acme/repositories/tool/tags?page_size=100",
		"GET /v2/namespaces/acme/repositories?page_size=100",
		"POST /v2/auth/token",
	}
	if diff := cmp.Diff(wantReqs, got); diff != "" {
		t.Errorf("Hub API requests (-want +got):\n%s", diff)
	}
	for _, r := range h.hub.Requests() {
		if r.Path != "/v2/auth/token" && r.Auth != "Bearer" {
			t.Errorf("%s sent without the bearer token (%q)", r, r.Auth)
		}
	}
	// Docker Hub's retention removes the untagged images: the kept tags
	// still pull after the untagged manifests are collected.
	gcAndVerify(t, h.r, true, "acme/app:new", "acme/app:stable", "acme/tool:v1")
	if !strings.Contains(res.summary, "Docker Hub") || !strings.Contains(res.summary, "untagged") {
		t.Errorf("summary does not name Docker Hub's own clean-up:\n%s", res.summary)
	}
	rep := byTag(t, res.report, "acme/app")
	if rep["older"].Created == nil || time.Since(*rep["older"].Created) < 59*24*time.Hour {
		t.Errorf("older: age %v, want its push time 60 days ago", rep["older"].Created)
	}
	noSecret(t, res, in["report-file"], hubSecret)
}

// TestDockerHubBadToken: a refused login exits 1 with a message naming the
// account and the scope needed, never the token; nothing is deleted and
// the login is not retried per repository.
func TestDockerHubBadToken(t *testing.T) {
	t.Parallel()
	h := newDockerHub(t, hubtest.Options{})
	h.seed(t)
	in := h.inputs("dckr_pat_wrong-s3cret")
	res := runActionWith(t, in, h.env)
	if res.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", res.code, res.stderr)
	}
	for _, want := range []string{`Docker Hub account "acme"`, "(401)", "Read, Write, Delete"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
		}
	}
	if diff := cmp.Diff([]string{"POST /v2/auth/token"}, h.requests()); diff != "" {
		t.Errorf("Hub API requests (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"new", "old", "older", "stable"}, listTags(t, h.r.Addr(), "acme/app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	if len(h.r.Deletes()) != 0 {
		t.Errorf("registry deletes: %v", h.r.Deletes())
	}
	noSecret(t, res, in["report-file"], "dckr_pat_wrong-s3cret", "s3cret")
}

// TestDockerHubNoDeleteScope: a token that may read but not delete lists
// and plans, then every planned deletion fails with a message naming the
// permission; exit 1; nothing is deleted.
func TestDockerHubNoDeleteScope(t *testing.T) {
	t.Parallel()
	h := newDockerHub(t, hubtest.Options{})
	h.seed(t)
	in := h.inputs(hubWriterSecret)
	in["username"] = "ci-writer"
	in["repositories"] = "acme/app"
	res := runActionWith(t, in, h.env)
	if res.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", res.code, res.stderr)
	}
	if res.outputs["failed-count"] != "2" || res.outputs["deleted-count"] != "0" {
		t.Errorf("outputs %v", res.outputs)
	}
	checkCounts(t, res)
	for _, want := range []string{`Docker Hub account "ci-writer"`, "(403)", "an access token with Read, Write, Delete scope", "delete tag older"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
		}
	}
	if diff := cmp.Diff([]string{"new", "old", "older", "stable"}, listTags(t, h.r.Addr(), "acme/app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	if d := h.deletesSent(); len(d) != 2 {
		t.Errorf("each refusal is that tag's (up to three per repository), got %v", d)
	}
	noSecret(t, res, in["report-file"], hubWriterSecret)
}
