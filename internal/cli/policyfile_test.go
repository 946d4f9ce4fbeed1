package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tagsweep/tagsweep/internal/report"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// writeFile writes content to name in a temporary directory and returns
// its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPolicyFileInvalid: each class of invalid policy file (and of
// protect-images) exits 2 with one stderr line naming the input, the rule
// number and the key, before any request, and nothing is deleted.
func TestPolicyFileInvalid(t *testing.T) {
	t.Parallel()
	const ok = "rules:\n  - repositories: app\n    keep: 0\n"
	for _, tc := range []struct {
		name  string
		file  string // the policy file ("" : none)
		in    inputs
		input string
		want  []string
	}{
		{"not YAML", "rules:\n  - keep: [1\n", nil, "policy-file", []string{"is not YAML"}},
		{"not a mapping", "- keep: 1\n", nil, "policy-file", []string{"mapping", "rules"}},
		{"no rules", "rules: []\n", nil, "policy-file", []string{"no rules"}},
		{"unknown top-level key", "rules:\n  - keep: 1\nkeep: 3\n", nil, "policy-file", []string{`unknown key "keep"`}},
		{"unknown key", ok + "  - repositories: x\n    kep: 5\n", nil, "policy-file", []string{"rule 2: kep: unknown key", "line 5"}},
		{"repeated key", ok + "  - keep: 1\n    keep: 2\n", nil, "policy-file", []string{"rule 2: keep: given twice"}},
		{"keep not a number", ok + "  - keep: ten\n", nil, "policy-file", []string{"rule 2: keep:", `"ten"`}},
		{"keep negative", ok + "  - keep: -1\n", nil, "policy-file", []string{"rule 2: keep:", `"-1"`}},
		{"older-than", ok + "  - older-than: 30x\n", nil, "policy-file", []string{"rule 2: older-than:", `"30x"`}},
		{"order-by", ok + "  - order-by: name\n", nil, "policy-file", []string{"rule 2: order-by:", `"name"`}},
		{"keep-semver", ok + "  - keep-semver: \">=one\"\n", nil, "policy-file", []string{"rule 2: keep-semver:", `">=one"`}},
		{"tags glob", ok + "  - tags: \"[v1\"\n", nil, "policy-file", []string{"rule 2: tags:", `"[v1"`}},
		{"exclude-tags glob", ok + "  - exclude-tags: [ok, \"[v1\"]\n", nil, "policy-file", []string{"rule 2: exclude-tags:", `"[v1"`}},
		{"repositories glob", ok + "  - repositories: \"team/[a\"\n", nil, "policy-file", []string{"rule 2: repositories:", `"team/[a"`}},
		{"tags not strings", ok + "  - tags: {a: b}\n", nil, "policy-file", []string{"rule 2: tags:", "list of strings"}},
		{"delete-untagged", ok + "  - delete-untagged: maybe\n", nil, "policy-file", []string{"rule 2: delete-untagged:", `"maybe"`}},
		{"keep-untagged", ok + "  - keep-untagged: lots\n", nil, "policy-file", []string{"rule 2: keep-untagged:", `"lots"`}},
		{"missing file", "", inputs{"policy-file": "/nonexistent/policy.yaml"}, "policy-file", []string{"/nonexistent/policy.yaml", "does not exist"}},
		{"keep beside it", ok, inputs{"keep": "5"}, "keep", []string{`"5"`, "policy-file"}},
		{"older-than beside it", ok, inputs{"older-than": "30d"}, "older-than", []string{`"30d"`, "policy-file"}},
		{"include-tags beside it", ok, inputs{"include-tags": "v*"}, "include-tags", []string{`"v*"`, "policy-file"}},
		{"order-by beside it", ok, inputs{"order-by": "semver"}, "order-by", []string{`"semver"`, "policy-file"}},
		{"bad protect-images reference", "", inputs{"protect-images": "app:v1, app@sha256:xyz"}, "protect-images", []string{`app@sha256:xyz`, "digest"}},
		{"protect-images file missing", "", inputs{"protect-images": "@/nonexistent/images.txt"}, "protect-images", []string{"/nonexistent/images.txt", "does not exist"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRegistry(t)
			a := r.Addr()
			seedAges(t, a, "app", "new", "old")
			in := inputs{"registry": a, "repositories": "app", "keep": "0"}
			if tc.file != "" {
				in["policy-file"], in["keep"] = writeFile(t, "policy.yaml", tc.file), ""
			}
			for k, v := range tc.in {
				in[k] = v
			}
			runInvalid(t, r, in, tc.input, tc.want...)
		})
	}
}

