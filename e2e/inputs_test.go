package e2e

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
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

var outputLine = regexp.MustCompile(`^(deleted-count|kept-count|failed-count|deleted-tags|reclaimed-bytes|deleted-untagged-count|report-file)=(.*)$`)

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
	if len(lines) < 8 {
		t.Fatalf("stdout too short:\n%s", res.stdout)
	}
	got := map[string]string{}
	for _, l := range lines[len(lines)-7:] {
		m := outputLine.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("stdout does not end with the seven outputs; line %q\nstdout:\n%s", l, res.stdout)
			continue
		}
		got[m[1]] = m[2]
	}
	want := map[string]string{"deleted-count": "1", "kept-count": "1", "failed-count": "0", "deleted-tags": `["app:old"]`, "report-file": rep,
		"deleted-untagged-count": "0"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("output %s = %q, want %q", k, got[k], v)
		}
	}
	if n, err := strconv.ParseInt(got["reclaimed-bytes"], 10, 64); err != nil || n <= 0 {
		t.Errorf("reclaimed-bytes = %q, want > 0", got["reclaimed-bytes"])
	}
	body := strings.Join(lines[:len(lines)-7], "\n")
	if !isTextSummary(body) {
		t.Errorf("stdout has no plain-text summary:\n%s", body)
	}
	for _, w := range []string{"\nold ", "garbage collector"} {
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
