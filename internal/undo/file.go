package undo

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// maxLine bounds one decompressed line: a manifest of 4 MiB (the
// distribution registry's limit), escaped, and the rest of the entry.
const maxLine = 16 << 20

// FormatError is a file that is not an undo file, or is damaged.
type FormatError struct {
	// Line is the line the damage is in (from 1); 0 for the whole file.
	Line int
	// Why says what is wrong.
	Why string
}

func (e *FormatError) Error() string {
	if e.Line == 0 {
		return e.Why
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Why)
}

// Contents is what Read found in an undo file.
type Contents struct {
	// Entries are its complete lines, in the order written.
	Entries []Entry
	// Truncated: the file ends in an incomplete line, which was skipped
	// (a run killed while writing it; its deletion was not sent).
	Truncated bool
	// good is the offset after the last complete member, and lastNL
	// whether the data before it ends a line (Open appends there).
	good   int64
	lastNL bool
}

// counting is a flate.Reader that counts the bytes consumed: gzip and
// flate read a ByteReader without buffering ahead, so after each member
// n is the exact offset where the next one starts.
type counting struct {
	r *bufio.Reader
	n int64
}

func (c *counting) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *counting) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}

// Read reads an undo file: gzip members whose data, concatenated, are
// JSON lines of entries. An empty file has no entries. Anything else that
// is not such a file (not gzip, a damaged member before the end, a line
// that is not an entry or fails Entry.Check) is a *FormatError naming the
// line.
func Read(r io.Reader) (*Contents, error) {
	c := &Contents{lastNL: true}
	cr := &counting{r: bufio.NewReader(r)}
	magic, err := cr.r.Peek(2)
	switch {
	case len(magic) == 0 && errors.Is(err, io.EOF):
		return c, nil // empty: nothing was deleted
	case len(magic) == 1 && magic[0] == 0x1f:
		c.Truncated = true // the first byte of a first member
		return c, nil
	case len(magic) < 2 || magic[0] != 0x1f || magic[1] != 0x8b:
		return nil, &FormatError{Why: "is not gzip (an undo file is gzip-compressed JSON lines)"}
	}
	var pending []byte
	line := 0
	parse := func(b []byte) error {
		line++
		var e Entry
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return &FormatError{Line: line, Why: "not an undo entry: " + err.Error()}
		}
		if dec.More() {
			return &FormatError{Line: line, Why: "more than one JSON value on the line"}
		}
		if err := e.Check(); err != nil {
			return &FormatError{Line: line, Why: err.Error()}
		}
		c.Entries = append(c.Entries, e)
		return nil
	}
	lines := func() error {
		for {
			i := bytes.IndexByte(pending, '\n')
			if i < 0 {
				if len(pending) > maxLine {
					return &FormatError{Line: line + 1, Why: fmt.Sprintf("a line longer than %d bytes", maxLine)}
				}
				return nil
			}
			if l := bytes.TrimSpace(pending[:i]); len(l) > 0 {
				if err := parse(l); err != nil {
					return err
				}
			}
			pending = pending[i+1:]
		}
	}
	z := new(gzip.Reader)
	for member := 0; ; member++ {
		err := z.Reset(cr)
		if errors.Is(err, io.EOF) && member > 0 {
			break
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				c.Truncated = true
				break
			}
			return nil, &FormatError{Line: line + 1, Why: "damaged (" + err.Error() + ")"}
		}
		z.Multistream(false)
		data, err := io.ReadAll(io.LimitReader(z, maxLine+1))
		if errors.Is(err, io.ErrUnexpectedEOF) {
			c.Truncated = true // a run killed while writing it
			break
		}
		if err != nil {
			return nil, &FormatError{Line: line + 1, Why: "damaged (" + err.Error() + ")"}
		}
		pending = append(pending, data...)
		if err := lines(); err != nil {
			return nil, err
		}
		c.good = cr.n
		if len(data) > 0 {
			c.lastNL = data[len(data)-1] == '\n'
		}
	}
	if l := bytes.TrimSpace(pending); len(l) > 0 {
		if c.Truncated {
			return c, nil // the incomplete line is dropped
		}
		if err := parse(l); err != nil { // complete, without a final newline
			return nil, err
		}
	}
	return c, nil
}

// ReadFile reads the undo file at path (see Read).
func ReadFile(path string) (*Contents, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Read(f)
}

// Writer appends entries to an undo file, one gzip member each. It is safe
// for concurrent use. After a failed write every later Write fails with
// the same error: an entry that cannot be written means its deletion is
// not sent.
type Writer struct {
	mu   sync.Mutex
	f    *os.File
	n    int
	err  error
	path string
	// nl: the file's data so far ends a line (or is empty).
	nl bool
}

// Open opens the undo file at path for appending, creating it (and its
// missing directories) when it does not exist. An existing file must be an
// undo file: its entries stay, and an incomplete last line left by a
// killed run is cut off first (cut reports it).
func Open(path string) (w *Writer, cut bool, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, false, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, false, err
	}
	c, err := Read(f)
	if err != nil {
		f.Close()
		var fe *FormatError
		if errors.As(err, &fe) {
			return nil, false, fmt.Errorf("exists and is not an undo file (%w): name a new file, or an undo file of an earlier run to append to", err)
		}
		return nil, false, err
	}
	if c.Truncated {
		if err := f.Truncate(c.good); err != nil {
			f.Close()
			return nil, false, err
		}
	}
	if _, err := f.Seek(c.good, io.SeekStart); err != nil {
		f.Close()
		return nil, false, err
	}
	return &Writer{f: f, path: path, nl: c.lastNL}, c.Truncated, nil
}

// Path is the file's path.
func (w *Writer) Path() string { return w.path }

// Count is the number of entries this Writer wrote.
func (w *Writer) Count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// Write appends e as one line, in one gzip member written with one write:
// once it returns nil, the line is in the file, and a process killed after
// that cannot lose it (it is not synced to disk: a machine that loses
// power may).
func (w *Writer) Write(e Entry) error {
	e.V = Version
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	var buf bytes.Buffer
	z, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if !w.nl {
		_, _ = z.Write([]byte{'\n'})
	}
	_, _ = z.Write(line)
	_, _ = z.Write([]byte{'\n'})
	if err := z.Close(); err != nil {
		w.err = err
		return err
	}
	if _, err := w.f.Write(buf.Bytes()); err != nil {
		w.err = fmt.Errorf("undo-file %s: %w", w.path, err)
		return w.err
	}
	w.n++
	w.nl = true
	return nil
}

// Close closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	if w.err == nil {
		w.err = errors.New("undo-file: closed")
	}
	return err
}
