package undo

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// entry is a valid entry of seed: a manifest of its own.
func entry(seed int) Entry {
	raw := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","annotations":{"seed":"%d","html":"<&>"}}`, seed)
	e := Entry{V: Version, Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Registry: "127.0.0.1:5000", Repository: "team/app",
		Digest: Digest(raw), MediaType: "application/vnd.oci.image.manifest.v1+json", Deleted: Manifest, Tags: []string{"v" + strconv.Itoa(seed)}}
	e.SetBytes(raw)
	return e
}

func write(t *testing.T, path string, entries ...Entry) {
	t.Helper()
	w, _, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestRoundTrip: what Write writes, Read reads back, the manifest bytes
// exactly (JSON with characters encoding/json escapes, and bytes that are
// not UTF-8, kept as base64); zcat-style readers see one JSON line per
// entry.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sub", "undo.jsonl.gz")
	binary := entry(2)
	raw := []byte{0xff, 0xfe, '{', '}'}
	binary.SetBytes(raw)
	binary.Digest = Digest(raw)
	want := []Entry{entry(1), binary, entry(3)}
	write(t, path, want...)
	c, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, c.Entries); diff != "" || c.Truncated {
		t.Fatalf("read back (-want +got), truncated %v:\n%s", c.Truncated, diff)
	}
	if !bytes.Equal(c.Entries[1].Bytes(), raw) || c.Entries[1].ManifestBase64 == nil {
		t.Errorf("non-UTF-8 bytes not kept as base64: %q", c.Entries[1].Bytes())
	}
	// A plain multistream gzip reader (what zcat does) sees the lines.
	f, _ := os.Open(path)
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var all bytes.Buffer
	if _, err := all.ReadFrom(z); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(all.String(), "\n"); n != 3 || !strings.Contains(all.String(), `"repository":"team/app"`) {
		t.Errorf("zcat sees %d lines:\n%s", n, all.String())
	}
}

// TestTruncatedAnywhere cuts a file of three entries at every byte: Read
// never fails, returns the entries whose member is complete, and says
// Truncated exactly when the cut falls inside a member.
func TestTruncatedAnywhere(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "undo.gz")
	var ends []int
	for i := 1; i <= 3; i++ {
		write(t, path, entry(i))
		st, _ := os.Stat(path)
		ends = append(ends, int(st.Size()))
	}
	data, _ := os.ReadFile(path)
	for cut := 0; cut <= len(data); cut++ {
		c, err := Read(bytes.NewReader(data[:cut]))
		if err != nil {
			t.Fatalf("cut at %d of %d: %v", cut, len(data), err)
		}
		complete := 0
		for _, e := range ends {
			if cut >= e {
				complete++
			}
		}
		atBoundary := cut == 0 || cut == ends[max(complete-1, 0)]
		if len(c.Entries) != complete || c.Truncated == atBoundary {
			t.Fatalf("cut at %d: %d entries (want %d), truncated %v", cut, len(c.Entries), complete, c.Truncated)
		}
	}
}

// TestAppendAfterKilledRun: a later run appends to the file a killed run
// left with an incomplete member: Open cuts the incomplete tail off, and
// every entry of both runs reads back.
func TestAppendAfterKilledRun(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "undo.gz")
	write(t, path, entry(1), entry(2))
	data, _ := os.ReadFile(path)
	var half bytes.Buffer
	z := gzip.NewWriter(&half)
	_, _ = z.Write([]byte(`{"v":1,"repository":"team/app"`))
	_ = z.Flush() // a member cut off before its end
	if err := os.WriteFile(path, append(data, half.Bytes()...), 0o644); err != nil {
		t.Fatal(err)
	}
	w, cut, err := Open(path)
	if err != nil || !cut {
		t.Fatalf("open: cut %v, %v", cut, err)
	}
	if err := w.Write(entry(3)); err != nil {
		t.Fatal(err)
	}
	w.Close()
	c, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Entry{entry(1), entry(2), entry(3)}, c.Entries); diff != "" || c.Truncated {
		t.Errorf("after append (-want +got), truncated %v:\n%s", c.Truncated, diff)
	}
}

