package restapi

// Fuzz targets for the REST client's parsers (issue 5): Link headers and
// the same-host rule for API paths and pagination links. The seed corpus
// runs with every `go test`; `go test ./internal/registry/restapi -run '^$'
// -fuzz FuzzX -fuzztime 60s` searches further.

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// relNext says whether a link parameter is rel=next (any case, quoted or
// not, blanks around "=", next among several relation types).
func relNext(param string) bool {
	name, value, ok := strings.Cut(strings.TrimSpace(param), "=")
	if !ok || !strings.EqualFold(strings.TrimSpace(name), "rel") {
		return false
	}
	value = strings.Trim(strings.TrimSpace(value), `"`)
	for _, r := range strings.Fields(value) {
		if strings.EqualFold(r, "next") {
			return true
		}
	}
	return false
}

// isNextTarget says whether target is written in a Link value as the
// target of a link with a rel=next parameter: "<target>" right after the
// start of a value or a comma, followed by parameters before the next
// comma, one of them rel=next.
func isNextTarget(h http.Header, target string) bool {
	quoted := "<" + target + ">"
	for _, v := range h.Values("Link") {
		for i := 0; ; {
			j := strings.Index(v[i:], quoted)
			if j < 0 {
				break
			}
			at := i + j
			i = at + 1
			before := v[:at]
			if k := strings.LastIndexByte(before, ','); k >= 0 {
				before = before[k+1:]
			}
			if strings.TrimSpace(before) != "" {
				continue
			}
			rest, _, _ := strings.Cut(v[at+len(quoted):], ",")
			params := strings.Split(rest, ";")
			if strings.TrimSpace(params[0]) != "" {
				continue
			}
			for _, p := range params[1:] {
				if relNext(p) {
					return true
				}
			}
		}
	}
	return false
}

// FuzzNextLink: over any Link header values, NextLink never panics and
// gives "" or the target of a link with rel=next.
func FuzzNextLink(f *testing.F) {
	for _, v := range [][2]string{
		{`<https://api.github.com/x?page=3>; rel="last", <https://api.github.com/x?page=2>; rel="next"`, ""},
		{`<https://api.github.com/x?page=1>; rel="prev"`, ""},
		{`</api/v2.0/projects?page=2&page_size=100>; rel="next"`, ""},
		{`<a>; rel=next`, `<b>; rel="next"`},
		{`<a>; rel="prev"`, `<b>; rel="next"`},
		{`<>; rel="next"`, ""},
		{`<a>`, ""},
		{`rel="next"`, ""},
		{`<a; rel="next">; rel="last"`, ""},
		{`<https://x/?q=a,b>; rel="next"`, ""},
		{`<https://x/?q=a,<https://evil/>; rel="next">; rel="last"`, ""},
		{`<a>;rel="next";title="x,y"`, ""},
		{`<a>; title="rel=next"`, ""},
		{`< a >; REL="NEXT"`, ""},
		{`<a>; rel="prev next"`, ""},
		{`<a>>; rel=next`, ""},
		{`,,;;<>`, `<`},
	} {
		f.Add(v[0], v[1])
	}
	f.Fuzz(func(t *testing.T, v1, v2 string) {
		h := http.Header{}
		h.Add("Link", v1)
		if v2 != "" {
			h.Add("Link", v2)
		}
		got := NextLink(h)
		if got != "" && !isNextTarget(h, got) {
			t.Errorf("NextLink(%q) = %q, not the target of a rel=next link", h.Values("Link"), got)
		}
		if strings.ContainsRune(got, ',') {
			t.Errorf("NextLink(%q) = %q, with a comma", h.Values("Link"), got)
		}
		if got != NextLink(h) {
			t.Errorf("NextLink(%q) differs between calls", h.Values("Link"))
		}
	})
}

// FuzzNextLinkFinds builds Link headers the way GitHub and Harbor write
// them (one to three links, rel quoted or not, other parameters, blanks, one
// or two header values) and checks that NextLink finds the first rel=next
// target, so that no page is skipped.
func FuzzNextLinkFinds(f *testing.F) {
	f.Add("https://api.github.com/user/packages?page=3", "https://api.github.com/user/packages?page=2", "", uint32(0b0010))
	f.Add("/api/v2.0/projects?page=2&page_size=100", "", "", uint32(0))
	f.Add("/a", "/b", "/c", uint32(0b111111))
	f.Add("/a", "/b", "/c", uint32(0b001011|1<<6|1<<9|1<<12))
	f.Add("", "/b", "", uint32(1<<15))
	f.Fuzz(func(t *testing.T, t1, t2, t3 string, form uint32) {
		rels := []string{"next", "prev", "last", "first"}
		clean := strings.NewReplacer("<", "", ">", "", ",", "", ";", "")
		var links []string
		want, found := "", false
		for i, target := range []string{t1, t2, t3} {
			if i > 0 && target == "" && form&(1<<15) == 0 {
				continue
			}
			target = clean.Replace(target)
			rel := rels[form>>(2*i)&3]
			if rel == "next" && !found {
				want, found = target, true
			}
			q := `"` + rel + `"`
			if form&(1<<(6+i)) != 0 {
				q = rel
			}
			link := "<" + target + ">; rel=" + q
			switch form >> (9 + 2*i) & 3 {
			case 1:
				link = "<" + target + ">;rel=" + q
			case 2:
				link = " <" + target + `>; type="application/json"; rel=` + q + " "
			case 3:
				link = "<" + target + ">; rel=" + q + `; title="page"`
			}
			links = append(links, link)
		}
		h := http.Header{}
		if form&(1<<16) != 0 && len(links) > 1 {
			h.Add("Link", links[0])
			h.Add("Link", strings.Join(links[1:], ", "))
		} else {
			h.Add("Link", strings.Join(links, ", "))
		}
		if got := NextLink(h); got != want {
			t.Errorf("NextLink(%q) = %q, want %q", h.Values("Link"), got, want)
		}
	})
}

