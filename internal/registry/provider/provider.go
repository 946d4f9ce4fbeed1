// Package provider is what the inputs may know of a registry kind without
// any network code: its name for the `provider` input, how to recognise
// its host, and what it can do (Traits). Each vendor package declares the
// Traits of its kind in its descriptor (registry/connect.Descriptor); the
// list of every kind is registry/vendors, whose Table config reads the
// `provider` and `age-source` inputs with.
//
// The package names no vendor and imports nothing but the standard
// library: config and the CLI ask it, and never a vendor by name.
package provider

import (
	"fmt"
	"sort"
	"strings"
)

// Kind names a provider, as the `provider` input spells it.
type Kind string

// Auto is the `provider` value that picks the kind from the registry host.
const Auto Kind = "auto"

// Traits are the facts of one registry kind.
type Traits struct {
	// Kind is the kind's name.
	Kind Kind
	// Aliases are other accepted spellings of the `provider` input.
	Aliases []Kind
	// About is a one-line description for the docs and error messages.
	About string
	// Hosts tells whether host (lower case, without a port) is this
	// vendor's registry. Nil claims no host: the kind is chosen only by
	// the provider input, or as the fallback (Table.Detect).
	Hosts func(host string) bool
	// Caps are what the registry can do.
	Caps Caps
	// OneRegistry: every host Hosts claims names the same registry (Docker
	// Hub's docker.io, registry-1.docker.io, index.docker.io): an image
	// reference under any of them is a reference to the registry under
	// any other (protect-images). False for kinds whose hosts are many
	// registries (*.azurecr.io).
	OneRegistry bool
	// GCHint tells the operator how the space of deleted manifests is
	// freed on this registry (the last line of the summary).
	GCHint string
	// APITokenInput names the input that carries the token of the kind's
	// own API, apart from the registry credentials (ghcr: github-token).
	// Config reads it only for this kind, and connect hands it only to
	// this kind's backend. Empty: none.
	APITokenInput string
	// UntaggedHint says how this registry removes untagged manifests, for
	// a kind whose backend cannot list them: delete-untagged says it once
	// in the summary. Empty: the generic sentence.
	UntaggedHint string
	// LastTagged, when set, is the registry's rule, in its words, that it
	// refuses to delete the last tagged manifest of a repository: the
	// reason a tag kept for it shows.
	LastTagged string
	// EnvHosts, when set, names more hosts of this kind from the
	// environment (GitHub Enterprise Server's containers.HOSTNAME, from
	// GITHUB_SERVER_URL and GITHUB_API_URL): Table.In claims them too.
	EnvHosts func(getenv func(string) string) []string
	// DeletesOffHint explains a 405 to every registry-API DELETE on a host
	// of this kind, for registries that delete through their own API only
	// (whatever the provider input says: provider: oci on ghcr.io gets it).
	// Empty: the generic explanation.
	DeletesOffHint string
	// RestoreWindow says until when tagsweep restore can put back what a
	// run deleted on this registry, for the summary ("…, while …").
	// Empty: while the registry holds the layers, until its garbage
	// collector runs (DefaultRestoreWindow).
	RestoreWindow string
	// RestoreRefused, when set, is why tagsweep restore cannot put a
	// deletion back on this registry, and the registry's own way: restore
	// then refuses every entry with it and sends nothing.
	RestoreRefused string
}

// DefaultRestoreWindow is how long a deletion stays restorable on a
// registry that deletes manifests and keeps their layers until its garbage
// collector runs (the CNCF distribution registry, zot, Harbor).
const DefaultRestoreWindow = "while the registry still holds the layers, until its garbage collector runs"

// Caps are what a registry kind can do, as far as the inputs and the
// registry API backend need to know before the first request. What is
// learned from the registry itself (single-tag delete, the referrers API,
// deletes turned off) is probed by the backend at run time instead.
type Caps struct {
	// PushTime: the listing gives push times (age-source: pushed, and auto
	// picks them).
	PushTime bool
	// LowerCaseNames: repository names are lower case, so the repository
	// globs are lower-cased (an owner written as MyOrg must still match).
	LowerCaseNames bool
	// TokenOnly: a password (token) without a username is valid input.
	TokenOnly bool
	// ListsUntagged: the backend lists the manifests no tag points at.
	ListsUntagged bool
	// UntagFirst: the registry refuses to delete a tagged manifest, so the
	// registry API backend deletes the tags first (oci.WithUntagFirst).
	UntagFirst bool
	// FreesSpace: the registry frees the space of deleted manifests on its
	// own; GCHint says how, and the summary names no garbage collector.
	FreesSpace bool
}

