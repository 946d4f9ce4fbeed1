package redact

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestString(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		secrets []string
		text    string
		want    string
	}{
		{name: "none", text: "nothing here", want: "nothing here"},
		{name: "every occurrence", secrets: []string{"s3cret"}, text: "a s3cret and s3cret", want: "a *** and ***"},
		{name: "adjacent", secrets: []string{"s3cret"}, text: "s3crets3cret!", want: "***!"},
		{name: "overlapping secrets leave no part of either", secrets: []string{"abcdef", "defghi"}, text: "x abcdefghi y", want: "x *** y"},
		{name: "one inside another", secrets: []string{"token-1234", "1234"}, text: "token-1234 and 1234", want: "*** and ***"},
		{name: "overlapping occurrences of one secret", secrets: []string{"aaaa"}, text: "baaaaaab", want: "b***b"},
		{name: "short secret ignored", secrets: []string{"abc", ""}, text: "abc abc", want: "abc abc"},
		{name: "JSON-escaped form", secrets: []string{`pa"ss\word<1>`}, text: `{"error":"pa\"ss\\word\u003c1\u003e"} {"e":"pa\"ss\\word<1>"}`, want: `{"error":"***"} {"e":"***"}`},
		{name: "URL-escaped form", secrets: []string{"p w&d=1"}, text: "?password=p+w%26d%3D1 /p%20w&d=1", want: "?password=*** /***"},
		{name: "escaped twice: a quoted password in a JSON report", secrets: []string{`pa"ss`}, text: `{"error":"password \"pa\\\"ss\""}`, want: `{"error":"password \"***\""}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := NewSet()
			s.Add(tc.secrets...)
			if diff := cmp.Diff(tc.want, s.String(tc.text)); diff != "" {
				t.Errorf("String(%q) (-want +got):\n%s", tc.text, diff)
			}
		})
	}
}

func TestNilSet(t *testing.T) {
	t.Parallel()
	var s *Set
	s.Add("secret")
	s.AddBasic("u", "secret")
	s.OnAdd(func(string) { t.Error("notified") })
	if got := s.String("secret"); got != "secret" {
		t.Errorf("nil set: %q", got)
	}
}

func TestAddBasic(t *testing.T) {
	t.Parallel()
	s := NewSet()
	const user, pass = "bob", "hunter2-pw?>"
	s.AddBasic(user, pass)
	pair := []byte(user + ":" + pass)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		text := "Authorization: Basic " + enc.EncodeToString(pair)
		if got := s.String(text); got != "Authorization: Basic ***" {
			t.Errorf("String(%q) = %q", text, got)
		}
	}
	if got := s.String(user + ":" + pass); got != user+":***" {
		t.Errorf("decoded pair: %q", got)
	}
}

func TestWithForms(t *testing.T) {
	t.Parallel()
	s := NewSet(WithForms(func(v string) []string { return []string{strings.ReplaceAll(v, "|", `\|`)} }))
	s.Add("pipe|secret")
	if got := s.String(`| cell pipe\|secret |`); got != "| cell *** |" {
		t.Errorf("got %q", got)
	}
}

// OnAdd hears each new secret once, as given (not its escaped forms),
// after it is redacted.
func TestOnAdd(t *testing.T) {
	t.Parallel()
	s := NewSet()
	var got []string
	s.OnAdd(func(f string) {
		if s.String(f) != Mask {
			t.Errorf("notified of %q before it is redacted", f)
		}
		got = append(got, f)
	})
	s.Add("token-1", "pa\"ss", "token-1", "abc")
	s.Add("token-1", `pa"ss`)
	if diff := cmp.Diff([]string{"token-1", `pa"ss`}, got); diff != "" {
		t.Errorf("notified (-want +got):\n%s", diff)
	}
}

// A secret split across writes at any point is redacted.
func TestWriterSplitWrites(t *testing.T) {
	t.Parallel()
	const secret = "Zm9vOmJhcg-secret"
	text := "error: GET /v2/: 500: Authorization: Basic " + secret + " (" + secret + ")\nnext line\nno newline " + secret
	want := "error: GET /v2/: 500: Authorization: Basic *** (***)\nnext line\nno newline ***"
	for i := 0; i <= len(text); i++ {
		for j := i; j <= len(text); j += 7 {
			s := NewSet()
			s.Add(secret)
			var out bytes.Buffer
			w := NewWriter(&out, s)
			for _, part := range []string{text[:i], text[i:j], text[j:]} {
				if _, err := io.WriteString(w, part); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if out.String() != want {
				t.Fatalf("split at %d, %d: got %q", i, j, out.String())
			}
		}
	}
}

// Overlapping secrets split across writes leave no part of either: the
// whole run they cover is one mask.
func TestWriterOverlappingSecrets(t *testing.T) {
	t.Parallel()
	s := NewSet()
	s.Add("user:pa55word", "pa55word-suffix", "word-suf")
	text := "echo: user:pa55word-suffix; again pa55word-suffix and word-suf\n"
	for i := 0; i <= len(text); i++ {
		var out bytes.Buffer
		w := NewWriter(&out, s)
		io.WriteString(w, text[:i])
		io.WriteString(w, text[i:])
		w.Flush()
		if want := "echo: ***; again *** and ***\n"; out.String() != want {
			t.Fatalf("split at %d: got %q, want %q", i, out.String(), want)
		}
	}
}

// A secret added while its line is being written is redacted from it, and
// from everything written later; complete lines go out at once.
func TestWriterSecretAddedMidStream(t *testing.T) {
	t.Parallel()
	s := NewSet()
	var out bytes.Buffer
	w := NewWriter(&out, s)
	io.WriteString(w, "first line\nerror: token tok-")
	if out.String() != "first line\n" {
		t.Errorf("before the secret: %q, want the complete line only", out.String())
	}
	s.Add("tok-abc123")
	io.WriteString(w, "abc123 refused\nlater: tok-abc123\n")
	if want := "first line\nerror: token *** refused\nlater: ***\n"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

// A line longer than the hold-back bound is written in pieces, and a
// secret across the pieces' boundaries is still redacted.
func TestWriterLongLine(t *testing.T) {
	t.Parallel()
	const secret = "a-long-bearer-token-0123456789"
	s := NewSet()
	s.Add(secret)
	var out bytes.Buffer
	w := NewWriter(&out, s)
	var want strings.Builder
	for i := 0; want.Len() < 3*maxPending; i++ {
		chunk := fmt.Sprintf("%0*d", i%(len(secret)+3)+1, i)
		io.WriteString(w, chunk+secret[:i%len(secret)])
		io.WriteString(w, secret[i%len(secret):])
		want.WriteString(chunk + Mask)
	}
	if out.Len() == 0 {
		t.Error("nothing written before Flush: the long line was held back whole")
	}
	w.Flush()
	if out.String() != want.String() {
		t.Errorf("long line redacted wrongly (%d bytes, want %d); contains the secret: %v", out.Len(), want.Len(), strings.Contains(out.String(), secret))
	}
}

// Raw bypasses redaction and starts on a line of its own.
func TestWriterRaw(t *testing.T) {
	t.Parallel()
	s := NewSet()
	s.Add("secret-1")
	var out bytes.Buffer
	w := NewWriter(&out, s)
	io.WriteString(w, "a secret-1\npartial ")
	io.WriteString(w.Raw(), "::add-mask::secret-1\n")
	io.WriteString(w, "secret-1\n")
	if want := "a ***\n::add-mask::secret-1\npartial ***\n"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

// Many goroutines writing lines while secrets are added: every line
// arrives whole, redacted.
func TestWriterConcurrent(t *testing.T) {
	t.Parallel()
	s := NewSet()
	var out bytes.Buffer
	w := NewWriter(&out, s)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				tok := fmt.Sprintf("token-%d-%d", g, i)
				s.Add(tok)
				fmt.Fprintf(w, "got %s\n", tok)
			}
		}()
	}
	wg.Wait()
	w.Flush()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 800 {
		t.Fatalf("%d lines, want 800", len(lines))
	}
	for _, l := range lines {
		if l != "got ***" {
			t.Fatalf("line %q", l)
		}
	}
}

type writeFailer struct{}

func (writeFailer) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestWriterError(t *testing.T) {
	t.Parallel()
	w := NewWriter(writeFailer{}, NewSet())
	if _, err := io.WriteString(w, "line\n"); err != io.ErrClosedPipe {
		t.Errorf("Write error %v, want %v", err, io.ErrClosedPipe)
	}
	io.WriteString(w, "pending")
	if err := w.Flush(); err != io.ErrClosedPipe {
		t.Errorf("Flush error %v, want %v", err, io.ErrClosedPipe)
	}
}

// roundTripper answers every request with resp and records the requests.
type roundTripper struct {
	resp func(*http.Request) *http.Response
	reqs []*http.Request
}

func (rt *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	rt.reqs = append(rt.reqs, req)
	return rt.resp(req), nil
}

// request returns a builder of a request with body and header (name,
// value pairs).
func request(method, url, body string, header ...string) func() *http.Request {
	return func() *http.Request {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		r, _ := http.NewRequest(method, url, rd)
		for i := 0; i+1 < len(header); i += 2 {
			r.Header.Set(header[i], header[i+1])
		}
		return r
	}
}

func answer(status int, contentType, body string) *http.Response {
	return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {contentType}},
		Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body))}
}

