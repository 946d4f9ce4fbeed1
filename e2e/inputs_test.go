package e2e

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tagsweep/tagsweep/internal/cli/clitest"
	"github.com/tagsweep/tagsweep/internal/report"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// seedAges pushes one image per tag into repo, tag i being i+1 days old
// (the first tag is the newest), with distinct layers.
var seedAges = clitest.SeedAges

// platformChild builds (without pushing) a linux/arch image daysOld days
// old, for use as an index child.
func platformChild(t *testing.T, daysOld float64, seed int64, arch string) v1.Image {
	t.Helper()
	img, err := testregistry.BuildImage(testregistry.ImageSpec{Created: daysAgo(daysOld), Seed: seed, Platform: &v1.Platform{OS: "linux", Architecture: arch}})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

var sortStrings = cmpopts.SortSlices(func(a, b string) bool { return a < b })

// TestInvalidInput: each invalid input exits 2 with exactly one stderr line
// naming the input and the bad value, before any request is sent, and
// nothing is deleted. The other inputs are valid and would delete every tag.
func TestInvalidInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not-a-cert.pem")
	if err := os.WriteFile(notPEM, []byte("this is not a PEM certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const addrVar = "{addr}"
	for _, tc := range []struct {
		name  string
		in    inputs
		input string   // the input the line must start with
		want  []string // what else the line must say (the bad value)
	}{
		{"keep not a number", inputs{"keep": "ten"}, "keep", []string{`"ten"`}},
		{"keep negative", inputs{"keep": "-1"}, "keep", []string{`"-1"`}},
		{"older-than", inputs{"older-than": "30x"}, "older-than", []string{`"30x"`}},
		{"order-by", inputs{"order-by": "name"}, "order-by", []string{`"name"`}},
		{"keep-semver", inputs{"keep-semver": ">=one.two"}, "keep-semver", []string{`>=one.two`}},
		{"dry-run", inputs{"dry-run": "maybe"}, "dry-run", []string{`"maybe"`}},
		{"missing registry", inputs{"registry": ""}, "registry", []string{"required"}},
		{"registry with a path", inputs{"registry": addrVar + "/app"}, "registry", []string{"/app"}},
		{"plain http to a remote host", inputs{"registry": "http://registry.example.com"}, "registry", []string{"http://registry.example.com", "insecure"}},
		{"missing ca-file", inputs{"ca-file": filepath.Join(dir, "missing.pem")}, "ca-file", []string{filepath.Join(dir, "missing.pem")}},
		{"ca-file not PEM", inputs{"ca-file": notPEM}, "ca-file", []string{notPEM}},
		{"concurrency 0", inputs{"concurrency": "0"}, "concurrency", []string{`"0"`}},
		{"username without password", inputs{"username": "bob"}, "password", []string{"username", `"bob"`}},
		{"password without username", inputs{"password": "pw-alone"}, "username", []string{"required"}},
		{"insecure", inputs{"insecure": "maybe"}, "insecure", []string{`"maybe"`}},
		{"bad exclude-tags glob", inputs{"exclude-tags": "ok,[v1"}, "exclude-tags", []string{`[v1`}},
		{"bad repositories glob", inputs{"repositories": "team/[a"}, "repositories", []string{`team/[a`}},
		{"registry with a user", inputs{"registry": "bob@" + addrVar}, "registry", []string{"bob@"}},
		{"registry with an unknown scheme", inputs{"registry": "ftp://" + addrVar}, "registry", []string{"ftp://"}},
		{"unknown provider", inputs{"provider": "nexus"}, "provider", []string{`"nexus"`, "ghcr"}},
		{"age-source unknown", inputs{"age-source": "pulled"}, "age-source", []string{`"pulled"`}},
		{"max-deletions negative", inputs{"max-deletions": "-5"}, "max-deletions", []string{`"-5"`}},
		{"max-deletions not a number", inputs{"max-deletions": "lots"}, "max-deletions", []string{`"lots"`}},
		{"timeout", inputs{"timeout": "soon"}, "timeout", []string{`"soon"`}},
		{"ghcr repositories without an owner", inputs{"provider": "ghcr", "password": "tok", "repositories": "*/app"}, "repositories", []string{`"*/app"`, "owner"}},
		{"dockerhub without a username", inputs{"provider": "dockerhub", "repositories": "acme/app"}, "username", []string{"Docker Hub", "Read, Write, Delete"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRegistry(t)
			a := r.Addr()
			seedAges(t, a, "app", "new", "old")
			in := inputs{"registry": a, "repositories": "app", "keep": "0"}
			for k, v := range tc.in {
				in[k] = strings.ReplaceAll(v, addrVar, a)
			}
			r.ResetRequests()
			res := runAction(t, in)
			if res.code != 2 {
				t.Errorf("exit %d, want 2", res.code)
			}
			lines := strings.Split(strings.TrimSuffix(res.stderr, "\n"), "\n")
			if len(lines) != 1 || !strings.HasSuffix(res.stderr, "\n") {
				t.Errorf("stderr has %d lines, want exactly one:\n%s", len(lines), res.stderr)
			}
			prefix := "tagsweep: invalid input: " + tc.input + ":"
			if !strings.HasPrefix(lines[0], prefix) {
				t.Errorf("stderr line %q does not start with %q", lines[0], prefix)
			}
			for _, w := range tc.want {
				if !strings.Contains(lines[0], w) {
					t.Errorf("stderr line %q does not contain %q", lines[0], w)
				}
			}
			if n := r.Requests().Total; n != 0 {
				t.Errorf("the registry received %d requests, want none: %+v", n, r.Requests().ByRoute)
			}
			if strings.Contains(res.stderr, "pw-alone") {
				t.Errorf("stderr shows the password: %q", res.stderr)
			}
			if diff := cmp.Diff([]string{"new", "old"}, listTags(t, a, "app")); diff != "" {
				t.Errorf("tags left (-want +got):\n%s", diff)
			}
		})
	}
}

// TestInputPrecedence: a flag beats TAGSWEEP_NAME beats INPUT_NAME, an
// empty value at any level means "not set", and TAGSWEEP_ names use "_"
// where INPUT_ names keep "-".
func TestInputPrecedence(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	var tags []string
	for i := 1; i <= 12; i++ {
		tags = append(tags, fmt.Sprintf("t%02d", i)) // t01 (newest) .. t12 (oldest)
	}
	seedAges(t, a, "app", tags...)
	from := func(i int) []string { // app:tNN for NN >= i
		var out []string
		for _, tg := range tags[i-1:] {
			out = append(out, "app:"+tg)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		in   inputs
		env  []string
		args []string
		want []string
	}{
		{"INPUT_KEEP", inputs{"keep": "3"}, nil, nil, from(4)},
		{"TAGSWEEP_KEEP beats INPUT_KEEP", inputs{"keep": "3"}, []string{"TAGSWEEP_KEEP=5"}, nil, from(6)},
		{"flag beats TAGSWEEP_KEEP and INPUT_KEEP", inputs{"keep": "3"}, []string{"TAGSWEEP_KEEP=5"}, []string{"--keep", "1"}, from(2)},
		{"empty INPUT_KEEP is the default 10", inputs{"keep": ""}, nil, nil, from(11)},
		{"empty TAGSWEEP_KEEP is not set", inputs{"keep": "3"}, []string{"TAGSWEEP_KEEP="}, nil, from(4)},
		{"empty flag is not set", inputs{"keep": "3"}, []string{"TAGSWEEP_KEEP=5"}, []string{"--keep="}, from(6)},
		{"INPUT_OLDER-THAN in weeks and days", inputs{"keep": "0", "older-than": "1w3d12h"}, nil, nil, from(11)},
		{"TAGSWEEP_OLDER_THAN beats INPUT_OLDER-THAN", inputs{"keep": "0", "older-than": "1w3d12h"}, []string{"TAGSWEEP_OLDER_THAN=108h"}, nil, from(5)},
	} {
		in := inputs{"registry": a, "repositories": "app", "dry-run": "true"}
		for k, v := range tc.in {
			in[k] = v
		}
		res := runActionWith(t, in, tc.env, tc.args...)
		if res.code != 0 {
			t.Errorf("%s: exit %d", tc.name, res.code)
			continue
		}
		if diff := cmp.Diff(tc.want, deletedTagsOutput(t, res)); diff != "" {
			t.Errorf("%s: would delete (-want +got):\n%s", tc.name, diff)
		}
	}
	if d := r.Deletes(); len(d) != 0 {
		t.Fatalf("dry runs sent deletes: %v", d)
	}

	// Booleans: TAGSWEEP_DRY_RUN=true beats INPUT_DRY-RUN=false, and so does
	// a bare --dry-run flag.
	for _, c := range []struct {
		env  []string
		args []string
	}{{[]string{"TAGSWEEP_DRY_RUN=true"}, nil}, {nil, []string{"--dry-run"}}, {nil, []string{"--dry-run", "true", "--keep", "1"}}} {
		res := runActionWith(t, inputs{"registry": a, "repositories": "app", "keep": "1", "dry-run": "false"}, c.env, c.args...)
		if res.code != 0 || res.report == nil || !res.report.DryRun || len(r.Deletes()) != 0 {
			t.Fatalf("env %v args %v over INPUT_DRY-RUN=false: exit %d, deletes %v; want a dry run", c.env, c.args, res.code, r.Deletes())
		}
	}

	// The real thing: the flags win (--dry-run false over TAGSWEEP_DRY_RUN=true,
	// the value after a space), only the newest is left.
	res := runActionWith(t, inputs{"registry": a, "repositories": "app", "keep": "3"}, []string{"TAGSWEEP_KEEP=5", "TAGSWEEP_DRY_RUN=true"}, "--keep", "1", "--dry-run", "false")
	if res.code != 0 {
		t.Fatalf("exit %d", res.code)
	}
	if diff := cmp.Diff([]string{"t01"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
}

// TestListInputs: list inputs take newlines and commas, mixed.
func TestListInputs(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	seedAges(t, a, "app", "a", "b", "c", "d", "e")
	seedAges(t, a, "other", "x", "a")
	seedAges(t, a, "third", "z") // not named: untouched
	res := runAction(t, inputs{"registry": a, "repositories": "app,\nother", "keep": "0", "exclude-tags": "a\nb,c", "dry-run": "true"})
	if res.code != 0 {
		t.Fatalf("exit %d", res.code)
	}
	if diff := cmp.Diff([]string{"app:d", "app:e", "other:x"}, deletedTagsOutput(t, res)); diff != "" {
		t.Errorf("would delete (-want +got):\n%s", diff)
	}
	var names []string
	for _, repo := range res.report.Repositories {
		names = append(names, repo.Name)
	}
	if diff := cmp.Diff([]string{"app", "other"}, names); diff != "" {
		t.Errorf("repositories handled (-want +got):\n%s", diff)
	}
	checkCounts(t, res)

	// include-tags: tags outside it are kept and do not count toward keep.
	seedAges(t, a, "inc", "main", "v1", "v2") // main is the newest
	res = runAction(t, inputs{"registry": a, "repositories": "inc", "keep": "1", "include-tags": "v*", "dry-run": "true"})
	if res.code != 0 {
		t.Fatalf("exit %d", res.code)
	}
	if diff := cmp.Diff([]string{"inc:v2"}, deletedTagsOutput(t, res)); diff != "" {
		t.Errorf("include-tags v*: would delete (-want +got):\n%s", diff)
	}
	if got := byTag(t, res.report, "inc")["main"]; got.Action != report.Kept || !strings.Contains(got.Reason, "include-tags") {
		t.Errorf("main: %s %q, want kept for matching no include-tags", got.Action, got.Reason)
	}
}

var outputLine = regexp.MustCompile(`^(deleted-count|kept-count|failed-count|deleted-tags|reclaimed-bytes|report-file)=(.*)$`)

// TestOutsideActions: without the runner's variables, the outputs are
// printed as name=value lines at the end of stdout after the markdown
// summary, and no ::add-mask:: command is printed (it would leak the
// secret into a plain CI log).
func TestOutsideActions(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	seedAges(t, a, "app", "new", "old")
	const secret = "s3cr3t-outside-Qx7"
	rep := filepath.Join(t.TempDir(), "report.json")
	res := runCLI(t, []string{"TAGSWEEP_REGISTRY=" + a, "TAGSWEEP_PASSWORD=" + secret},
		"--repositories", "app", "--keep", "1", "--username", "bob", "--report-file", rep)
	if res.code != 0 {
		t.Fatalf("exit %d", res.code)
	}
	if diff := cmp.Diff([]string{"new"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	lines := strings.Split(strings.TrimRight(res.stdout, "\n"), "\n")
	if len(lines) < 7 {
		t.Fatalf("stdout too short:\n%s", res.stdout)
	}
	got := map[string]string{}
	for _, l := range lines[len(lines)-6:] {
		m := outputLine.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("stdout does not end with the six outputs; line %q\nstdout:\n%s", l, res.stdout)
			continue
		}
		got[m[1]] = m[2]
	}
	want := map[string]string{"deleted-count": "1", "kept-count": "1", "failed-count": "0", "deleted-tags": `["app:old"]`, "report-file": rep}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("output %s = %q, want %q", k, got[k], v)
		}
	}
	if n, err := strconv.ParseInt(got["reclaimed-bytes"], 10, 64); err != nil || n <= 0 {
		t.Errorf("reclaimed-bytes = %q, want > 0", got["reclaimed-bytes"])
	}
	body := strings.Join(lines[:len(lines)-6], "\n")
	for _, w := range []string{"## tagsweep", "`old`", "garbage collector"} {
		if !strings.Contains(body, w) {
			t.Errorf("summary on stdout lacks %q:\n%s", w, body)
		}
	}
	for name, s := range map[string]string{"stdout": res.stdout, "stderr": res.stderr} {
		if strings.Contains(s, "::add-mask::") {
			t.Errorf("%s has an ::add-mask:: command outside GitHub Actions:\n%s", name, s)
		}
		if strings.Contains(s, secret) {
			t.Errorf("%s shows the password:\n%s", name, s)
		}
	}
	if _, err := os.Stat(rep); err != nil {
		t.Errorf("report-file not written: %v", err)
	}
}

// TestRepositoryDiscovery: `/`-separated globs over the catalog; literal
// names send no catalog request, globs send one.
func TestRepositoryDiscovery(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	all := []string{"app", "other", "team/a", "team/b/c"}
	for _, repo := range all {
		seedAges(t, a, repo, "new", "old")
	}
	for _, tc := range []struct {
		repositories string
		want         []string
		catalog      int
	}{
		{"team/*", []string{"team/a"}, 1},
		{"team/**", []string{"team/a", "team/b/c"}, 1},
		{"app", []string{"app"}, 0},
		{"app\nteam/b/c", []string{"app", "team/b/c"}, 0},
		{"", all, 1}, // the default, **
	} {
		r.ResetRequests()
		res := runAction(t, inputs{"registry": a, "repositories": tc.repositories, "keep": "1", "dry-run": "true"})
		if res.code != 0 {
			t.Errorf("repositories %q: exit %d", tc.repositories, res.code)
			continue
		}
		var got, wantDeleted []string
		for _, repo := range res.report.Repositories {
			got = append(got, repo.Name)
		}
		for _, repo := range tc.want {
			wantDeleted = append(wantDeleted, repo+":old")
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("repositories %q handled (-want +got):\n%s", tc.repositories, diff)
		}
		if diff := cmp.Diff(wantDeleted, deletedTagsOutput(t, res)); diff != "" {
			t.Errorf("repositories %q would delete (-want +got):\n%s", tc.repositories, diff)
		}
		if n := r.Requests().Of("GET", testregistry.ClassCatalog); n != tc.catalog {
			t.Errorf("repositories %q: %d catalog requests, want %d", tc.repositories, n, tc.catalog)
		}
	}
}

// TestTagPagination: a registry that pages tags 3 at a time; every tag is
// seen, in the planning listing and in the second look.
func TestTagPagination(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, func(o *testregistry.Options) { o.MaxTags = 3 })
	a := r.Addr()
	var tags []string
	for i := 0; i < 10; i++ {
		tags = append(tags, "v"+strconv.Itoa(i))
	}
	seedAges(t, a, "app", tags...) // v0 newest
	r.ResetRequests()
	dry := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "4", "dry-run": "true"})
	if dry.code != 0 {
		t.Fatalf("dry run exit %d", dry.code)
	}
	if n := r.Requests().Of("GET", testregistry.ClassTags); n < 4 {
		t.Fatalf("only %d tag-list requests for 10 tags at 3 per page: the registry did not paginate", n)
	}
	checkCounts(t, dry)
	if dry.outputs["kept-count"] != "4" || dry.outputs["deleted-count"] != "6" {
		t.Errorf("dry run counts %v, want kept 4 and deleted 6 of 10", dry.outputs)
	}
	res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "4"})
	if res.code != 0 {
		t.Fatalf("exit %d", res.code)
	}
	checkCounts(t, res)
	if res.outputs["kept-count"] != "4" || res.outputs["deleted-count"] != "6" {
		t.Errorf("counts %v, want kept 4 and deleted 6 of 10", res.outputs)
	}
	if diff := cmp.Diff([]string{"v0", "v1", "v2", "v3"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
}

// TestSemver: order-by semver ranks full versions (leading v allowed),
// keeps non-versions as "not semver"; keep-semver protects matching tags
// under order-by created.
func TestSemver(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	// Creation order is the reverse of version order, so ranking by
	// created would keep 1.0.0 and v1.2.0.
	seedAges(t, a, "app", "1.0.0", "v1.2.0", "1.10.0", "2.0.0-rc.1", "latest", "1.2", "v1", "20240101")
	res := runAction(t, inputs{"registry": a, "repositories": "app", "order-by": "semver", "keep": "2"})
	if res.code != 0 {
		t.Fatalf("exit %d", res.code)
	}
	if diff := cmp.Diff([]string{"app:1.0.0", "app:v1.2.0"}, deletedTagsOutput(t, res)); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"1.10.0", "1.2", "2.0.0-rc.1", "20240101", "latest", "v1"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	tags := byTag(t, res.report, "app")
	for _, tg := range []string{"latest", "1.2", "v1", "20240101"} {
		if !strings.Contains(tags[tg].Reason, "not semver") || tags[tg].Action != report.Kept {
			t.Errorf("%s: %s %q, want kept \"not semver\"", tg, tags[tg].Action, tags[tg].Reason)
		}
	}

	// "1.20" and "v2" would satisfy >=1.10.0 if parsed loosely (1.20.0,
	// 2.0.0); the contract's strict parse makes them no versions at all.
	seedAges(t, a, "lib", "dev", "1.9.0", "1.10.0", "2.0.0", "v2.1.0", "1.20", "v2")
	res = runAction(t, inputs{"registry": a, "repositories": "lib", "keep": "0", "keep-semver": ">=1.10.0"})
	if res.code != 0 {
		t.Fatalf("exit %d", res.code)
	}
	if diff := cmp.Diff([]string{"lib:1.20", "lib:1.9.0", "lib:dev", "lib:v2"}, deletedTagsOutput(t, res)); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
	tags = byTag(t, res.report, "lib")
	for _, tg := range []string{"1.10.0", "2.0.0", "v2.1.0"} {
		if tags[tg].Action != report.Kept || !strings.Contains(tags[tg].Reason, "keep-semver") {
			t.Errorf("%s: %s %q, want kept by keep-semver", tg, tags[tg].Action, tags[tg].Reason)
		}
	}
	if diff := cmp.Diff([]string{"1.10.0", "2.0.0", "v2.1.0"}, listTags(t, a, "lib")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}

	// keep-semver is one constraint, not a list: its comma means "and".
	seedAges(t, a, "rng", "1.1.0", "1.5.0", "2.1.0")
	res = runAction(t, inputs{"registry": a, "repositories": "rng", "keep": "0", "keep-semver": ">=1.2.0, <2.0.0", "dry-run": "true"})
	if res.code != 0 {
		t.Fatalf("keep-semver with a comma: exit %d", res.code)
	}
	if diff := cmp.Diff([]string{"rng:1.1.0", "rng:2.1.0"}, deletedTagsOutput(t, res)); diff != "" {
		t.Errorf("keep-semver \">=1.2.0, <2.0.0\": would delete (-want +got):\n%s", diff)
	}
}

// TestAges: implausible creation times are unknown ages and kept;
// older-than keeps young tags beyond keep; an index takes its created
// annotation, else its newest child's age.
func TestAges(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	ctx := context.Background()
	pushImage(t, a, "app:new", daysAgo(1), 1)
	pushImage(t, a, "app:recent", daysAgo(5), 2)
	pushImage(t, a, "app:old", daysAgo(40), 3)
	pushImage(t, a, "app:repro", time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC), 4)
	pushImage(t, a, "app:future", now.Add(10*24*time.Hour), 5)
	pushImage(t, a, "app:soon", now.Add(12*time.Hour), 6) // less than a day ahead: a known age, the newest

	build := func(created time.Time, seed int64, arch string) v1.Image {
		img, err := testregistry.BuildImage(testregistry.ImageSpec{Created: created, Seed: seed, Platform: &v1.Platform{OS: "linux", Architecture: arch}})
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	// No annotation: the newest child (3 days) decides.
	childAge := daysAgo(3).UTC().Truncate(time.Second)
	if _, err := testregistry.PushIndex(ctx, a+"/multi:children", testregistry.IndexSpec{
		Children: []v1.Image{build(daysAgo(50), 11, "amd64"), build(childAge, 12, "arm64")},
	}); err != nil {
		t.Fatal(err)
	}
	// The annotation (60 days) wins over young children.
	annotAge := daysAgo(60).UTC().Truncate(time.Second)
	if _, err := testregistry.PushIndex(ctx, a+"/multi:annotated", testregistry.IndexSpec{
		Children:    []v1.Image{build(daysAgo(1), 21, "amd64"), build(daysAgo(1), 22, "arm64")},
		Annotations: map[string]string{"org.opencontainers.image.created": annotAge.Format(time.RFC3339)},
	}); err != nil {
		t.Fatal(err)
	}

	res := runAction(t, inputs{"registry": a, "repositories": "app,multi", "keep": "1", "older-than": "30d"})
	if res.code != 0 {
		t.Fatalf("exit %d", res.code)
	}
	if diff := cmp.Diff([]string{"app:old", "multi:annotated"}, deletedTagsOutput(t, res)); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
	app := byTag(t, res.report, "app")
	for _, tg := range []string{"repro", "future"} {
		if app[tg].Action != report.Kept || app[tg].Reason != "unknown age" || app[tg].Created != nil {
			t.Errorf("%s: %s %q created %v, want kept \"unknown age\" with created null", tg, app[tg].Action, app[tg].Reason, app[tg].Created)
		}
	}
	if rc := app["recent"]; rc.Action != report.Kept || !strings.Contains(rc.Reason, "beyond keep=1") || !strings.Contains(rc.Reason, "not older than 30d") {
		t.Errorf("recent: %s %q, want kept beyond keep because not older than 30d", rc.Action, rc.Reason)
	}
	multi := byTag(t, res.report, "multi")
	if c := multi["children"].Created; c == nil || !c.Equal(childAge) {
		t.Errorf("index without annotation: created %v, want the newest child's %v", c, childAge)
	}
	if c := multi["annotated"].Created; c == nil || !c.Equal(annotAge) {
		t.Errorf("index with annotation: created %v, want the annotation's %v", c, annotAge)
	}
	if s := app["soon"]; s.Created == nil || !strings.HasPrefix(s.Reason, "rank 1 of") {
		t.Errorf("soon (12h ahead): created %v, reason %q; want a known age ranked first", s.Created, s.Reason)
	}
	if diff := cmp.Diff([]string{"future", "new", "recent", "repro", "soon"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("app tags left (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"children"}, listTags(t, a, "multi")); diff != "" {
		t.Errorf("multi tags left (-want +got):\n%s", diff)
	}
	gcAndVerify(t, r, true, "multi:children", "app:new", "app:repro")
}

// TestMultiArchV3: on distribution v3, an old index goes by digest with
// its untagged platform children (parents first), a child shared with a
// kept index stays, and a stale tag on a child of a kept index is removed
// by tag delete; every kept index pulls after GC with --delete-untagged.
func TestMultiArchV3(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	// The shared child has a large layer: counting it as reclaimed shows.
	shared, err := testregistry.BuildImage(testregistry.ImageSpec{Created: daysAgo(40), Seed: 77, LayerSize: 256 << 10, Platform: &v1.Platform{OS: "linux", Architecture: "s390x"}})
	if err != nil {
		t.Fatal(err)
	}
	sharedDigest, _ := shared.Digest()
	newIdx, _ := multiarch(t, a, "app:new", daysAgo(1), 1, shared)
	oldIdx, oldKids := multiarch(t, a, "app:old", daysAgo(40), 2, shared)
	_, stableKids := multiarch(t, a, "app:stable", daysAgo(50), 3)
	stableChild, _ := stableKids[0].Digest()
	tag(t, a, "app:stable-amd64", "app@"+stableChild.String()) // beyond keep, child of the kept (excluded) stable

	res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "1", "exclude-tags": "stable"})
	if res.code != 0 {
		t.Fatalf("exit %d", res.code)
	}
	if diff := cmp.Diff([]string{"app:old", "app:stable-amd64"}, deletedTagsOutput(t, res)); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"new", "stable"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	pos := map[string]int{}
	for i, d := range r.Deletes() {
		pos[strings.TrimPrefix(d, "DELETE /v2/app/manifests/")] = i + 1
	}
	if pos[oldIdx.String()] == 0 {
		t.Errorf("old index %s not deleted by digest; deletes %v", oldIdx, r.Deletes())
	}
	for _, k := range oldKids[:2] {
		d, _ := k.Digest()
		if pos[d.String()] == 0 {
			t.Errorf("untagged child %s of the deleted index not deleted; deletes %v", d, r.Deletes())
		} else if pos[d.String()] < pos[oldIdx.String()] {
			t.Errorf("child %s deleted before its index; deletes %v", d, r.Deletes())
		}
	}
	if pos[sharedDigest.String()] != 0 || pos[newIdx.String()] != 0 || pos[stableChild.String()] != 0 {
		t.Errorf("deleted a manifest a kept index needs; deletes %v", r.Deletes())
	}
	if pos["stable-amd64"] == 0 {
		t.Errorf("stable-amd64 not removed by tag delete; deletes %v", r.Deletes())
	}
	if st := byTag(t, res.report, "app")["old"]; len(st.Attached) != 2 {
		t.Errorf("old: %d attached manifests in the report, want its 2 own children: %+v", len(st.Attached), st.Attached)
	}
	// reclaimed-bytes: the config and layers of the two own children, at
	// most plus the manifests themselves; nothing of the shared child.
	var blobs, manifests int64
	for _, k := range oldKids[:2] {
		m, err := k.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		blobs += m.Config.Size
		for _, l := range m.Layers {
			blobs += l.Size
		}
		raw, _ := k.RawManifest()
		manifests += int64(len(raw))
	}
	manifests += 4096 // the index manifest, generously
	if got, _ := strconv.ParseInt(res.outputs["reclaimed-bytes"], 10, 64); got < blobs || got > blobs+manifests {
		t.Errorf("reclaimed-bytes = %d, want the old index's own blobs: %d (up to %d with manifests)", got, blobs, blobs+manifests)
	}
	gcAndVerify(t, r, true, "app:new", "app:stable")
	if !exists(t, a+"/app@"+sharedDigest.String()) {
		t.Errorf("shared child gone after GC")
	}
}

// TestLs: `tagsweep ls` lists digest, media type, created and size, as a
// table or JSON, honours include/exclude-tags, and deletes nothing.
// `tagsweep version` prints a version; an unknown command exits 2.
func TestLs(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	v1Created := daysAgo(1).UTC().Truncate(time.Second)
	pushImage(t, a, "app:v1", v1Created, 1)
	pushImage(t, a, "app:v2", daysAgo(40), 2)
	pushImage(t, a, "app:repro", time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC), 3)
	multi, _ := multiarch(t, a, "app:multi", daysAgo(2), 4)
	pushImage(t, a, "other:x", daysAgo(1), 5)
	v1Digest := digestOf(t, a+"/app:v1")
	r.ResetRequests()

	res := runCLI(t, nil, "ls", "--registry", a, "--repositories", "app")
	if res.code != 0 {
		t.Fatalf("ls exit %d", res.code)
	}
	rows := map[string]string{}
	for _, l := range strings.Split(res.stdout, "\n") {
		if f := strings.Fields(l); len(f) > 2 && f[0] == "app" {
			rows[f[1]] = l
		}
	}
	if len(rows) != 4 {
		t.Errorf("ls shows %d tags of app, want 4:\n%s", len(rows), res.stdout)
	}
	for _, w := range []string{v1Digest.String(), "application/vnd.oci.image.manifest.v1+json", v1Created.Format(time.RFC3339)} {
		if !strings.Contains(rows["v1"], w) {
			t.Errorf("ls row of v1 lacks %q: %q", w, rows["v1"])
		}
	}
	if !strings.Contains(rows["multi"], multi.String()) || !strings.Contains(rows["multi"], "application/vnd.oci.image.index.v1+json") {
		t.Errorf("ls row of multi lacks its digest or the index media type: %q", rows["multi"])
	}
	if strings.Contains(res.stdout, "other") {
		t.Errorf("ls shows a repository not asked for:\n%s", res.stdout)
	}

	res = runCLI(t, []string{"TAGSWEEP_REGISTRY=" + a}, "ls", "--repositories", "app", "--format", "json", "--include-tags", "v*,repro", "--exclude-tags", "v2")
	if res.code != 0 {
		t.Fatalf("ls --format json exit %d", res.code)
	}
	var listed []struct {
		Name string `json:"name"`
		Tags []struct {
			Tag       *string    `json:"tag"`
			Digest    *string    `json:"digest"`
			MediaType *string    `json:"mediaType"`
			Created   *time.Time `json:"created"`
			Size      *int64     `json:"size"`
		} `json:"tags"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &listed); err != nil {
		t.Fatalf("ls --format json is not JSON: %v\n%s", err, res.stdout)
	}
	if len(listed) != 1 || listed[0].Name != "app" {
		t.Fatalf("ls --format json: %+v", listed)
	}
	var names []string
	for _, tg := range listed[0].Tags {
		if tg.Tag == nil || tg.Digest == nil || tg.MediaType == nil || tg.Size == nil {
			t.Errorf("ls json entry lacks a field: %+v", tg)
			continue
		}
		names = append(names, *tg.Tag)
		switch *tg.Tag {
		case "v1":
			if *tg.Digest != v1Digest.String() || *tg.MediaType != "application/vnd.oci.image.manifest.v1+json" ||
				tg.Created == nil || !tg.Created.Equal(v1Created) || *tg.Size <= 1024 {
				t.Errorf("ls json v1: digest %s type %s created %v size %d", *tg.Digest, *tg.MediaType, tg.Created, *tg.Size)
			}
		case "repro":
			if tg.Created != nil {
				t.Errorf("ls json repro: created %v, want null (unknown age)", tg.Created)
			}
		}
	}
	sort.Strings(names)
	if diff := cmp.Diff([]string{"repro", "v1"}, names); diff != "" {
		t.Errorf("ls with include v*,repro and exclude v2 (-want +got):\n%s", diff)
	}
	if c := r.Requests(); c.ByMethod["DELETE"] != 0 || c.ByMethod["PUT"] != 0 {
		t.Errorf("ls changed the registry: %v", c.ByMethod)
	}

	res = runCLI(t, nil, "ls", "--registry", a, "--format", "xml")
	if res.code != 2 || !strings.Contains(res.stderr, "xml") {
		t.Errorf("ls --format xml: exit %d, stderr %q; want 2 naming the value", res.code, res.stderr)
	}

	res = runCLI(t, nil, "version")
	if res.code != 0 || !regexp.MustCompile(`^tagsweep \S+( \(commit [0-9a-f]{40}(, modified)?\))?\n$`).MatchString(res.stdout) {
		t.Errorf("version: exit %d, stdout %q", res.code, res.stdout)
	}
	res = runCLI(t, nil, "frobnicate")
	if res.code != 2 || !strings.Contains(res.stderr, "frobnicate") {
		t.Errorf("unknown command: exit %d, stderr %q; want 2 and the command named", res.code, res.stderr)
	}
}

// TestReportFile: the JSON report's shape and its agreement with the
// outputs, for a real run and a dry run.
func TestReportFile(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	pushImage(t, a, "app:new", daysAgo(1), 1)
	pushImage(t, a, "app:old", daysAgo(40), 2)
	pushImage(t, a, "app:repro", time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC), 3)
	for _, dry := range []bool{true, false} {
		path := filepath.Join(t.TempDir(), "sub", "report.json")
		before := time.Now().Add(-time.Second)
		res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "1", "dry-run": strconv.FormatBool(dry), "report-file": path})
		after := time.Now().Add(time.Second)
		if res.code != 0 {
			t.Fatalf("dry-run %v: exit %d", dry, res.code)
		}
		if res.outputs["report-file"] != path {
			t.Errorf("output report-file = %q, want %q", res.outputs["report-file"], path)
		}
		var rep map[string]any
		if err := json.Unmarshal([]byte(read(t, path)), &rep); err != nil {
			t.Fatalf("report is not JSON: %v", err)
		}
		if rep["registry"] != a || rep["dryRun"] != dry {
			t.Errorf("registry %v dryRun %v, want %s %v", rep["registry"], rep["dryRun"], a, dry)
		}
		var times []time.Time
		for _, k := range []string{"startedAt", "finishedAt"} {
			s, _ := rep[k].(string)
			tm, err := time.Parse(time.RFC3339, s)
			if err != nil || tm.Before(before) || tm.After(after) {
				t.Errorf("%s = %v: not an RFC 3339 time during the run (%v)", k, rep[k], err)
			}
			times = append(times, tm)
		}
		if len(times) == 2 && times[1].Before(times[0]) {
			t.Errorf("finishedAt %v before startedAt %v", times[1], times[0])
		}
		if p, ok := rep["policy"].(map[string]any); !ok || p["keep"] != float64(1) {
			t.Errorf("policy = %v, want an object with keep 1", rep["policy"])
		}
		repos, _ := rep["repositories"].([]any)
		if len(repos) != 1 {
			t.Fatalf("repositories = %v", rep["repositories"])
		}
		repo := repos[0].(map[string]any)
		if repo["name"] != "app" {
			t.Errorf("repository name %v", repo["name"])
		}
		want := map[string]string{"new": report.Kept, "old": report.Deleted, "repro": report.Kept}
		if dry {
			want["old"] = report.WouldDelete
		}
		tags, _ := repo["tags"].([]any)
		counts := map[string]int{}
		for _, x := range tags {
			tg := x.(map[string]any)
			name, _ := tg["tag"].(string)
			action, _ := tg["action"].(string)
			counts[action]++
			if d, _ := tg["digest"].(string); !strings.HasPrefix(d, "sha256:") {
				t.Errorf("%s: digest %v", name, tg["digest"])
			}
			if r, _ := tg["reason"].(string); r == "" {
				t.Errorf("%s: no reason", name)
			}
			if action != want[name] {
				t.Errorf("%s: action %q, want %q", name, action, want[name])
			}
			c, present := tg["created"]
			switch {
			case !present:
				t.Errorf("%s: no created field", name)
			case name == "repro" && c != nil:
				t.Errorf("repro: created %v, want null", c)
			case name != "repro":
				if s, _ := c.(string); s == "" {
					t.Errorf("%s: created %v, want an RFC 3339 string", name, c)
				} else if _, err := time.Parse(time.RFC3339, s); err != nil {
					t.Errorf("%s: created %q: %v", name, s, err)
				}
			}
		}
		if len(tags) != 3 {
			t.Errorf("%d tags in the report, want 3", len(tags))
		}
		tot, _ := rep["totals"].(map[string]any)
		for k, v := range map[string]float64{
			"repositories": 1, "tags": 3,
			"deleted": float64(counts[report.Deleted] + counts[report.WouldDelete]), "kept": float64(counts[report.Kept]), "failed": float64(counts[report.Failed]),
		} {
			if got, _ := tot[k].(float64); got != v {
				t.Errorf("totals.%s = %v, want %v", k, tot[k], v)
			}
		}
		for k, out := range map[string]string{"deleted": "deleted-count", "kept": "kept-count", "failed": "failed-count", "reclaimedBytes": "reclaimed-bytes"} {
			if got, _ := tot[k].(float64); strconv.FormatFloat(got, 'f', -1, 64) != res.outputs[out] {
				t.Errorf("totals.%s = %v but output %s = %q", k, tot[k], out, res.outputs[out])
			}
		}
	}
}

// TestRequestCounts measures the requests tagsweep sends per tag (20
// single-platform tags, 5 to delete) and bounds them loosely: one manifest
// and one config per tag to plan, one more resolve per tag and one DELETE
// per deletion for the second look and the deletions.
func TestRequestCounts(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	var tags []string
	for i := 0; i < 20; i++ {
		tags = append(tags, "b"+strconv.Itoa(100+i))
	}
	seedAges(t, a, "app", tags...)
	in := inputs{"registry": a, "repositories": "app", "keep": "15", "dry-run": "true"}
	r.ResetRequests()
	dry := runAction(t, in)
	dc := r.Requests()
	in["dry-run"] = "false"
	r.ResetRequests()
	real := runAction(t, in)
	rc := r.Requests()
	if dry.code != 0 || real.code != 0 {
		t.Fatalf("exit %d / %d", dry.code, real.code)
	}
	t.Logf("dry run: %d requests for 20 tags (%.2f per tag; report says %d): %v", dc.Total, float64(dc.Total)/20, dry.report.Requests, dc.ByRoute)
	t.Logf("real run: %d requests for 20 tags, 5 deleted (%.2f per tag; report says %d): %v", rc.Total, float64(rc.Total)/20, real.report.Requests, rc.ByRoute)
	if dc.Of("GET", testregistry.ClassTags) != 1 || dc.Of("HEAD", testregistry.ClassManifest) != 0 {
		t.Errorf("dry run: a second look (tags listed %d times, %d HEADs); dry runs get none", dc.Of("GET", testregistry.ClassTags), dc.Of("HEAD", testregistry.ClassManifest))
	}
	if rc.Of("GET", testregistry.ClassTags) != 2 {
		t.Errorf("real run: tags listed %d times, want 2 (plan and second look)", rc.Of("GET", testregistry.ClassTags))
	}
	if dc.ByMethod["DELETE"] != 0 || dc.Total > 3*20+10 {
		t.Errorf("dry run: %d requests, %d DELETE; want at most 70 and no DELETE", dc.Total, dc.ByMethod["DELETE"])
	}
	if rc.ByMethod["DELETE"] != 5 || rc.Total > dc.Total+20+5+10 {
		t.Errorf("real run: %d requests, %d DELETE; want 5 DELETE and at most %d", rc.Total, rc.ByMethod["DELETE"], dc.Total+35)
	}
	// Nothing left to delete: no second look either.
	r.ResetRequests()
	if res := runAction(t, in); res.code != 0 || res.outputs["deleted-count"] != "0" {
		t.Fatalf("third run: exit %d, outputs %v", res.code, res.outputs)
	}
	if n := r.Requests().Of("GET", testregistry.ClassTags); n != 1 {
		t.Errorf("nothing to delete: tags listed %d times, want 1 (no second look)", n)
	}
}

// TestCatalogPagination: the catalog is read to its end when the registry
// pages it (forced to 2 repositories per page).
func TestCatalogPagination(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	all := []string{"a1", "a2", "a3", "a4", "a5"}
	for _, repo := range all {
		seedAges(t, a, repo, "new", "old")
	}
	r.SetHook(func(w http.ResponseWriter, req *http.Request) bool {
		if req.URL.Path == "/v2/_catalog" {
			q := req.URL.Query()
			q.Set("n", "2")
			req.URL.RawQuery = q.Encode()
		}
		return false
	})
	r.ResetRequests()
	res := runAction(t, inputs{"registry": "http://" + a, "keep": "1", "dry-run": "true"})
	r.SetHook(nil)
	if res.code != 0 {
		t.Fatalf("exit %d", res.code)
	}
	if n := r.Requests().Of("GET", testregistry.ClassCatalog); n < 3 {
		t.Fatalf("%d catalog requests: the registry did not page", n)
	}
	var got []string
	for _, repo := range res.report.Repositories {
		got = append(got, repo.Name)
	}
	if diff := cmp.Diff(all, got); diff != "" {
		t.Errorf("repositories handled (-want +got):\n%s", diff)
	}
}

// TestTieBreak: rule 4: equal creation times, and equal versions under
// order-by semver (a leading v), are broken by tag name,
// byte-wise, highest first.
func TestTieBreak(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	same := daysAgo(3)
	for i, tg := range []string{"b", "a", "C", "c"} {
		pushImage(t, a, "app:"+tg, same, int64(10+i))
	}
	for i, tg := range []string{"1.2.0", "v1.2.0", "1.0.0", "0.9.0"} {
		pushImage(t, a, "ver:"+tg, daysAgo(float64(1+i)), int64(20+i))
	}
	res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "2"})
	if res.code != 0 {
		t.Fatalf("exit %d", res.code)
	}
	// byte-wise: "c" > "b" > "a" > "C"
	if diff := cmp.Diff([]string{"b", "c"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("equal ages: tags left (-want +got):\n%s", diff)
	}
	res = runAction(t, inputs{"registry": a, "repositories": "ver", "keep": "1", "order-by": "semver"})
	if res.code != 0 {
		t.Fatalf("exit %d", res.code)
	}
	// 1.2.0 == v1.2.0 as versions (1.2.0 is the newer image); "v1.2.0" is the higher name.
	if diff := cmp.Diff([]string{"v1.2.0"}, listTags(t, a, "ver")); diff != "" {
		t.Errorf("equal versions: tags left (-want +got):\n%s", diff)
	}
}

// TestDockerMediaTypes: Docker schema 2 images and manifest lists are
// resolved with the full Accept set, aged by their configs, and a stale
// manifest list goes with its children.
func TestDockerMediaTypes(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	ctx := context.Background()
	if _, err := testregistry.PushImage(ctx, a+"/app:new", testregistry.ImageSpec{Created: daysAgo(1), Seed: 1, Docker: true}); err != nil {
		t.Fatal(err)
	}
	var kids []v1.Image
	for i, arch := range []string{"amd64", "arm64"} {
		img, err := testregistry.BuildImage(testregistry.ImageSpec{Created: daysAgo(40), Seed: int64(30 + i), Docker: true, Platform: &v1.Platform{OS: "linux", Architecture: arch}})
		if err != nil {
			t.Fatal(err)
		}
		kids = append(kids, img)
	}
	list, err := testregistry.PushIndex(ctx, a+"/app:old", testregistry.IndexSpec{Children: kids, Docker: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := testregistry.PushImage(ctx, a+"/app:mid", testregistry.ImageSpec{Created: daysAgo(20), Seed: 2, Docker: true}); err != nil {
		t.Fatal(err)
	}
	res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "1", "older-than": "30d"})
	if res.code != 0 {
		t.Fatalf("exit %d", res.code)
	}
	if diff := cmp.Diff([]string{"app:old"}, deletedTagsOutput(t, res)); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
	if c := byTag(t, res.report, "app")["old"].Created; c == nil || c.Sub(daysAgo(40)).Abs() > time.Second {
		t.Errorf("manifest list age %v, want its children's", c)
	}
	digests, _ := digestDeletes(r)
	if len(digests) != 3 || digests[0] != list.String() {
		t.Errorf("want the list then its 2 children deleted by digest, got %v", digests)
	}
	gcAndVerify(t, r, true, "app:new", "app:mid")
}

// TestCAFile: a registry behind TLS with a certificate no system root
// trusts: without ca-file the run fails on the certificate; with the CA in
// ca-file, or with insecure, it works.
func TestCAFile(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	seedAges(t, a, "app", "new", "old", "older")
	target, _ := url.Parse("http://" + a)
	front := httptest.NewUnstartedServer(httputil.NewSingleHostReverseProxy(target))
	front.Config.ErrorLog = log.New(io.Discard, "", 0) // TLS handshake errors are expected
	front.StartTLS()
	t.Cleanup(front.Close)
	host := strings.TrimPrefix(front.URL, "https://")
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: front.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}

	res := runAction(t, inputs{"registry": "https://" + host, "repositories": "app", "keep": "2"})
	if res.code != 1 || !strings.Contains(res.stderr, "certificate") {
		t.Errorf("untrusted certificate: exit %d, want 1 and a message about the certificate:\n%s", res.code, res.stderr)
	}
	res = runAction(t, inputs{"registry": "https://" + host, "repositories": "app", "keep": "2", "insecure": "true", "dry-run": "true"})
	if res.code != 0 || res.outputs["deleted-count"] != "1" {
		t.Errorf("insecure: exit %d, outputs %v; want 0 and 1 would-delete", res.code, res.outputs)
	}
	if diff := cmp.Diff([]string{"new", "old", "older"}, listTags(t, a, "app")); diff != "" {
		t.Fatalf("tags left (-want +got):\n%s", diff)
	}
	res = runAction(t, inputs{"registry": "https://" + host, "repositories": "app", "keep": "2", "ca-file": ca})
	if res.code != 0 {
		t.Fatalf("with ca-file: exit %d", res.code)
	}
	if diff := cmp.Diff([]string{"new", "old"}, listTags(t, a, "app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
}