// Table is every registry kind, in the order Detect asks them. The first
// is the fallback for hosts no kind claims (the generic OCI kind).
type Table []*Traits

// Lookup returns the Traits of k, or nil.
func (t Table) Lookup(k Kind) *Traits {
	for _, tr := range t {
		if tr.Kind == k {
			return tr
		}
	}
	return nil
}

// Parse reads a `provider` value: a kind, an alias or auto, in any case and
// with blanks around.
func (t Table) Parse(v string) (Kind, error) {
	k := Kind(strings.ToLower(strings.TrimSpace(v)))
	if k == Auto {
		return Auto, nil
	}
	for _, tr := range t {
		if tr.Kind == k {
			return k, nil
		}
		for _, a := range tr.Aliases {
			if a == k {
				return tr.Kind, nil
			}
		}
	}
	names := []string{string(Auto)}
	for _, tr := range t {
		names = append(names, string(tr.Kind))
	}
	sort.Strings(names)
	return "", fmt.Errorf("is not a provider (one of %s)", strings.Join(names, ", "))
}

// Detect picks the kind for a registry host ("host[:port]"): the first
// whose Hosts claims it, else the fallback (the table's first kind).
func (t Table) Detect(host string) Kind {
	h := Hostname(host)
	for _, tr := range t {
		if tr.Hosts != nil && tr.Hosts(h) {
			return tr.Kind
		}
	}
	if len(t) == 0 {
		return ""
	}
	return t[0].Kind
}

// In returns the table with each kind's EnvHosts claimed too, as the
// environment getenv names them. Kinds without EnvHosts are unchanged.
func (t Table) In(getenv func(string) string) Table {
	out := make(Table, len(t))
	for i, tr := range t {
		out[i] = tr
		if tr.EnvHosts == nil || getenv == nil {
			continue
		}
		extra := tr.EnvHosts(getenv)
		if len(extra) == 0 {
			continue
		}
		c := *tr
		own := tr.Hosts
		c.Hosts = func(h string) bool { return (own != nil && own(h)) || Exactly(extra...)(h) }
		out[i] = &c
	}
	return out
}

// Resolve turns auto (or an empty value) into the kind detected from host.
func (t Table) Resolve(k Kind, host string) Kind {
	if k == Auto || k == "" {
		return t.Detect(host)
	}
	return k
}

// With returns the kinds whose Caps satisfy has, in table order (for
// messages such as "needs a provider that reports push times (ghcr, …)").
func (t Table) With(has func(Caps) bool) []Kind {
	var out []Kind
	for _, tr := range t {
		if has(tr.Caps) {
			out = append(out, tr.Kind)
		}
	}
	return out
}

// Hostname is host lower case and without its port ("GHCR.IO:443" ->
// "ghcr.io", "[::1]:5000" -> "[::1]"): what Traits.Hosts is asked with.
func Hostname(host string) string {
	h := strings.ToLower(host)
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	return h
}

// Exactly returns a Hosts func that claims exactly the given host names
// (lower case).
func Exactly(names ...string) func(string) bool {
	return func(h string) bool {
		for _, n := range names {
			if h == n {
				return true
			}
		}
		return false
	}
}

// Under returns a Hosts func that claims the host names ending in one of
// suffixes (each starting with "." or "-": "eu.gcr.io" is under ".gcr.io",
// "evilgcr.io" is not).
func Under(suffixes ...string) func(string) bool {
	return func(h string) bool {
		for _, s := range suffixes {
			if strings.HasSuffix(h, s) {
				return true
			}
		}
		return false
	}
}

// Either returns a Hosts func that claims what any of fs claims.
func Either(fs ...func(string) bool) func(string) bool {
	return func(h string) bool {
		for _, f := range fs {
			if f(h) {
				return true
			}
		}
		return false
	}
}

// SameRegistry reports whether the image-reference host ref names the
// registry at host: the same host[:port], or, for a kind whose hosts are
// one registry (OneRegistry), two of its hosts.
func (tr *Traits) SameRegistry(ref, host string) bool {
	if strings.EqualFold(ref, host) {
		return true
	}
	return tr != nil && tr.OneRegistry && tr.Hosts != nil && tr.Hosts(Hostname(ref)) && tr.Hosts(Hostname(host))
}