// The transport learns the credentials a request carries and the tokens a
// token endpoint answers with, and hands the answer on intact.
func TestTransport(t *testing.T) {
	t.Parallel()
	const tokenBody = `{"token":"reg-token-123","access_token":"access-456","refresh_token":"refresh-789","expires_in":300}`
	cases := []struct {
		name   string
		req    func() *http.Request
		answer *http.Response
		// echo is an error body that repeats what the request carried and
		// what the answer held; want is how the set redacts it.
		echo, want string
	}{
		{
			name:   "Basic, decoded too",
			req:    request(http.MethodGet, "http://127.0.0.1/v2/", "", "Authorization", "Basic Ym9iOnBhNTV3b3Jk"), // bob:pa55word
			answer: answer(500, "text/plain", "boom"),
			echo:   "Authorization: Basic Ym9iOnBhNTV3b3Jk bob:pa55word Ym9iOnBhNTV3b3Jk",
			want:   "Authorization: Basic *** bob:*** ***",
		},
		{
			name:   "Bearer",
			req:    request(http.MethodGet, "http://127.0.0.1/v2/app/tags/list", "", "Authorization", "Bearer eyJ.bearer.sig"),
			answer: answer(500, "text/plain", "boom"),
			echo:   "got Bearer eyJ.bearer.sig",
			want:   "got Bearer ***",
		},
		{
			name:   "token endpoint answer",
			req:    request(http.MethodGet, "http://127.0.0.1/token?scope=x", ""),
			answer: answer(200, "application/json; charset=utf-8", tokenBody),
			echo:   "reg-token-123 access-456 refresh-789",
			want:   "*** *** ***",
		},
		{
			name:   "token answer labelled as text",
			req:    request(http.MethodGet, "http://127.0.0.1/token", ""),
			answer: answer(200, "text/plain", `{"access_token":"plain-label-tok"}`),
			echo:   "Bearer plain-label-tok",
			want:   "Bearer ***",
		},
		{
			name:   "refresh token and password in a form body",
			req:    request(http.MethodPost, "http://127.0.0.1/token", "grant_type=refresh_token&refresh_token=idtoken-abc&password=form-pw-1", "Content-Type", "application/x-www-form-urlencoded"),
			answer: answer(401, "text/plain", "no"),
			echo:   "idtoken-abc form-pw-1",
			want:   "*** ***",
		},
		{
			name: "a large JSON answer is handed on whole",
			req:  request(http.MethodGet, "http://127.0.0.1/api/packages", ""),
			answer: func() *http.Response {
				a := answer(200, "application/json", `{"token":"big-token-1","pad":"`+strings.Repeat("x", 3*maxTokenBody)+`"}`)
				a.ContentLength = -1
				return a
			}(),
			echo: "big-token-1",
			want: "big-token-1", // too large to be a token answer: not parsed
		},
		{
			name:   "a manifest is not read for tokens",
			req:    request(http.MethodGet, "http://127.0.0.1/v2/app/manifests/v1", ""),
			answer: answer(200, "application/vnd.oci.image.manifest.v1+json", `{"token":"not-a-token"}`),
			echo:   "not-a-token",
			want:   "not-a-token",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := NewSet()
			body, _ := io.ReadAll(tc.answer.Body)
			tc.answer.Body = io.NopCloser(bytes.NewReader(body))
			rt := &roundTripper{resp: func(*http.Request) *http.Response { return tc.answer }}
			resp, err := Transport(rt, s).RoundTrip(tc.req())
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || !bytes.Equal(got, body) {
				t.Errorf("body handed on: %q, %v; want %q", got, err, body)
			}
			if diff := cmp.Diff(tc.want, s.String(tc.echo)); diff != "" {
				t.Errorf("echo redacted (-want +got):\n%s", diff)
			}
			if len(rt.reqs) != 1 {
				t.Errorf("%d requests sent, want 1", len(rt.reqs))
			}
		})
	}
}

