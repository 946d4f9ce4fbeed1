// Package ecr describes Amazon Elastic Container Registry: the OCI API
// (ECR deletes by digest since its OCI 1.1 support, 2024) with AWS
// credentials.
package ecr

import (
	"io"
	"os"
	"strings"

	ecrlogin "github.com/awslabs/amazon-ecr-credential-helper/ecr-login"
	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/tagsweep/tagsweep/internal/registry/connect"
	"github.com/tagsweep/tagsweep/internal/registry/provider"
)

// Descriptor is Amazon ECR.
var Descriptor = connect.Descriptor{
	Traits: provider.Traits{
		Kind:  "ecr",
		About: "Amazon ECR: OCI API, AWS credentials",
		// Private registries are ACCOUNT.dkr.ecr.REGION.amazonaws.com, and
		// .amazonaws.com.cn in the China regions (docs.aws.amazon.com/
		// AmazonECR/latest/userguide/Registries.html).
		Hosts: func(h string) bool {
			return strings.Contains(h, ".dkr.ecr.") && (strings.HasSuffix(h, ".amazonaws.com") || strings.HasSuffix(h, ".amazonaws.com.cn"))
		},
		// ECR has no garbage collector to run (docs: "Deleting an image"),
		// and its lifecycle policies expire untagged images
		// (docs: "Lifecycle policies").
		GCHint: "ECR frees the storage of deleted images on its own; lifecycle policies can expire untagged images.",
	},
	Keychain: keychain,
}

// keychain is the docker config first (what the user set up wins), then
// the ECR credential helper (awslabs/amazon-ecr-credential-helper: the
// AWS environment, profile or role).
func keychain(connect.Settings) authn.Keychain {
	// The helper caches tokens under ~/.ecr by default; tagsweep runs
	// once, possibly on a read-only root filesystem: no cache.
	if os.Getenv("AWS_ECR_DISABLE_CACHE") == "" && os.Getenv("AWS_ECR_CACHE_DIR") == "" {
		_ = os.Setenv("AWS_ECR_DISABLE_CACHE", "true")
	}
	return authn.NewMultiKeychain(authn.DefaultKeychain, authn.NewKeychainFromHelper(ecrlogin.NewECRHelper(ecrlogin.WithLogger(io.Discard))))
}
