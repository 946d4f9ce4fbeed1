package redact

import (
	"bytes"
	"io"
	"sync"
)

// maxPending bounds the bytes a Writer holds back waiting for the end of a
// line. A longer line is written in pieces, each ending at least
// len(longest secret)-1 bytes before the text received so far ends, so
// that no secret can straddle two pieces.
const maxPending = 64 << 10

// Writer redacts what passes through it. It writes complete lines, each
// redacted with the set as it is at that moment, and holds back the line
// still being written, so a secret split across two Write calls is still
// found, and a secret added while a line is pending is redacted from it.
// Flush writes what is held back. A Writer is safe for concurrent use.
type Writer struct {
	set *Set

	mu      sync.Mutex
	w       io.Writer
	pending []byte
	midLine bool // the last byte given to w was not a newline
}

// NewWriter returns a Writer redacting s's secrets on their way to w.
func NewWriter(w io.Writer, s *Set) *Writer {
	return &Writer{w: w, set: s}
}

// Write takes p; it returns len(p) unless writing to the underlying writer
// failed.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	cut := 0
	if i := bytes.LastIndexByte(p, '\n'); i >= 0 {
		cut = len(w.pending) + i + 1
	}
	w.pending = append(w.pending, p...)
	m := w.set.matcher()
	if cut == 0 && len(w.pending) > maxPending {
		// A long line: write all but the tail a secret could still
		// start in. A secret found across the cut moves the cut to its end.
		cut = max(len(w.pending)-max(m.longest()-1, 0), 0)
		for _, sp := range m.find(w.pending) {
			if sp.start < cut && cut < sp.end {
				cut = sp.end
			}
		}
	}
	if cut == 0 {
		return len(p), nil
	}
	if err := w.emit(w.pending[:cut], m); err != nil {
		return 0, err
	}
	w.pending = append(w.pending[:0], w.pending[cut:]...)
	return len(p), nil
}

// emit redacts b with m and writes it. The caller holds mu.
func (w *Writer) emit(b []byte, m *matcher) error {
	if len(b) == 0 {
		return nil
	}
	out := apply(nil, b, m.find(b))
	w.midLine = out[len(out)-1] != '\n'
	_, err := w.w.Write(out)
	return err
}

// Flush writes what is held back, redacted.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.emit(w.pending, w.set.matcher())
	w.pending = w.pending[:0]
	return err
}

// Raw returns a writer to the same destination that bypasses redaction:
// for the `::add-mask::` workflow command, which must carry the secret to
// the runner. What it writes starts on a line of its own (the line held
// back is written after it).
func (w *Writer) Raw() io.Writer { return rawWriter{w} }

type rawWriter struct{ w *Writer }

func (r rawWriter) Write(p []byte) (int, error) {
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	if r.w.midLine {
		if _, err := r.w.w.Write([]byte{'\n'}); err != nil {
			return 0, err
		}
		r.w.midLine = false
	}
	n, err := r.w.w.Write(p)
	if n > 0 {
		r.w.midLine = p[n-1] != '\n'
	}
	return n, err
}
