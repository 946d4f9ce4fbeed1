package config

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
	"go.yaml.in/yaml/v3"

	"github.com/tagsweep/tagsweep/internal/policy"
)

// RuleKeys are the keys a policy file's rule may have, in the order of
// README's "Policy file" (schema/policy-file.schema.json lists the same;
// a test checks they agree).
var RuleKeys = []string{"repositories", "tags", "exclude-tags", "keep", "older-than", "keep-semver", "order-by", "delete-untagged", "keep-untagged"}

// RuleInputs are the inputs a policy file's rules replace: set to anything
// but its default together with policy-file, one is invalid input.
var RuleInputs = []string{"keep", "older-than", "include-tags", "order-by", "delete-untagged", "keep-untagged"}

// FileRule is one rule of a policy file as written, for the report's
// policy echo.
type FileRule struct {
	Repositories []string
	Tags         []string
	ExcludeTags  []string
	Keep         int
	OlderThan    string
	KeepSemver   string
	OrderBy      string
	// DeleteUntagged and KeepUntagged are parsed and validated; the
	// planner applies them where the registry lists untagged manifests.
	DeleteUntagged bool
	KeepUntagged   int
}

// ReadPolicyFile reads and validates a policy file (README's "Policy
// file"): YAML with one top-level key, rules, an ordered list of rules,
// each a mapping of RuleKeys. Unknown and repeated keys are errors, as is
// a value of the wrong kind or a bad glob, duration, constraint or
// order. The error names the rule (1-based) and the key.
func ReadPolicyFile(path string) ([]FileRule, []policy.Rule, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, errors.New("does not exist")
		}
		return nil, nil, fmt.Errorf("cannot be read: %v", errors.Unwrap(err))
	}
	return ParsePolicy(data)
}

// ParsePolicy parses a policy file's bytes (see ReadPolicyFile).
func ParsePolicy(data []byte) ([]FileRule, []policy.Rule, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("is not YAML: %s", yamlMessage(err))
	}
	if len(doc.Content) == 0 {
		return nil, nil, errors.New("is empty: it needs rules (a list of rules)")
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, nil, fmt.Errorf("line %d: must be a mapping with the key rules", top.Line)
	}
	var rules *yaml.Node
	for i := 0; i+1 < len(top.Content); i += 2 {
		k := top.Content[i]
		if k.Value != "rules" {
			return nil, nil, fmt.Errorf("line %d: unknown key %q (the file has one key: rules)", k.Line, k.Value)
		}
		if rules != nil {
			return nil, nil, fmt.Errorf("line %d: rules is given twice", k.Line)
		}
		rules = top.Content[i+1]
	}
	if rules == nil || rules.Kind != yaml.SequenceNode || len(rules.Content) == 0 {
		return nil, nil, errors.New("has no rules: rules must be a list of at least one rule")
	}
	var raw []FileRule
	var out []policy.Rule
	for n, node := range rules.Content {
		fr, r, err := parseRule(n+1, node)
		if err != nil {
			return nil, nil, err
		}
		raw, out = append(raw, fr), append(out, r)
	}
	return raw, out, nil
}

// yamlMessage is the parser's message without its "yaml: " prefix.
func yamlMessage(err error) string { return strings.TrimPrefix(err.Error(), "yaml: ") }

