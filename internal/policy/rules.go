// Package policy decides, for one repository, which tags a retention policy
// keeps and which it deletes, and how each deletion must be carried out so
// that nothing kept is taken with it.
//
// It is a pure function of its Input: no I/O, no clock, no randomness. The
// engine gathers the Input from the registry and executes the Plan.
package policy

import (
	"fmt"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/gobwas/glob"
)

// Order decides which candidates are the newest.
type Order string

// Orders.
const (
	// OrderCreated ranks candidates by image creation time.
	OrderCreated Order = "created"
	// OrderSemver ranks candidates by semantic version.
	OrderSemver Order = "semver"
)

// AgeSource decides what a tag's age is.
type AgeSource string

// Age sources.
const (
	// AgeAuto uses the registry's push time of the tag where the registry
	// reports one, else the image's creation time. The zero value means
	// AgeAuto.
	AgeAuto AgeSource = "auto"
	// AgeCreated uses the image's creation time (README's rule 1).
	AgeCreated AgeSource = "created"
	// AgePushed uses the registry's push time; a tag without one is of
	// unknown age.
	AgePushed AgeSource = "pushed"
)

// Glob is one compiled tag pattern with its source text.
type Glob struct {
	Pattern string
	g       *glob.Pattern
}

// CompileGlob compiles a tag glob (`*`, `?`, `[a-z]`, `{a,b}`).
func CompileGlob(pattern string) (Glob, error) {
	g, err := glob.Compile(pattern)
	if err != nil {
		return Glob{}, fmt.Errorf("bad glob %q: %v", pattern, err)
	}
	return Glob{Pattern: pattern, g: g}, nil
}

// Match reports whether s matches.
func (g Glob) Match(s string) bool { return g.g != nil && g.g.Match(s) }

// Rules is the retention policy, applied to each repository independently
// (README's "How tags are chosen"). The planner applies no defaults: the
// zero value of each field means what the field says, and the inputs'
// defaults are config's (internal/config).
type Rules struct {
	// Keep is the number of newest candidates always kept (rule 4). Zero
	// keeps none by count; the keep input's default is 10.
	Keep int
	// OlderThan, when non-zero, keeps candidates whose image is not older
	// than this (rule 5). Zero is no age rule.
	OlderThan time.Duration
	// OlderThanText is OlderThan as the user wrote it, for reasons.
	OlderThanText string
	// Include lists the globs a tag must match to be a candidate (rule 3).
	// None matches no tag (every tag is kept); the include-tags input's
	// default is `*`.
	Include []Glob
	// Exclude lists globs whose tags are never deleted nor counted (rule
	// 3), sha256-<hex> tags included.
	Exclude []Glob
	// KeepSemver, when set, keeps tags whose version satisfies it (rule 5).
	KeepSemver *semver.Constraints
	// KeepSemverText is KeepSemver as the user wrote it.
	KeepSemverText string
	// OrderBy ranks candidates (rule 4). The zero value is OrderCreated.
	OrderBy Order
	// DeleteOrphans also deletes sha256-<hex>* tags whose subject is gone
	// (rule 2). The zero value keeps them.
	DeleteOrphans bool
	// AgeSource decides what a tag's age is. The default is AgeAuto.
	AgeSource AgeSource
	// DeleteUntagged also deletes the untagged manifests the registry
	// lists (Input.Untagged) that nothing kept reaches, that were pushed
	// more than UntaggedGrace ago and, when OlderThan is set, longer ago
	// than OlderThan (by push time). The zero value deletes only the
	// untagged manifests a deleted tag's image takes along (the graph).
	DeleteUntagged bool
	// KeepUntagged, with DeleteUntagged, keeps the most recently pushed
	// KeepUntagged of the untagged manifests that DeleteUntagged would
	// delete ("newest N untagged"). An untagged index counts once: its
	// children stay or go with it. Zero keeps none by count.
	KeepUntagged int
	// Policy, when set, are the rules of a policy file whose repositories
	// match this repository, in the file's order (README's "Policy file").
	// Each ordinary tag is governed by the first rule whose Include
	// matches it and whose Exclude does not; ranking and keep count within
	// that rule; a tag no rule governs is kept (ReasonNoRule). Keep,
	// OlderThan, Include and OrderBy above are then unused, while Exclude
	// and KeepSemver still apply to every tag, across rules. Empty: the
	// fields above are the one rule.
	Policy []Rule
}

