package config

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Ref is one protect-images reference in this registry.
type Ref struct {
	// Text is the reference as the reasons and the summary name it,
	// without the registry host: "app:v1", "app@sha256:…".
	Text string
	// Repository is the repository; Tag and Digest what it names (a
	// reference with both names both; one with neither names latest).
	Repository, Tag, Digest string
}

var (
	refDigest = regexp.MustCompile(`^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}$`)
	refTag    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	refRepo   = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)
)

// ProtectList splits the protect-images input: a list, or "@path" to a
// file, of references separated by whitespace, newlines or commas; `#`
// starts a comment to the end of its line.
func ProtectList(v string) ([]string, error) {
	if path, ok := strings.CutPrefix(strings.TrimSpace(v), "@"); ok {
		data, err := os.ReadFile(path)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("names %s, which does not exist", path)
			}
			return nil, fmt.Errorf("names %s, which cannot be read: %v", path, errors.Unwrap(err))
		}
		v = string(data)
	}
	var out []string
	for _, line := range strings.Split(v, "\n") {
		line, _, _ = strings.Cut(line, "#")
		out = append(out, strings.FieldsFunc(line, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\r' })...)
	}
	return out, nil
}

// ParseRef reads one image reference, `[host[:port]/]repo[:tag][@digest]`.
// A first component with a dot or a colon, or `localhost`, is a registry
// host (Docker's rule); host is it, lower case, else "". A reference with
// neither tag nor digest names the tag latest, as docker pull does.
func ParseRef(s string) (host string, r Ref, err error) {
	name, digest, hasDigest := strings.Cut(s, "@")
	if first, rest, ok := strings.Cut(name, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		host, name = strings.ToLower(first), rest
	}
	tag := ""
	if i := strings.LastIndex(name, ":"); i >= 0 && !strings.Contains(name[i:], "/") {
		name, tag = name[:i], name[i+1:]
		if !refTag.MatchString(tag) {
			return "", Ref{}, fmt.Errorf("%q has a bad tag %q", s, tag)
		}
	}
	if !refRepo.MatchString(name) {
		return "", Ref{}, fmt.Errorf("%q is not an image reference (repo:tag, repo@sha256:…, host/repo:tag)", s)
	}
	if hasDigest {
		if !refDigest.MatchString(digest) {
			return "", Ref{}, fmt.Errorf("%q has a bad digest %q", s, digest)
		}
		digest = strings.ToLower(digest)
	}
	if tag == "" && !hasDigest {
		tag = "latest"
	}
	r = Ref{Repository: name, Tag: tag, Digest: digest, Text: name}
	if tag != "" {
		r.Text += ":" + tag
	}
	if digest != "" {
		r.Text += "@" + digest
	}
	return host, r, nil
}
