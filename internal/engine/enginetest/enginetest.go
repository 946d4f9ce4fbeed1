// Package enginetest runs the real engine for the tests of other packages
// (a vendor backend's engine test, the conformance of a whole sweep).
package enginetest

import (
	"context"
	"testing"

	"github.com/tagsweep/tagsweep/internal/engine"
	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/report"
)

// Run sweeps b with o and returns the report with every repository in
// memory (Report.Unspool: the engine spools finished repositories, and a
// caller that reads Repositories without unspooling sees none).
func Run(t testing.TB, ctx context.Context, b registry.Backend, o engine.Options) *report.Report {
	t.Helper()
	rep := engine.New(b, o).Run(ctx)
	if err := rep.Unspool(); err != nil {
		t.Fatal(err)
	}
	return rep
}
