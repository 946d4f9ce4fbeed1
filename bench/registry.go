package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// hookConfig is what the benchmark injects in front of the registry.
type hookConfig struct {
	// Latency is slept before every request is answered (a round trip
	// over a real network, as the registry's clients see it).
	Latency time.Duration `json:"latency"`
	// RateLimitEvery answers every Nth request with 429 and
	// `Retry-After: 1`; 0 turns it off.
	RateLimitEvery int64 `json:"rateLimitEvery"`
}

// hookStats counts what the hook did since the last reset.
type hookStats struct {
	RateLimited     int64 `json:"rateLimited"`
	ReferrersServed int64 `json:"referrersServed"`
	// Slept is the time requests actually spent in the injected latency,
	// summed (a timer sleep overshoots, by much at 1ms on a busy machine).
	Slept time.Duration `json:"slept"`
}

// referrerDesc is one entry of a referrers listing.
type referrerDesc struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

// hookState is the registry front: latency, rate limiting and (for ggcr's
// registry) an indexed referrers API.
//
// Indexed referrers: go-containerregistry's in-memory registry answers
// GET /v2/<name>/referrers/<digest> by JSON-decoding every manifest of the
// repository (pkg/registry/manifest.go handleReferrers, v0.22.1), which is
// O(manifests) per call and so O(n²) for a tool that asks once per digest:
// at 100k tags the test registry, not tagsweep, would dominate. Real
// registries with the API (zot, Harbor, distribution forks, the clouds)
// index referrers by subject. With fastReferrers the hook keeps that index
// from the manifest PUTs and DELETEs it sees and answers referrers GETs
// itself, with the same descriptors ggcr would list (artifactType from the
// manifest's artifactType, else its config media type).
type hookState struct {
	// self is the registry's address, for the tag-list pagination.
	self          string
	paginate      bool
	internal      atomic.Int64 // requests the hook sent itself
	hc            *http.Client
	latency       atomic.Int64
	rateEvery     atomic.Int64
	n             atomic.Int64
	rateLimited   atomic.Int64
	refsServed    atomic.Int64
	slept         atomic.Int64
	fastReferrers bool

	mu    sync.RWMutex
	refs  map[string]map[string][]referrerDesc // repo -> subject -> referrers
	refOf map[string]map[string]string         // repo -> referrer digest -> subject
}

func newHookState(fastReferrers bool) *hookState {
	return &hookState{fastReferrers: fastReferrers, refs: map[string]map[string][]referrerDesc{}, refOf: map[string]map[string]string{}, hc: &http.Client{Timeout: time.Minute}}
}

// internalHeader marks the hook's own requests to the registry.
const internalHeader = "X-Tagsweep-Bench-Internal"

// tagsPage answers GET /v2/<name>/tags/list?n=N[&last=T] with a Link
// header when more tags follow. go-containerregistry's registry cuts the
// list at n but sends no Link header (v0.22.1, handleTags), and ggcr's
// client asks for n=1000, so a client would see only the first 1000 tags
// of a repository. The hook fetches the whole list from the registry (one
// internal request, not counted) and pages it as the distribution spec
// says.
func (h *hookState) tagsPage(w http.ResponseWriter, req *http.Request) bool {
	q := req.URL.Query()
	n, err := strconv.Atoi(q.Get("n"))
	if err != nil || n <= 0 {
		return false
	}
	ireq, _ := http.NewRequestWithContext(req.Context(), http.MethodGet, "http://"+h.self+req.URL.Path, nil)
	ireq.Header.Set(internalHeader, "1")
	h.internal.Add(1)
	resp, err := h.hc.Do(ireq)
	if err != nil {
		testregistry.WriteError(w, http.StatusInternalServerError, "UNKNOWN", err.Error())
		return true
	}
	defer resp.Body.Close()
	var list struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&list) != nil {
		testregistry.WriteError(w, resp.StatusCode, "NAME_UNKNOWN", "repository name not known to registry")
		return true
	}
	tags := list.Tags
	if last := q.Get("last"); last != "" {
		i := sort.SearchStrings(tags, last)
		if i < len(tags) && tags[i] == last {
			i++
		}
		tags = tags[i:]
	}
	if len(tags) > n {
		tags = tags[:n]
		next := url.Values{"n": {strconv.Itoa(n)}, "last": {tags[n-1]}}
		w.Header().Set("Link", fmt.Sprintf("<%s?%s>; rel=\"next\"", req.URL.Path, next.Encode()))
	}
	if tags == nil {
		tags = []string{}
	}
	body, _ := json.Marshal(map[string]any{"name": list.Name, "tags": tags})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return true
}

func (h *hookState) configure(c hookConfig) {
	h.latency.Store(int64(c.Latency))
	h.rateEvery.Store(c.RateLimitEvery)
}

func (h *hookState) reset() {
	h.internal.Store(0)
	h.n.Store(0)
	h.rateLimited.Store(0)
	h.refsServed.Store(0)
	h.slept.Store(0)
}