func parseRule(n int, node *yaml.Node) (FileRule, policy.Rule, error) {
	fr := FileRule{Repositories: []string{"**"}, Tags: []string{"*"}, Keep: 10, OrderBy: string(policy.OrderCreated)}
	bad := func(key string, line int, format string, args ...any) error {
		return fmt.Errorf("rule %d: %s: %s (line %d)", n, key, fmt.Sprintf(format, args...), line)
	}
	if node.Kind != yaml.MappingNode {
		return fr, policy.Rule{}, fmt.Errorf("rule %d: must be a mapping of %s (line %d)", n, strings.Join(RuleKeys, ", "), node.Line)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, v := node.Content[i], node.Content[i+1]
		key := k.Value
		if !known(key) {
			return fr, policy.Rule{}, bad(key, k.Line, "unknown key (a rule has %s)", strings.Join(RuleKeys, ", "))
		}
		if seen[key] {
			return fr, policy.Rule{}, bad(key, k.Line, "given twice")
		}
		seen[key] = true
		var err error
		switch key {
		case "repositories":
			fr.Repositories, err = stringList(v)
		case "tags":
			fr.Tags, err = stringList(v)
		case "exclude-tags":
			fr.ExcludeTags, err = stringList(v)
		case "keep":
			fr.Keep, err = wholeNumber(v)
		case "keep-untagged":
			fr.KeepUntagged, err = wholeNumber(v)
		case "delete-untagged":
			fr.DeleteUntagged, err = boolean(v)
		case "older-than":
			fr.OlderThan, err = scalar(v)
		case "keep-semver":
			fr.KeepSemver, err = scalar(v)
		case "order-by":
			fr.OrderBy, err = scalar(v)
		}
		if err != nil {
			return fr, policy.Rule{}, bad(key, v.Line, "%v", err)
		}
	}
	line := map[string]int{}
	for i := 0; i+1 < len(node.Content); i += 2 {
		line[node.Content[i].Value] = node.Content[i+1].Line
	}
	r := policy.Rule{N: n, Repositories: fr.Repositories, Keep: fr.Keep, OrderBy: policy.Order(fr.OrderBy),
		DeleteUntagged: fr.DeleteUntagged, KeepUntagged: fr.KeepUntagged}
	for _, p := range fr.Repositories {
		if _, err := repoGlob(p); err != nil {
			return fr, r, bad("repositories", line["repositories"], "%q is not a valid glob", p)
		}
	}
	for _, p := range fr.Tags {
		g, err := policy.CompileGlob(p)
		if err != nil {
			return fr, r, bad("tags", line["tags"], "%q is not a valid glob", p)
		}
		r.Include = append(r.Include, g)
	}
	for _, p := range fr.ExcludeTags {
		g, err := policy.CompileGlob(p)
		if err != nil {
			return fr, r, bad("exclude-tags", line["exclude-tags"], "%q is not a valid glob", p)
		}
		r.Exclude = append(r.Exclude, g)
	}
	if fr.OlderThan != "" {
		d, err := ParseDuration(fr.OlderThan)
		if err != nil {
			return fr, r, bad("older-than", line["older-than"], "%q %v", fr.OlderThan, err)
		}
		r.OlderThan, r.OlderThanText = d, fr.OlderThan
	}
	if fr.KeepSemver != "" {
		c, err := semver.NewConstraint(fr.KeepSemver)
		if err != nil {
			return fr, r, bad("keep-semver", line["keep-semver"], "%q is not a semver constraint: %v", fr.KeepSemver, err)
		}
		r.KeepSemver, r.KeepSemverText = c, fr.KeepSemver
	}
	if r.OrderBy != policy.OrderCreated && r.OrderBy != policy.OrderSemver {
		return fr, r, bad("order-by", line["order-by"], "%q must be created or semver", fr.OrderBy)
	}
	r.Label = strings.Join(fr.Repositories, ",") + " " + strings.Join(fr.Tags, ",")
	if len(fr.ExcludeTags) > 0 {
		r.Label += " !" + strings.Join(fr.ExcludeTags, ",!")
	}
	return fr, r, nil
}

func known(key string) bool {
	for _, k := range RuleKeys {
		if k == key {
			return true
		}
	}
	return false
}

// stringList reads a list of globs: a YAML list of strings, or one string
// (newline- or comma-separated, as the list inputs).
func stringList(v *yaml.Node) ([]string, error) {
	switch v.Kind {
	case yaml.ScalarNode:
		if v.Tag != "!!str" {
			return nil, fmt.Errorf("%q must be a string or a list of strings", v.Value)
		}
		out := List(v.Value)
		if len(out) == 0 {
			return nil, errors.New("is empty")
		}
		return out, nil
	case yaml.SequenceNode:
		var out []string
		for _, e := range v.Content {
			if e.Kind != yaml.ScalarNode || e.Tag != "!!str" || strings.TrimSpace(e.Value) == "" {
				return nil, fmt.Errorf("%q must be a non-empty string", e.Value)
			}
			out = append(out, strings.TrimSpace(e.Value))
		}
		if len(out) == 0 {
			return nil, errors.New("is an empty list")
		}
		return out, nil
	}
	return nil, errors.New("must be a string or a list of strings")
}

func scalar(v *yaml.Node) (string, error) {
	if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		return "", errors.New("must be a single value")
	}
	return strings.TrimSpace(v.Value), nil
}

func wholeNumber(v *yaml.Node) (int, error) {
	n, err := strconv.Atoi(v.Value)
	if v.Kind != yaml.ScalarNode || v.Tag != "!!int" || err != nil || n < 0 || n > 1<<30 {
		return 0, fmt.Errorf("%q is not a whole number from 0 to %d", v.Value, 1<<30)
	}
	return n, nil
}

func boolean(v *yaml.Node) (bool, error) {
	if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
		return false, fmt.Errorf("%q is not true or false", v.Value)
	}
	return strconv.ParseBool(strings.ToLower(v.Value))
}
