package policy

import (
	"fmt"
	"time"
)

// ReasonKind is the rule that decided what happens to a tag (the numbers
// are those of README's "How tags are chosen"). Code decides by the kind;
// only Reason.String turns it into words.
type ReasonKind int

// Reason kinds. The comment of each is the text String renders, with the
// Reason's fields in angle brackets.
const (
	// ReasonNone is the zero Reason: nothing decided yet.
	ReasonNone ReasonKind = iota

	// ReasonUninspected: "could not be inspected" (the tag's manifest
	// could not be read; it is kept, and keeps nothing else).
	ReasonUninspected
	// ReasonVanished: "deleted by someone else during the run".
	ReasonVanished
	// ReasonProtected: <Text>, the registry's own words for why it
	// protects the manifest or tag (a lock, an immutability rule).
	ReasonProtected
	// ReasonProtectedParent: "referenced by <Name>, which the registry
	// protects" (a manifest whose parent the registry refused to delete).
	ReasonProtectedParent
	// ReasonPlaceholder: "leftover placeholder of an interrupted run". A
	// tag found on a placeholder image (image.Manifest.Placeholder):
	// tagsweep pushed the placeholder onto the tag to remove it from a
	// shared digest, and a run stopped before deleting it. The tag's own
	// image is no longer behind it, so it is not a candidate, takes no keep
	// slot and is deleted, whatever include-tags, exclude-tags,
	// keep-semver and older-than say.
	ReasonPlaceholder

	// ReasonExcluded: `matches exclude-tags "<Name>"` (rule 3).
	ReasonExcluded
	// ReasonNotIncluded: "matches no include-tags pattern (<Name>)", Name
	// being the patterns as given, joined by ", " (rule 3).
	ReasonNotIncluded
	// ReasonNotSemver: "not semver" (rule 3, order-by semver).
	ReasonNotSemver
	// ReasonUnknownAge: "unknown age" (rules 3 and 5).
	ReasonUnknownAge

	// ReasonWithinKeep: "<Rank>, within keep=<Rank.Keep>" (rule 4).
	ReasonWithinKeep
	// ReasonKeepSemver: `satisfies keep-semver "<Name>"` (rule 5).
	ReasonKeepSemver
	// ReasonNotOlder: "<Rank>, beyond keep=<Rank.Keep>, but age <Age> is
	// not older than <OlderThan>" (rule 5).
	ReasonNotOlder
	// ReasonOlder: "<Rank>, beyond keep=<Rank.Keep>, age <Age> is older
	// than <OlderThan>" (rule 5).
	ReasonOlder
	// ReasonBeyondKeep: "<Rank>, beyond keep=<Rank.Keep>" (rule 5).
	ReasonBeyondKeep

	// ReasonAttachedKept: "attached to kept <Name>" (rule 2 and the
	// graph: something kept reaches it through a referrer or a
	// sha256-<hex> tag).
	ReasonAttachedKept
	// ReasonAttachedDeleted: "attached to deleted <Name>".
	ReasonAttachedDeleted
	// ReasonAttachedUntagged: "attached to untagged manifest <Name>".
	ReasonAttachedUntagged
	// ReasonOrphaned: "orphaned: subject <Name> is gone" (delete-orphans).
	ReasonOrphaned
	// ReasonOrphanKept: "orphaned: subject <Name> is gone (delete-orphans
	// is off)".
	ReasonOrphanKept
	// ReasonSubjectUnchecked: "subject <Name> could not be checked".
	ReasonSubjectUnchecked

	// ReasonSharesDigest: "shares digest with kept tag <Name>" (rule 6).
	ReasonSharesDigest
	// ReasonChildOfKept: "child of kept index <Name>" (rule 6).
	ReasonChildOfKept
	// ReasonChildOfDeleted: "child of deleted index <Name>" (an untagged
	// manifest deleted with its index).
	ReasonChildOfDeleted
	// ReasonAttestationOf: "attestation of deleted <Name>" (an untagged
	// buildx attestation deleted with its index).
	ReasonAttestationOf
	// ReasonTagDeleteRefused: "the registry refused to delete the single
	// tag" (the probe said it could; the DELETE said otherwise).
	ReasonTagDeleteRefused

	// ReasonChanged: "changed during run" (rule 7, the second look).
	ReasonChanged

	// ReasonNoRule: "no rule matches" (a policy file: no rule whose
	// repositories match the repository has tags that match the tag).
	ReasonNoRule
	// ReasonProtectImages: "protected by protect-images" (the tag is
	// named by a protect-images reference; it takes no keep slot).
	ReasonProtectImages
	// ReasonLastTagged: <Text>, the registry's words for its rule that
	// the last tagged manifest of a repository cannot be deleted
	// (Input.LastTagged): the newest tagged manifest a plan would delete
	// with every other one is kept.
	ReasonLastTagged

	// ReasonUntaggedStale: "untagged, pushed <Age> ago" (delete-untagged:
	// nothing kept reaches it, and it is old enough).
	ReasonUntaggedStale
	// ReasonUntaggedRecent: "pushed <Age> ago: may belong to a push in
	// progress" (delete-untagged spares what was pushed within the last
	// hour: a multi-arch push uploads its children before the index that
	// tags them).
	ReasonUntaggedRecent
	// ReasonUntaggedNotOlder: "untagged, pushed <Age> ago, not older than
	// <OlderThan>" (delete-untagged with older-than).
	ReasonUntaggedNotOlder
	// ReasonUntaggedUnknown: "untagged, unknown push time" (the registry
	// did not say when it was pushed: it is not deleted).
	ReasonUntaggedUnknown
	// ReasonNewestUntagged: "newest <Rank.Keep> untagged" (keep-untagged).
	ReasonNewestUntagged
	// ReasonUntaggedOff: "untagged (delete-untagged is off)".
	ReasonUntaggedOff
	// ReasonSubjectOfKept: "subject of kept <Name>" (an untagged manifest
	// that a kept sha256-<hex> tag names as its subject).
	ReasonSubjectOfKept

	reasonEnd // one past the last kind, for the test that every kind has words
)

