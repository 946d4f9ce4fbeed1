# syntax=docker/dockerfile:1
# tagsweep: a static binary on a small image that keeps a POSIX shell, so the
# same image serves as a GitHub docker action and as the job image of GitLab
# CI and Jenkins (which run their steps through sh).
#
# It runs as root by default, as GitHub requires of a docker action: "Docker
# actions must be run by the default Docker user (root). Do not use the USER
# instruction in your Dockerfile" (docs.github.com, Dockerfile support for
# GitHub Actions). The runner's files (GITHUB_OUTPUT, GITHUB_STEP_SUMMARY,
# the workspace) belong to the runner's own uid, which differs between
# runners. Anywhere else, run it as any non-root uid with a read-only root
# filesystem (docker run --user 1001 --read-only, Kubernetes runAsUser): it
# writes only report-file and the runner's files, and checks them before
# its first registry request.
#
# One Dockerfile, two ways to get the binary (BuildKit builds only the stage
# that BINARY names):
#   BINARY=source (the default): compile it here from the repository, for a
#     local build (docker build .) and for action.yml on main (image: Dockerfile);
#   BINARY=prebuilt: copy the binary GoReleaser built and checksummed from the
#     build context (<os>/<arch>/tagsweep, as GoReleaser's dockers_v2 lays it
#     out), so the released image holds exactly the released binary.
# The base images are tags, not digests (Dependabot keeps them current; see
# README "Dependencies").
ARG BINARY=source

FROM --platform=$BUILDPLATFORM golang:1.26-alpine AS source
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY internal ./internal
ARG VERSION=dev
ARG COMMIT=
ARG TARGETOS
ARG TARGETARCH
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath \
      -ldflags "-s -w -X github.com/tagsweep/tagsweep/internal/cli.Version=${VERSION} -X github.com/tagsweep/tagsweep/internal/cli.Commit=${COMMIT}" \
      -o /out/tagsweep ./cmd/tagsweep

FROM scratch AS prebuilt
ARG TARGETPLATFORM
COPY ${TARGETPLATFORM}/tagsweep /out/tagsweep

FROM ${BINARY} AS binary

FROM alpine:3.22
ARG VERSION=dev
ARG COMMIT=
LABEL org.opencontainers.image.title=tagsweep \
      org.opencontainers.image.description="Container registry retention: delete stale tags by count, age and semver without deleting a kept image." \
      org.opencontainers.image.source=https://github.com/tagsweep/tagsweep \
      org.opencontainers.image.url=https://github.com/tagsweep/tagsweep \
      org.opencontainers.image.version=${VERSION} \
      org.opencontainers.image.revision=${COMMIT}
RUN apk add --no-cache ca-certificates
COPY --from=binary /out/tagsweep /usr/local/bin/tagsweep
ENTRYPOINT ["/usr/local/bin/tagsweep"]