// TestPolicyFileRules: four rules (testdata/policy/four-rules.yaml) over
// five repositories: each tag is
// governed by the first rule that matches it, keep counts per rule and
// repository, a tag no rule governs is kept, a repository no rule names
// is not even listed, the report echoes the rules with what each
// governed, and the dry run plans exactly what the real run does.
func TestPolicyFileRules(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	seedAges(t, a, "team/api", "pr-3", "main-9", "pr-2", "main-8", "pr-1", "main-7", "1.2.0", "0.9.0", "1.0.0", "latest")
	seedAges(t, a, "team/web", "pr-7", "main-1", "pr-6", "pr-5")
	seedAges(t, a, "products/db", "2.0.0", "1.9.0", "0.1.0", "nightly")
	seedAges(t, a, "tools/lint", "t5", "t4", "t3", "t2")
	seedAges(t, a, "other/app", "x1", "x2")
	policy, err := filepath.Abs("../config/testdata/policy/four-rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	in := inputs{"registry": a, "policy-file": policy, "dry-run": "true"}
	dry := runAction(t, in)
	in["dry-run"] = "false"
	real := runAction(t, in)
	if dry.Code != 0 || real.Code != 0 {
		t.Fatalf("exit %d / %d:\n%s\n%s", dry.Code, real.Code, dry.Stderr, real.Stderr)
	}
	want := map[string]map[string]string{
		"team/api": {
			"pr-3":   "kept: rule 1 (team/** pr-*): rank 1 of 3 by created, within keep=1",
			"pr-2":   "deleted: rule 1 (team/** pr-*): rank 2 of 3 by created, beyond keep=1, age 3d is older than 2d",
			"pr-1":   "deleted: rule 1 (team/** pr-*): rank 3 of 3 by created, beyond keep=1, age 5d is older than 2d",
			"main-9": "kept: rule 2 (team/** main-*): rank 1 of 3 by created, within keep=2",
			"main-8": "kept: rule 2 (team/** main-*): rank 2 of 3 by created, within keep=2",
			"main-7": "deleted: rule 2 (team/** main-*): rank 3 of 3 by created, beyond keep=2",
			"1.2.0":  "kept: rule 3 (team/**,products/* *.*.*): rank 1 of 3 by version, within keep=1",
			"1.0.0":  "deleted: rule 3 (team/**,products/* *.*.*): rank 2 of 3 by version, beyond keep=1",
			"0.9.0":  `kept: rule 3 (team/**,products/* *.*.*): satisfies keep-semver "<1.0.0"`,
			"latest": "kept: no rule matches",
		},
		"team/web": {
			"pr-7":   "kept: rule 1 (team/** pr-*): rank 1 of 3 by created, within keep=1",
			"pr-6":   "deleted: rule 1 (team/** pr-*): rank 2 of 3 by created, beyond keep=1, age 3d is older than 2d",
			"pr-5":   "deleted: rule 1 (team/** pr-*): rank 3 of 3 by created, beyond keep=1, age 4d is older than 2d",
			"main-1": "kept: rule 2 (team/** main-*): rank 1 of 1 by created, within keep=2",
		},
		"products/db": {
			"2.0.0":   "kept: rule 3 (team/**,products/* *.*.*): rank 1 of 3 by version, within keep=1",
			"1.9.0":   "deleted: rule 3 (team/**,products/* *.*.*): rank 2 of 3 by version, beyond keep=1",
			"0.1.0":   `kept: rule 3 (team/**,products/* *.*.*): satisfies keep-semver "<1.0.0"`,
			"nightly": "kept: no rule matches",
		},
		"tools/lint": {
			"t5": "kept: rule 4 (tools/* *): rank 1 of 4 by created, within keep=3",
			"t4": "kept: rule 4 (tools/* *): rank 2 of 4 by created, within keep=3",
			"t3": "kept: rule 4 (tools/* *): rank 3 of 4 by created, within keep=3",
			"t2": "deleted: rule 4 (tools/* *): rank 4 of 4 by created, beyond keep=3",
		},
	}
	for _, run := range []struct {
		name string
		rep  *report.Report
	}{{"dry", dry.Report}, {"real", real.Report}} {
		got := map[string]map[string]string{}
		for _, repo := range run.rep.Repositories {
			got[repo.Name] = map[string]string{}
			for _, tg := range repo.Tags {
				action := tg.Action
				if action == report.WouldDelete {
					action = report.Deleted
				}
				got[repo.Name][tg.Tag] = action + ": " + tg.Reason
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s run (-want +got):\n%s", run.name, diff)
		}
	}
	checkCounts(t, real)
	if diff := cmp.Diff([]string{"x1", "x2"}, listTags(t, a, "other/app")); diff != "" {
		t.Errorf("other/app, which no rule names (-want +got):\n%s", diff)
	}
	var counts []string
	for _, ru := range real.Report.Policy.Rules {
		counts = append(counts, strings.Join(ru.Repositories, ",")+" "+strings.Join(ru.Tags, ",")+": "+strconv.Itoa(ru.Governed)+"/"+strconv.Itoa(ru.Deleted))
	}
	if diff := cmp.Diff([]string{"team/** pr-*: 6/4", "team/** main-*: 4/1", "team/**,products/* *.*.*: 6/2", "tools/* *: 4/1"}, counts); diff != "" {
		t.Errorf("report policy rules governed/deleted (-want +got):\n%s", diff)
	}
	for _, s := range []string{"| rule | repositories | tags | keep | older-than | tags governed | deleted |", "| 1 | `team/**` | `pr-*` | 1 | 2d | 6 | 4 |", "| 4 | `tools/*` | `*` | 3 | - | 4 | 1 |"} {
		if !strings.Contains(real.Summary, s) {
			t.Errorf("the summary lacks %q:\n%s", s, real.Summary)
		}
	}
}

// TestPolicyFileLiteralRepositories: when every rule names its
// repositories literally, no catalog is read; a named repository that does
// not exist is the usual warning; the repositories input still bounds the
// run.
func TestPolicyFileLiteralRepositories(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	seedAges(t, a, "team/api", "b3", "b2", "b1")
	seedAges(t, a, "team/web", "w2", "w1")
	seedAges(t, a, "tools/lint", "t2", "t1")
	policy := writeFile(t, "policy.yaml", "rules:\n  - repositories: [team/api, team/gone]\n    keep: 1\n  - repositories: tools/lint\n    keep: 0\n")
	r.ResetRequests()
	res := runAction(t, inputs{"registry": a, "policy-file": policy, "repositories": "team/**", "dry-run": "true"})
	if res.Code != 0 {
		t.Fatalf("exit %d\n%s", res.Code, res.Stderr)
	}
	if n := r.Requests().Of("GET", testregistry.ClassCatalog); n != 0 {
		t.Errorf("%d catalog requests, want none: every rule names its repositories", n)
	}
	var names []string
	for _, repo := range res.Report.Repositories {
		names = append(names, repo.Name)
	}
	if diff := cmp.Diff([]string{"team/api", "team/gone"}, names); diff != "" {
		t.Errorf("repositories (-want +got):\n%s", diff)
	}
	if !strings.Contains(strings.Join(res.Report.Warnings, "\n"), "team/gone: no such repository") {
		t.Errorf("no warning for team/gone: %v", res.Report.Warnings)
	}
	if got := deletedTagsOutput(t, res); !cmp.Equal(got, []string{"team/api:b1", "team/api:b2"}) {
		t.Errorf("deleted-tags %v, want team/api:b1 and b2 (tools/lint is outside repositories)", got)
	}
}

// TestProtectUntaggedDigest: a protect-images reference to a manifest no
// tag reaches (an untagged index) is read from the registry, so the child
// it shares with a deleted index stays; the deleted index's own child goes;
// a reference to a digest the repository does not hold is listed as
// matching nothing.
func TestProtectUntaggedDigest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRegistry(t)
	a := r.Addr()
	build := func(seed int64, arch string) v1.Image {
		img, err := testregistry.BuildImage(testregistry.ImageSpec{Created: daysAgo(80), Seed: seed, Platform: &v1.Platform{OS: "linux", Architecture: arch}})
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	shared, gone, other := build(1, "amd64"), build(2, "arm64"), build(3, "arm64")
	if _, err := testregistry.PushIndex(ctx, a+"/app:old", testregistry.IndexSpec{Children: []v1.Image{shared, gone}}); err != nil {
		t.Fatal(err)
	}
	running, err := testregistry.BuildIndex(testregistry.IndexSpec{Children: []v1.Image{shared, other}})
	if err != nil {
		t.Fatal(err)
	}
	rd, _ := running.Digest()
	if _, err := testregistry.PushIndex(ctx, a+"/app@"+rd.String(), testregistry.IndexSpec{Children: []v1.Image{shared, other}}); err != nil {
		t.Fatal(err)
	}
	seedAges(t, a, "app", "new")
	sd, _ := shared.Digest()
	gd, _ := gone.Digest()
	od, _ := other.Digest()
	missing := "sha256:" + strings.Repeat("e", 64)
	for _, dry := range []string{"true", "false"} {
		res := runAction(t, inputs{"registry": a, "repositories": "app", "keep": "0", "dry-run": dry,
			"protect-images": a + "/app@" + rd.String() + "\napp@" + missing})
		if res.Code != 0 {
			t.Fatalf("dry-run %s: exit %d\n%s", dry, res.Code, res.Stderr)
		}
		if got := deletedTagsOutput(t, res); !cmp.Equal(got, []string{"app:new", "app:old"}) {
			t.Errorf("dry-run %s: deleted-tags %v, want app:new and app:old", dry, got)
		}
		if pr := res.Report.Protection; pr == nil || pr.Matched != 1 || !cmp.Equal(pr.Unmatched, []string{"app@" + missing}) {
			t.Errorf("dry-run %s: protection %+v, want 1 matched and app@%s unmatched", dry, pr, missing)
		}
	}
	for d, want := range map[string]bool{rd.String(): true, sd.String(): true, od.String(): true, gd.String(): false} {
		if got := exists(t, a+"/app@"+d); got != want {
			t.Errorf("app@%s exists = %v, want %v", d, got, want)
		}
	}
}
