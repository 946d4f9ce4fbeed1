package testregistry

import (
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Server is the surface shared by every registry this package starts: the
// in-process distribution v3 [Registry], the in-memory [OCIRegistry] and the
// distribution 2.8 [Process].
type Server interface {
	// Addr returns the registry's "127.0.0.1:PORT" address.
	Addr() string
	// Close stops the registry and releases its resources.
	Close() error
	// Requests returns a snapshot of the request counters.
	Requests() Counts
	// ResetRequests zeroes the request counters and clears the DELETE log.
	ResetRequests()
	// Deletes returns the DELETE requests received, oldest first, each as
	// "DELETE /v2/<repo>/manifests/<reference>".
	Deletes() []string
	// SetHook installs a fault-injection hook; nil removes it.
	SetHook(h Hook)
}

// Hook inspects a request before the registry sees it. When it returns true
// it has written the complete response and the registry never sees the
// request; when it returns false it must not have written anything, and the
// request proceeds normally. A Hook may be called from many goroutines at
// once.
type Hook func(w http.ResponseWriter, req *http.Request) bool

// RouteClass is a coarse classification of registry API paths, used for
// request accounting.
type RouteClass string

// Route classes reported by [Classify].
const (
	// ClassBase is the API version check, GET /v2/.
	ClassBase RouteClass = "base"
	// ClassCatalog is /v2/_catalog.
	ClassCatalog RouteClass = "catalog"
	// ClassTags is /v2/<name>/tags/list.
	ClassTags RouteClass = "tags"
	// ClassManifest is /v2/<name>/manifests/<reference>.
	ClassManifest RouteClass = "manifest"
	// ClassBlob is /v2/<name>/blobs/<digest>.
	ClassBlob RouteClass = "blob"
	// ClassUpload is /v2/<name>/blobs/uploads/[<uuid>].
	ClassUpload RouteClass = "upload"
	// ClassReferrers is /v2/<name>/referrers/<digest>.
	ClassReferrers RouteClass = "referrers"
	// ClassOther is anything else.
	ClassOther RouteClass = "other"
)

// Classify returns the [RouteClass] of a request path such as
// "/v2/app/manifests/v1". Repository names may contain slashes; the class is
// decided from the end of the path.
func Classify(path string) RouteClass {
	switch path {
	case "/v2", "/v2/":
		return ClassBase
	case "/v2/_catalog":
		return ClassCatalog
	}
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return ClassOther
	}
	e := strings.Split(rest, "/")
	n := len(e)
	switch {
	case n >= 3 && e[n-2] == "tags" && e[n-1] == "list":
		return ClassTags
	case n >= 3 && e[n-2] == "manifests":
		return ClassManifest
	case n >= 3 && e[n-2] == "referrers":
		return ClassReferrers
	case n >= 4 && e[n-3] == "blobs" && e[n-2] == "uploads":
		return ClassUpload
	case n >= 3 && e[n-2] == "blobs" && e[n-1] == "uploads":
		return ClassUpload
	case n >= 3 && e[n-2] == "blobs":
		return ClassBlob
	}
	return ClassOther
}

// Route is a request method combined with a [RouteClass].
type Route struct {
	// Method is the HTTP method, e.g. "GET".
	Method string
	// Class is the route class, e.g. ClassManifest.
	Class RouteClass
}

// Counts is a snapshot of the requests a [Server] received since it started
// or since the last ResetRequests. Requests answered by a [Hook] are
// counted too (and also in Hooked).
type Counts struct {
	// Total is the number of requests received.
	Total int
	// Hooked is the number of requests answered by the hook.
	Hooked int
	// ByMethod counts requests per HTTP method.
	ByMethod map[string]int
	// ByClass counts requests per route class.
	ByClass map[RouteClass]int
	// ByRoute counts requests per (method, class) pair.
	ByRoute map[Route]int
}

// Of returns the number of requests with the given method and class.
func (c Counts) Of(method string, class RouteClass) int {
	return c.ByRoute[Route{Method: method, Class: class}]
}

