// Package shipcheck holds the checks of what tagsweep ships that are not Go
// code of the main module: the GitHub workflows and README's workflow examples
// (actionlint), the GoReleaser configuration (goreleaser check, a snapshot
// build), the release's image name against action.yml, the Kubernetes
// manifests (kustomize, then strict decoding into the Kubernetes API types),
// the GitLab CI template and the Dependabot configuration.
//
// It is a nested module (tools/go.mod) so that these heavy dependencies never
// reach the main module, its go.sum or the image's `go mod download` layer.
// .ci/run runs `go test ./...` here.
package shipcheck