// Rule is one rule of a policy file: which tags it governs (Include,
// Exclude) and rules 3-5 over them, each field with the meaning of the
// Rules field of that name.
type Rule struct {
	// N is the rule's 1-based number in the file; reasons name it.
	N int
	// Repositories are the rule's repository globs. The planner does not
	// read them: it plans one repository, and is given (in Rules.Policy)
	// only the rules whose Repositories match it.
	Repositories []string
	// Label is how reasons name the rule after its number: its
	// repositories and tags patterns ("team/** pr-*").
	Label string
	// Include are the tags globs (the default is `*`); Exclude the
	// rule's exclude-tags: a tag that matches one is not the rule's.
	Include, Exclude []Glob
	// Keep, OlderThan, KeepSemver and OrderBy are rules 4 and 5 within
	// the rule.
	Keep           int
	OlderThan      time.Duration
	OlderThanText  string
	KeepSemver     *semver.Constraints
	KeepSemverText string
	OrderBy        Order
	// DeleteUntagged and KeepUntagged are the rule's delete-untagged and
	// keep-untagged, for the untagged manifests of a repository whose
	// first matching rule it is.
	DeleteUntagged bool
	KeepUntagged   int
}

// DeletesUntagged reports whether delete-untagged is on in any rule: the
// run's rules ask a registry to delete untagged manifests somewhere.
// (For one repository, UntaggedRule says.)
func (r Rules) DeletesUntagged() bool {
	if len(r.Policy) == 0 {
		return r.DeleteUntagged
	}
	for _, ru := range r.Policy {
		if ru.DeleteUntagged {
			return true
		}
	}
	return false
}

// UntaggedRule is what decides the repository's untagged manifests
// (delete-untagged, keep-untagged, older-than): the first rule of a
// policy file whose repositories match (README "Policy file"), else the
// inputs'.
func (r Rules) UntaggedRule() Rule {
	if len(r.Policy) > 0 {
		return r.Policy[0]
	}
	return Rule{OlderThan: r.OlderThan, OlderThanText: r.OlderThanText, DeleteUntagged: r.DeleteUntagged, KeepUntagged: r.KeepUntagged}
}

// governing are the rules the planner ranks by: the policy's, or the one
// rule the inputs form (number 0, named by no reason).
func (r Rules) governing() []Rule {
	if len(r.Policy) > 0 {
		return r.Policy
	}
	return []Rule{{Include: r.Include, Keep: r.Keep, OlderThan: r.OlderThan, OlderThanText: r.OlderThanText,
		KeepSemver: r.KeepSemver, KeepSemverText: r.KeepSemverText, OrderBy: r.OrderBy}}
}

// UntaggedGrace is how recently an untagged manifest may have been pushed
// and still not be deleted as untagged: a multi-arch push uploads its
// children (and a build its attestations) before the index that tags
// them, so a young untagged manifest may belong to a push in progress.
const UntaggedGrace = time.Hour

// ParseSemver parses a tag as a full semantic version
// MAJOR.MINOR.PATCH[-pre][+build], optionally with one leading "v".
// "1.2", "v1" and "20240101" are not versions.
func ParseSemver(tag string) (*semver.Version, bool) {
	v, err := semver.StrictNewVersion(strings.TrimPrefix(tag, "v"))
	if err != nil {
		return nil, false
	}
	return v, true
}

// Earliest is the first plausible image creation time (the first Docker
// release); earlier times (1970, 1980 from reproducible builds) are unknown.
var Earliest = time.Date(2013, 3, 20, 0, 0, 0, 0, time.UTC)

// Plausible reports whether t is a usable creation time at now: not before
// Earliest and not more than a day in the future.
func Plausible(t, now time.Time) bool {
	return !t.IsZero() && !t.Before(Earliest) && !t.After(now.Add(24*time.Hour))
}

// FormatAge renders a duration the way reasons show it: "45d", "36h", "12m".
func FormatAge(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	case d >= time.Minute:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	default:
		return fmt.Sprintf("%ds", int(d/time.Second))
	}
}