// RankBy is what the ranking of rule 4 sorts by.
type RankBy int

// What candidates are ranked by.
const (
	// RankByCreated: the image's creation time ("created").
	RankByCreated RankBy = iota
	// RankByPushTime: the registry's push time ("push time").
	RankByPushTime
	// RankByVersion: the tag's semantic version ("version").
	RankByVersion
)

func (b RankBy) String() string {
	switch b {
	case RankByPushTime:
		return "push time"
	case RankByVersion:
		return "version"
	}
	return "created"
}

// Rank is a candidate's place in the ranking (rules 4 and 5).
type Rank struct {
	// N is the 1-based rank among Of candidates, newest first.
	N, Of int
	// By is what the candidates are sorted by.
	By RankBy
	// Keep is the keep input the rank is measured against.
	Keep int
}

// String is "rank N of Of by By".
func (r Rank) String() string { return fmt.Sprintf("rank %d of %d by %s", r.N, r.Of, r.By) }

// Reason is why a tag (or an untagged manifest) is kept or deleted: the
// rule that decided and the facts it names. It is a comparable value;
// String renders the words users read, and this file is the only place
// they are written.
type Reason struct {
	Kind ReasonKind
	// Name is the tag, digest, pattern or constraint the reason names:
	// the kept tag a stale tag shares a digest with, the subject of a
	// signature, the exclude-tags pattern that matched.
	Name string
	// Pinned: what the reason names is not a tag but a digest the second
	// look pinned (Input.Pinned); String names it "(changed during run)".
	Pinned bool
	// Rank places a ranked candidate.
	Rank Rank
	// Age is the image's age and OlderThan the older-than input as the
	// user wrote it, for ReasonOlder and ReasonNotOlder.
	Age       time.Duration
	OlderThan string
	// NoTagDelete: rule 6 would delete the tag by tag, but this registry
	// cannot delete a single tag, so it is kept.
	NoTagDelete bool
	// Text is the registry's own words, for ReasonProtected and
	// ReasonLastTagged.
	Text string
	// Rule and RuleLabel name the policy file's rule that governs the tag
	// (Rule.N, Rule.Label); String prefixes "rule N (label): ". Zero: the
	// inputs' one rule, named by no reason.
	Rule      int
	RuleLabel string
	// Protect: what the reason names (Name) is a protect-images reference;
	// String says "protected <Name>" where it would say "kept tag <Name>",
	// "kept index <Name>" or "kept <Name>".
	Protect bool
}

// Because is the Reason of kind k with nothing to name.
func Because(k ReasonKind) Reason { return Reason{Kind: k} }

// Naming is the Reason of kind k naming name (a tag, digest or pattern).
func Naming(k ReasonKind, name string) Reason { return Reason{Kind: k, Name: name} }

