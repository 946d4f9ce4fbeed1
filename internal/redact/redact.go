// Package redact keeps the secrets of a run out of everything tagsweep
// prints or writes. A [Set] holds the secrets (the password, the GitHub
// token, the base64 of user:password, every bearer token received); a
// [Writer] replaces them with [Mask] on the way out of the program
// (stdout, stderr, the report file), [Set.String] does the same for the
// values handed to go-githubactions (step outputs, job summary), and
// [Transport], at the bottom of every HTTP stack, adds to the set every
// credential a request carries and every token a token endpoint answers
// with, before any caller sees the answer.
//
// The set only grows: a secret seen once stays redacted for the rest of
// the run. Secrets shorter than [MinLen] bytes are not redacted: replacing
// every "ab" of the output would make it unreadable and hide nothing worth
// hiding (such a password is guessed in a few thousand tries).
package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Mask replaces a secret wherever it would be printed.
const Mask = "***"

// MinLen is the length, in bytes, of the shortest secret that is redacted.
const MinLen = 4

// Set is the run's secrets, in every form they may be printed in. The
// zero value is not usable; a nil *Set redacts nothing. It is safe for
// concurrent use.
type Set struct {
	forms func(string) []string

	mu     sync.RWMutex
	seen   map[string]bool
	all    [][]byte // every form of every secret; only appended to
	maxLen int
	notify []func(string)
}

// Option configures a Set.
type Option func(*Set)

// WithForms adds the renderings a secret may take in an output besides
// the ones the package knows (the secret itself, JSON string escaping,
// URL escaping): e.g. the job summary's markdown escaping. The default is
// none.
func WithForms(f func(secret string) []string) Option {
	return func(s *Set) {
		prev := s.forms
		s.forms = func(v string) []string {
			out := f(v)
			if prev != nil {
				out = append(out, prev(v)...)
			}
			return out
		}
	}
}

// NewSet returns an empty set.
func NewSet(opts ...Option) *Set {
	s := &Set{seen: map[string]bool{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// OnAdd calls f, from the goroutine that adds it, for every secret added
// from now on, as given (each once; not its escaped forms), after it is
// redacted. In GitHub Actions f asks the runner to mask it. f must not add
// secrets.
func (s *Set) OnAdd(f func(form string)) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.notify = append(s.notify, f)
	s.mu.Unlock()
}

// Add adds secrets, each with the forms it takes once escaped for JSON,
// Go's %q, URLs and the WithForms renderings, and those forms escaped once
// more (a registry's JSON error quoting the password, printed in the
// summary's markdown or the report's JSON). Empty and short (below MinLen)
// secrets are ignored.
func (s *Set) Add(secrets ...string) {
	if s == nil {
		return
	}
	var forms, given []string
	for _, v := range secrets {
		if len(v) < MinLen {
			continue
		}
		given = append(given, v)
		once := append([]string{v}, s.escape(v)...)
		forms = append(forms, once...)
		for _, f := range once[1:] {
			forms = append(forms, s.escape(f)...)
		}
	}
	if len(forms) == 0 {
		return
	}
	s.mu.Lock()
	var added []string
	for _, v := range given {
		if !s.seen[v] && !slices.Contains(added, v) {
			added = append(added, v)
		}
	}
	for _, f := range forms {
		if len(f) < MinLen || s.seen[f] {
			continue
		}
		s.seen[f] = true
		s.all = append(s.all, []byte(f))
		s.maxLen = max(s.maxLen, len(f))
	}
	notify := s.notify
	s.mu.Unlock()
	for _, f := range added {
		for _, n := range notify {
			n(f)
		}
	}
}

// AddBasic adds the credentials of HTTP Basic auth: the password, and the
// base64 of user:password as the Authorization header carries it, also
// without padding and in the URL-safe alphabet (how a proxy or a JWT
// library may print it again).
func (s *Set) AddBasic(user, password string) {
	if s == nil || password == "" {
		return
	}
	pair := []byte(user + ":" + password)
	s.Add(password,
		base64.StdEncoding.EncodeToString(pair), base64.RawStdEncoding.EncodeToString(pair),
		base64.URLEncoding.EncodeToString(pair), base64.RawURLEncoding.EncodeToString(pair))
}

// escape returns the forms v takes escaped once: the package's and the
// WithForms ones.
func (s *Set) escape(v string) []string {
	out := escapings(v)
	if s.forms != nil {
		out = append(out, s.forms(v)...)
	}
	return out
}

// escapings are the forms v takes in JSON strings (with and without HTML
// escaping: the report, the outputs, `ls --format json`), in Go's %q (how
// errors quote values) and in URLs.
func escapings(v string) []string {
	j, _ := json.Marshal(v)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	plain := strings.TrimSuffix(b.String(), "\n")
	return []string{
		string(j[1 : len(j)-1]), plain[1 : len(plain)-1], strconv.Quote(v)[1 : len(strconv.Quote(v))-1],
		url.QueryEscape(v), url.PathEscape(v),
	}
}

// snapshot returns the forms and the longest's length. Add only appends,
// so the slice stays valid (and unchanged) for its reader.
func (s *Set) snapshot() ([][]byte, int) {
	if s == nil {
		return nil, 0
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.all, s.maxLen
}

// Len returns the number of forms in the set.
func (s *Set) Len() int {
	all, _ := s.snapshot()
	return len(all)
}

// String returns text with every secret replaced by Mask.
func (s *Set) String(text string) string {
	all, _ := s.snapshot()
	spans := find([]byte(text), all)
	if len(spans) == 0 {
		return text
	}
	return string(apply(nil, []byte(text), spans))
}

// span is a byte range [start, end) of the text that is secret.
type span struct{ start, end int }

// find returns the ranges of b covered by any occurrence of any form,
// overlapping occurrences included, merged and in order: when two secrets
// overlap ("abcd" holds "abc" and "bcd"), the whole run is masked, so no
// part of either survives.
func find(b []byte, forms [][]byte) []span {
	var spans []span
	for _, f := range forms {
		for i := 0; i+len(f) <= len(b); {
			j := bytes.Index(b[i:], f)
			if j < 0 {
				break
			}
			spans = append(spans, span{i + j, i + j + len(f)})
			i += j + 1
		}
	}
	if len(spans) < 2 {
		return spans
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	merged := spans[:1]
	for _, sp := range spans[1:] {
		last := &merged[len(merged)-1]
		if sp.start <= last.end {
			last.end = max(last.end, sp.end)
			continue
		}
		merged = append(merged, sp)
	}
	return merged
}

// apply appends b to dst with every span replaced by Mask.
func apply(dst, b []byte, spans []span) []byte {
	at := 0
	for _, sp := range spans {
		dst = append(dst, b[at:sp.start]...)
		dst = append(dst, Mask...)
		at = sp.end
	}
	return append(dst, b[at:]...)
}
