// Package config turns the inputs (flags, TAGSWEEP_* and INPUT_* variables,
// resolved by the caller) into a validated Config. It reads no
// environment and sends no request; the only I/O is reading ca-file,
// policy-file and a protect-images @path.
package config

import (
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/gobwas/glob"

	"github.com/tagsweep/tagsweep/internal/netutil"
	"github.com/tagsweep/tagsweep/internal/policy"
	"github.com/tagsweep/tagsweep/internal/registry/provider"
)

// Input describes one input: its name, default and meaning. The table is
// the single source for flags, action.yml and README.
type Input struct {
	Name        string
	Default     string
	Description string
	Required    bool
	Bool        bool
	Secret      bool
	// ActionDefault is action.yml's default where it differs from the
	// CLI's (github-token: ${{ github.token }}); empty: Default.
	ActionDefault string
	// Sweep, List and Restore say which commands read it (the sweep,
	// tagsweep ls, tagsweep restore).
	Sweep, List, Restore bool
}

// Inputs lists every input, in the order of README's inputs tables.
var Inputs = []Input{
	{Name: "registry", Required: true, Restore: true, Sweep: true, List: true, Description: "Registry host[:port], optionally with https:// (TLS only) or http:// (plain HTTP)."},
	{Name: "repositories", Default: "**", Sweep: true, List: true, Description: "Globs over repository names, newline- or comma-separated; `/` separates levels (`team/*` one level, `team/**` any depth). Literal names need no catalog access."},
	{Name: "username", Restore: true, Sweep: true, List: true, Description: "Registry user. Without username/password: the docker config, then anonymous."},
	{Name: "password", Secret: true, Restore: true, Sweep: true, List: true, Description: "Registry password or token; masked, never printed."},
	{Name: "keep", Default: "10", Sweep: true, Description: "Per repository, the number of newest candidate tags always kept. 0 keeps none by count."},
	{Name: "older-than", Sweep: true, Description: "Delete only images older than this: Go duration or Nd / Nw (30d, 2w, 36h). Empty: no age rule."},
	{Name: "include-tags", Default: "*", Sweep: true, List: true, Description: "Globs; only matching tags are candidates."},
	{Name: "exclude-tags", Sweep: true, List: true, Description: "Globs; matching tags are never deleted and do not count toward keep."},
	{Name: "keep-semver", Sweep: true, Description: "Semver constraint (e.g. >=2.0.0, ~1.4); tags whose version satisfies it are never deleted."},
	{Name: "order-by", Default: "created", Sweep: true, Description: "created (image creation time) or semver (highest version first) decides which candidates are newest."},
	{Name: "dry-run", Default: "false", Bool: true, Restore: true, Sweep: true, Description: "Plan and report, delete nothing. The plan is the one a real run executes."},
	{Name: "concurrency", Default: "8", Restore: true, Sweep: true, List: true, Description: "Parallel requests to the registry."},
	{Name: "insecure", Default: "false", Bool: true, Restore: true, Sweep: true, List: true, Description: "Allow plain HTTP and unverified TLS for this registry. Loopback addresses may use plain HTTP without it."},
	{Name: "ca-file", Restore: true, Sweep: true, List: true, Description: "PEM file of CA certificates to trust in addition to the system roots."},
	{Name: "report-file", Restore: true, Sweep: true, Description: "Write the JSON report to this path."},
	{Name: "summary-file", Sweep: true, Description: "Also write the job summary, in markdown, to this path (e.g. a GitLab job artifact); stdout outside Actions gets its plain-text form."},
	{Name: "delete-orphans", Default: "false", Bool: true, Sweep: true, Description: "Also delete sha256-<hex>* tags (signatures, attestations, referrer indexes) whose subject digest no longer exists."},
	{Name: "provider", Default: "auto", Restore: true, Sweep: true, List: true, Description: "auto (from the registry host), oci, ghcr, dockerhub, harbor, ecr, gar, acr, quay or gitlab: how tagsweep lists and deletes on this registry. For ghcr the GitHub API is GITHUB_API_URL, else https://api.github.com."},
	{Name: "age-source", Default: "auto", Sweep: true, List: true, Description: "auto (the registry's push time where the provider has one, else the image's created time), created or pushed."},
	{Name: "max-deletions", Default: "0", Sweep: true, Description: "If the plan would delete more tags than this (attached tags, and the untagged manifests of delete-untagged, included), delete nothing and exit 1 with the count; dry-run reports the same refusal. 0: no cap."},
	{Name: "shard", Sweep: true, List: true, Description: "i/n: handle only the repositories whose stable hash falls in shard i of n (i from 0 to n-1, or 1 to n: n is shard 0), to split a large registry over a matrix or a Kubernetes Indexed Job."},
	{Name: "undo-file", Sweep: true, Restore: true, Description: "A real run writes here, before each deletion, what undoes it (gzip-compressed JSON lines: the manifest as served, its tags, its place in the graph, the GHCR version id), appending to an undo file there already; tagsweep restore --undo-file reads it. A path that cannot be written is refused before the first request."},
	{Name: "github-token", ActionDefault: "${{ github.token }}", Secret: true, Sweep: true, List: true, Restore: true, Description: "The token for the GitHub API and ghcr.io when provider is ghcr and password is empty; else GITHUB_TOKEN from the environment. Masked; never sent to any other registry."},
	{Name: "delete-untagged", Default: "false", Bool: true, Sweep: true, Description: "Also delete the untagged manifests the registry lists (GHCR versions without tags) that nothing kept reaches, pushed more than an hour ago and, with older-than, older than it by push time."},
	{Name: "keep-untagged", Default: "0", Sweep: true, Description: "With delete-untagged, per repository the number of most recently pushed deletable untagged manifests kept anyway."},
	{Name: "timeout", Default: "0", Restore: true, Sweep: true, List: true, Description: "Bound on the whole run (Go duration or Nd, e.g. 20m, 1d); on expiry no new deletion starts, the report is written and the exit code is 1. 0: none."},
	{Name: "protect-images", Sweep: true, Description: "Image references never deleted, nor anything they reach (children, referrers, attached tags): repo:tag, repo@sha256:…, with or without this registry's host (another registry's are ignored); a list, or @path to a file of references separated by whitespace or newlines (# starts a comment)."},
	{Name: "policy-file", Sweep: true, Description: "A YAML file of ordered rules (repositories, tags, exclude-tags, keep, older-than, keep-semver, order-by, delete-untagged, keep-untagged) for one run over many repositories; schema/policy-file.schema.json describes it. With it, keep, older-than, include-tags and order-by stay at their defaults."},
	{Name: "cache-dir", Sweep: true, Description: "A directory where manifests and image configs are kept by digest between runs (restore it with actions/cache): a tag is still resolved every run, only a digest never seen is read. Checked writable before the first request."},
}