// ProtectedBy is the Reason of an item the registry protects, in the
// registry's words.
func ProtectedBy(text string) Reason { return Reason{Kind: ReasonProtected, Text: text} }

// String renders the reason as the report, the summary and the log show
// it. The zero Reason renders as "".
func (r Reason) String() string {
	name := r.Name
	if r.Pinned {
		name = "(changed during run)"
	}
	beyond := fmt.Sprintf("%s, beyond keep=%d", r.Rank, r.Rank.Keep)
	var s string
	switch r.Kind {
	case ReasonUninspected:
		s = "could not be inspected"
	case ReasonVanished:
		s = "deleted by someone else during the run"
	case ReasonProtected:
		s = r.Text
	case ReasonProtectedParent:
		s = "referenced by " + name + ", which the registry protects"
	case ReasonPlaceholder:
		s = "leftover placeholder of an interrupted run"
	case ReasonExcluded:
		s = fmt.Sprintf("matches exclude-tags %q", name)
	case ReasonNotIncluded:
		s = "matches no include-tags pattern (" + name + ")"
	case ReasonNotSemver:
		s = "not semver"
	case ReasonUnknownAge:
		s = "unknown age"
	case ReasonWithinKeep:
		s = fmt.Sprintf("%s, within keep=%d", r.Rank, r.Rank.Keep)
	case ReasonKeepSemver:
		s = fmt.Sprintf("satisfies keep-semver %q", name)
	case ReasonNotOlder:
		s = fmt.Sprintf("%s, but age %s is not older than %s", beyond, FormatAge(r.Age), r.OlderThan)
	case ReasonOlder:
		s = fmt.Sprintf("%s, age %s is older than %s", beyond, FormatAge(r.Age), r.OlderThan)
	case ReasonBeyondKeep:
		s = beyond
	case ReasonAttachedKept:
		s = "attached to kept " + name
		if r.Protect {
			s = "attached to protected " + name
		}
	case ReasonAttachedDeleted:
		s = "attached to deleted " + name
	case ReasonAttachedUntagged:
		s = "attached to untagged manifest " + name
	case ReasonOrphaned:
		s = "orphaned: subject " + name + " is gone"
	case ReasonOrphanKept:
		s = "orphaned: subject " + name + " is gone (delete-orphans is off)"
	case ReasonSubjectUnchecked:
		s = "subject " + name + " could not be checked"
	case ReasonSharesDigest:
		s = "shares digest with kept tag " + name
		if r.Protect {
			s = "shares digest with protected " + name
		}
	case ReasonChildOfKept:
		s = "child of kept index " + name
		if r.Protect {
			s = "child of protected " + name
		}
	case ReasonChildOfDeleted:
		s = "child of deleted index " + name
	case ReasonAttestationOf:
		s = "attestation of deleted " + name
	case ReasonTagDeleteRefused:
		s = "the registry refused to delete the single tag"
	case ReasonChanged:
		s = "changed during run"
	case ReasonNoRule:
		s = "no rule matches"
	case ReasonProtectImages:
		s = "protected by protect-images"
	case ReasonLastTagged:
		s = r.Text
	case ReasonUntaggedStale:
		s = "untagged, pushed " + FormatAge(r.Age) + " ago"
	case ReasonUntaggedRecent:
		s = "pushed " + FormatAge(r.Age) + " ago: may belong to a push in progress"
	case ReasonUntaggedNotOlder:
		s = "untagged, pushed " + FormatAge(r.Age) + " ago, not older than " + r.OlderThan
	case ReasonUntaggedUnknown:
		s = "untagged, unknown push time"
	case ReasonNewestUntagged:
		s = fmt.Sprintf("newest %d untagged", r.Rank.Keep)
	case ReasonUntaggedOff:
		s = "untagged (delete-untagged is off)"
	case ReasonSubjectOfKept:
		s = "subject of kept " + name
	}
	if r.NoTagDelete {
		s += " (this registry cannot delete a single tag)"
	}
	if r.Rule > 0 {
		s = fmt.Sprintf("rule %d (%s): %s", r.Rule, r.RuleLabel, s)
	}
	return s
}

// Kind is what the manifest is to the deleted tag, as the report names
// it: "child", "attestation" or "referrer".
func (u Untagged) Kind() string {
	switch u.Reason.Kind {
	case ReasonAttestationOf:
		return "attestation"
	case ReasonAttachedDeleted:
		return "referrer"
	}
	return "child"
}