func TestTransportNilSet(t *testing.T) {
	t.Parallel()
	rt := &roundTripper{}
	if Transport(rt, nil) != http.RoundTripper(rt) {
		t.Error("a nil set wraps the transport")
	}
}

// TestTransportFormRewound: a form whose GetBody hands out the request's
// own body rewound (azcore's requests to Azure AD do) still reaches the
// server whole after its secrets are read, and the new form fields
// (client_secret, access_token, client_assertion) are learnt.
func TestTransportFormRewound(t *testing.T) {
	t.Parallel()
	const form = "grant_type=client_credentials&client_secret=cs-123456&client_assertion=eyJ.fed.jwt&access_token=aad-tok-9"
	body := strings.NewReader(form)
	req, _ := http.NewRequest(http.MethodPost, "https://127.0.0.1/tenant/oauth2/v2.0/token", io.NopCloser(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.ContentLength = int64(len(form))
	req.GetBody = func() (io.ReadCloser, error) {
		_, err := body.Seek(0, io.SeekStart)
		return io.NopCloser(body), err
	}
	var sent string
	rt := &roundTripper{resp: func(r *http.Request) *http.Response {
		b, _ := io.ReadAll(r.Body)
		sent = string(b)
		return answer(200, "text/plain", "ok")
	}}
	s := NewSet()
	if _, err := Transport(rt, s).RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	if sent != form {
		t.Errorf("the server got %q, want the whole form", sent)
	}
	if got := s.String("cs-123456 eyJ.fed.jwt aad-tok-9"); got != "*** *** ***" {
		t.Errorf("redacted %q, want every form secret", got)
	}
}
