package report

import (
	"strings"
	"testing"
)

// The summary shows a policy file's rules as a table (rule, repositories,
// tags, keep, older-than, tags governed, deleted), says what
// protect-images matched and lists what it did not, in markdown and text.
func TestPolicyFileSummary(t *testing.T) {
	t.Parallel()
	r := &Report{Registry: "r.example.com", DryRun: true, Policy: Policy{Repositories: []string{"**"}, PolicyFile: "p.yaml", Rules: []PolicyRule{
		{Rule: 1, Repositories: []string{"team/**"}, Tags: []string{"pr-*"}, Keep: 5, OlderThan: "7d", Governed: 9, Deleted: 4},
		{Rule: 2, Repositories: []string{"tools/*", "ci/*"}, Tags: []string{"*"}, ExcludeTags: []string{"keep-*"}, Keep: 3},
	}}, Protection: &Protection{References: 3, Matched: 2, Elsewhere: 1, Tags: 3, Unmatched: []string{"app:deployd"}}}
	md := r.Summary()
	for _, want := range []string{
		"the 2 rules of policy file `p.yaml`, the first that matches a tag governs it.",
		"| rule | repositories | tags | keep | older-than | tags governed | would delete |",
		"| 1 | `team/**` | `pr-*` | 5 | 7d | 9 | 4 |",
		"| 2 | `tools/*, ci/*` | `* but keep-*` | 3 | - | 0 | 0 |",
		"**protect-images**: 2 references matched (of 3), 3 tags kept for them; 1 reference to other registries ignored.",
		"1 protected reference matched nothing:\n\n- `app:deployd`",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the markdown summary lacks %q:\n%s", want, md)
		}
	}
	txt := r.Text(TextOptions{})
	for _, want := range []string{"   1  team/**", "- app:deployd", "protect-images: 2 references matched"} {
		if !strings.Contains(txt, want) {
			t.Errorf("the text summary lacks %q:\n%s", want, txt)
		}
	}
	if none := (&Report{Policy: Policy{Repositories: []string{"**"}, Keep: 10, IncludeTags: []string{"*"}, OrderBy: "created"}}).Summary(); strings.Contains(none, "Policy file") || strings.Contains(none, "protect-images") {
		t.Errorf("a run without them mentions a policy file or protect-images:\n%s", none)
	}
}
