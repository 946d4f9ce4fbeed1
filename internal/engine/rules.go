package engine

import (
	"sort"
	"sync"

	"github.com/tagsweep/tagsweep/internal/policy"
	"github.com/tagsweep/tagsweep/internal/registry/image"
	"github.com/tagsweep/tagsweep/internal/report"
)

// Protect is one protect-images reference to this registry.
type Protect struct {
	// Text names it in reasons and the summary ("app:v1", "app@sha256:…").
	Text string
	// Repository is its repository; Tag and Digest what it names (one or
	// both).
	Repository, Tag, Digest string
}

// rulesFor is the policy for one repository: Options.Rules, with only the
// policy file's rules whose repositories match it.
func (e *Engine) rulesFor(repo string) policy.Rules {
	r := e.o.Rules
	if len(r.Policy) == 0 {
		return r
	}
	r.Policy = nil
	for _, ru := range e.o.Rules.Policy {
		if matchesAny(ru.Repositories, repo) {
			r.Policy = append(r.Policy, ru)
		}
	}
	return r
}

// byPolicy reports whether some rule of the policy file governs repo (all
// do without one): discovery lists the union of the rules' repositories.
func (e *Engine) byPolicy(repo string) bool {
	if len(e.o.Rules.Policy) == 0 {
		return true
	}
	for _, ru := range e.o.Rules.Policy {
		if matchesAny(ru.Repositories, repo) {
			return true
		}
	}
	return false
}

// policyLiterals returns the policy file's repositories when every rule
// names its repositories literally, so that discovery needs no catalog.
func (e *Engine) policyLiterals() ([]string, bool) {
	if len(e.o.Rules.Policy) == 0 {
		return nil, false
	}
	var out []string
	for _, ru := range e.o.Rules.Policy {
		for _, p := range ru.Repositories {
			if !Literal(p) {
				return nil, false
			}
			out = append(out, p)
		}
	}
	return out, true
}

func matchesAny(patterns []string, repo string) bool {
	for _, p := range patterns {
		if g, err := RepoGlob(p); err == nil && g.Match(repo) {
			return true
		}
	}
	return false
}

// protection tracks which protect-images references matched something.
type protection struct {
	mu      sync.Mutex
	matched map[string]bool
	// planned are the repositories planned; tags the tags kept by a
	// protection.
	planned map[string]bool
	tags    int
}

// protectIn returns the references to repo.
func (e *Engine) protectIn(repo string) []Protect {
	var out []Protect
	for _, p := range e.o.Protect {
		if p.Repository == repo {
			out = append(out, p)
		}
	}
	return out
}

// protectDigests are the digests protect-images names in repo.
func (e *Engine) protectDigests(repo string) []string {
	var out []string
	for _, p := range e.protectIn(repo) {
		if p.Digest != "" {
			out = append(out, p.Digest)
		}
	}
	sort.Strings(out)
	return out
}

// protect puts the references to repo into the planner's input, and
// records which matched a tag or a manifest of it.
func (e *Engine) protect(repo string, in *policy.Input, manifests map[string]*image.Manifest) {
	refs := e.protectIn(repo)
	e.prot.mu.Lock()
	defer e.prot.mu.Unlock()
	e.prot.planned[repo] = true
	if len(refs) == 0 {
		return
	}
	tags := map[string]bool{}
	for _, t := range in.Tags {
		if t.Digest != "" {
			tags[t.Name] = true
		}
	}
	in.ProtectTags, in.ProtectDigests = map[string]string{}, map[string]string{}
	for _, p := range refs {
		if p.Tag != "" && tags[p.Tag] {
			in.ProtectTags[p.Tag] = p.Text
			e.prot.matched[p.Text] = true
		}
		if p.Digest != "" && manifests[p.Digest] != nil {
			in.ProtectDigests[p.Digest] = p.Text
			e.prot.matched[p.Text] = true
		}
	}
}

// protected counts the tags a plan keeps for protect-images.
func (e *Engine) protected(plan *policy.Plan) {
	n := 0
	for _, it := range plan.Items {
		if it.Action == policy.Keep && (it.Reason.Kind == policy.ReasonProtectImages || it.Reason.Protect) {
			n++
		}
	}
	e.prot.mu.Lock()
	e.prot.tags += n
	e.prot.mu.Unlock()
}

// protectionReport is what the summary says of protect-images: the
// references that matched, the tags they kept, and those that matched
// nothing in a repository of the run (a typo would protect nothing).
func (e *Engine) protectionReport(scope []string) *report.Protection {
	if len(e.o.Protect) == 0 && e.o.ProtectElsewhere == 0 {
		return nil
	}
	e.prot.mu.Lock()
	defer e.prot.mu.Unlock()
	inScope := map[string]bool{}
	for _, r := range scope {
		inScope[r] = true
	}
	out := &report.Protection{References: len(e.o.Protect), Elsewhere: e.o.ProtectElsewhere, Tags: e.prot.tags, Unmatched: []string{}}
	seen := map[string]bool{}
	for _, p := range e.o.Protect {
		if seen[p.Text] {
			continue
		}
		seen[p.Text] = true
		switch {
		case e.prot.matched[p.Text]:
			out.Matched++
		case e.prot.planned[p.Repository] || (!inScope[p.Repository] && e.wouldScope(p.Repository)):
			out.Unmatched = append(out.Unmatched, p.Text)
		}
	}
	sort.Strings(out.Unmatched)
	return out
}

// wouldScope reports whether repo would be in the run's scope if it
// existed: the repositories globs, the policy file and the shard.
func (e *Engine) wouldScope(repo string) bool {
	return matchesAny(e.o.Repositories, repo) && e.byPolicy(repo) && len(InShard([]string{repo}, e.o.Shard, e.o.Shards)) == 1
}

// ruleCounts counts, per policy file rule (by number), the tags it
// governed and those the plans delete.
type ruleCounts struct {
	mu                sync.Mutex
	governed, deleted map[int]int
}

func (c *ruleCounts) count(plan *policy.Plan) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.governed == nil {
		c.governed, c.deleted = map[int]int{}, map[int]int{}
	}
	for _, it := range plan.Items {
		n := it.Selection.Reason.Rule
		if n == 0 {
			continue
		}
		c.governed[n]++
		if it.Action == policy.Delete {
			c.deleted[n]++
		}
	}
}

// into writes the counts into the policy echo's rules.
func (c *ruleCounts) into(p *report.Policy) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range p.Rules {
		p.Rules[i].Governed, p.Rules[i].Deleted = c.governed[i+1], c.deleted[i+1]
	}
}
