package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/report"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// platformRegistry seeds the registry: six repositories of PR
// builds, main builds, releases and tools (and one no rule names).
func platformRegistry(t *testing.T) *testregistry.Registry {
	t.Helper()
	r := newRegistry(t)
	a := r.Addr()
	seed := int64(5000)
	push := func(repo string, tags ...string) {
		for i, tg := range tags {
			seed++
			pushImage(t, a, repo+":"+tg, daysAgo(float64(2*i+1)), seed)
		}
	}
	push("team/api", "pr-12", "main-40", "pr-11", "main-39", "pr-10", "main-38", "1.4.0", "pr-9", "1.3.0", "0.9.1", "latest")
	push("team/web", "pr-3", "pr-2", "main-7", "pr-1", "2.0.0", "1.0.0")
	push("team/infra/dns", "pr-5", "main-2", "pr-4", "main-1")
	push("products/db", "3.1.0", "3.0.0", "2.9.0", "0.5.0", "nightly")
	push("tools/lint", "t9", "t8", "t7", "t6", "t5")
	push("sandbox/tmp", "a", "b")
	return r
}

// fourRules is the policy file the e2e and cli tests run.
const fourRules = "../internal/config/testdata/policy/four-rules.yaml"

// outcomesOf maps "repo:tag" to "deleted"/"kept" and the reason.
func outcomesOf(rep *report.Report) map[string]string {
	out := map[string]string{}
	for _, repo := range rep.Repositories {
		for _, tg := range repo.Tags {
			a := tg.Action
			if a == report.WouldDelete {
				a = report.Deleted
			}
			out[repo.Name+":"+tg.Tag] = a + ": " + tg.Reason
		}
	}
	return out
}

// TestPolicyFileFourRules: the binary runs a four-rule policy file over
// six repositories, dry and for real: the same plan, every governed tag's
// reason naming its rule, the plan identical to the four single-rule runs
// combined (the rules do not overlap), the repository no rule names not
// listed; and the four-rule run sends no more than 1.05 times the
// requests of one single-rule run over the same repositories (one
// listing, one inspection).
func TestPolicyFileFourRules(t *testing.T) {
	t.Parallel()
	policy, err := filepath.Abs(fourRules)
	if err != nil {
		t.Fatal(err)
	}

	// The four rules as four single-rule runs, dry, on a registry of
	// their own (the same seed).
	singles := platformRegistry(t)
	combined := map[string]string{}
	singleRuns := []inputs{
		{"repositories": "team/**", "include-tags": "pr-*", "keep": "1", "older-than": "2d"},
		{"repositories": "team/**", "include-tags": "main-*", "keep": "2"},
		{"repositories": "team/**,products/*", "include-tags": "*.*.*", "order-by": "semver", "keep": "1", "keep-semver": "<1.0.0"},
		{"repositories": "tools/*", "keep": "3"},
	}
	for i, in := range singleRuns {
		in["registry"], in["dry-run"] = singles.Addr(), "true"
		res := runAction(t, in)
		if res.code != 0 {
			t.Fatalf("single rule %d: exit %d\n%s", i+1, res.code, res.stderr)
		}
		for k, v := range outcomesOf(res.report) {
			if strings.Contains(v, "matches no include-tags pattern") {
				continue // another rule's tag
			}
			combined[k] = v
		}
	}
	// One single-rule run over the same repositories, for the request
	// count: everything the policy file's rules name.
	singles.ResetRequests()
	one := runAction(t, inputs{"registry": singles.Addr(), "repositories": "team/**,products/*,tools/*", "keep": "1", "dry-run": "true"})
	if one.code != 0 {
		t.Fatalf("single-rule run: exit %d\n%s", one.code, one.stderr)
	}
	oneReqs := singles.Requests()

	r := platformRegistry(t)
	in := inputs{"registry": r.Addr(), "policy-file": policy, "dry-run": "true"}
	r.ResetRequests()
	dry := runAction(t, in)
	if dry.code != 0 {
		t.Fatalf("dry run: exit %d\n%s", dry.code, dry.stderr)
	}
	fourReqs := r.Requests()
	real := runReal(t, in, dry)
	checkCounts(t, real)

	got, gotReal := outcomesOf(dry.report), outcomesOf(real.report)
	if diff := cmp.Diff(got, gotReal); diff != "" {
		t.Errorf("the real run's outcomes differ from the dry run's (-dry +real):\n%s", diff)
	}
	for k, v := range got {
		switch {
		case strings.HasPrefix(k, "sandbox/"):
			t.Errorf("%s is in the report, but no rule names sandbox/*", k)
		case v == "kept: no rule matches":
			if c, ok := combined[k]; ok {
				t.Errorf("%s: no rule matches, but a single-rule run decided %q", k, c)
			}
			continue
		case !strings.Contains(v, ": rule "):
			t.Errorf("%s: %q names no rule", k, v)
		}
		// The reason without its rule is the single-rule run's.
		plain := v
		if i := strings.Index(v, ": rule "); i >= 0 {
			if j := strings.Index(v[i+2:], "): "); j >= 0 {
				plain = v[:i] + ": " + v[i+2+j+3:]
			}
		}
		if combined[k] != plain {
			t.Errorf("%s: the policy file plans %q, the single-rule runs %q", k, v, combined[k])
		}
	}
	for k := range combined {
		if _, ok := got[k]; !ok {
			t.Errorf("%s: planned by a single-rule run, missing from the policy file's", k)
		}
	}
	if len(combined) < 25 {
		t.Errorf("the single-rule runs decided %d tags; the seed has more", len(combined))
	}
	if diff := cmp.Diff([]string{"a", "b"}, listTags(t, r.Addr(), "sandbox/tmp")); diff != "" {
		t.Errorf("sandbox/tmp (-want +got):\n%s", diff)
	}

	ratio := float64(fourReqs.Total) / float64(oneReqs.Total)
	t.Logf("requests: four-rule dry run %d, single-rule dry run over the same repositories %d (ratio %.3f); four-rule real run %d",
		fourReqs.Total, oneReqs.Total, ratio, real.report.Requests)
	if ratio > 1.05 {
		t.Errorf("the four-rule run sent %d requests, more than 1.05 x the %d of one single-rule run:\nfour %v\none %v", fourReqs.Total, oneReqs.Total, fourReqs.ByRoute, oneReqs.ByRoute)
	}
	var kept []string
	for _, repo := range []string{"team/api", "team/web", "team/infra/dns", "products/db", "tools/lint"} {
		for _, tg := range listTags(t, r.Addr(), repo) {
			kept = append(kept, repo+":"+tg)
		}
	}
	sort.Strings(kept)
	gcAndVerify(t, r, true, kept...)
}

// TestPolicyFileInvalidBinary: an invalid policy file, through the binary:
// exit 2, one stderr line naming the rule and the key, no request.
func TestPolicyFileInvalidBinary(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	pushImage(t, a, "app:v1", daysAgo(10), 1)
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(policy, []byte("rules:\n  - keep: 1\n  - repositories: app\n    older-then: 30d\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.ResetRequests()
	res := runAction(t, inputs{"registry": a, "policy-file": policy})
	if res.code != 2 {
		t.Errorf("exit %d, want 2", res.code)
	}
	want := fmt.Sprintf("tagsweep: invalid input: policy-file: %q rule 2: older-then: unknown key", policy)
	if lines := strings.Split(strings.TrimSpace(res.stderr), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], want) {
		t.Errorf("stderr %q, want one line starting %q", res.stderr, want)
	}
	if n := r.Requests().Total; n != 0 {
		t.Errorf("%d requests sent, want none", n)
	}
}
