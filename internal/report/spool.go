package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
)

// Spool holds the entries of finished repositories out of memory: each
// repository, as it finishes, is encoded once (the bytes WriteJSON writes
// for it) into a temporary file, and read back one at a time by Each; the
// totals are counted as repositories are put. A run over a million tags
// then holds only the repositories being worked on, not the report.
//
// Where no temporary file can be made (a read-only root filesystem
// without a writable TMPDIR and no other directory given), the encoded
// entries stay in memory: the same bytes, the same code path.
type Spool struct {
	mu    sync.Mutex
	f     *os.File // nil: in memory
	path  string
	mem   [][]byte // in memory: the entries by index (all, or those a write to f failed for)
	spans []extent // in the file: the entries by index
	end   int64

	totals  Totals
	failed  bool // a repository has an error
	deleted int  // deleted and would-delete tags, for Outputs
}

type extent struct {
	off, n int64
}

// NewSpool returns a spool for n repositories, in a temporary file in the
// first of dirs where one can be created ("" is the system's temporary
// directory), else in memory.
func NewSpool(n int, dirs ...string) *Spool {
	s := &Spool{spans: make([]extent, n)}
	for _, d := range dirs {
		f, err := os.CreateTemp(d, "tagsweep-report-*.json")
		if err != nil {
			continue
		}
		s.f, s.path = f, f.Name()
		if runtime.GOOS != "windows" {
			// Unlinked at once: nothing is left behind, even by a run
			// killed outright (Windows cannot remove an open file).
			if os.Remove(f.Name()) == nil {
				s.path = ""
			}
		}
		return s
	}
	s.mem = make([][]byte, n)
	return s
}

// InFile reports whether the entries go to a temporary file.
func (s *Spool) InFile() bool { return s.f != nil }

// Put stores the entries of repository i (0 ≤ i < n), in the order the
// report lists the repositories. A repository is put once.
func (s *Spool) Put(i int, repo Repository) error {
	b, err := encodeRepository(&repo)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.totals.add(&repo)
	s.failed = s.failed || repo.Error != ""
	for _, t := range repo.Tags {
		if t.Action == Deleted || t.Action == WouldDelete {
			s.deleted++
		}
	}
	if s.f != nil {
		if _, err := s.f.WriteAt(b, s.end); err == nil {
			s.spans[i] = extent{off: s.end, n: int64(len(b))}
			s.end += int64(len(b))
			return nil
		}
		// The disk is full (or the file went away): this entry, and any
		// other that cannot be written, stays in memory.
	}
	if s.mem == nil {
		s.mem = make([][]byte, len(s.spans))
	}
	s.mem[i] = b
	return nil
}

// raw returns the encoded entries of repository i (nil if it was never put).
func (s *Spool) raw(i int) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mem != nil && s.mem[i] != nil {
		return s.mem[i], nil
	}
	sp := s.spans[i]
	if s.f == nil || sp.n == 0 {
		return nil, nil
	}
	b := make([]byte, sp.n)
	if _, err := s.f.ReadAt(b, sp.off); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("report spool: %w", err)
	}
	return b, nil
}

// len is the number of repositories the spool was made for.
func (s *Spool) len() int { return len(s.spans) }

// Close releases the temporary file.
func (s *Spool) Close() error {
	if s == nil || s.f == nil {
		return nil
	}
	err := s.f.Close()
	if s.path != "" {
		if rerr := os.Remove(s.path); err == nil {
			err = rerr
		}
	}
	return err
}

// encodeRepository is the bytes WriteJSON writes for one repository: the
// encoding of encoding/json, indented at the depth of the repositories
// array, HTML left alone.
func encodeRepository(repo *Repository) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("    ", "  ")
	if err := enc.Encode(repo); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// add counts one repository into the totals.
func (t *Totals) add(repo *Repository) {
	t.Repositories++
	t.ReclaimedBytes += repo.ReclaimedBytes
	t.DeletedUntagged += repo.DeletedUntagged()
	for _, tag := range repo.Tags {
		t.Tags++
		switch tag.Action {
		case Deleted, WouldDelete:
			t.Deleted++
		case Failed:
			t.Failed++
		default:
			t.Kept++
		}
	}
}
