package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// maxTokenBody is the largest answer read for tokens: token endpoints
// answer a few KiB.
const maxTokenBody = 64 << 10

// Transport returns next, adding to s every secret that passes through it
// before any caller can print it: the credential of each request's
// Authorization (and Proxy-Authorization) header, Basic ones also decoded
// (see [Set.AddBasic]); the password, refresh_token, client_secret,
// access_token and client_assertion of a form-encoded token request; and
// the token, access_token and refresh_token of every answer that has them
// (registry token endpoints, Docker Hub's /v2/auth/token, Azure AD, ACR's
// /oauth2/exchange; manifests and blobs are not read), read before the
// answer is handed on. It belongs at the bottom of an HTTP stack, under
// the layers that set those headers. With a nil s it returns next.
func Transport(next http.RoundTripper, s *Set) http.RoundTripper {
	if s == nil {
		return next
	}
	return &transport{next: next, set: s}
}

type transport struct {
	next http.RoundTripper
	set  *Set
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	for _, h := range []string{"Authorization", "Proxy-Authorization"} {
		for _, v := range req.Header.Values(h) {
			t.header(v)
		}
	}
	if t.form(req) {
		// The form was read through GetBody, which may hand out the
		// request's own body rewound (azcore's does): send a fresh one.
		if body, err := req.GetBody(); err == nil {
			req = req.Clone(req.Context())
			req.Body = body
		}
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp == nil || resp.Body == nil {
		return resp, err
	}
	t.tokens(resp)
	return resp, err
}

// header adds the credential of an Authorization header value.
func (t *transport) header(v string) {
	scheme, cred, ok := strings.Cut(strings.TrimSpace(v), " ")
	cred = strings.TrimSpace(cred)
	if !ok || cred == "" {
		t.set.Add(scheme) // a bare token
		return
	}
	if t.set.known(cred) {
		return // sent before: added then, decoded too
	}
	t.set.Add(cred)
	if !strings.EqualFold(scheme, "Basic") {
		return
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err := enc.DecodeString(cred); err == nil {
			if user, pass, ok := strings.Cut(string(raw), ":"); ok {
				t.set.AddBasic(user, pass)
			}
			return
		}
	}
}

// form adds the secrets of a form-encoded token request (OAuth2 password
// and refresh_token grants, as go-containerregistry sends them; Azure AD's
// client credentials, a secret or a federated assertion; ACR's exchange of
// an access_token). It reports whether it read the body.
func (t *transport) form(req *http.Request) bool {
	if req.GetBody == nil || !mediaType(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return false
	}
	body, err := req.GetBody()
	if err != nil {
		return false
	}
	// Not closed: a GetBody that rewinds the request's own body would
	// close that; the fresh body RoundTrip sends is closed by the transport.
	b, err := io.ReadAll(io.LimitReader(body, maxTokenBody))
	if err != nil {
		return true
	}
	q, err := url.ParseQuery(string(b))
	if err != nil {
		return true
	}
	for _, k := range []string{"password", "refresh_token", "client_secret", "access_token", "client_assertion"} {
		t.set.Add(q[k]...)
	}
	return true
}

// tokens adds the tokens of an answer that may be a token endpoint's
// (JSON, or mislabelled as text: anything but image content). The body
// is read up to maxTokenBody and handed on intact.
func (t *transport) tokens(resp *http.Response) {
	if imageContent(resp.Header.Get("Content-Type")) || resp.ContentLength > maxTokenBody {
		return
	}
	head, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenBody+1))
	resp.Body = readCloser{io.MultiReader(bytes.NewReader(head), errReader{err}, resp.Body), resp.Body}
	if err != nil || len(head) > maxTokenBody || !bytes.Contains(head, []byte(`token"`)) {
		return
	}
	var tok struct {
		Token        string `json:"token"`
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if json.Unmarshal(head, &tok) == nil {
		t.set.Add(tok.Token, tok.AccessToken, tok.RefreshToken)
	}
}

// imageContent reports whether a Content-Type is a manifest or a blob,
// never a token answer, left unread.
func imageContent(header string) bool {
	mt, _, _ := mime.ParseMediaType(header)
	return strings.Contains(mt, "vnd.oci.") || strings.Contains(mt, "vnd.docker.") || mt == "application/octet-stream"
}

// mediaType reports whether a Content-Type header is want.
func mediaType(header, want string) bool {
	mt, _, err := mime.ParseMediaType(header)
	return err == nil && mt == want
}

// readCloser reads from r and closes c.
type readCloser struct {
	io.Reader
	c io.Closer
}

func (r readCloser) Close() error { return r.c.Close() }

// errReader returns err once the bytes before it are read (a read error
// of the peeked part is the caller's to see); nil err reads as EOF.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	return 0, io.EOF
}
