package registry

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Sentinel errors. Backends wrap them (fmt.Errorf("delete tag %s: %w", ...))
// and callers test them with errors.Is, never by matching messages.
var (
	// ErrNotFound: the manifest, tag or repository does not exist (404).
	ErrNotFound = errors.New("not found")
	// ErrUnauthorized: the registry refused the credentials (401).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrDenied: the credentials lack a permission (403, DENIED).
	ErrDenied = errors.New("denied")
	// ErrDeleteDisabled: the registry refuses deletes altogether
	// (405 UNSUPPORTED from a DELETE by digest).
	ErrDeleteDisabled = errors.New("registry refuses deletes")
	// ErrTagDeleteUnsupported: the registry cannot delete a single tag
	// (400/405 from a DELETE by tag).
	ErrTagDeleteUnsupported = errors.New("registry cannot delete single tags")
	// ErrReferrersUnsupported: no OCI 1.1 referrers API.
	ErrReferrersUnsupported = errors.New("registry has no referrers API")
	// ErrRateLimited: the registry kept answering 429 after retries.
	ErrRateLimited = errors.New("rate limited")
	// ErrProtected: the registry protects the manifest or tag (a lock, an
	// immutability rule, a download limit, referenced by an index): that
	// item is kept, and nothing else is affected. A *ProtectedError says why.
	ErrProtected = errors.New("protected by the registry")
	// ErrQuota: a quota of the caller's is spent (Docker Hub's pull
	// limit): no retry can succeed before it resets, so the requests it
	// covers are not sent again this run.
	ErrQuota = errors.New("quota spent")
	// ErrUntaggedUnsupported: the registry cannot list its untagged
	// manifests (the OCI API lists tags only).
	ErrUntaggedUnsupported = errors.New("registry cannot list untagged manifests")
)

// Mark returns err marked with sentinel: errors.Is(result, sentinel) holds,
// err's own chain is kept, and the message is err's. It is how a backend
// classifies a registry answer once, e.g.
// Mark(ErrNotFound, fmt.Errorf("delete %s: %w", digest, err)).
func Mark(sentinel, err error) error { return &marked{sentinel: sentinel, err: err} }

type marked struct {
	sentinel error
	err      error
}

func (e *marked) Error() string   { return e.err.Error() }
func (e *marked) Unwrap() []error { return []error{e.sentinel, e.err} }

// Auth returns the *AuthError of a 401 (ErrUnauthorized) or 403 (ErrDenied)
// answer, for the credentials who and the permission need, with the
// registry's own message detail; for any other status it returns nil.
// Every backend maps 401/403 through it, the registry API and the vendor
// APIs alike.
func Auth(status int, who, need, detail string) *AuthError {
	var sentinel error
	switch status {
	case http.StatusUnauthorized:
		sentinel = ErrUnauthorized
	case http.StatusForbidden:
		sentinel = ErrDenied
	default:
		return nil
	}
	return &AuthError{Status: status, Who: who, Need: need, Detail: detail, Err: sentinel}
}

// ParseTime reads a time as registries and their APIs write it (RFC 3339,
// with or without fractional seconds). An empty value, one that does not
// parse, and the zero time some APIs send for "never"
// (0001-01-01T00:00:00Z: Docker Hub, Harbor) are the zero time, which the
// planner reads as unknown (README, rule 1).
func ParseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}

// ProtectedError is a registry's refusal to delete one manifest or tag
// that it protects. The engine keeps the item with Reason, not as a
// failure, and goes on with every other deletion.
type ProtectedError struct {
	// Reason is what the report says of the item, e.g. "locked on the
	// registry (ACR: writeEnabled or deleteEnabled is false)".
	Reason string
	// Err is the registry's answer (nil when there is none to add).
	Err error
}

// Error is the reason, then the registry's answer.
func (e *ProtectedError) Error() string {
	if e.Err == nil {
		return e.Reason
	}
	return e.Reason + ": " + e.Err.Error()
}

// Unwrap returns ErrProtected and the registry's answer.
func (e *ProtectedError) Unwrap() []error { return []error{ErrProtected, e.Err} }

// ProtectedReason is the reason an item the registry refused to delete
// with err (an ErrProtected) is kept with: the ProtectedError's Reason,
// else the whole message.
func ProtectedReason(err error) string {
	var pe *ProtectedError
	if errors.As(err, &pe) {
		return pe.Reason
	}
	return err.Error()
}

// AuthError explains a 401/403: which credentials were used (never the
// secret) and what the operation needed.
type AuthError struct {
	// Status is the HTTP status (401 or 403).
	Status int
	// Who describes the credentials, e.g. `user "ci-bot" (from the username input)`.
	Who string
	// Need is the permission the operation needs, e.g. `delete on repository "app"`.
	Need string
	// Detail is the registry's own message, if any.
	Detail string
	// Err is ErrUnauthorized or ErrDenied.
	Err error
}

// Error says which credentials were refused and what they need.
func (e *AuthError) Error() string {
	verb := "refused"
	if e.Status == 403 {
		verb = "denied"
	}
	msg := fmt.Sprintf("registry %s access (%d) for %s: needs %s", verb, e.Status, e.Who, e.Need)
	if e.Status == 401 && !strings.HasPrefix(e.Who, "anonymous") {
		// A 401 to credentials is a wrong password or token as often
		// as a missing permission; the registry does not say which.
		msg = fmt.Sprintf("registry refused access (401) for %s: the credentials were not accepted, or they lack %s", e.Who, e.Need)
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Unwrap returns the sentinel.
func (e *AuthError) Unwrap() error { return e.Err }

// PartialError is a deletion made of several requests that failed part
// way (Docker Hub removing a digest's tags one by one, Artifact Registry
// untagging before the manifest DELETE): Done names the tags that were
// removed, which are reported deleted; the rest failed with Err.
type PartialError struct {
	Done []string
	Err  error
}

// Error is the failure and the tags removed before it.
func (e *PartialError) Error() string {
	return fmt.Sprintf("%v (tags removed before the failure: %s)", e.Err, strings.Join(e.Done, ", "))
}

// Unwrap returns the failure.
func (e *PartialError) Unwrap() error { return e.Err }

// UntaggedError is a manifest whose tags were removed but which the
// registry refused to delete (Docker Hub removes tags through one API and
// manifests through another): Done names the tags removed, which are
// reported deleted; the manifest stays stored, for Reason, and is not
// counted as freed. It is not a failure of the tags.
type UntaggedError struct {
	Done   []string
	Reason string
	Err    error
}

// Error is the reason and the registry's answer.
func (e *UntaggedError) Error() string {
	return fmt.Sprintf("untagged but not deleted: %s: %v", e.Reason, e.Err)
}

// Unwrap returns the registry's answer.
func (e *UntaggedError) Unwrap() error { return e.Err }