// Lookup returns the raw value of an input; an empty value means the input
// was not given (its default applies).
type Lookup func(name string) string

// Config is the validated configuration of a run.
type Config struct {
	Registry      string // as given
	Host          string // host[:port]
	Scheme        string // "", "http" or "https"
	Repositories  []string
	Username      string
	Password      string
	Keep          int
	OlderThan     time.Duration
	OlderThanText string
	IncludeTags   []string
	ExcludeTags   []string
	KeepSemver    string
	OrderBy       string
	DryRun        bool
	Concurrency   int
	Insecure      bool
	CAFile        string
	Roots         *x509.CertPool
	ReportFile    string
	SummaryFile   string
	// UndoFile is the undo-file input: the sweep writes it, restore reads it.
	UndoFile string
	// CacheDir is the cache-dir input ("": no cache).
	CacheDir      string
	DeleteOrphans bool
	MaxDeletions  int
	// Shard/Shards is the shard input (Shards 0: not set).
	Shard, Shards int
	Timeout       time.Duration
	TimeoutText   string
	// Provider is the provider, resolved from auto by the host.
	Provider provider.Kind
	// APIToken is the input the provider names for its own API
	// (Traits.APITokenInput: github-token for ghcr), read only for that
	// provider; APITokenInput is that input's name ("" : none).
	APIToken, APITokenInput string
	// DeleteUntagged and KeepUntagged are the inputs (also in Rules).
	DeleteUntagged bool
	KeepUntagged   int
	// Caps are what the provider's registry can do (its Traits).
	Caps      provider.Caps
	AgeSource policy.AgeSource

	// PolicyFile is the policy-file input, and PolicyRules its rules as
	// written (Rules.Policy holds them compiled).
	PolicyFile  string
	PolicyRules []FileRule
	// Protect are the protect-images references to this registry;
	// ProtectElsewhere counts those to other registries, ignored.
	Protect          []Ref
	ProtectElsewhere int
	// traits are the resolved provider's (nil for an unknown one).
	traits *provider.Traits

	Rules policy.Rules
}