func (h *hookState) stats() hookStats {
	return hookStats{RateLimited: h.rateLimited.Load(), ReferrersServed: h.refsServed.Load(), Slept: time.Duration(h.slept.Load())}
}

// splitPath returns the repository and the last element of a
// /v2/<repo>/<kind>/<ref> path.
func splitPath(path, kind string) (repo, ref string, ok bool) {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return "", "", false
	}
	i := strings.LastIndex(rest, "/"+kind+"/")
	if i < 0 {
		return "", "", false
	}
	return rest[:i], rest[i+len(kind)+2:], true
}

func (h *hookState) hook(w http.ResponseWriter, req *http.Request) bool {
	if req.Header.Get(internalHeader) != "" {
		return false
	}
	if d := time.Duration(h.latency.Load()); d > 0 {
		t := time.Now()
		time.Sleep(d)
		h.slept.Add(int64(time.Since(t)))
	}
	if every := h.rateEvery.Load(); every > 0 && h.n.Add(1)%every == 0 {
		h.rateLimited.Add(1)
		w.Header().Set("Retry-After", "1")
		testregistry.WriteError(w, http.StatusTooManyRequests, "TOOMANYREQUESTS", "injected by the tagsweep benchmark")
		return true
	}
	class := testregistry.Classify(req.URL.Path)
	if h.paginate && class == testregistry.ClassTags && req.Method == http.MethodGet {
		return h.tagsPage(w, req)
	}
	if !h.fastReferrers {
		return false
	}
	switch {
	case class == testregistry.ClassReferrers && req.Method == http.MethodGet:
		repo, subject, _ := splitPath(req.URL.Path, "referrers")
		h.mu.RLock()
		list := append([]referrerDesc{}, h.refs[repo][subject]...)
		h.mu.RUnlock()
		sort.Slice(list, func(i, j int) bool { return list[i].Digest < list[j].Digest })
		body, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": list})
		w.Header().Set("Content-Type", "application/vnd.oci.image.index.v1+json")
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
		h.refsServed.Add(1)
		return true
	case class == testregistry.ClassManifest && req.Method == http.MethodPut:
		raw, err := io.ReadAll(req.Body)
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(raw))
		if err != nil {
			return false
		}
		var m struct {
			ArtifactType string `json:"artifactType"`
			Config       struct {
				MediaType string `json:"mediaType"`
			} `json:"config"`
			Subject *struct {
				Digest string `json:"digest"`
			} `json:"subject"`
			Annotations map[string]string `json:"annotations"`
		}
		if json.Unmarshal(raw, &m) != nil || m.Subject == nil {
			return false
		}
		repo, _, _ := splitPath(req.URL.Path, "manifests")
		sum := sha256.Sum256(raw)
		d := referrerDesc{
			MediaType: req.Header.Get("Content-Type"), Digest: "sha256:" + hex.EncodeToString(sum[:]), Size: int64(len(raw)),
			ArtifactType: m.ArtifactType, Annotations: m.Annotations,
		}
		if d.ArtifactType == "" {
			d.ArtifactType = m.Config.MediaType
		}
		h.mu.Lock()
		if h.refs[repo] == nil {
			h.refs[repo], h.refOf[repo] = map[string][]referrerDesc{}, map[string]string{}
		}
		if _, dup := h.refOf[repo][d.Digest]; !dup {
			h.refs[repo][m.Subject.Digest] = append(h.refs[repo][m.Subject.Digest], d)
			h.refOf[repo][d.Digest] = m.Subject.Digest
		}
		h.mu.Unlock()
	case class == testregistry.ClassManifest && req.Method == http.MethodDelete:
		repo, ref, _ := splitPath(req.URL.Path, "manifests")
		h.mu.Lock()
		if sub, ok := h.refOf[repo][ref]; ok {
			delete(h.refOf[repo], ref)
			list := h.refs[repo][sub]
			for i, d := range list {
				if d.Digest == ref {
					h.refs[repo][sub] = append(list[:i:i], list[i+1:]...)
					break
				}
			}
		}
		h.mu.Unlock()
	}
	return false
}

// serverStats is what the registry side reports: requests by route, what
// the hook did, and the registry process's own CPU and heap.
type serverStats struct {
	Total    int            `json:"total"`
	Hooked   int            `json:"hooked"`
	ByRoute  map[string]int `json:"byRoute"` // "GET manifest"
	Hook     hookStats      `json:"hook"`
	CPU      time.Duration  `json:"cpu"`      // registry process CPU (child mode only)
	PeakHeap uint64         `json:"peakHeap"` // registry process peak heap since reset (child mode only)
}

func toServerStats(c testregistry.Counts, h *hookState) serverStats {
	s := serverStats{Total: c.Total, Hooked: c.Hooked, ByRoute: map[string]int{}, Hook: h.stats()}
	for r, n := range c.ByRoute {
		s.ByRoute[r.Method+" "+string(r.Class)] = n
	}
	// The hook's own tag-list requests are not the client's.
	internal := int(h.internal.Load())
	s.Total -= internal
	s.ByRoute["GET tags"] -= internal
	if s.ByRoute["GET tags"] == 0 {
		delete(s.ByRoute, "GET tags")
	}
	return s
}

