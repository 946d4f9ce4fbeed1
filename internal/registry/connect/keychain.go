package connect

import (
	"io"
	"os"

	ecr "github.com/awslabs/amazon-ecr-credential-helper/ecr-login"
	"github.com/chrismellard/docker-credential-acr-env/pkg/credhelper"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/google"

	"github.com/tagsweep/tagsweep/internal/registry/provider"
)

// Keychain returns the keychain asked when no username is given: the
// docker config first (what the user set up wins), then the cloud's own
// credential source for the cloud registries, so a runner with a cloud
// identity (AWS role, GCP workload identity, Azure service principal in
// AZURE_* variables) needs no password input.
func Keychain(k provider.Kind) authn.Keychain {
	switch k {
	case provider.ECR:
		// The helper caches tokens under ~/.ecr by default; tagsweep runs
		// once, possibly on a read-only root filesystem: no cache.
		if os.Getenv("AWS_ECR_DISABLE_CACHE") == "" && os.Getenv("AWS_ECR_CACHE_DIR") == "" {
			_ = os.Setenv("AWS_ECR_DISABLE_CACHE", "true")
		}
		return authn.NewMultiKeychain(authn.DefaultKeychain, authn.NewKeychainFromHelper(ecr.NewECRHelper(ecr.WithLogger(io.Discard))))
	case provider.GAR:
		return authn.NewMultiKeychain(authn.DefaultKeychain, google.Keychain)
	case provider.ACR:
		return authn.NewMultiKeychain(authn.DefaultKeychain, authn.NewKeychainFromHelper(credhelper.NewACRCredentialsHelper()))
	}
	return authn.DefaultKeychain
}
