# syntax=docker/dockerfile:1
# tagsweep: a static binary on a small non-root image that keeps a POSIX
# shell, so the same image serves as a GitHub docker action and as the job
# image of GitLab CI and Jenkins (which run their steps through sh).

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
RUN apk add --no-cache ca-certificates \
 && adduser -D -H -u 1001 -s /bin/sh tagsweep
COPY --from=build /out/tagsweep /usr/local/bin/tagsweep
# uid 1001 is the runner user of GitHub-hosted runners: a docker action
# appends to GITHUB_OUTPUT and GITHUB_STEP_SUMMARY, files the runner owns.
USER 1001
ENTRYPOINT ["/usr/local/bin/tagsweep"]
