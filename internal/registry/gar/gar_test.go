package gar

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/url"
	"sort"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/engine"
	"github.com/tagsweep/tagsweep/internal/engine/enginetest"
	"github.com/tagsweep/tagsweep/internal/policy"
	"github.com/tagsweep/tagsweep/internal/registry/gar/gartest"
	"github.com/tagsweep/tagsweep/internal/registry/oci"
	"github.com/tagsweep/tagsweep/internal/registry/registrytest"
	"github.com/tagsweep/tagsweep/internal/report"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

const token = "ya29.test-access-token"

type fixture struct {
	t   *testing.T
	ctx context.Context
	reg *testregistry.Registry
	srv *gartest.Server
}

func startGAR(t *testing.T) *fixture {
	t.Helper()
	reg := registrytest.Distribution(t)
	srv, err := gartest.New(gartest.Options{Registry: reg, Token: token, Location: "us-central1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return &fixture{t: t, ctx: context.Background(), reg: reg, srv: srv}
}

func (f *fixture) backend(user, pass string) *Backend {
	f.t.Helper()
	reg, err := oci.New(f.reg.Addr(), oci.WithKeychain(registrytest.NoKeychain), oci.WithConcurrency(4), oci.WithUntagFirst(true),
		oci.WithCredentials(oci.Credentials{Username: user, Password: pass}))
	if err != nil {
		f.t.Fatal(err)
	}
	api, _ := url.Parse(f.srv.APIURL())
	b, err := New(Options{Registry: reg, API: api, Location: "us-central1"})
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

func (f *fixture) push(ref string, created time.Time, seed int64) {
	f.t.Helper()
	if _, err := testregistry.PushImage(f.ctx, f.reg.Addr()+"/"+ref, testregistry.ImageSpec{Created: created, Seed: seed}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) tags(repo string) []string {
	f.t.Helper()
	tags, err := testregistry.ListTags(f.ctx, f.reg.Addr()+"/"+repo)
	if err != nil {
		f.t.Fatal(err)
	}
	sort.Strings(tags)
	return tags
}

// TestImmutableTags: in an Artifact Registry repository with immutable
// tags every tag is kept with the reason, planned from the setting in
// the dry run and the real run alike, and no DELETE is sent there; the
// setting is read once per repository with the registry's access token;
// a repository without the setting is swept as before (tags first, then
// the digest), the dry run planning exactly what the real run does.
func TestImmutableTags(t *testing.T) {
	t.Parallel()
	f := startGAR(t)
	now := time.Now()
	for i, ref := range []string{"proj/frozen/app:new", "proj/frozen/app:old", "proj/frozen/tool:old", "proj/open/app:new", "proj/open/app:old"} {
		created := now.Add(-40 * 24 * time.Hour)
		if i == 0 || i == 3 {
			created = now
		}
		f.push(ref, created, int64(i+1))
	}
	f.srv.SetImmutable("proj/frozen", true)
	all, _ := policy.CompileGlob("*")
	run := func(dry bool) (map[string]string, *Backend) {
		b := f.backend("oauth2accesstoken", token)
		rep := enginetest.Run(t, f.ctx, b, engine.Options{Registry: f.reg.Addr(), Repositories: []string{"proj/frozen/app", "proj/frozen/tool", "proj/open/app"},
			DryRun: dry, Concurrency: 4, Rules: policy.Rules{Keep: 1, OlderThan: 30 * 24 * time.Hour, OlderThanText: "30d", Include: []policy.Glob{all}}})
		out := map[string]string{}
		for _, r := range rep.Repositories {
			if r.Error != "" {
				t.Errorf("%s: %s", r.Name, r.Error)
			}
			for _, tg := range r.Tags {
				switch tg.Action {
				case report.Deleted, report.WouldDelete:
					out[r.Name+":"+tg.Tag] = "delete"
				case report.Kept:
					if tg.Reason == ImmutableReason {
						out[r.Name+":"+tg.Tag] = "immutable"
					} else {
						out[r.Name+":"+tg.Tag] = "kept"
					}
				default:
					t.Errorf("%s:%s %s %s %s", r.Name, tg.Tag, tg.Action, tg.Reason, tg.Error)
				}
			}
		}
		return out, b
	}
	want := map[string]string{"proj/frozen/app:new": "immutable", "proj/frozen/app:old": "immutable", "proj/frozen/tool:old": "immutable",
		"proj/open/app:new": "kept", "proj/open/app:old": "delete"}
	dry, b := run(true)
	if diff := gocmp.Diff(want, dry); diff != "" {
		t.Errorf("dry run (-want +got):\n%s", diff)
	}
	if b.APIRequests() != 2 {
		t.Errorf("%d API requests, want 2 (one per Artifact Registry repository)", b.APIRequests())
	}
	for _, r := range f.srv.Requests() {
		if r.Auth != "Bearer" || r.Status != 200 {
			t.Errorf("API request %s: auth %q status %d", r, r.Auth, r.Status)
		}
	}
	if d := f.srv.RegistryDeletes(); len(d) != 0 {
		t.Errorf("the dry run sent deletes: %v", d)
	}
	real, _ := run(false)
	if diff := gocmp.Diff(dry, real); diff != "" {
		t.Errorf("real run differs from the dry run (-dry +real):\n%s", diff)
	}
	for _, d := range f.srv.RegistryDeletes() {
		if len(d) > len("DELETE /v2/proj/frozen") && d[:len("DELETE /v2/proj/frozen")] == "DELETE /v2/proj/frozen" {
			t.Errorf("a DELETE was sent to the immutable repository: %s", d)
		}
	}
	if diff := gocmp.Diff([]string{"new", "old"}, f.tags("proj/frozen/app")); diff != "" {
		t.Errorf("immutable tags left (-want +got):\n%s", diff)
	}
	if diff := gocmp.Diff([]string{"new"}, f.tags("proj/open/app")); diff != "" {
		t.Errorf("open tags left (-want +got):\n%s", diff)
	}
}

// TestSettingNotRead: a registry credential that is not an access token
// (a service-account key) sends the API nothing and plans the repository
// as mutable; a repository path that names no Artifact Registry
// repository reads nothing either.
func TestSettingNotRead(t *testing.T) {
	t.Parallel()
	f := startGAR(t)
	f.push("proj/frozen/app:v1", time.Now(), 1)
	f.push("app:v1", time.Now(), 2)
	f.srv.SetImmutable("proj/frozen", true)
	b := f.backend("_json_key", `{"type":"service_account"}`)
	tags, err := b.Tags(f.ctx, "proj/frozen/app")
	if err != nil || len(tags) != 1 || tags[0].Protected != "" {
		t.Errorf("Tags = %+v, %v", tags, err)
	}
	if _, err := b.Immutable(f.ctx, "proj/frozen/app"); err == nil {
		t.Error("Immutable: no error without an access token")
	}
	b2 := f.backend("oauth2accesstoken", token)
	if imm, err := b2.Immutable(f.ctx, "app"); imm || err != nil {
		t.Errorf("Immutable(app) = %v, %v", imm, err)
	}
	if n := len(f.srv.Requests()); n != 0 {
		t.Errorf("%d API requests, want 0", n)
	}
}

// TestConformance: the Artifact Registry backend on its replica.
func TestConformance(t *testing.T) {
	t.Parallel()
	registrytest.Run(t, registrytest.Suite{New: func(t *testing.T) *registrytest.Target {
		f := startGAR(t)
		return &registrytest.Target{Backend: f.backend("oauth2accesstoken", token), Store: registrytest.RegistryStore(f.reg.Addr()),
			Deletes: registrytest.Deletes(f.srv.RegistryDeletes)}
	}})
}

// TestRefusedWithoutSetting: where the setting cannot be read (a
// service-account key is no access token), Artifact Registry's refusal
// of a tag delete in an immutable repository keeps the image with
// RefusedReason, fails nothing, and leaves single-tag deletes on for the
// other repositories.
func TestRefusedWithoutSetting(t *testing.T) {
	t.Parallel()
	f := startGAR(t)
	now := time.Now()
	f.push("proj/frozen/app:old", now.Add(-40*24*time.Hour), 1)
	f.push("proj/frozen/app:new", now, 2)
	f.push("proj/open/app:stable", now.Add(-40*24*time.Hour), 3)
	if err := testregistry.Tag(f.ctx, f.reg.Addr()+"/proj/open/app:stale-shared", f.reg.Addr()+"/proj/open/app:stable"); err != nil {
		t.Fatal(err)
	}
	f.push("proj/open/app:new", now, 4)
	f.srv.SetImmutable("proj/frozen", true)
	all, _ := policy.CompileGlob("*")
	exclude, _ := policy.CompileGlob("stable")
	rep := enginetest.Run(t, f.ctx, f.backend("_json_key", `{"type":"service_account"}`), engine.Options{Registry: f.reg.Addr(),
		Repositories: []string{"proj/frozen/app", "proj/open/app"}, Concurrency: 1,
		Rules: policy.Rules{Keep: 1, OlderThan: 30 * 24 * time.Hour, OlderThanText: "30d", Include: []policy.Glob{all}, Exclude: []policy.Glob{exclude}}})
	got := map[string]string{}
	for _, r := range rep.Repositories {
		if r.Error != "" {
			t.Errorf("%s: %s", r.Name, r.Error)
		}
		for _, tg := range r.Tags {
			got[r.Name+":"+tg.Tag] = string(tg.Action)
			if tg.Tag == "old" && tg.Reason != RefusedReason {
				t.Errorf("old: reason %q, want %q", tg.Reason, RefusedReason)
			}
		}
	}
	want := map[string]string{"proj/frozen/app:old": report.Kept, "proj/frozen/app:new": report.Kept,
		"proj/open/app:stable": report.Kept, "proj/open/app:stale-shared": report.Deleted, "proj/open/app:new": report.Kept}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
	if diff := gocmp.Diff([]string{"new", "stable"}, f.tags("proj/open/app")); diff != "" {
		t.Errorf("open tags left (-want +got):\n%s", diff)
	}
}

// TestServiceAccountKey: with a service-account key as the registry
// password (_json_key, or _json_key_base64), the setting is read with an
// access token its token_uri grants for a signed assertion, once, and
// the immutable repository's tags are protected.
func TestServiceAccountKey(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"_json_key", "_json_key_base64"} {
		t.Run(user, func(t *testing.T) {
			t.Parallel()
			reg := registrytest.Distribution(t)
			srv, err := gartest.New(gartest.Options{Registry: reg, Token: token, Location: "us-central1", ServiceAccountKey: &key.PublicKey})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(srv.Close)
			f := &fixture{t: t, ctx: context.Background(), reg: reg, srv: srv}
			f.push("proj/frozen/app:v1", time.Now(), 1)
			f.push("proj/frozen/tool:v1", time.Now(), 2)
			srv.SetImmutable("proj/frozen", true)
			sa, _ := json.Marshal(map[string]string{"type": "service_account", "project_id": "proj", "private_key_id": "k1",
				"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
				"client_email": "sweeper@proj.iam.gserviceaccount.com", "client_id": "1", "token_uri": srv.APIURL() + "/token"})
			pass := string(sa)
			if user == "_json_key_base64" {
				pass = base64.StdEncoding.EncodeToString(sa)
			}
			b := f.backend(user, pass)
			for _, repo := range []string{"proj/frozen/app", "proj/frozen/tool"} {
				tags, err := b.Tags(f.ctx, repo)
				if err != nil || len(tags) != 1 || tags[0].Protected != ImmutableReason {
					t.Errorf("%s: Tags = %+v, %v", repo, tags, err)
				}
			}
			var got []string
			for _, r := range srv.Requests() {
				got = append(got, fmt.Sprintf("%s %s %d", r.Method, r.Path, r.Status))
			}
			want := []string{"POST /token 200", "GET /v1/projects/proj/locations/us-central1/repositories/frozen 200"}
			if diff := gocmp.Diff(want, got); diff != "" {
				t.Errorf("API requests (-want +got):\n%s", diff)
			}
		})
	}
}
