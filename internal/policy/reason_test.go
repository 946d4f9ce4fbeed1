package policy

import (
	"testing"
	"time"
)

// Every kind of reason has words, and they are the ones the report, the
// summary and the log show (README's rules name them).
func TestReasonText(t *testing.T) {
	t.Parallel()
	rank := Rank{N: 3, Of: 5, By: RankByPushTime, Keep: 2}
	cases := []struct {
		r    Reason
		want string
	}{
		{Because(ReasonUninspected), "could not be inspected"},
		{Because(ReasonVanished), "deleted by someone else during the run"},
		{ProtectedBy("immutable tag (Harbor tag immutability rule)"), "immutable tag (Harbor tag immutability rule)"},
		{Naming(ReasonProtectedParent, "sha256:a"), "referenced by sha256:a, which the registry protects"},
		{Because(ReasonPlaceholder), "leftover placeholder of an interrupted run"},
		{Naming(ReasonExcluded, "latest"), `matches exclude-tags "latest"`},
		{Naming(ReasonNotIncluded, "v*, rc-*"), "matches no include-tags pattern (v*, rc-*)"},
		{Because(ReasonNotSemver), "not semver"},
		{Because(ReasonUnknownAge), "unknown age"},
		{Reason{Kind: ReasonWithinKeep, Rank: rank}, "rank 3 of 5 by push time, within keep=2"},
		{Naming(ReasonKeepSemver, ">=2.0.0"), `satisfies keep-semver ">=2.0.0"`},
		{Reason{Kind: ReasonNotOlder, Rank: rank, Age: 36 * time.Hour, OlderThan: "2d"}, "rank 3 of 5 by push time, beyond keep=2, but age 36h is not older than 2d"},
		{Reason{Kind: ReasonOlder, Rank: Rank{N: 4, Of: 4, By: RankByVersion, Keep: 1}, Age: 45 * 24 * time.Hour, OlderThan: "30d"}, "rank 4 of 4 by version, beyond keep=1, age 45d is older than 30d"},
		{Reason{Kind: ReasonBeyondKeep, Rank: Rank{N: 2, Of: 2, Keep: 1}}, "rank 2 of 2 by created, beyond keep=1"},
		{Naming(ReasonAttachedKept, "v1"), "attached to kept v1"},
		{Reason{Kind: ReasonAttachedKept, Pinned: true}, "attached to kept (changed during run)"},
		{Naming(ReasonAttachedDeleted, "v1"), "attached to deleted v1"},
		{Naming(ReasonAttachedUntagged, "sha256:a"), "attached to untagged manifest sha256:a"},
		{Naming(ReasonOrphaned, "sha256:a"), "orphaned: subject sha256:a is gone"},
		{Naming(ReasonOrphanKept, "sha256:a"), "orphaned: subject sha256:a is gone (delete-orphans is off)"},
		{Naming(ReasonSubjectUnchecked, "sha256:a"), "subject sha256:a could not be checked"},
		{Reason{Kind: ReasonSharesDigest, Name: "latest", NoTagDelete: true}, "shares digest with kept tag latest (this registry cannot delete a single tag)"},
		{Reason{Kind: ReasonSharesDigest, Pinned: true, NoTagDelete: true}, "shares digest with kept tag (changed during run) (this registry cannot delete a single tag)"},
		{Naming(ReasonChildOfKept, "multi"), "child of kept index multi"},
		{Naming(ReasonChildOfDeleted, "multi"), "child of deleted index multi"},
		{Naming(ReasonAttestationOf, "multi"), "attestation of deleted multi"},
		{Because(ReasonTagDeleteRefused), "the registry refused to delete the single tag"},
		{Because(ReasonChanged), "changed during run"},
		{Because(ReasonNoRule), "no rule matches"},
		{Because(ReasonProtectImages), "protected by protect-images"},
		{Reason{Kind: ReasonBeyondKeep, Rank: Rank{N: 7, Of: 9, Keep: 5}, Rule: 2, RuleLabel: "team/** pr-*"}, "rule 2 (team/** pr-*): rank 7 of 9 by created, beyond keep=5"},
		{Reason{Kind: ReasonSharesDigest, Name: "app:v1", Protect: true, NoTagDelete: true}, "shares digest with protected app:v1 (this registry cannot delete a single tag)"},
		{Reason{Kind: ReasonAttachedKept, Name: "app@sha256:a", Protect: true}, "attached to protected app@sha256:a"},
		{Reason{Kind: ReasonChildOfKept, Name: "app:v1", Protect: true}, "child of protected app:v1"},
		{Reason{Kind: ReasonLastTagged, Text: "GitHub keeps the last tagged version of a package"}, "GitHub keeps the last tagged version of a package"},
		{Reason{Kind: ReasonUntaggedStale, Age: 12 * 24 * time.Hour}, "untagged, pushed 12d ago"},
		{Reason{Kind: ReasonUntaggedRecent, Age: 10 * time.Minute}, "pushed 10m ago: may belong to a push in progress"},
		{Reason{Kind: ReasonUntaggedNotOlder, Age: 3 * 24 * time.Hour, OlderThan: "30d"}, "untagged, pushed 3d ago, not older than 30d"},
		{Because(ReasonUntaggedUnknown), "untagged, unknown push time"},
		{Reason{Kind: ReasonNewestUntagged, Rank: Rank{Keep: 5}}, "newest 5 untagged"},
		{Because(ReasonUntaggedOff), "untagged (delete-untagged is off)"},
		{Naming(ReasonSubjectOfKept, "sha256-aaa.sig"), "subject of kept sha256-aaa.sig"},
		{Reason{}, ""},
	}
	seen := map[ReasonKind]bool{}
	for _, c := range cases {
		seen[c.r.Kind] = true
		if got := c.r.String(); got != c.want {
			t.Errorf("%+v renders %q, want %q", c.r, got, c.want)
		}
	}
	for k := ReasonNone + 1; k < reasonEnd; k++ {
		if !seen[k] {
			t.Errorf("reason kind %d has no case here", k)
		}
		if Because(k).String() == "" && k != ReasonProtected && k != ReasonLastTagged {
			t.Errorf("reason kind %d renders no words", k)
		}
	}
}