// fuzzBases are API roots as the providers use them: GitHub, GitHub
// Enterprise Server, Harbor (loopback, a port, a trailing slash), IPv6.
var fuzzBases = []string{
	"https://api.github.com",
	"https://ghe.example.com/api/v3",
	"http://127.0.0.1:8080/api/v2.0/",
	"https://harbor.example.com:8443/api/v2.0",
	"https://[::1]:9443/api",
}

// recorder is a transport that answers 200 {} and records each request.
type recorder struct{ urls []*url.URL }

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.urls = append(r.urls, req.URL)
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("{}")),
		Request: req}, nil
}

// FuzzClientURL: for any path or link, Client.URL gives an error or a URL
// on Base's scheme and host, and a request sent with it (credentials
// attached) goes to Base's scheme and host only. This is the rule that
// keeps credentials from ever going to another host.
func FuzzClientURL(f *testing.F) {
	for _, p := range []string{
		"/orgs/acme/packages?package_type=container", "/orgs/acme/packages/container/team%2Fapi/versions",
		"https://api.github.com/x?page=2", "https://ghe.example.com/api/v3/x?page=2", "https://evil.example.com/x",
		"http://api.github.com/x", "//evil.example.com/x", "https://api.github.com@evil.example.com/",
		"https://evil.example.com#@api.github.com", "https://evil.example.com?@api.github.com", "https://api.github.com:443/x",
		"HTTPS://API.GITHUB.COM/x", "https:evil.example.com", "https:/evil.example.com", "/\\evil.example.com",
		"\\\\evil.example.com\\x", "..//evil.example.com", "../../../x", "https://api.github.com\\@evil.example.com",
		"https://user:pw@api.github.com/x", "http://127.0.0.1:8080/api/v2.0/projects?page=2", "http://127.0.0.1:8081/",
		"https://[::1]:9443/api/x", "https://[::1%25lo]:9443/api/x", "?page=2", "", "/", "%2F%2Fevil.example.com",
		"x:y", "mailto:a@evil.example.com", "https://api.github.com./x", "https://API.github.com/x", "/a b",
		"https://api.github.com%2F@evil.example.com/", "\t//evil.example.com", "/x#frag", ";/x", "//",
	} {
		for b := range fuzzBases {
			f.Add(p, uint8(b))
		}
	}
	f.Fuzz(func(t *testing.T, path string, b uint8) {
		base, err := url.Parse(fuzzBases[int(b)%len(fuzzBases)])
		if err != nil {
			t.Fatal(err)
		}
		same := func(u *url.URL) bool { return u.Scheme == base.Scheme && u.Host == base.Host }
		rec := &recorder{}
		authed := 0
		c := &Client{Base: base, HTTP: &http.Client{Transport: rec}, MaxRetries: -1,
			Auth: func(_ context.Context, req *http.Request) error {
				authed++
				if !same(req.URL) {
					t.Errorf("path %q: credentials attached to a request to %s://%s (base %s)", path, req.URL.Scheme, req.URL.Host, base)
				}
				req.Header.Set("Authorization", "Bearer secret")
				return nil
			}}
		u, err := c.URL(path)
		if err == nil {
			if !same(u) {
				t.Fatalf("URL(%q) = %s, off base %s", path, u, base)
			}
			// As it goes on the wire: parsed again from its text.
			req, err := http.NewRequest(http.MethodGet, u.String(), nil)
			if err != nil {
				t.Fatalf("URL(%q) = %q, which makes no request: %v", path, u, err)
			}
			if !same(req.URL) || (req.Host != "" && req.Host != base.Host) {
				t.Fatalf("URL(%q) = %q, a request to %s://%s (Host %q); base %s", path, u, req.URL.Scheme, req.URL.Host, req.Host, base)
			}
			if !u.IsAbs() {
				t.Errorf("URL(%q) = %q, not absolute", path, u)
			}
		}
		_, derr := c.Do(context.Background(), http.MethodGet, path, nil)
		if (err == nil) != (derr == nil) && err != nil {
			t.Errorf("Do(%q) = %v, but URL refused it: %v", path, derr, err)
		}
		for _, ru := range rec.urls {
			if !same(ru) {
				t.Errorf("Do(%q) sent a request to %s", path, ru)
			}
		}
		if len(rec.urls) > 1 || authed != len(rec.urls) {
			t.Errorf("Do(%q): %d requests, %d authorized", path, len(rec.urls), authed)
		}
	})
}
