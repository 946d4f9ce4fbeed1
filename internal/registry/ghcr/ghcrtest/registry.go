package ghcrtest

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// secretHeader marks the replica's own requests to the registry (its
// testregistry.SideChannel), which the GHCR-like hook lets through.
const secretHeader = "X-Ghcrtest-Secret"

// children returns the digests an index lists (nil for an image); ok is
// false when the manifest is gone.
func children(ctx context.Context, reg *testregistry.SideChannel, repo, digest string) (kids []string, ok bool, err error) {
	raw, _, ok, err := reg.Get(ctx, repo, digest)
	if err != nil || !ok {
		return nil, ok, err
	}
	var m struct {
		Manifests []struct {
			Digest string `json:"digest"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, false, fmt.Errorf("GET %s@%s: %w", repo, digest, err)
	}
	for _, d := range m.Manifests {
		kids = append(kids, d.Digest)
	}
	return kids, true, nil
}