// TestBadFiles: what is not an undo file, or is damaged before its end,
// is a FormatError naming the line; Open refuses such a file and leaves
// it as it was.
func TestBadFiles(t *testing.T) {
	t.Parallel()
	gz := func(lines ...string) []byte {
		var b bytes.Buffer
		for _, l := range lines {
			z := gzip.NewWriter(&b)
			_, _ = z.Write([]byte(l + "\n"))
			_ = z.Close()
		}
		return b.Bytes()
	}
	good := func(seed int) string {
		line, _ := json.Marshal(entry(seed))
		return string(line)
	}
	tampered := entry(5)
	tampered.SetBytes([]byte(`{"schemaVersion":2}`))
	bad, _ := json.Marshal(tampered)
	twoGood := gz(good(1), good(2))
	flipped := append([]byte(nil), twoGood...)
	flipped[len(gz(good(1)))+20] ^= 0xff // inside the second member's data
	cases := []struct {
		name string
		data []byte
		line int
		why  string
	}{
		{"plain text", []byte("repository,digest\n"), 0, "is not gzip"},
		{"one byte", []byte("x"), 0, "is not gzip"},
		{"json, not an entry", gz(good(1), `{"hello":"world"}`), 2, "not an undo entry"},
		{"not json", gz(`{"v":1,` + "\t" + `broken`), 1, "not an undo entry"},
		{"bytes that do not hash to the digest", gz(good(1), good(2), string(bad)), 3, "hash to"},
		{"newer version", gz(strings.Replace(good(1), `"v":1`, `"v":9`, 1)), 1, "newer tagsweep"},
		{"bad tag", gz(strings.Replace(good(1), `"tags":["v1"]`, `"tags":["-x"]`, 1)), 1, `tag "-x"`},
		{"damaged member", flipped, 2, "damaged"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := Read(bytes.NewReader(c.data))
			var fe *FormatError
			if !errors.As(err, &fe) || fe.Line != c.line || !strings.Contains(fe.Why, c.why) {
				t.Fatalf("Read: %v; want line %d with %q", err, c.line, c.why)
			}
			path := filepath.Join(t.TempDir(), "undo")
			if err := os.WriteFile(path, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, _, err := Open(path); err == nil || !strings.Contains(err.Error(), "is not an undo file") {
				t.Errorf("Open: %v", err)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(after, c.data) {
				t.Error("Open changed the file it refused")
			}
		})
	}
}

// TestKilledProcess: a process writing entries is SIGKILLed right after
// its Nth Write returned; the file then holds exactly those N entries.
func TestKilledProcess(t *testing.T) {
	if path := os.Getenv("UNDO_TEST_WRITER"); path != "" {
		w, _, err := Open(path)
		if err != nil {
			fmt.Println(err)
			os.Exit(3)
		}
		for i := 1; ; i++ {
			if err := w.Write(entry(i)); err != nil {
				fmt.Println(err)
				os.Exit(3)
			}
			fmt.Println(i) // the parent kills after reading the 7th
			if i == 7 {
				select {} // wait for the kill
			}
		}
	}
	t.Parallel()
	path := filepath.Join(t.TempDir(), "undo.gz")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledProcess$")
	cmd.Env = append(os.Environ(), "UNDO_TEST_WRITER="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 64)
	for !bytes.HasSuffix(buf, []byte("\n7\n")) {
		b := make([]byte, 1)
		if _, err := out.Read(b); err != nil {
			t.Fatalf("writer: %v (%s)", err, buf)
		}
		buf = append(buf, b...)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	c, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Entries) != 7 || c.Truncated {
		t.Fatalf("after SIGKILL: %d entries, truncated %v", len(c.Entries), c.Truncated)
	}
	for i, e := range c.Entries {
		if diff := cmp.Diff(entry(i+1), e); diff != "" {
			t.Errorf("entry %d (-want +got):\n%s", i+1, diff)
		}
	}
}

// TestWriteFailsSticky: once a write fails, every later one does.
func TestWriteFailsSticky(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "undo.gz")
	w, _, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	w.f.Close() // the file goes away under the writer (a disk error)
	if err := w.Write(entry(1)); err == nil {
		t.Fatal("write to a closed file succeeded")
	}
	w.f, _ = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err := w.Write(entry(2)); err == nil {
		t.Error("a write after a failed one succeeded")
	}
	if w.Count() != 0 {
		t.Errorf("count %d", w.Count())
	}
}
