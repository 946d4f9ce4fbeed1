package provider

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// table is a made-up table: the mechanics of Table, apart from the real
// kinds (whose detection is tested in registry/vendors).
var table = Table{
	{Kind: "generic"},
	{Kind: "alpha", Aliases: []Kind{"a"}, Hosts: Exactly("alpha.example"), Caps: Caps{PushTime: true}},
	{Kind: "beta", Hosts: Either(Under(".beta.example"), Exactly("beta.example")), Caps: Caps{PushTime: true, TokenOnly: true}},
	{Kind: "gamma"},
}

func TestTable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		host string
		want Kind
	}{
		{"alpha.example", "alpha"}, {"ALPHA.example:443", "alpha"}, {"x.alpha.example", "generic"},
		{"beta.example", "beta"}, {"eu.beta.example:5000", "beta"}, {"notbeta.example", "generic"},
		{"[::1]:5000", "generic"}, {"", "generic"},
	}
	for _, tc := range cases {
		if got := table.Detect(tc.host); got != tc.want {
			t.Errorf("Detect(%q) = %q, want %q", tc.host, got, tc.want)
		}
		if got := table.Resolve(Auto, tc.host); got != tc.want {
			t.Errorf("Resolve(auto, %q) = %q, want %q", tc.host, got, tc.want)
		}
	}
	if table.Resolve("gamma", "alpha.example") != "gamma" || table.Resolve("", "alpha.example") != "alpha" {
		t.Error("Resolve does not honour an explicit kind, or does not detect an empty one")
	}
	for in, want := range map[string]Kind{"auto": Auto, " Alpha ": "alpha", "A": "alpha", "gamma": "gamma"} {
		if got, err := table.Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := table.Parse("delta"); err == nil || !strings.Contains(err.Error(), "one of alpha, auto, beta, gamma, generic") {
		t.Errorf("Parse(delta) = %v, want the sorted kinds", err)
	}
	if diff := cmp.Diff([]Kind{"alpha", "beta"}, table.With(func(c Caps) bool { return c.PushTime })); diff != "" {
		t.Errorf("With(push time) (-want +got):\n%s", diff)
	}
	if table.Lookup("beta") != table[2] || table.Lookup("delta") != nil {
		t.Error("Lookup")
	}
	if (Table{}).Detect("alpha.example") != "" {
		t.Error("an empty table detects a kind")
	}
}
