#!/usr/bin/env bash
# Builds helm into a cache directory from the Go module proxy, once:
#   deploy/tools/install-helm.sh <cache-dir>
# installs <cache-dir>/bin/helm when it is missing (about 5 minutes on a cold Go cache; later
# runs find the binary and only print its version). Needs `go` on PATH.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.22.0}"

if [ "$#" -ne 1 ]; then
  echo "usage: $0 <cache-dir>   (installs <cache-dir>/bin/helm ${HELM_VERSION})" >&2
  exit 2
fi

cache="$1"
mkdir -p "$cache/bin"
cache="$(cd "$cache" && pwd)"
helm="$cache/bin/helm"

if [ ! -x "$helm" ]; then
  if ! command -v go >/dev/null 2>&1; then
    echo "error: go is not on PATH; helm ${HELM_VERSION} is built with 'go install'." >&2
    echo "       install Go (https://go.dev/dl/) or put a helm binary at $helm" >&2
    exit 1
  fi
  echo "building helm ${HELM_VERSION} into $cache/bin (first run only, a few minutes)" >&2
  GOBIN="$cache/bin" GOFLAGS=-mod=mod CGO_ENABLED=0 \
    go install "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
fi

"$helm" version --short
