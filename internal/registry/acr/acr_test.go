package acr

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"golang.org/x/sync/errgroup"

	"github.com/tagsweep/tagsweep/internal/engine"
	"github.com/tagsweep/tagsweep/internal/engine/enginetest"
	"github.com/tagsweep/tagsweep/internal/policy"
	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/acr/acrtest"
	"github.com/tagsweep/tagsweep/internal/registry/oci"
	"github.com/tagsweep/tagsweep/internal/registry/registrytest"
	"github.com/tagsweep/tagsweep/internal/report"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

const (
	acrUser     = "sweeper-token"
	acrPassword = "acr-Pa55-never-shown"
)

type fixture struct {
	t   *testing.T
	ctx context.Context
	reg *testregistry.Registry
	srv *acrtest.Server
}

func startACR(t *testing.T) *fixture {
	t.Helper()
	reg := registrytest.Distribution(t)
	srv, err := acrtest.New(acrtest.Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return &fixture{t: t, ctx: context.Background(), reg: reg, srv: srv}
}

func (f *fixture) backend() *Backend {
	f.t.Helper()
	reg, err := oci.New(f.reg.Addr(), oci.WithKeychain(registrytest.NoKeychain), oci.WithConcurrency(4),
		oci.WithCredentials(oci.Credentials{Username: acrUser, Password: acrPassword}), oci.WithProtections(Descriptor.Protections...))
	if err != nil {
		f.t.Fatal(err)
	}
	return New(reg)
}

func (f *fixture) push(ref string, created time.Time, seed int64) string {
	f.t.Helper()
	h, err := testregistry.PushImage(f.ctx, f.reg.Addr()+"/"+ref, testregistry.ImageSpec{Created: created, Seed: seed})
	if err != nil {
		f.t.Fatal(err)
	}
	return h.String()
}

func (f *fixture) tag(ref, src string) {
	f.t.Helper()
	if err := testregistry.Tag(f.ctx, f.reg.Addr()+"/"+ref, f.reg.Addr()+"/"+src); err != nil {
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

var locked = acrtest.Attributes{DeleteEnabled: true, WriteEnabled: false, ReadEnabled: true, ListEnabled: true}

// TestTags: the listing comes from /acr/v1 (_tags and _manifests, paged
// by 100 with the Link header) with each tag's digest; a locked tag, and
// every tag of a locked manifest, is Protected with LockedReason; the
// registry credentials are sent.
func TestTags(t *testing.T) {
	t.Parallel()
	f := startACR(t)
	shared := f.push("team/app:base", time.Now(), 1)
	var g errgroup.Group
	g.SetLimit(8)
	for i := range 120 {
		g.Go(func() error {
			return testregistry.Tag(f.ctx, fmt.Sprintf("%s/team/app:t%03d", f.reg.Addr(), i), f.reg.Addr()+"/team/app:base")
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	pinned := f.push("team/app:pinned", time.Now(), 2)
	f.tag("team/app:pinned-too", "team/app:pinned")
	f.srv.SetTagAttributes("team/app", "t007", locked)
	f.srv.SetManifestAttributes("team/app", pinned, acrtest.Attributes{DeleteEnabled: false, WriteEnabled: true, ReadEnabled: true, ListEnabled: true})

	tags, err := f.backend().Tags(f.ctx, "team/app")
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) != 123 {
		t.Fatalf("%d tags, want 123", len(tags))
	}
	protected := map[string]string{}
	for _, tg := range tags {
		want := shared
		if strings.HasPrefix(tg.Name, "pinned") {
			want = pinned
		}
		if tg.Digest != want {
			t.Errorf("%s: digest %s, want %s", tg.Name, tg.Digest, want)
		}
		if tg.Protected != "" {
			protected[tg.Name] = tg.Protected
		}
	}
	want := map[string]string{"t007": LockedReason, "pinned": LockedReason, "pinned-too": LockedReason}
	if diff := gocmp.Diff(want, protected); diff != "" {
		t.Errorf("protected (-want +got):\n%s", diff)
	}
	var got []string
	for _, r := range f.srv.Requests() {
		if r.Auth != "Basic" || r.User != acrUser {
			t.Errorf("%s sent with auth %q user %q", r, r.Auth, r.User)
		}
		got = append(got, r.String())
	}
	wantReqs := []string{"GET /acr/v1/team/app", "GET /acr/v1/team/app/_tags?n=100", "GET /acr/v1/team/app/_tags?last=t096&n=100",
		"GET /acr/v1/team/app/_manifests?n=100"}
	if diff := gocmp.Diff(wantReqs, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

// TestDeleteTag: the untag API removes one tag and keeps the manifest; a
// locked tag is a ProtectedError with LockedReason; an unknown tag is
// ErrNotFound; the registry API gets no DELETE.
func TestDeleteTag(t *testing.T) {
	t.Parallel()
	f := startACR(t)
	d := f.push("team/app:stable", time.Now(), 1)
	f.tag("team/app:old", "team/app:stable")
	f.tag("team/app:frozen", "team/app:stable")
	f.srv.SetTagAttributes("team/app", "frozen", locked)
	b := f.backend()
	if ok, err := b.TagDeleteSupported(f.ctx, "team/app"); !ok || err != nil {
		t.Fatalf("TagDeleteSupported: %v %v", ok, err)
	}
	if err := b.DeleteTag(f.ctx, "team/app", "old"); err != nil {
		t.Fatal(err)
	}
	err := b.DeleteTag(f.ctx, "team/app", "frozen")
	var pe *registry.ProtectedError
	if !errors.As(err, &pe) || pe.Reason != LockedReason || !errors.Is(err, registry.ErrProtected) {
		t.Errorf("untag of a locked tag: %v", err)
	}
	if err := b.DeleteTag(f.ctx, "team/app", "nope"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("untag of an unknown tag: %v", err)
	}
	if diff := gocmp.Diff([]string{"frozen", "stable"}, f.tags("team/app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	if ok, err := testregistry.Exists(f.ctx, f.reg.Addr()+"/team/app@"+d); !ok || err != nil {
		t.Errorf("the manifest went with the tag: %v %v", ok, err)
	}
	want := []string{"DELETE /acr/v1/team/app/_tags/old", "DELETE /acr/v1/team/app/_tags/frozen", "DELETE /acr/v1/team/app/_tags/nope"}
	if diff := gocmp.Diff(want, f.srv.Deletes()); diff != "" {
		t.Errorf("untag requests (-want +got):\n%s", diff)
	}
	if d := f.srv.RegistryDeletes(); len(d) != 0 {
		t.Errorf("registry deletes: %v", d)
	}
}

// TestEngineSweep: the real engine and planner over the backend. A stale
// tag sharing its digest with a kept tag is untagged (not kept with
// "shares digest"); a locked tag and a locked manifest are kept with
// ACR's reason in the dry run, from the listing, and the real run sends
// them no DELETE; the dry run plans exactly what the real run does.
func TestEngineSweep(t *testing.T) {
	t.Parallel()
	f := startACR(t)
	now := time.Now()
	ago := func(days float64) time.Time { return now.Add(-time.Duration(days * 24 * float64(time.Hour))) }
	f.push("team/app:new", ago(1), 1)
	f.push("team/app:stable", ago(40), 2)
	f.tag("team/app:stale-shared", "team/app:stable")
	f.push("team/app:old1", ago(41), 3)
	f.push("team/app:frozen", ago(42), 4)
	pinned := f.push("team/app:pinned", ago(43), 5)
	f.push("team/app:old2", ago(44), 6)
	f.srv.SetTagAttributes("team/app", "frozen", locked)
	f.srv.SetManifestAttributes("team/app", pinned, locked)

	exclude, _ := policy.CompileGlob("stable")
	all, _ := policy.CompileGlob("*")
	run := func(dry bool) *report.Report {
		rep := enginetest.Run(t, f.ctx, f.backend(), engine.Options{Registry: f.reg.Addr(), Repositories: []string{"team/app"}, DryRun: dry, Concurrency: 4,
			Rules: policy.Rules{Keep: 1, OlderThan: 30 * 24 * time.Hour, OlderThanText: "30d", Include: []policy.Glob{all}, Exclude: []policy.Glob{exclude}}})
		return rep
	}
	plan := func(rep *report.Report) map[string]string {
		out := map[string]string{}
		for _, r := range rep.Repositories {
			if r.Error != "" {
				t.Errorf("%s: %s", r.Name, r.Error)
			}
			for _, tg := range r.Tags {
				switch tg.Action {
				case report.Deleted, report.WouldDelete:
					out[tg.Tag] = "delete"
				case report.Kept:
					out[tg.Tag] = "kept: " + tg.Reason
				default:
					t.Errorf("%s %s: %s %s", tg.Tag, tg.Action, tg.Reason, tg.Error)
				}
			}
		}
		return out
	}
	dry := plan(run(true))
	for tag, want := range map[string]string{"stale-shared": "delete", "old1": "delete", "old2": "delete",
		"frozen": "kept: " + LockedReason, "pinned": "kept: " + LockedReason} {
		if dry[tag] != want {
			t.Errorf("dry run: %s %q, want %q", tag, dry[tag], want)
		}
	}
	if d := append(f.srv.Deletes(), f.srv.RegistryDeletes()...); len(d) != 0 {
		t.Errorf("the dry run sent deletes: %v", d)
	}
	f.srv.ResetRequests()
	real := plan(run(false))
	if diff := gocmp.Diff(dry, real); diff != "" {
		t.Errorf("real run differs from the dry run (-dry +real):\n%s", diff)
	}
	if diff := gocmp.Diff([]string{"frozen", "new", "pinned", "stable"}, f.tags("team/app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	if diff := gocmp.Diff([]string{"DELETE /acr/v1/team/app/_tags/stale-shared"}, f.srv.Deletes()); diff != "" {
		t.Errorf("untags (-want +got):\n%s", diff)
	}
	if n := len(f.srv.RegistryDeletes()); n != 2 {
		t.Errorf("registry deletes %v, want old1 and old2 only (nothing sent to the locked ones)", f.srv.RegistryDeletes())
	}
	for _, ref := range []string{"team/app:new", "team/app:stable", "team/app:frozen", "team/app:pinned"} {
		if err := testregistry.VerifyPull(f.ctx, f.reg.Addr()+"/"+ref); err != nil {
			t.Errorf("%s: %v", ref, err)
		}
	}
}

// TestRepositoryLock: a repository locked as a whole keeps every tag
// with LockedReason from the listing, in the dry run and the real run,
// and is sent no DELETE; another repository is swept.
func TestRepositoryLock(t *testing.T) {
	t.Parallel()
	f := startACR(t)
	old := time.Now().Add(-40 * 24 * time.Hour)
	f.push("team/frozen:old", old, 1)
	f.push("team/frozen:new", time.Now(), 2)
	f.push("team/open:old", old, 3)
	f.push("team/open:new", time.Now(), 4)
	f.srv.SetRepositoryAttributes("team/frozen", locked)
	all, _ := policy.CompileGlob("*")
	for _, dry := range []bool{true, false} {
		rep := enginetest.Run(t, f.ctx, f.backend(), engine.Options{Registry: f.reg.Addr(), Repositories: []string{"team/frozen", "team/open"}, DryRun: dry,
			Concurrency: 4, Rules: policy.Rules{Keep: 1, Include: []policy.Glob{all}}})
		for _, r := range rep.Repositories {
			for _, tg := range r.Tags {
				want := report.Kept
				if r.Name == "team/open" && tg.Tag == "old" {
					want = report.Deleted
					if dry {
						want = report.WouldDelete
					}
				}
				if tg.Action != want || (r.Name == "team/frozen" && tg.Reason != LockedReason) {
					t.Errorf("dry %v: %s:%s %s %q, want %s", dry, r.Name, tg.Tag, tg.Action, tg.Reason, want)
				}
			}
		}
	}
	for _, d := range append(f.srv.RegistryDeletes(), f.srv.Deletes()...) {
		if strings.Contains(d, "/team/frozen/") {
			t.Errorf("a DELETE was sent to the locked repository: %s", d)
		}
	}
	if diff := gocmp.Diff([]string{"new", "old"}, f.tags("team/frozen")); diff != "" {
		t.Errorf("locked repository (-want +got):\n%s", diff)
	}
}

// TestConformance: the ACR backend on its replica.
func TestConformance(t *testing.T) {
	t.Parallel()
	registrytest.Run(t, registrytest.Suite{New: func(t *testing.T) *registrytest.Target {
		f := startACR(t)
		return &registrytest.Target{Backend: f.backend(), Store: registrytest.RegistryStore(f.reg.Addr()),
			Deletes: registrytest.Deletes(f.srv.RegistryDeletes, f.srv.Deletes)}
	}})
}
