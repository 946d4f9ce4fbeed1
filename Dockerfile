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

FROM golang:1.26-alpine AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY internal ./internal
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/tagsweep/tagsweep/internal/cli.Version=${VERSION}" \
      -o /out/tagsweep ./cmd/tagsweep

FROM alpine:3.22
RUN apk add --no-cache ca-certificates
COPY --from=build /out/tagsweep /usr/local/bin/tagsweep
ENTRYPOINT ["/usr/local/bin/tagsweep"]
