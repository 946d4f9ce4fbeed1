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

// protection is an error answer with which a registry refuses to delete
// one manifest or tag that it protects.
type protection struct {
	status int
	// code is the registry's error code; "" matches any code.
	code string
	// reason is what the report says of the kept item. With detail, the
	// registry's own code and message follow it in parentheses.
	reason string
	detail bool
}

// protections are the answers known to name a per-item protection. Each
// cites where the answer is documented or reported.
var protections = []protection{
	// Azure Container Registry: an image, tag or repository locked with
	// `az acr repository update --write-enabled false` (or
	// `--delete-enabled false`) answers a DELETE with 405
	// {"errors":[{"code":"REGISTRY_DISALLOWED_OPERATION","detail":{},"message":"The operation is disallowed on this
	// registry, repository or image. View troubleshooting steps at https://aka.ms/acr/faq/#why-does-my-pull-or-push-request-fail-with-disallowed-operation"}]}
	// (Azure/acr-cli#70); `acr purge` skips such items and goes on
	// (Azure/acr-cli#134, fixed by #135).
	{status: http.StatusMethodNotAllowed, code: "REGISTRY_DISALLOWED_OPERATION",
		reason: "locked on the registry (ACR: writeEnabled or deleteEnabled is false)"},
	// Harbor: 412 PRECONDITION for an immutable tag, 412
	// VIOLATE_FOREIGN_KEY_CONSTRAINT for an artifact that another
	// references (src/controller/tag/controller.go, src/lib/errors/const.go).
	// The harbor backend words these reasons itself; this is the
	// registry API's answer on any backend.
	{status: http.StatusPreconditionFailed, reason: "the registry protects it", detail: true},
}

// deleteRefusal classifies an error answer to a DELETE, in one place: by
// the HTTP status and the registry's error code (the typed fields of
// ggcr's transport.Error), never by the wording. For itemProtected it
// also returns the reason the item is kept with.
func deleteRefusal(err error) (refusal, string) {
	var te *transport.Error
	if !errors.As(err, &te) {
		return notRefused, ""
	}
	for _, p := range protections {
		if te.StatusCode != p.status || (p.code != "" && !hasCode(te, p.code)) {
			continue
		}
		if !p.detail {
			return itemProtected, p.reason
		}
		if len(te.Errors) > 0 && te.Errors[0].Message != "" {
			return itemProtected, fmt.Sprintf("%s (%d %s: %s)", p.reason, te.StatusCode, te.Errors[0].Code, te.Errors[0].Message)
		}
		return itemProtected, fmt.Sprintf("%s (%d)", p.reason, te.StatusCode)
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
		return &statusError{sentinel: registry.ErrDeleteDisabled, err: errors.New(b.offMsg)}
	}
	if b.deletesOn {
		return nil
	}
	derr := b.sendDelete(ctx, repo, "sha256:"+strings.Repeat("0", 64))
	var te *transport.Error
	if kind, _ := deleteRefusal(derr); kind == methodRefused && errors.As(derr, &te) && te.StatusCode == http.StatusMethodNotAllowed {
		// Later deletes fail without a request, with an error that names
		// no request: the 405 that taught it may be another repository's.
		b.offMsg = deleteRefused(b.host, refused)
		e := error(&statusError{sentinel: registry.ErrDeleteDisabled, err: errors.New(b.offMsg + "; not sent")})
		b.deleteDisabled.Store(&e)
		return &statusError{sentinel: registry.ErrDeleteDisabled, err: errors.New(b.offMsg)}
	}
	if errors.As(derr, &te) && te.StatusCode == http.StatusNotFound {
		b.deletesOn = true
	}
	return nil
}

// deleteRefused explains, for the registry at hand, a registry that
// refuses deletes altogether; refused is the 405 it answered.
func deleteRefused(host string, refused error) string {
	h := strings.ToLower(host)
	switch {
	case h == "ghcr.io" || strings.HasSuffix(h, ".ghcr.io"):
		// skopeo#1880: GHCR answers the registry DELETE with 405 and deletes
		// through the GitHub Packages API only.
		return "GHCR refuses deletes through the registry API (405 UNSUPPORTED); it deletes package versions through the GitHub Packages API: use provider: ghcr (the default for ghcr.io) with a token that has delete:packages"
	case h == "docker.io" || h == "registry-1.docker.io" || h == "index.docker.io":
		// docker/hub-feedback#2360: Docker Hub deletes through the Hub API.
		return "Docker Hub refuses deletes through the registry API (405 UNSUPPORTED); it deletes tags through the Hub API: use provider: dockerhub (the default for docker.io) with an access token that has Read, Write, Delete scope"
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
