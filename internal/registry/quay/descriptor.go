// Package quay describes Quay (quay.io): the OCI API alone.
package quay

import (
	"github.com/tagsweep/tagsweep/internal/registry/connect"
	"github.com/tagsweep/tagsweep/internal/registry/provider"
)

// Descriptor is Quay.
var Descriptor = connect.Descriptor{Traits: provider.Traits{
	Kind:  "quay",
	About: "Quay: OCI API",
	Hosts: provider.Exactly("quay.io"),
	// Deleted tags stay restorable for the repository's time machine
	// window, two weeks by default, before Quay collects their storage
	// (docs.quay.io, "Tag expiration" and "time machine").
	GCHint: "Quay frees the storage after the repository's time machine window (default 2 weeks).",
}}
