// Package vendors is the list of every registry kind tagsweep knows, one
// line per vendor. A new vendor is a package under internal/registry
// exporting its connect.Descriptor, plus its line here (and its row in
// README's registries table and the provider input's description, which
// a test checks).
package vendors

import (
	"github.com/tagsweep/tagsweep/internal/registry/acr"
	"github.com/tagsweep/tagsweep/internal/registry/connect"
	"github.com/tagsweep/tagsweep/internal/registry/distribution"
	"github.com/tagsweep/tagsweep/internal/registry/dockerhub"
	"github.com/tagsweep/tagsweep/internal/registry/ecr"
	"github.com/tagsweep/tagsweep/internal/registry/gar"
	"github.com/tagsweep/tagsweep/internal/registry/ghcr"
	"github.com/tagsweep/tagsweep/internal/registry/gitlab"
	"github.com/tagsweep/tagsweep/internal/registry/harbor"
	"github.com/tagsweep/tagsweep/internal/registry/provider"
	"github.com/tagsweep/tagsweep/internal/registry/quay"
)

// All is every registry kind, in the order provider: auto asks them; the
// first, the generic OCI kind, is the fallback for hosts no vendor claims.
var All = connect.Vendors{
	&distribution.Descriptor,
	&ghcr.Descriptor,
	&dockerhub.Descriptor,
	&harbor.Descriptor,
	&ecr.Descriptor,
	&gar.Descriptor,
	&acr.Descriptor,
	&quay.Descriptor,
	&gitlab.Descriptor,
}

// Table is the Traits of All, for config and the CLI.
var Table provider.Table = All.Table()
