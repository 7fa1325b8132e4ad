#!/usr/bin/env bash
# Everything `make up IMAGES=local` needs, built on this machine from package registries only:
#   1. the binaries (Go module proxy)          docker/local/go-binaries.sh
#   2. the Debian base image (debootstrap)      docker/local/base-image.sh
#   3. the kind node image                      docker/local/node-image.sh
#   4. the KubeRay operator image               (here)
#   5. Ray, Airflow, Postgres, MinIO, mc        docker/local/app-images.sh
# Each step keeps what it already built (the cache is $CACHE and the local Docker images), so a
# second run takes seconds; the first about 16 minutes on 2 cores (measured: charts/README.md).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=docker/local/versions.sh
source "$HERE/versions.sh"
# shellcheck source=docker/local/docker-cli.sh
source "$HERE/docker-cli.sh"
start=$SECONDS
step() { printf '==> [%4ds] %s\n' $((SECONDS - start)) "$*"; }

step "binaries (cache: $CACHE/bin)"
"$HERE/go-binaries.sh"
step "Debian base image"
"$HERE/base-image.sh"
step "kind node image"
"$HERE/node-image.sh"

OPERATOR_IMAGE="$LOCAL_OPERATOR_IMAGE"
if [[ -n "${FORCE:-}" ]] || ! docker image inspect "$OPERATOR_IMAGE" >/dev/null 2>&1; then
  step "KubeRay operator image $OPERATOR_IMAGE"
  ctx="$(mktemp -d)"
  trap 'rm -rf "$ctx"' EXIT
  ln "$CACHE/bin/kuberay-operator" "$ctx/" 2>/dev/null || cp -p "$CACHE/bin/kuberay-operator" "$ctx/"
  build_image -f "$HERE/components.Dockerfile" --target kuberay-operator -t "$OPERATOR_IMAGE" "$ctx"
fi

step "Ray, Airflow, Postgres and MinIO images"
"$HERE/app-images.sh"
step "all images built"
