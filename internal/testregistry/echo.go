package testregistry

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// Echo renders req the way a debugging proxy or a careless error page
// repeats a request back: the request line, every header (Authorization
// included) and, for Basic auth, the decoded user name and password. Tests
// use it to prove that what a registry echoes of the credentials is never
// printed.
func Echo(req *http.Request) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s\n", req.Method, req.URL.RequestURI(), req.Proto)
	fmt.Fprintf(&b, "Host: %s\n", req.Host)
	names := make([]string, 0, len(req.Header))
	for k := range req.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		for _, v := range req.Header[k] {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	if user, pass, ok := req.BasicAuth(); ok {
		fmt.Fprintf(&b, "decoded Basic credentials: user %q, password %q (%s:%s)\n", user, pass, user, pass)
	}
	return b.String()
}

// EchoRequests returns a [Hook] that answers every request matching match
// with status and a plain-text body of [Echo], as a proxy's error page
// would. Other requests pass through.
func EchoRequests(status int, match func(*http.Request) bool) Hook {
	return func(w http.ResponseWriter, req *http.Request) bool {
		if !match(req) {
			return false
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte("proxy error, the request was:\n" + Echo(req)))
		return true
	}
}
