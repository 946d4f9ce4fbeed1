// Package undo is the undo file: what a real sweep writes, before each
// deletion, to undo it (the undo-file input), and what `tagsweep restore`
// reads back.
//
// The file is gzip-compressed JSON lines, one Entry a line, each line a
// gzip member of its own written with one write: a run killed at any point
// (SIGKILL) leaves every line it wrote complete and readable, and at worst
// one incomplete last member, which Read reports as Truncated and skips
// (its deletion had not been sent: an entry is written before its
// deletion). `zcat` reads the file as it reads any concatenation of gzip
// members. A later run appends to the same file, after cutting off such an
// incomplete tail.
package undo

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"time"
	"unicode/utf8"
)

// Version is the format version written in every entry ("v").
const Version = 1

// Kind is what a deletion removed.
type Kind string

// Kinds of deletion.
const (
	// Manifest: the manifest was deleted by digest, and every tag on it
	// with it (or, where the registry deletes only tags, every tag on it).
	Manifest Kind = "manifest"
	// Tag: only the tags were deleted; the manifest stayed, for what keeps
	// it (a kept tag or index shares it).
	Tag Kind = "tag"
)

// Entry is one deletion: one line of the undo file.
type Entry struct {
	// V is the format version, Version.
	V int `json:"v"`
	// Time is when the deletion was about to be sent.
	Time time.Time `json:"time"`
	// Registry is the registry host as the sweep named it.
	Registry string `json:"registry"`
	// Repository is the repository, as the catalog names it.
	Repository string `json:"repository"`
	// Digest is the manifest's digest.
	Digest string `json:"digest"`
	// MediaType is the manifest's media type, as served.
	MediaType string `json:"mediaType"`
	// Deleted says what went: the manifest (Manifest) or its tags (Tag).
	Deleted Kind `json:"deleted"`
	// Tags are the tags the deletion removed: every tag on the manifest
	// for Manifest, the one tag for Tag.
	Tags []string `json:"tags"`
	// Parents are the indexes of the repository that listed this manifest
	// as a child when it was deleted.
	Parents []string `json:"parents,omitempty"`
	// Subject is the manifest this one refers to: its OCI subject, or the
	// digest its sha256-<hex> tag names (cosign signatures).
	Subject string `json:"subject,omitempty"`
	// Provider is the provider the sweep ran with (whose Handle this is).
	Provider string `json:"provider,omitempty"`
	// Handle is the vendor's own name of the manifest where it has one:
	// GHCR's package version id, which its restore API takes.
	Handle string `json:"handle,omitempty"`
	// Manifest holds the manifest bytes as the registry served them, when
	// they are UTF-8 (JSON manifests always are); ManifestBase64 holds
	// them otherwise. Use Bytes and SetBytes.
	Manifest       string `json:"manifest,omitempty"`
	ManifestBase64 []byte `json:"manifestBase64,omitempty"`
}

// Bytes returns the manifest bytes as served.
func (e *Entry) Bytes() []byte {
	if e.ManifestBase64 != nil {
		return e.ManifestBase64
	}
	return []byte(e.Manifest)
}

// SetBytes stores the manifest bytes: as a JSON string (readable, and what
// gzip compresses best) when they are valid UTF-8, which encoding/json
// then keeps byte for byte; else base64.
func (e *Entry) SetBytes(b []byte) {
	e.Manifest, e.ManifestBase64 = "", nil
	if utf8.Valid(b) {
		e.Manifest = string(b)
		return
	}
	e.ManifestBase64 = append([]byte{}, b...)
}

var (
	digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	// The OCI distribution spec's grammars.
	repoRE = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagRE  = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
)

// ValidDigest reports whether d is "sha256:" and 64 lower-case hex digits.
func ValidDigest(d string) bool { return digestRE.MatchString(d) }

// Check reports what is wrong with e, nil when it can be restored from:
// a known version, a repository and tags the OCI grammar allows, and
// manifest bytes whose sha256 is the digest.
func (e *Entry) Check() error {
	switch {
	case e.V == 0:
		return errors.New(`no format version ("v")`)
	case e.V > Version:
		return fmt.Errorf("format version %d, written by a newer tagsweep (this one reads version %d)", e.V, Version)
	case !repoRE.MatchString(e.Repository):
		return fmt.Errorf("repository %q is not a repository name", e.Repository)
	case !ValidDigest(e.Digest):
		return fmt.Errorf("digest %q is not sha256:<64 hex digits>", e.Digest)
	case e.MediaType == "":
		return errors.New("no media type")
	case e.Deleted != Manifest && e.Deleted != Tag:
		return fmt.Errorf("deleted %q is neither %q nor %q", e.Deleted, Manifest, Tag)
	case e.Deleted == Tag && len(e.Tags) == 0:
		return errors.New("a tag deletion without its tag")
	case e.Subject != "" && !ValidDigest(e.Subject):
		return fmt.Errorf("subject %q is not a digest", e.Subject)
	}
	for _, t := range e.Tags {
		if !tagRE.MatchString(t) {
			return fmt.Errorf("tag %q is not a tag name", t)
		}
	}
	for _, p := range e.Parents {
		if !ValidDigest(p) {
			return fmt.Errorf("parent %q is not a digest", p)
		}
	}
	b := e.Bytes()
	if len(b) == 0 {
		return errors.New("no manifest bytes")
	}
	if got := Digest(b); got != e.Digest {
		return fmt.Errorf("the manifest bytes hash to %s, not to its digest %s", got, e.Digest)
	}
	return nil
}

// Digest is the sha256 digest of b, "sha256:<hex>".
func Digest(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}