func newCounts() Counts {
	return Counts{
		ByMethod: map[string]int{},
		ByClass:  map[RouteClass]int{},
		ByRoute:  map[Route]int{},
	}
}

func (c Counts) clone() Counts {
	out := newCounts()
	out.Total, out.Hooked = c.Total, c.Hooked
	for k, v := range c.ByMethod {
		out.ByMethod[k] = v
	}
	for k, v := range c.ByClass {
		out.ByClass[k] = v
	}
	for k, v := range c.ByRoute {
		out.ByRoute[k] = v
	}
	return out
}

// recorder is the front handler of every Server: it counts requests, logs
// DELETEs and runs the hook before handing the request to the registry.
type recorder struct {
	next http.Handler
	hook atomic.Pointer[Hook]

	mu      sync.Mutex
	counts  Counts
	deletes []string
}

func newRecorder(next http.Handler) *recorder {
	return &recorder{next: next, counts: newCounts()}
}

// ServeHTTP counts the request, logs DELETEs, runs the hook and otherwise
// passes the request on.
func (rc *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	class := Classify(req.URL.Path)
	rc.mu.Lock()
	rc.counts.Total++
	rc.counts.ByMethod[req.Method]++
	rc.counts.ByClass[class]++
	rc.counts.ByRoute[Route{Method: req.Method, Class: class}]++
	if req.Method == http.MethodDelete {
		rc.deletes = append(rc.deletes, req.Method+" "+req.URL.Path)
	}
	rc.mu.Unlock()

	if h := rc.hook.Load(); h != nil && *h != nil && (*h)(w, req) {
		rc.mu.Lock()
		rc.counts.Hooked++
		rc.mu.Unlock()
		return
	}
	rc.next.ServeHTTP(w, req)
}

func (rc *recorder) requests() Counts {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.counts.clone()
}

func (rc *recorder) reset() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.counts = newCounts()
	rc.deletes = nil
}

func (rc *recorder) deleteLog() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.deletes...)
}

func (rc *recorder) setHook(h Hook) {
	if h == nil {
		rc.hook.Store(nil)
		return
	}
	rc.hook.Store(&h)
}

// httpServer serves a handler on a fresh 127.0.0.1 port.
type httpServer struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
	once sync.Once
}

func serveLoopback(h http.Handler) (*httpServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &httpServer{
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: time.Minute,
			ErrorLog:          log.New(io.Discard, "", 0),
		},
		ln:   ln,
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

func (s *httpServer) addr() string { return s.ln.Addr().String() }

func (s *httpServer) close() error {
	var err error
	s.once.Do(func() {
		err = s.srv.Close()
		<-s.done
		if errors.Is(err, net.ErrClosed) {
			err = nil
		}
	})
	return err
}

// MatchRoute returns a request matcher for [FailRequests] that matches the
// given method ("" = any) and class ("" = any).
func MatchRoute(method string, class RouteClass) func(*http.Request) bool {
	return func(req *http.Request) bool {
		return (method == "" || req.Method == method) &&
			(class == "" || Classify(req.URL.Path) == class)
	}
}

// FailRequests returns a [Hook] that answers up to n requests matching match
// (n <= 0: all of them; match nil: every request) with the given HTTP status
// and a registry-style JSON error body {"errors":[{"code":code,...}]}.
// Requests that do not match, or arrive after n failures, pass through.
func FailRequests(status int, code string, n int, match func(*http.Request) bool) Hook {
	var used atomic.Int64
	return func(w http.ResponseWriter, req *http.Request) bool {
		if match != nil && !match(req) {
			return false
		}
		if n > 0 && used.Add(1) > int64(n) {
			return false
		}
		WriteError(w, status, code, "injected by testregistry")
		return true
	}
}

// WriteError writes a registry-style error response:
// {"errors":[{"code":code,"message":message}]} with the given status.
func WriteError(w http.ResponseWriter, status int, code, message string) {
	type regErr struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	body, _ := json.Marshal(struct {
		Errors []regErr `json:"errors"`
	}{Errors: []regErr{{Code: code, Message: message}}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