// InputError is one invalid input.
type InputError struct {
	Input string
	Value string
	Why   string
}

func (e *InputError) Error() string {
	return fmt.Sprintf("%s: %q %s", e.Input, e.Value, e.Why)
}

// Load reads and validates every input the command uses, reporting every
// problem at once (errors.Join of *InputError). The provider input is
// read with kinds (registry/vendors.Table): the names it accepts, the
// kind of a host for auto, and the capabilities the other inputs depend on.
func Load(get Lookup, list bool, kinds provider.Table) (*Config, error) {
	m := modeSweep
	if list {
		m = modeList
	}
	return load(get, m, kinds)
}

// LoadRestore reads and validates the inputs of tagsweep restore: the
// registry, credential and TLS inputs, provider, concurrency, timeout,
// dry-run, report-file and undo-file, which it requires.
func LoadRestore(get Lookup, kinds provider.Table) (*Config, error) {
	return load(get, modeRestore, kinds)
}

type mode int

const (
	modeSweep mode = iota
	modeList
	modeRestore
)

func load(get Lookup, m mode, kinds provider.Table) (*Config, error) {
	c := &Config{}
	var errs []error
	bad := func(in, val, why string) { errs = append(errs, &InputError{Input: in, Value: val, Why: why}) }
	val := func(name string) string {
		if v := strings.TrimSpace(get(name)); v != "" {
			return v
		}
		for _, in := range Inputs {
			if in.Name == name {
				return in.Default
			}
		}
		return ""
	}
	boolean := func(name string) bool {
		v := val(name)
		b, err := parseBool(v)
		if err != nil {
			bad(name, v, "is not a boolean (true or false)")
		}
		return b
	}

	c.Registry = val("registry")
	if c.Registry == "" {
		errs = append(errs, &InputError{Input: "registry", Why: "is required (host[:port], e.g. registry.example.com or http://127.0.0.1:5000)"})
	} else if host, scheme, err := ParseRegistry(c.Registry); err != nil {
		bad("registry", c.Registry, err.Error())
	} else {
		c.Host, c.Scheme = host, scheme
	}
	c.Insecure = boolean("insecure")
	if c.Scheme == "http" && !c.Insecure && !netutil.IsLoopback(c.Host) {
		bad("registry", c.Registry, "uses plain HTTP to a non-loopback host; set insecure: true to allow it")
	}

	c.Repositories = List(val("repositories"))
	if len(c.Repositories) == 0 {
		c.Repositories = []string{"**"}
	}
	for _, r := range c.Repositories {
		if _, err := repoGlob(r); err != nil {
			bad("repositories", r, "is not a valid glob: "+err.Error())
		}
	}

	if k, err := kinds.Parse(val("provider")); err != nil {
		bad("provider", val("provider"), err.Error())
	} else {
		c.Provider = kinds.Resolve(k, c.Host)
		if tr := kinds.Lookup(c.Provider); tr != nil {
			c.traits = tr
			c.Caps = tr.Caps
			if tr.APITokenInput != "" {
				// Only the provider that names the input reads it: the
				// runner sets it for every step (action.yml's default), and
				// no other registry is ever sent it.
				c.APIToken, c.APITokenInput = strings.TrimSpace(get(tr.APITokenInput)), tr.APITokenInput
			}
		}
	}
	if c.Caps.LowerCaseNames {
		// An owner written as ${{ github.repository_owner }} (MyOrg) must
		// still match the registry's lower-case names.
		for i, r := range c.Repositories {
			c.Repositories[i] = strings.ToLower(r)
		}
	}
	switch v := val("age-source"); policy.AgeSource(v) {
	case policy.AgeAuto, policy.AgeCreated:
		c.AgeSource = policy.AgeSource(v)
	case policy.AgePushed:
		c.AgeSource = policy.AgePushed
		if c.Provider != "" && !c.Caps.PushTime {
			var with []string
			for _, k := range kinds.With(func(c provider.Caps) bool { return c.PushTime }) {
				with = append(with, string(k))
			}
			bad("age-source", v, fmt.Sprintf("needs a provider that reports push times (%s); the %s provider does not: use created or auto", strings.Join(with, ", "), c.Provider))
		}
	default:
		bad("age-source", v, "must be auto, created or pushed")
	}

	c.Username, c.Password = strings.TrimSpace(get("username")), get("password")
	if strings.TrimSpace(c.Password) == "" {
		c.Password = ""
	}
	switch {
	case c.Username != "" && c.Password == "":
		errs = append(errs, &InputError{Input: "password", Why: fmt.Sprintf("is required when username is set (username %q)", c.Username)})
	case c.Username == "" && c.Password != "" && !c.Caps.TokenOnly:
		// Where the registry takes a token alone (GHCR), any user name goes with it.
		errs = append(errs, &InputError{Input: "username", Why: "is required when password is set"})
	}

	include, err := globs("include-tags", List(val("include-tags")), bad)
	if len(include) == 0 && err == nil {
		include, _ = globs("include-tags", []string{"*"}, bad)
	}
	exclude, _ := globs("exclude-tags", List(val("exclude-tags")), bad)
	c.IncludeTags, c.ExcludeTags = patternsOf(include), patternsOf(exclude)
	c.Rules.Include, c.Rules.Exclude = include, exclude

	c.Concurrency = integer("concurrency", val("concurrency"), 1, 1000, bad)
	if v := val("shard"); v != "" {
		i, n, err := ParseShard(v)
		if err != nil {
			bad("shard", v, err.Error())
		}
		c.Shard, c.Shards = i, n
	}
	if v := val("timeout"); v != "0" {
		d, err := ParseDuration(v)
		if err != nil {
			bad("timeout", v, err.Error())
		}
		c.Timeout, c.TimeoutText = d, v
	}
	c.CAFile = val("ca-file")
	if c.CAFile != "" {
		c.Roots, err = loadRoots(c.CAFile)
		if err != nil {
			bad("ca-file", c.CAFile, err.Error())
		}
	}

	if m == modeRestore {
		c.DryRun = boolean("dry-run")
		c.ReportFile = val("report-file")
		if c.UndoFile = val("undo-file"); c.UndoFile == "" {
			errs = append(errs, &InputError{Input: "undo-file", Why: "is required: the undo file a sweep wrote (tagsweep restore --undo-file PATH)"})
		}
	}
	if m == modeSweep {
		c.UndoFile = val("undo-file")
		c.Keep = integer("keep", val("keep"), 0, 1<<30, bad)
		c.MaxDeletions = integer("max-deletions", val("max-deletions"), 0, 1<<30, bad)
		if v := val("older-than"); v != "" {
			d, err := ParseDuration(v)
			if err != nil {
				bad("older-than", v, err.Error())
			}
			c.OlderThan, c.OlderThanText = d, v
		}
		var cons *semver.Constraints
		if v := val("keep-semver"); v != "" {
			cons, err = semver.NewConstraint(v)
			if err != nil {
				bad("keep-semver", v, "is not a semver constraint: "+err.Error())
			}
			c.KeepSemver = v
		}
		c.OrderBy = val("order-by")
		if c.OrderBy != string(policy.OrderCreated) && c.OrderBy != string(policy.OrderSemver) {
			bad("order-by", c.OrderBy, "must be created or semver")
		}
		c.DryRun = boolean("dry-run")
		c.ReportFile = val("report-file")
		c.SummaryFile = val("summary-file")
		if c.SummaryFile != "" && c.ReportFile != "" && filepath.Clean(c.SummaryFile) == filepath.Clean(c.ReportFile) {
			bad("summary-file", c.SummaryFile, "is also the report-file: name two files")
		}
		c.CacheDir = val("cache-dir")
		c.DeleteOrphans = boolean("delete-orphans")
		c.DeleteUntagged = boolean("delete-untagged")
		c.KeepUntagged = integer("keep-untagged", val("keep-untagged"), 0, 1<<30, bad)
		c.Rules.DeleteUntagged, c.Rules.KeepUntagged = c.DeleteUntagged, c.KeepUntagged
		c.Rules.Keep, c.Rules.OlderThan, c.Rules.OlderThanText = c.Keep, c.OlderThan, c.OlderThanText
		c.Rules.KeepSemver, c.Rules.KeepSemverText = cons, c.KeepSemver
		c.Rules.OrderBy, c.Rules.DeleteOrphans = policy.Order(c.OrderBy), c.DeleteOrphans
		c.Rules.AgeSource = c.AgeSource
		c.loadPolicyFile(get, val, bad)
		c.loadProtect(get, bad)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// repoGlob compiles a repository glob: `/` separates levels, `**` crosses
// them.
func repoGlob(p string) (*glob.Pattern, error) {
	gc := glob.Compiler{Separators: []rune{'/'}, Globstar: true}
	return gc.Compile(p)
}

// loadPolicyFile reads policy-file into Rules.Policy; a rule input set to
// anything but its default beside it is invalid input naming both.
func (c *Config) loadPolicyFile(get Lookup, val func(string) string, bad func(in, val, why string)) {
	c.PolicyFile = val("policy-file")
	if c.PolicyFile == "" {
		return
	}
	raw, rules, err := ReadPolicyFile(c.PolicyFile)
	if err != nil {
		bad("policy-file", c.PolicyFile, err.Error())
	}
	for _, name := range RuleInputs {
		for _, in := range Inputs {
			v := strings.TrimSpace(get(name))
			if in.Name != name || v == "" {
				continue
			}
			same := v == in.Default
			if in.Bool {
				a, _ := parseBool(v)
				b, _ := parseBool(in.Default)
				same = a == b
			}
			if !same {
				bad(name, v, "cannot be set together with policy-file "+c.PolicyFile+": set "+name+" in the file's rules")
			}
		}
	}
	if c.Caps.LowerCaseNames {
		for i := range rules {
			for j, r := range rules[i].Repositories {
				rules[i].Repositories[j] = strings.ToLower(r)
			}
		}
	}
	c.PolicyRules, c.Rules.Policy = raw, rules
}

// loadProtect reads protect-images: the references to this registry.
func (c *Config) loadProtect(get Lookup, bad func(in, val, why string)) {
	v := strings.TrimSpace(get("protect-images"))
	if v == "" {
		return
	}
	items, err := ProtectList(v)
	if err != nil {
		bad("protect-images", v, err.Error())
		return
	}
	for _, item := range items {
		host, ref, err := ParseRef(item)
		switch {
		case err != nil:
			bad("protect-images", item, "is not an image reference: "+err.Error())
		case host != "" && !c.traits.SameRegistry(host, c.Host):
			c.ProtectElsewhere++
		default:
			c.Protect = append(c.Protect, ref)
		}
	}
}

func globs(input string, ps []string, bad func(in, val, why string)) ([]policy.Glob, error) {
	var out []policy.Glob
	var first error
	for _, p := range ps {
		g, err := policy.CompileGlob(p)
		if err != nil {
			bad(input, p, "is not a valid glob")
			if first == nil {
				first = err
			}
			continue
		}
		out = append(out, g)
	}
	return out, first
}

func patternsOf(gs []policy.Glob) []string {
	out := []string{}
	for _, g := range gs {
		out = append(out, g.Pattern)
	}
	return out
}

func integer(name, v string, lo, hi int, bad func(in, val, why string)) int {
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		bad(name, v, fmt.Sprintf("is not a whole number from %d to %d", lo, hi))
		return lo
	}
	return n
}

// IsBool reports whether v is a boolean value a bool input accepts.
func IsBool(v string) bool {
	_, err := parseBool(v)
	return err == nil
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "yes", "on", "1":
		return true, nil
	case "false", "no", "off", "0":
		return false, nil
	}
	return false, errors.New("not a boolean")
}

