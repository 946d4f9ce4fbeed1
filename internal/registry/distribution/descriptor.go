// Package distribution describes the generic registry kind, provider
// `oci`: the OCI distribution API alone, as the CNCF distribution
// registry (the API's reference implementation) and every registry whose
// host names no vendor serve it (zot, Artifactory, Nexus, and Harbor,
// whose hosts are its users' own). It is the fallback of provider: auto.
package distribution

import (
	"github.com/tagsweep/tagsweep/internal/registry/connect"
	"github.com/tagsweep/tagsweep/internal/registry/oci"
	"github.com/tagsweep/tagsweep/internal/registry/provider"
)

// Descriptor is the generic kind: no host of its own (it is the
// fallback), no vendor API, no capability beyond the OCI API, which the
// oci backend probes at run time (single-tag delete, referrers, deletes
// off).
var Descriptor = connect.Descriptor{Traits: provider.Traits{
	Kind:  "oci",
	About: "the OCI distribution API only",
	// The registry behind an unknown host may be any of them: the CNCF
	// registry's garbage-collect command (distribution docs,
	// "Garbage collection"), Harbor's GC job (goharbor.io/docs/2.7.0/
	// administration/garbage-collection); zot, GitLab and Quay collect on
	// their own schedule.
	GCHint: oci.DistributionGCHint + " Harbor: run a garbage collection job (Administration > Clean Up). " +
		"zot, GitLab, Quay and the cloud registries collect garbage on their own schedule.",
	// The OCI API lists tags only: delete-untagged names the registry's
	// own way (distribution docs, "Garbage collection").
	UntaggedHint: oci.DistributionUntaggedHint,
}}
