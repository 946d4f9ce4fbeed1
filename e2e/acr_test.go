package e2e

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/registry/acr/acrtest"
	"github.com/tagsweep/tagsweep/internal/report"
)

// TestACR: provider=acr lists through ACR's metadata API: a tag locked on
// the registry and a locked manifest are kept with ACR's reason in the
// dry run already, and the real run sends them nothing; a stale tag that
// shares its digest with a kept tag is removed with the untag API; the
// dry run plans exactly what the real run does.
func TestACR(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	srv, err := acrtest.New(acrtest.Options{Registry: r})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	a := r.Addr()
	pushImage(t, a, "team/app:new", daysAgo(1), 1)
	pushImage(t, a, "team/app:stable", daysAgo(40), 2)
	tag(t, a, "team/app:stale-shared", "team/app:stable")
	pushImage(t, a, "team/app:old1", daysAgo(41), 3)
	pushImage(t, a, "team/app:frozen", daysAgo(42), 4)
	pinned := pushImage(t, a, "team/app:pinned", daysAgo(43), 5).String()
	pushImage(t, a, "team/app:old2", daysAgo(44), 6)
	lock := acrtest.Attributes{DeleteEnabled: false, WriteEnabled: true, ReadEnabled: true, ListEnabled: true}
	srv.SetTagAttributes("team/app", "frozen", lock)
	srv.SetManifestAttributes("team/app", pinned, lock)

	in := inputs{"registry": a, "provider": "acr", "username": "sweeper", "password": "acr-Secret-0451",
		"repositories": "team/app", "keep": "1", "older-than": "30d", "exclude-tags": "stable", "dry-run": "true"}
	dry := runAction(t, in)
	if dry.code != 0 {
		t.Fatalf("dry run exit %d\n%s", dry.code, dry.stderr)
	}
	want := []string{"team/app:old1", "team/app:old2", "team/app:stale-shared"}
	if diff := cmp.Diff(want, deletedTagsOutput(t, dry)); diff != "" {
		t.Errorf("dry-run deleted-tags (-want +got):\n%s", diff)
	}
	const lockedReason = "locked on the registry (ACR: writeEnabled or deleteEnabled is false)"
	for _, tg := range []string{"frozen", "pinned"} {
		if got := byTag(t, dry.report, "team/app")[tg]; got.Action != report.Kept || got.Reason != lockedReason {
			t.Errorf("dry run %s: %+v", tg, got)
		}
	}
	if d := append(srv.Deletes(), srv.RegistryDeletes()...); len(d) != 0 {
		t.Errorf("the dry run sent deletes: %v", d)
	}

	in["dry-run"] = "false"
	res := runAction(t, in)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	if diff := cmp.Diff(deletedTagsOutput(t, dry), deletedTagsOutput(t, res)); diff != "" {
		t.Errorf("the real run deleted other tags than the dry run planned (-dry +real):\n%s", diff)
	}
	checkCounts(t, res)
	app := byTag(t, res.report, "team/app")
	for _, tg := range []string{"frozen", "pinned"} {
		if got := app[tg]; got.Action != report.Kept || got.Reason != lockedReason {
			t.Errorf("%s: %+v", tg, got)
		}
	}
	if diff := cmp.Diff([]string{"frozen", "new", "pinned", "stable"}, listTags(t, a, "team/app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"DELETE /acr/v1/team/app/_tags/stale-shared"}, srv.Deletes()); diff != "" {
		t.Errorf("untags (-want +got):\n%s", diff)
	}
	for _, d := range srv.RegistryDeletes() {
		if strings.HasSuffix(d, pinned) {
			t.Errorf("a DELETE was sent to the locked manifest: %s", d)
		}
	}
	if n := len(srv.RegistryDeletes()); n != 2 {
		t.Errorf("registry deletes %v, want old1's and old2's", srv.RegistryDeletes())
	}
	gcAndVerify(t, r, true, "team/app:new", "team/app:stable", "team/app:frozen", "team/app:pinned")
}