// List splits a list input on newlines and on commas outside braces,
// trimming blanks: `v{1,2}.*, latest` is the glob `v{1,2}.*` (either
// alternative) and `latest`. A backslash escapes the next character, as in
// a glob, so `\{` opens nothing; a brace left open runs to the end of its
// line, where the glob then fails to compile with the whole piece named.
func List(v string) []string {
	var out []string
	add := func(p string) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	for _, line := range strings.Split(v, "\n") {
		depth, start := 0, 0
		for i := 0; i < len(line); i++ {
			switch line[i] {
			case '\\':
				i++
			case '{':
				depth++
			case '}':
				depth = max(depth-1, 0)
			case ',':
				if depth == 0 {
					add(line[start:i])
					start = i + 1
				}
			}
		}
		add(line[start:])
	}
	return out
}

var dayWeek = regexp.MustCompile(`^(?:(\d+)w)?(?:(\d+)d)?(.*)$`)

// ParseDuration accepts a Go duration ("36h", "90m") or days and weeks
// ("30d", "2w", "1w3d", "1d12h").
func ParseDuration(v string) (time.Duration, error) {
	m := dayWeek.FindStringSubmatch(strings.TrimSpace(v))
	if m == nil || (m[1] == "" && m[2] == "" && m[3] == "") {
		return 0, errors.New("is not a duration (e.g. 30d, 2w, 36h)")
	}
	var d time.Duration
	tooLong := errors.New("is too long (at most about 290 years)")
	for i, unit := range []time.Duration{7 * 24 * time.Hour, 24 * time.Hour} {
		if m[i+1] != "" {
			n, err := strconv.Atoi(m[i+1])
			if err != nil || n > 100000 {
				return 0, errors.New("is not a duration (e.g. 30d, 2w, 36h)")
			}
			// A wrapped-around sum would turn "585 years" into 3 days.
			if int64(n) > (math.MaxInt64-int64(d))/int64(unit) {
				return 0, tooLong
			}
			d += time.Duration(n) * unit
		}
	}
	if m[3] != "" {
		rest, err := time.ParseDuration(m[3])
		if err != nil {
			return 0, errors.New("is not a duration (e.g. 30d, 2w, 36h)")
		}
		if rest > 0 && d > math.MaxInt64-rest {
			return 0, tooLong
		}
		d += rest
	}
	if d < 0 {
		return 0, errors.New("is negative")
	}
	return d, nil
}

