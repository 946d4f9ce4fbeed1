// Package acr describes Azure Container Registry: the OCI API with Azure
// credentials, its metadata API (tag listing with lock attributes, the
// untag API) and its locks.
package acr

import (
	"net/http"

	"github.com/tagsweep/tagsweep/internal/registry/connect"
	"github.com/tagsweep/tagsweep/internal/registry/oci"
	"github.com/tagsweep/tagsweep/internal/registry/provider"
)

// LockedReason is the reason an image or tag locked on ACR is kept with.
const LockedReason = "locked on the registry (ACR: writeEnabled or deleteEnabled is false)"

// lockCode is ACR's error code for a delete of a locked item.
const lockCode = "REGISTRY_DISALLOWED_OPERATION"

// Descriptor is Azure Container Registry.
var Descriptor = connect.Descriptor{
	Traits: provider.Traits{
		Kind:  "acr",
		About: "Azure Container Registry: OCI API and ACR metadata API, Azure credentials",
		// NAME.azurecr.io, and the sovereign clouds' azurecr.cn and
		// azurecr.us (learn.microsoft.com/azure/container-registry/
		// container-registry-get-started-portal, "login server").
		Hosts: provider.Under(".azurecr.io", ".azurecr.cn", ".azurecr.us"),
		// No garbage collector to run; with soft delete, deleted manifests
		// are kept for its retention period (container-registry-soft-delete-policy).
		// learn.microsoft.com container-registry-delete: "deleted image data
		// is UNRECOVERABLE"; container-registry-soft-delete-policy: with soft
		// delete, "Pushing an image that shares a same manifest digest with
		// the soft deleted image is not allowed. Instead restore the soft
		// deleted image."
		RestoreRefused: "Azure Container Registry takes no deleted manifest back by push: without soft delete a deletion is final " +
			"(\"deleted image data is UNRECOVERABLE\"), and with soft delete a push of its digest is refused; while soft delete keeps it, " +
			"restore each one with `az acr manifest restore -r <registry> -n <repository>:<tag> -d <digest>` (the undo file names the digests)",
		GCHint: "ACR frees the storage of deleted manifests on its own (with soft delete enabled, after the retention period).",
	},
	Protections: []oci.Protection{
		// An image, tag or repository locked with `az acr repository update
		// --write-enabled false` (or `--delete-enabled false`) answers a
		// DELETE with 405
		// {"errors":[{"code":"REGISTRY_DISALLOWED_OPERATION","detail":{},"message":"The operation is disallowed on this
		// registry, repository or image. View troubleshooting steps at https://aka.ms/acr/faq/#why-does-my-pull-or-push-request-fail-with-disallowed-operation"}]}
		// (Azure/acr-cli#70); `acr purge` skips such items and goes on
		// (Azure/acr-cli#134, fixed by #135).
		{Status: http.StatusMethodNotAllowed, Code: lockCode, Reason: LockedReason},
	},
	// The docker config first, then the Azure identity of the
	// environment, exchanged for an ACR token (keychain.go).
	Keychain: keychain,
	// Tags listed and untagged through ACR's metadata API (acr.go).
	Build: func(env connect.Env) (*connect.Built, error) {
		reg, err := env.Registry(env.Credentials)
		if err != nil {
			return nil, err
		}
		return &connect.Built{Backend: New(reg), Who: reg.Who(), Requests: func() int64 { return reg.Stats().Requests }}, nil
	},
}
