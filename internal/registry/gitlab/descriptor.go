// Package gitlab describes the GitLab container registry
// (registry.gitlab.com): the OCI API alone.
package gitlab

import (
	"github.com/tagsweep/tagsweep/internal/registry/connect"
	"github.com/tagsweep/tagsweep/internal/registry/provider"
)

// Descriptor is the GitLab container registry.
var Descriptor = connect.Descriptor{Traits: provider.Traits{
	Kind:  "gitlab",
	About: "GitLab container registry: OCI API",
	Hosts: provider.Exactly("registry.gitlab.com"),
	// GitLab.com runs online garbage collection; a self-managed instance
	// runs `gitlab-ctl registry-garbage-collect`, or online GC with the
	// metadata database (docs.gitlab.com/administration/packages/container_registry,
	// "Container registry garbage collection").
	// docs.gitlab.com user/packages/container_registry/delete_container_registry_images:
	// untagged manifests and their layers are "scheduled for deletion in 24 hours".
	RestoreWindow: "within about 24 hours on GitLab.com (untagged manifests and their layers are scheduled for deletion then); self-managed, until garbage collection runs",
	GCHint:        "GitLab.com collects garbage itself; a self-managed instance needs `gitlab-ctl registry-garbage-collect` (or online GC with the metadata database).",
}}
