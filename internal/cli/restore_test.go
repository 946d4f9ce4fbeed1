package cli

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tagsweep/tagsweep/internal/undo"
)

// counting is a registry that answers 404 to everything and counts the
// requests it gets.
func counting(t *testing.T) (addr string, requests *atomic.Int64) {
	t.Helper()
	requests = &atomic.Int64{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	return "http://" + srv.Listener.Addr().String(), requests
}

// undoFileOf writes an undo file with one entry of app:v1.
func undoFileOf(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "undo.gz")
	w, _, err := undo.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	raw := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:` + strings.Repeat("1", 64) + `","size":2},"layers":[]}`)
	e := undo.Entry{Time: time.Now(), Repository: "app", Digest: undo.Digest(raw), MediaType: "application/vnd.oci.image.manifest.v1+json",
		Deleted: undo.Manifest, Tags: []string{"v1"}}
	e.SetBytes(raw)
	if err := w.Write(e); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return path
}

// TestRestoreBadInput: a missing undo file, one that is not gzip, one with
// a damaged line, no --undo-file at all, and an --only that names nothing
// in the file are invalid input: exit 2, one stderr line naming the input,
// and no request to the registry.
func TestRestoreBadInput(t *testing.T) {
	t.Parallel()
	reg, requests := counting(t)
	dir := t.TempDir()
	good := undoFileOf(t, dir)
	notGzip := filepath.Join(dir, "plain.json")
	os.WriteFile(notGzip, []byte(`{"v":1}`+"\n"), 0o644)
	var damaged bytes.Buffer
	z := gzip.NewWriter(&damaged)
	z.Write([]byte(`{"v":1,"repository":"app","digest":"sha256:` + strings.Repeat("a", 64) + `"}` + "\n"))
	z.Close()
	corrupt := filepath.Join(dir, "corrupt.gz")
	os.WriteFile(corrupt, damaged.Bytes(), 0o644)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"missing file", []string{"--undo-file", filepath.Join(dir, "nope.gz")}, `undo-file: "` + filepath.Join(dir, "nope.gz") + `" does not exist`},
		{"not gzip", []string{"--undo-file", notGzip}, "undo-file: " + fmt.Sprintf("%q", notGzip) + " is not gzip"},
		{"corrupt line", []string{"--undo-file", corrupt}, "line 1: no media type"},
		{"no undo file", nil, `undo-file: "" is required`},
		{"only names nothing", []string{"--undo-file", good, "--only", "app:v9,other:v1"}, "only: app:v9, other:v1: not in the undo file"},
		{"only not a reference", []string{"--undo-file", good, "--only", "app"}, `only: "app" is not repository:tag`},
		{"a sweep input", []string{"--undo-file", good, "--keep", "3"}, "unknown flag --keep: tagsweep restore does not take it"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := requests.Load()
			code, out, errs := runMain(append([]string{"restore", "--registry", reg}, tc.args...), nil)
			if code != ExitInvalid {
				t.Errorf("exit %d, want %d", code, ExitInvalid)
			}
			if n := strings.Count(errs, "\n"); n != 1 || !strings.HasPrefix(errs, "tagsweep: invalid input: ") || !strings.Contains(errs, tc.want) {
				t.Errorf("stderr %q: want one line containing %q", errs, tc.want)
			}
			if out != "" {
				t.Errorf("stdout %q", out)
			}
			if n := requests.Load() - before; n != 0 {
				t.Errorf("%d requests sent, want none", n)
			}
		})
	}
	t.Run("control", func(t *testing.T) {
		before := requests.Load()
		code, _, errs := runMain([]string{"restore", "--registry", reg, "--undo-file", good, "--dry-run"}, nil)
		if code == ExitInvalid || requests.Load() == before {
			t.Errorf("a good undo file: exit %d, %d requests (stderr %q)", code, requests.Load()-before, errs)
		}
	})
}

// TestRestoreRefusedOnACR: on a registry that takes nothing back by push
// (ACR), restore refuses every entry with the registry's own way, sends
// nothing, and exits 1.
func TestRestoreRefusedOnACR(t *testing.T) {
	t.Parallel()
	reg, requests := counting(t)
	good := undoFileOf(t, t.TempDir())
	code, out, errs := runMain([]string{"restore", "--registry", reg, "--provider", "acr", "--undo-file", good}, nil)
	if code != ExitFailed {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(errs, "not restored: app:v1: Azure Container Registry takes no deleted manifest back by push") || !strings.Contains(out, "az acr manifest restore") {
		t.Errorf("the refusal is not said:\nstderr %s\nstdout %s", errs, out)
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("%d requests sent, want none", n)
	}
}

// TestUndoFileChecked: an undo-file that cannot be written, and an
// existing file that is not an undo file, stop the sweep before its first
// request (exit 1), the file left as it was; a dry run writes no undo file.
func TestUndoFileChecked(t *testing.T) {
	t.Parallel()
	reg, requests := counting(t)
	dir := t.TempDir()
	other := filepath.Join(dir, "notes.txt")
	os.WriteFile(other, []byte("my notes\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "file"), nil, 0o644)
	for name, path := range map[string]string{"not an undo file": other, "a parent that is a file": filepath.Join(dir, "file", "undo.gz")} {
		before := requests.Load()
		code, _, errs := runMain([]string{"--registry", reg, "--repositories", "app", "--undo-file", path}, nil)
		if code != ExitFailed || !strings.Contains(errs, "error: undo-file "+path) || !strings.Contains(errs, "nothing was sent to the registry") {
			t.Errorf("%s: exit %d, stderr %s", name, code, errs)
		}
		if n := requests.Load() - before; n != 0 {
			t.Errorf("%s: %d requests sent, want none", name, n)
		}
	}
	if b, _ := os.ReadFile(other); string(b) != "my notes\n" {
		t.Errorf("the refused file was changed: %q", b)
	}
	dry := filepath.Join(dir, "dry", "undo.gz")
	if code, _, errs := runMain([]string{"--registry", reg, "--repositories", "app", "--undo-file", dry, "--dry-run"}, nil); code != ExitOK {
		t.Fatalf("dry run exit %d: %s", code, errs)
	}
	if _, err := os.Stat(dry); !os.IsNotExist(err) {
		t.Errorf("the dry run wrote the undo file: %v", err)
	}
}
