package testregistry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// LegacyBinaryEnv names the environment variable that overrides the path of
// the distribution 2.8 binary returned by [LegacyBinary].
const LegacyBinaryEnv = "TAGSWEEP_REGISTRY28_BIN"

// LegacyStartTimeout bounds how long [StartLegacy] (and the restart after
// [Process.GC]) waits for GET /v2/ to answer.
const LegacyStartTimeout = 20 * time.Second

// LegacyBinary returns the distribution 2.8 registry binary to use: the
// value of $TAGSWEEP_REGISTRY28_BIN if set, else "docker-registry" from PATH
// (Debian's package docker-registry installs /usr/bin/docker-registry), else
// "" (callers should skip).
func LegacyBinary() string {
	if p := os.Getenv(LegacyBinaryEnv); p != "" {
		return p
	}
	if p, err := exec.LookPath("docker-registry"); err == nil {
		return p
	}
	return ""
}

// Process is a CNCF distribution 2.8 registry (Debian's docker-registry)
// running as a child process. It implements [Server].
//
// The child listens on its own ephemeral 127.0.0.1 port (see BackendAddr);
// Addr is an in-process reverse proxy in front of it that does the request
// accounting and runs the hook, so the address stays stable across the
// restart that GC does. The proxy preserves the Host header, so the
// absolute Location URLs 2.8 returns point at the proxy.
//
// Distribution 2.8 cannot delete tags: DELETE /v2/<name>/manifests/<tag>
// answers 400 DIGEST_INVALID (it only deletes by digest, which also drops
// every tag pointing at the digest). It has no OCI referrers API (GET
// /v2/<name>/referrers/<digest> is 404). Its garbage-collect
// --delete-untagged deletes the untagged children of tagged indexes,
// breaking multi-platform images (distribution v3 fixed this). Like v3 it
// logs every 4xx at error level; that goes to Output, not to the test log.
type Process struct {
	bin     string
	cfgPath string
	workDir string // temp dir holding config.yml (and storage if Options.Dir was empty)
	dir     string // storage root
	tempDir bool   // dir is inside workDir
	del     bool   // storage.delete.enabled
	secret  string // http.secret

	rec     *recorder
	front   *httpServer
	backend atomic.Pointer[url.URL]
	proxyTr *http.Transport

	mu     sync.Mutex // guards cmd, done, stderr and serializes GC/Close
	cmd    *exec.Cmd
	done   chan struct{}
	stderr *tailBuffer
	closed bool
}

var _ Server = (*Process)(nil)

// StartLegacy writes a config.yml (version 0.1, filesystem storage at
// opts.Dir or a temporary directory, storage.delete.enabled per
// opts.DeleteEnabled, upload purging off, log level error, access log off,
// http.addr 127.0.0.1:<free port>), runs "bin serve config.yml" and waits
// up to [LegacyStartTimeout] until GET /v2/ answers; on failure the error
// includes the process's output. opts.Middleware wraps the proxy in front of
// the process; opts.MaxTags is ignored (2.8 has no such setting). ctx bounds
// the startup only; the process runs until Close.
func StartLegacy(ctx context.Context, bin string, opts Options) (*Process, error) {
	if bin == "" {
		return nil, errors.New("testregistry: no distribution 2.8 binary (set " + LegacyBinaryEnv + " or install docker-registry)")
	}
	work, err := os.MkdirTemp("", "testregistry-legacy-*")
	if err != nil {
		return nil, err
	}
	p := &Process{bin: bin, workDir: work, dir: opts.Dir, del: opts.DeleteEnabled, stderr: &tailBuffer{max: 64 << 10}}
	if p.dir == "" {
		p.dir, p.tempDir = filepath.Join(work, "storage"), true
	}
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		_ = os.RemoveAll(work)
		return nil, err
	}
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		_ = os.RemoveAll(work)
		return nil, err
	}
	p.secret = hex.EncodeToString(secret)
	p.cfgPath = filepath.Join(work, "config.yml")

	p.proxyTr = http.DefaultTransport.(*http.Transport).Clone()
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(p.backend.Load())
			pr.Out.Host = pr.In.Host
		},
		Transport: p.proxyTr,
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	var h http.Handler = proxy
	if opts.Middleware != nil {
		h = opts.Middleware(h)
	}
	p.rec = newRecorder(h)

	p.mu.Lock()
	err = p.startLocked(ctx)
	p.mu.Unlock()
	if err != nil {
		_ = os.RemoveAll(work)
		return nil, err
	}
	front, err := serveLoopback(p.rec)
	if err != nil {
		_ = p.Close()
		return nil, err
	}
	p.front = front
	return p, nil
}

