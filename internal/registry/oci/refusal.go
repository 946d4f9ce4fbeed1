package oci

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/tagsweep/tagsweep/internal/registry"
)

// refusal is what a registry meant by an error answer to a DELETE.
type refusal int

const (
	// notRefused: not a refusal of the deletion as such (404, 401/403,
	// 429, 5xx, no answer at all); classify maps it.
	notRefused refusal = iota
	// itemProtected: the registry protects this one manifest or tag (a
	// lock, an immutability rule). That item is kept; nothing else changes.
	itemProtected
	// methodRefused: the registry refuses this kind of DELETE without
	// naming a protection (400, or 405 such as distribution's UNSUPPORTED):
	// single-tag deletes are unsupported there, or deletes are off
	// altogether, which only the zero-digest probe tells (deletesOff).
	methodRefused
)

// Protection is an error answer with which a registry refuses to delete
// one manifest or tag that it protects. The vendor descriptors declare
// theirs, each citing where the answer is documented or reported.
type Protection struct {
	// Status is the HTTP status of the answer.
	Status int
	// Code is the registry's error code; "" matches any code.
	Code string
	// Reason is what the report says of the kept item. With Detail, the
	// registry's own code and message follow it in parentheses.
	Reason string
	Detail bool
}

// deleteRefusal classifies an error answer to a DELETE, in one place: by
// the HTTP status and the registry's error code (the typed fields of
// ggcr's transport.Error), never by the wording. For itemProtected it
// also returns the reason the item is kept with.
func (b *Backend) deleteRefusal(err error) (refusal, string) {
	var te *transport.Error
	if !errors.As(err, &te) {
		return notRefused, ""
	}
	for _, p := range b.protections {
		if te.StatusCode != p.Status || (p.Code != "" && !hasCode(te, p.Code)) {
			continue
		}
		if !p.Detail {
			return itemProtected, p.Reason
		}
		if len(te.Errors) > 0 && te.Errors[0].Message != "" {
			return itemProtected, fmt.Sprintf("%s (%d %s: %s)", p.Reason, te.StatusCode, te.Errors[0].Code, te.Errors[0].Message)
		}
		return itemProtected, fmt.Sprintf("%s (%d)", p.Reason, te.StatusCode)
	}
	switch te.StatusCode {
	case http.StatusBadRequest, http.StatusMethodNotAllowed:
		return methodRefused, ""
	}
	return notRefused, ""
}

func hasCode(te *transport.Error, code string) bool {
	for _, d := range te.Errors {
		if string(d.Code) == code {
			return true
		}
	}
	return false
}

// deleteAnswer is a registry's error answer to a DELETE, with the
// response headers, which tell what kind of registry answered.
type deleteAnswer struct {
	err    error
	header http.Header
}

func (a *deleteAnswer) Error() string { return a.err.Error() }
func (a *deleteAnswer) Unwrap() error { return a.err }

// answersLikeDistribution reports whether a refusal came from the CNCF
// distribution registry (or a registry built on it): distribution sets
// `Docker-Distribution-API-Version: registry/2.0` on every answer
// (registry/handlers/app.go) and refuses a DELETE with delete disabled
// with 405 UNSUPPORTED (registry/handlers/manifests.go, DeleteManifest).
func answersLikeDistribution(err error) bool {
	var a *deleteAnswer
	var te *transport.Error
	return errors.As(err, &a) && a.header.Get("Docker-Distribution-Api-Version") == "registry/2.0" &&
		errors.As(err, &te) && hasCode(te, "UNSUPPORTED")
}

// deletesOff tells, after a 405 that names no protection, whether the
// registry refuses deletes altogether: it asks once, by deleting a digest
// that does not exist (all zeros), which deletes nothing. A registry with
// deletes off refuses that too (405); one that deletes answers 404. The
// answer is remembered. It returns the ErrDeleteDisabled error naming the
// fix, or nil when deletes are on (the 405 was about one item).
func (b *Backend) deletesOff(ctx context.Context, repo string, refused error) error {
	b.offMu.Lock()
	defer b.offMu.Unlock()
	if b.offMsg != "" {
		return registry.Mark(registry.ErrDeleteDisabled, errors.New(b.offMsg))
	}
	if b.deletesOn {
		return nil
	}
	derr := b.sendDelete(ctx, repo, "sha256:"+strings.Repeat("0", 64))
	var te *transport.Error
	if kind, _ := b.deleteRefusal(derr); kind == methodRefused && errors.As(derr, &te) && te.StatusCode == http.StatusMethodNotAllowed {
		// Later deletes fail without a request, with an error that names
		// no request: the 405 that taught it may be another repository's.
		b.offMsg = b.deletesOffMessage(refused)
		e := registry.Mark(registry.ErrDeleteDisabled, errors.New(b.offMsg+"; not sent"))
		b.deleteDisabled.Store(&e)
		return registry.Mark(registry.ErrDeleteDisabled, errors.New(b.offMsg))
	}
	if errors.As(derr, &te) && te.StatusCode == http.StatusNotFound {
		b.deletesOn = true
	}
	return nil
}

// deletesOffMessage explains a registry that refuses deletes altogether;
// refused is the 405 it answered. A hint given WithDeletesOffHint (a
// registry that deletes through its own API) comes first.
func (b *Backend) deletesOffMessage(refused error) string {
	switch {
	case b.offHint != "":
		return b.offHint
	case answersLikeDistribution(refused):
		return "the registry refuses deletes (405 UNSUPPORTED): it answers like the CNCF distribution registry, which deletes only with " +
			"REGISTRY_STORAGE_DELETE_ENABLED=true (storage.delete.enabled: true in its config.yml); set it and restart the registry"
	}
	code := ""
	var te *transport.Error
	if errors.As(refused, &te) && len(te.Errors) > 0 {
		code = " " + string(te.Errors[0].Code)
	}
	return fmt.Sprintf("the registry refuses deletes (405%s): enable deletes on this registry", code)
}