// registryHandle is the registry the benchmark talks to, in this process
// or in a child process.
type registryHandle interface {
	Addr() string
	Configure(hookConfig) error
	Reset() error
	Stats() (serverStats, error)
	Close() error
}

// startRegistry starts the registry of the given kind ("ggcr" or
// "distribution").
func startRegistry(ctx context.Context, kind string, fastReferrers bool) (testregistry.Server, *hookState, error) {
	var srv testregistry.Server
	var err error
	switch kind {
	case "ggcr":
		srv, err = testregistry.NewOCIRegistry()
	case "distribution":
		srv, err = testregistry.New(ctx, testregistry.Options{DeleteEnabled: true})
		fastReferrers = false // no referrers API: tagsweep uses the tag schema
	default:
		return nil, nil, fmt.Errorf("-registry: %q is not ggcr or distribution", kind)
	}
	if err != nil {
		return nil, nil, err
	}
	h := newHookState(fastReferrers)
	h.self, h.paginate = srv.Addr(), kind == "ggcr"
	srv.SetHook(h.hook)
	return srv, h, nil
}

// inProcess runs the registry in the benchmark process: simpler, but its
// CPU and allocations then mix with tagsweep's in the figures.
type inProcess struct {
	srv  testregistry.Server
	hook *hookState
}

func (r *inProcess) Addr() string                 { return r.srv.Addr() }
func (r *inProcess) Configure(c hookConfig) error { r.hook.configure(c); return nil }
func (r *inProcess) Reset() error                 { r.srv.ResetRequests(); r.hook.reset(); return nil }
func (r *inProcess) Close() error                 { return r.srv.Close() }
func (r *inProcess) Stats() (serverStats, error) {
	return toServerStats(r.srv.Requests(), r.hook), nil
}

// childEnv marks the benchmark binary re-executed as the registry process.
const childEnv = "TAGSWEEP_BENCH_REGISTRY_CHILD"

// childRegistry is the registry in a child process (the benchmark binary
// re-executed), controlled over a small admin HTTP API, so that the
// benchmark process's heap, allocations and CPU are tagsweep's alone.
type childRegistry struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addr  string
	admin string
	hc    *http.Client
}

func startChild(ctx context.Context, kind string, fastReferrers bool) (*childRegistry, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%t", childEnv, kind, fastReferrers))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("registry child: %w", err)
	}
	var hello struct{ Registry, Admin string }
	if err := json.Unmarshal([]byte(line), &hello); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("registry child said %q: %w", line, err)
	}
	return &childRegistry{cmd: cmd, stdin: stdin, addr: hello.Registry, admin: hello.Admin, hc: &http.Client{Timeout: time.Minute}}, nil
}

func (c *childRegistry) Addr() string { return c.addr }

func (c *childRegistry) call(path string, in, out any) error {
	var body io.Reader
	method := http.MethodGet
	if in != nil {
		b, _ := json.Marshal(in)
		body, method = bytes.NewReader(b), http.MethodPost
	}
	req, _ := http.NewRequest(method, "http://"+c.admin+path, body)
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("registry child %s: %s %s", path, resp.Status, b)
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

func (c *childRegistry) Configure(h hookConfig) error { return c.call("/configure", h, nil) }
func (c *childRegistry) Reset() error                 { return c.call("/reset", struct{}{}, nil) }
func (c *childRegistry) Stats() (serverStats, error) {
	var s serverStats
	err := c.call("/stats", nil, &s)
	return s, err
}

func (c *childRegistry) Close() error {
	_ = c.stdin.Close() // the child exits when its stdin closes
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		return errors.New("registry child did not exit; killed")
	}
}

// runChild is the registry process: it starts the registry, prints its
// addresses as one JSON line, serves the admin API and exits when stdin
// closes.
func runChild(spec string) error {
	kind, fast, _ := strings.Cut(spec, ",")
	ctx := context.Background()
	srv, hook, err := startRegistry(ctx, kind, fast == "true")
	if err != nil {
		return err
	}
	defer srv.Close()

	mem := newSampler()
	mem.start()
	mux := http.NewServeMux()
	mux.HandleFunc("/configure", func(w http.ResponseWriter, r *http.Request) {
		var c hookConfig
		if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		hook.configure(c)
	})
	mux.HandleFunc("/reset", func(w http.ResponseWriter, r *http.Request) {
		srv.ResetRequests()
		hook.reset()
		mem.resetPeak()
	})
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		s := toServerStats(srv.Requests(), hook)
		s.CPU = cpuTime()
		s.PeakHeap = mem.peak()
		_ = json.NewEncoder(w).Encode(s)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = http.Serve(ln, mux) }()
	hello, _ := json.Marshal(map[string]string{"Registry": srv.Addr(), "Admin": ln.Addr().String()})
	fmt.Printf("%s\n", hello)
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}
