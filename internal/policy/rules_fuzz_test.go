package policy

// Fuzz targets for the policy's parsers (issue 5): tag globs, semantic
// versions, attached-tag subjects and age rendering. The seed corpus runs
// with every `go test`; `go test ./internal/policy -run '^$' -fuzz FuzzX
// -fuzztime 60s` searches further.

import (
	"encoding/hex"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/Masterminds/semver/v3"
)

// globEscape quotes s so that the glob matches s literally.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]{}\!,`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// FuzzCompileGlob: compiling and matching never panic; a compiled glob
// keeps its text; a pattern without special characters matches exactly
// itself; "*" matches every tag; an escaped tag matches exactly that tag,
// and followed by "*" exactly the tags it starts.
func FuzzCompileGlob(f *testing.F) {
	for _, p := range [][2]string{{"*", "latest"}, {"pr-*", "pr-12"}, {"v[0-9]*", "v1.2"}, {"{a,b}c", "bc"},
		{"[!a-z]*", "1x"}, {"?", "é"}, {"v[1", "v1"}, {"{a", "a"}, {"\\*", "*"}, {"[]", ""}, {"[a-]", "-"},
		{"**", "a/b"}, {"{,}", ""}, {"{a,{b,c}}", "c"}, {"[^a]", "b"}, {"\\", ""}, {"a\\", "a"}, {"[\\]]", "]"},
		{"\xff*", "\xffx"}, {"sha256-*", "sha256-" + strings.Repeat("a", 64) + ".sig"}, {"{}", ""}, {"[z-a]", "m"}} {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, pattern, tag string) {
		g, err := CompileGlob(pattern)
		if err != nil {
			if g.Match(tag) {
				t.Errorf("an invalid glob %q matches %q", pattern, tag)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", pattern)) {
				t.Errorf("error %q does not name the glob %q", err, pattern)
			}
		} else {
			if g.Pattern != pattern {
				t.Errorf("CompileGlob(%q).Pattern = %q", pattern, g.Pattern)
			}
			m := g.Match(tag)
			g.Match(pattern)
			if !strings.ContainsAny(pattern, `*?[]{}\`) && m != (tag == pattern) {
				t.Errorf("literal glob %q: Match(%q) = %v", pattern, tag, m)
			}
		}
		if !utf8.ValidString(tag) {
			return // tags are ASCII; escaping is defined over runes
		}
		star, err := CompileGlob("*")
		if err != nil || !star.Match(tag) {
			t.Fatalf(`"*" does not match %q: %v`, tag, err)
		}
		lit, err := CompileGlob(globEscape(tag))
		if err != nil {
			t.Fatalf("escaped tag %q (%q) does not compile: %v", tag, globEscape(tag), err)
		}
		if !lit.Match(tag) || lit.Match(tag+"x") || (tag != "" && lit.Match(tag[:len(tag)-1])) {
			t.Errorf("escaped glob %q does not match exactly %q", globEscape(tag), tag)
		}
		if utf8.ValidString(pattern) {
			pre, err := CompileGlob(globEscape(pattern) + "*")
			if err != nil {
				t.Fatalf("escaped prefix %q does not compile: %v", globEscape(pattern)+"*", err)
			}
			if got := pre.Match(tag); got != strings.HasPrefix(tag, pattern) {
				t.Errorf("glob %q: Match(%q) = %v, want %v", globEscape(pattern)+"*", tag, got, !got)
			}
		}
	})
}

// semverOrg is the regular expression semver.org gives for a SemVer 2.0.0
// version (numbers without leading zeros, dot-separated pre-release and
// build identifiers).
var semverOrg = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)` +
	`(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?` +
	`(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// FuzzParseSemver: ParseSemver takes a tag as a version exactly when the
// tag, without one leading "v", is a SemVer 2.0.0 version (semver.org's
// grammar; numbers that fit 64 bits), agrees with Masterminds'
// StrictNewVersion, and never takes `1.2`, `v1` or `20240101`.
func FuzzParseSemver(f *testing.F) {
	for _, s := range []string{"1.2.3", "v1.2.3", "1.2.3-rc.1", "1.2.3+build.7", "v0.0.1-alpha+x", "1.2", "v1", "20240101",
		"vv1.2.3", "V1.2.3", "01.2.3", "1.02.3", "1.2.03", "latest", "", "v", "1.2.3-", "1.2.3+", "1.2.3-01", "1.2.3-0a",
		"1.2.3-a..b", "1.2.3+a..b", "1.2.3+01", "1.2.3-a+b+c", "18446744073709551615.0.0", "18446744073709551616.0.0",
		"1.2.3.4", " 1.2.3", "1.2.3 ", "1.2.3-\u00e9", "\uff11.2.3", "1.2.3-rc.1-2", "0.0.0", "1.2.3-x-y.z--"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tag string) {
		v, ok := ParseSemver(tag)
		if ok != (v != nil) {
			t.Fatalf("ParseSemver(%q) = %v, %v", tag, v, ok)
		}
		bare := strings.TrimPrefix(tag, "v")
		_, serr := semver.StrictNewVersion(bare)
		if ok != (serr == nil) {
			t.Errorf("ParseSemver(%q) = %v, StrictNewVersion(%q): %v", tag, ok, bare, serr)
		}
		want := semverOrg.MatchString(bare) && len(bare) <= semver.MaxVersionLen
		if m := semverOrg.FindStringSubmatch(bare); want {
			for _, n := range m[1:4] {
				if _, err := strconv.ParseUint(n, 10, 64); err != nil {
					want = false // beyond 64 bits: may be refused
				}
			}
		}
		if ok != want {
			t.Errorf("ParseSemver(%q) = %v, semver.org's grammar says %v", tag, ok, want)
		}
		if !ok {
			return
		}
		if v.String() != bare {
			t.Errorf("ParseSemver(%q) = %s, not the tag", tag, v)
		}
		for _, no := range []string{"1.2", "v1", "20240101"} {
			if tag == no {
				t.Errorf("ParseSemver(%q) took it", tag)
			}
		}
		if strings.Count(bare, ".") < 2 {
			t.Errorf("ParseSemver(%q): no MAJOR.MINOR.PATCH", tag)
		}
	})
}

var lowerHex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// FuzzSubjectOf: SubjectOf gives "" or a well-formed sha256 digest, and a
// digest exactly for the tags that start with sha256-<64 lower-case hex>,
// whatever follows: that digest.
func FuzzSubjectOf(f *testing.F) {
	h := strings.Repeat("ab", 32)
	for _, s := range []string{"sha256-" + h, "sha256-" + h + ".sig", "sha256-" + h + ".att", "sha256-" + h + ".sbom",
		"sha256-" + h[:63], "sha256-" + strings.ToUpper(h), "v1.0", "", "sha256-", "sha256:" + h, "SHA256-" + h,
		"xsha256-" + h, "sha256-" + h + "0", "sha512-" + h + h, "sha256-" + h[:62] + "g0"} {
		f.Add(s, []byte(nil), "")
	}
	f.Add("", []byte(h[:32]), ".sig")
	f.Add("", make([]byte, 32), "")
	f.Fuzz(func(t *testing.T, tag string, digest []byte, suffix string) {
		if len(digest) > 0 {
			// A tag built from a digest: sha256-<hex of 32 bytes><suffix>.
			d := make([]byte, 32)
			copy(d, digest)
			x := hex.EncodeToString(d)
			tag = "sha256-" + x + suffix
			if got := SubjectOf(tag); got != "sha256:"+x {
				t.Fatalf("SubjectOf(%q) = %q, want sha256:%s", tag, got, x)
			}
			if up := "sha256-" + strings.ToUpper(x) + suffix; strings.ToUpper(x) != x && SubjectOf(up) != "" {
				t.Errorf("SubjectOf(%q) = %q: upper-case hex is no digest", up, SubjectOf(up))
			}
		}
		got := SubjectOf(tag)
		attached := len(tag) >= 71 && strings.HasPrefix(tag, "sha256-") && lowerHex64.MatchString(tag[7:71])
		if !attached {
			if got != "" {
				t.Errorf("SubjectOf(%q) = %q, want none", tag, got)
			}
			return
		}
		if got != "sha256:"+tag[7:71] {
			t.Errorf("SubjectOf(%q) = %q, want sha256:%s", tag, got, tag[7:71])
		}
		if !strings.HasPrefix(got, "sha256:") || !lowerHex64.MatchString(got[7:]) {
			t.Errorf("SubjectOf(%q) = %q, not a sha256 digest", tag, got)
		}
	})
}

var ageText = regexp.MustCompile(`^(-?[0-9]+)([dhms])$`)

// FuzzFormatAge: any duration renders as a whole number and a unit, the
// largest unit of d, h, m, s that keeps two or more (one or more for
// minutes and seconds), rounded down.
func FuzzFormatAge(f *testing.F) {
	for _, d := range []time.Duration{0, time.Second, 59 * time.Second, time.Minute, 119 * time.Minute, 2 * time.Hour,
		36 * time.Hour, 48*time.Hour - 1, 48 * time.Hour, 45 * 24 * time.Hour, -time.Second, -3 * time.Hour,
		math.MaxInt64, math.MinInt64, time.Millisecond, -time.Millisecond} {
		f.Add(int64(d))
	}
	f.Fuzz(func(t *testing.T, n int64) {
		d := time.Duration(n)
		s := FormatAge(d)
		m := ageText.FindStringSubmatch(s)
		if m == nil {
			t.Fatalf("FormatAge(%d) = %q", n, s)
		}
		v, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil {
			t.Fatalf("FormatAge(%d) = %q: %v", n, s, err)
		}
		unit := map[string]time.Duration{"d": 24 * time.Hour, "h": time.Hour, "m": time.Minute, "s": time.Second}[m[2]]
		if d < 0 {
			if m[2] != "s" || v != int64(d/time.Second) {
				t.Errorf("FormatAge(%v) = %q", d, s)
			}
			return
		}
		// v units <= d < (v+1) units
		if v != int64(d/unit) {
			t.Errorf("FormatAge(%v) = %q: not d rounded down to %s", d, s, m[2])
		}
		lo := map[string]time.Duration{"d": 48 * time.Hour, "h": 2 * time.Hour, "m": time.Minute, "s": 0}[m[2]]
		hi := map[string]time.Duration{"d": math.MaxInt64, "h": 48*time.Hour - 1, "m": 2*time.Hour - 1, "s": time.Minute - 1}[m[2]]
		if d < lo || d > hi {
			t.Errorf("FormatAge(%v) = %q: wrong unit", d, s)
		}
	})
}