func legacyConfig(dir string, port int, deleteEnabled bool, secret string) string {
	return fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: %t
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:%d
  secret: %s
`, strconv.Quote(dir), deleteEnabled, port, secret)
}

// startLocked picks a free port, rewrites the config and starts the child,
// retrying twice if the port was taken in between. p.mu is held.
func (p *Process) startLocked(ctx context.Context) error {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			return err
		}
		cfg := legacyConfig(p.dir, port, p.del, p.secret)
		if err := os.WriteFile(p.cfgPath, []byte(cfg), 0o600); err != nil {
			return err
		}
		lastErr = p.spawnLocked(ctx, port)
		if lastErr == nil {
			return nil
		}
		if ctx.Err() != nil || !strings.Contains(p.stderr.String(), "address already in use") {
			break
		}
	}
	return lastErr
}

func (p *Process) spawnLocked(ctx context.Context, port int) error {
	p.stderr.Reset()
	cmd := exec.Command(p.bin, "serve", p.cfgPath)
	cmd.Stdout = p.stderr
	cmd.Stderr = p.stderr
	cmd.Dir = p.workDir
	setChildAttrs(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("testregistry: start %s: %w", p.bin, err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(done)
	}()

	addr := "127.0.0.1:" + strconv.Itoa(port)
	ctx, cancel := context.WithTimeout(ctx, LegacyStartTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if ok := pingV2(ctx, addr); ok {
			break
		}
		select {
		case <-done:
			return fmt.Errorf("testregistry: %s serve exited before answering on %s (%v); output:\n%s", p.bin, addr, waitErr, p.stderr.String())
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("testregistry: %s serve did not answer GET http://%s/v2/ within %v: %w; output:\n%s", p.bin, addr, LegacyStartTimeout, ctx.Err(), p.stderr.String())
		case <-tick.C:
		}
	}
	p.cmd, p.done = cmd, done
	p.backend.Store(&url.URL{Scheme: "http", Host: addr})
	p.proxyTr.CloseIdleConnections()
	return nil
}

func pingV2(ctx context.Context, addr string) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	resp, err := do(ctx, http.MethodGet, "http://"+addr+"/v2/", nil, nil)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// stopLocked kills the child and waits for it. p.mu is held.
func (p *Process) stopLocked() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	p.cmd, p.done = nil, nil
}

// Addr returns the "127.0.0.1:PORT" address of the proxy in front of the
// process. It stays the same across GC.
func (p *Process) Addr() string { return p.front.addr() }

// BackendAddr returns the address the child process itself listens on,
// bypassing accounting and hooks. It changes when GC restarts the process.
func (p *Process) BackendAddr() string { return p.backend.Load().Host }

// Dir returns the storage root directory.
func (p *Process) Dir() string { return p.dir }

// Output returns the tail of the running process's combined stdout and
// stderr.
func (p *Process) Output() string { return p.stderr.String() }

// Close kills the process, waits for it, stops the proxy and removes the
// temporary files (the storage root too, unless it was given in
// Options.Dir). It is safe to call twice.
func (p *Process) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	var err error
	if p.front != nil {
		err = p.front.close()
	}
	p.stopLocked()
	p.proxyTr.CloseIdleConnections()
	return errors.Join(err, os.RemoveAll(p.workDir))
}

// Requests returns a snapshot of the request counters (requests through
// Addr only).
func (p *Process) Requests() Counts { return p.rec.requests() }

// ResetRequests zeroes the request counters and clears the DELETE log.
func (p *Process) ResetRequests() { p.rec.reset() }

// Deletes returns the DELETE requests received through Addr, oldest first.
// Requests answered by the hook are included.
func (p *Process) Deletes() []string { return p.rec.deleteLog() }

// SetHook installs a fault-injection hook (nil removes it). It may be called
// at any time.
func (p *Process) SetHook(h Hook) { p.rec.setHook(h) }

// GC runs "bin garbage-collect [--delete-untagged] config.yml" (2.8 has no
// --quiet flag; its output is returned in the error on failure).
//
// Distribution's documentation requires the registry to be stopped or in
// read-only mode during garbage collection, so GC stops the process,
// collects, and starts it again on a fresh backend port (the old one may
// not be free any more); Addr, the proxy, does not change. Requests arriving meanwhile get 502 Bad Gateway from the
// proxy, so call GC while idle. The process is restarted even if collection
// fails.
func (p *Process) GC(ctx context.Context, removeUntagged bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("testregistry: GC on closed process")
	}
	p.stopLocked()

	args := []string{"garbage-collect"}
	if removeUntagged {
		args = append(args, "--delete-untagged")
	}
	args = append(args, p.cfgPath)
	cmd := exec.CommandContext(ctx, p.bin, args...)
	cmd.Dir = p.workDir
	out, gcErr := cmd.CombinedOutput()
	if gcErr != nil {
		gcErr = fmt.Errorf("testregistry: %s %v: %w; output:\n%s", p.bin, args, gcErr, out)
	}

	restartErr := p.startLocked(context.WithoutCancel(ctx))
	return errors.Join(gcErr, restartErr)
}

// tailBuffer is a goroutine-safe writer keeping the last max bytes.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

// Write implements io.Writer.
func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append([]byte(nil), b.buf[over:]...)
	}
	return len(p), nil
}

// String returns the kept tail.
func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// Reset empties the buffer.
func (b *tailBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = nil
}
