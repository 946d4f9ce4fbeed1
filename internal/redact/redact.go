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
	"encoding/binary"
	"encoding/json"
	"net/url"
	"slices"
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
	all    [][]byte // every form of every secret
	m      *matcher // over all; replaced, never changed, on Add
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
	s.mu.RLock()
	for _, v := range secrets {
		if len(v) >= MinLen && !s.seen[v] {
			given = append(given, v)
		}
	}
	s.mu.RUnlock()
	// Every request adds its Authorization header again: the common case
	// ends here, without computing the escaped forms.
	for _, v := range given {
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
	grown := false
	for _, f := range forms {
		if len(f) < MinLen || s.seen[f] {
			continue
		}
		s.seen[f] = true
		s.all = append(s.all, []byte(f))
		grown = true
	}
	if grown {
		s.m = newMatcher(s.all)
	}
	notify := s.notify
	s.mu.Unlock()
	for _, f := range added {
		for _, n := range notify {
			n(f)
		}
	}
}

// known reports whether v is in the set.
func (s *Set) known(v string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.seen[v]
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

// matcher returns the matcher of the set as it is now (nil: empty).
func (s *Set) matcher() *matcher {
	if s == nil {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.m
}

// String returns text with every secret replaced by Mask.
func (s *Set) String(text string) string {
	spans := s.matcher().find([]byte(text))
	if len(spans) == 0 {
		return text
	}
	return string(apply(nil, []byte(text), spans))
}

// span is a byte range [start, end) of the text that is secret.
type span struct{ start, end int }

// matcher finds many forms in one pass over a text: a bitset of the forms'
// first two bytes rejects most positions at once, and a map from the first
// MinLen bytes names the forms to compare there. (One bytes.Index per form
// scans the text once per form: with a bearer token per repository, a
// report of tens of MB took seconds.)
type matcher struct {
	first  [1 << 16 / 64]uint64
	byHead map[uint32][][]byte
	maxLen int
}

func newMatcher(forms [][]byte) *matcher {
	m := &matcher{byHead: map[uint32][][]byte{}}
	for _, f := range forms {
		k := uint16(f[0])<<8 | uint16(f[1])
		m.first[k>>6] |= 1 << (k & 63)
		h := binary.BigEndian.Uint32(f)
		m.byHead[h] = append(m.byHead[h], f)
		m.maxLen = max(m.maxLen, len(f))
	}
	return m
}

// longest returns the length of the longest form (0 for none).
func (m *matcher) longest() int {
	if m == nil {
		return 0
	}
	return m.maxLen
}

// find returns the ranges of b covered by any occurrence of any form,
// overlapping occurrences included, merged and in order: when two secrets
// overlap ("abcd" holds "abc" and "bcd"), the whole run is masked, so no
// part of either survives.
func (m *matcher) find(b []byte) []span {
	if m == nil {
		return nil
	}
	var spans []span
	for i := 0; i+MinLen <= len(b); i++ {
		k := uint16(b[i])<<8 | uint16(b[i+1])
		if m.first[k>>6]&(1<<(k&63)) == 0 {
			continue
		}
		for _, f := range m.byHead[binary.BigEndian.Uint32(b[i:])] {
			if !bytes.HasPrefix(b[i:], f) {
				continue
			}
			end := i + len(f)
			if n := len(spans); n > 0 && i <= spans[n-1].end {
				spans[n-1].end = max(spans[n-1].end, end)
			} else {
				spans = append(spans, span{i, end})
			}
		}
	}
	return spans
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