// ParseShard reads "i/n": n from 1 to 10000, i from 0 to n (n and 0 are
// the same shard, so 0-based and 1-based matrices both work).
func ParseShard(v string) (i, n int, err error) {
	a, b, ok := strings.Cut(strings.TrimSpace(v), "/")
	i, err1 := strconv.Atoi(strings.TrimSpace(a))
	n, err2 := strconv.Atoi(strings.TrimSpace(b))
	switch {
	case !ok || err1 != nil || err2 != nil:
		return 0, 0, errors.New("is not i/n (e.g. 0/4 or 1/4)")
	case n < 1 || n > 10000:
		return 0, 0, errors.New("must have n from 1 to 10000")
	case i < 0 || i > n:
		return 0, 0, fmt.Errorf("must have i from 0 to %d (0-based: 0 to %d; 1-based: 1 to %d)", n, n-1, n)
	}
	return i, n, nil
}

// ParseRegistry splits "https://host:port" into host and scheme.
func ParseRegistry(v string) (host, scheme string, err error) {
	s := v
	switch {
	case strings.HasPrefix(strings.ToLower(s), "https://"):
		scheme, s = "https", s[len("https://"):]
	case strings.HasPrefix(strings.ToLower(s), "http://"):
		scheme, s = "http", s[len("http://"):]
	case strings.Contains(s, "://"):
		return "", "", errors.New("has an unknown scheme; use host[:port], https://host or http://host")
	}
	s = strings.TrimSuffix(s, "/")
	if s == "" {
		return "", "", errors.New("has no host")
	}
	u, perr := url.Parse("https://" + s)
	if perr != nil || u.Host != s || u.User != nil || u.Hostname() == "" {
		return "", "", errors.New("is not host[:port] (no path, user or query; repositories go in the repositories input)")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", "", errors.New("has a bad port")
		}
	}
	return strings.ToLower(s), scheme, nil
}

func loadRoots(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, errors.New("does not exist")
		}
		return nil, fmt.Errorf("cannot be read: %v", errors.Unwrap(err))
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("holds no PEM certificate")
	}
	return pool, nil
}
