#!/usr/bin/env bash
# Builds the application images of the local (air-gapped) cluster without a container registry,
# on the Debian base image of docker/local/base-image.sh, from Debian packages, PyPI and the
# binaries of docker/local/go-binaries.sh:
#   ray       ray-platform/ray:<ray>-py<python>       docker/local/ray.Dockerfile
#   airflow   ray-platform/airflow:<airflow>-python<python>   docker/local/airflow.Dockerfile
#   postgres  $LOCAL_POSTGRES_IMAGE (ray-platform/postgres:<major>)   docker/local/postgres.Dockerfile
#   minio     $LOCAL_MINIO_IMAGE (ray-platform/minio:<MINIO_VERSION>)   docker/local/minio.Dockerfile
#   mc        $LOCAL_MC_IMAGE (ray-platform/mc:<MC_VERSION>)      docker/local/minio.Dockerfile
# The Ray and Airflow images have the names and tags of the internet path (docker/*.Dockerfile),
# so the chart and the Airflow values need no override; their versions come from the chart's
# `versions:` block (charts/scripts/lib.sh), the other names from docker/local/versions.sh
# (charts/values/local-images.yaml points the chart at them). An image whose tag exists is kept
# (from either path), except a Ray or Airflow image built from other repository files than
# today's (the provider, the DAGs, the requirements: a label records their hash); FORCE=1
# rebuilds any.
#
# Usage: docker/local/app-images.sh [NAME ...]   build (default: all, in the order above)
#        docker/local/app-images.sh --list       print "NAME IMAGE" for every image, build nothing
# Settings (environment):
#   FORCE=1            rebuild images that exist
#   EXTRA_CA_BUNDLE    PEM bundle pip trusts inside the builds, for TLS-intercepting proxies
#                      (default: the host's /etc/ssl/certs/ca-certificates.crt when it exists).
#                      It reaches pip as a BuildKit secret: never in a layer or the context.
#   BASE_IMAGE         base of every image (default ray-platform/debian:$DEBIAN_SUITE)
#   APP_IMAGES_LOGS    where the build logs go (default $CACHE/logs)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=docker/local/versions.sh
source "$HERE/versions.sh"
# shellcheck source=docker/local/docker-cli.sh
source "$HERE/docker-cli.sh"
# Settings and chart_version only (it runs nothing): RAY_IMAGE and AIRFLOW_IMAGE are the names
# `make up` and the chart use.
# shellcheck source=charts/scripts/lib.sh
source "$HERE/../../charts/scripts/lib.sh"

BASE_IMAGE="${BASE_IMAGE:-ray-platform/debian:$DEBIAN_SUITE}"
# The Postgres tag is its major version (Debian's postgresql-<major> package).
PG_MAJOR="${LOCAL_POSTGRES_IMAGE##*:}"
LOGS="${APP_IMAGES_LOGS:-$CACHE/logs}"
NAMES=(ray airflow postgres minio mc)
declare -A IMAGE=(
  [ray]="$RAY_IMAGE"
  [airflow]="$AIRFLOW_IMAGE"
  [postgres]="$LOCAL_POSTGRES_IMAGE"
  [minio]="$LOCAL_MINIO_IMAGE"
  [mc]="$LOCAL_MC_IMAGE"
)

log() { printf '==> [%s] %s\n' "$(date +%H:%M:%S)" "$*"; }

if [[ "${1:-}" == --list ]]; then
  for name in "${NAMES[@]}"; do printf '%s %s\n' "$name" "${IMAGE[$name]}"; done
  exit 0
fi
for name in "$@"; do
  [[ -n "${IMAGE[$name]:-}" ]] || die "unknown image '$name' (known: ${NAMES[*]})"
done

CA_BUNDLE="${EXTRA_CA_BUNDLE:-}"
if [[ -n "$CA_BUNDLE" ]]; then
  [[ -r "$CA_BUNDLE" ]] || die "EXTRA_CA_BUNDLE=$CA_BUNDLE is not a readable file."
elif [[ -r /etc/ssl/certs/ca-certificates.crt ]]; then
  CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
fi
PIP_SECRET=()
[[ -z "$CA_BUNDLE" ]] || PIP_SECRET=(--secret "id=ca_bundle,src=$CA_BUNDLE")

# A directory for the build context of the images that take no repository files.
TMP_CONTEXTS=()
cleanup() { ((${#TMP_CONTEXTS[@]})) && rm -rf "${TMP_CONTEXTS[@]}"; return 0; }
trap cleanup EXIT
temp_context() {
  local dir
  dir="$(mktemp -d "${TMPDIR:-/tmp}/app-images.XXXXXX")"
  TMP_CONTEXTS+=("$dir")
  cp "$@" "$dir/"
  chmod 0755 "$dir"/*
  CONTEXT="$dir"
}

# Go binary of go-binaries.sh for minio/mc, built now when missing (minutes).
go_binary() {
  if [[ ! -x "$CACHE/bin/$1" ]]; then
    log "$1: $CACHE/bin/$1 is missing, building it with docker/local/go-binaries.sh $1" >&2
    "$HERE/go-binaries.sh" "$1" >&2
  fi
  printf '%s\n' "$CACHE/bin/$1"
}

# The repository files an image is built from (none: it takes no repository files).
SOURCE_LABEL=ray-platform.sources
sources_of() {
  case "$1" in
    ray) printf '%s\n' docker/requirements provider docker/local/ray.Dockerfile ;;
    airflow) printf '%s\n' docker/requirements provider dags docker/local/airflow.Dockerfile ;;
  esac
}

# SHA-256 over the names and contents of an image's repository files (working tree, caches
# left out), so a changed provider or DAG folder makes a new image.
sources_hash() {
  local paths
  mapfile -t paths < <(sources_of "$1")
  ((${#paths[@]})) || return 0
  (cd "$ROOT" && find "${paths[@]}" -type f -not -path '*/__pycache__/*' -not -name '*.pyc' \
    -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
}

# Arguments: name; runs the build with the log in $LOGS/<name>.log, then a quick check.
build() {
  local name="$1" image="${IMAGE[$1]}" logfile="$LOGS/$1.log" args=() check=() started=$SECONDS
  CONTEXT="$ROOT"
  case "$name" in
    ray)
      args=(-f "$HERE/ray.Dockerfile" "${PIP_SECRET[@]}"
        --build-arg "RAY_VERSION=$RAY_VERSION" --build-arg "PYTHON_VERSION=$PYTHON_VERSION")
      check=(bash -lc 'ray --version')
      ;;
    airflow)
      args=(-f "$HERE/airflow.Dockerfile" "${PIP_SECRET[@]}"
        --build-arg "AIRFLOW_VERSION=$AIRFLOW_VERSION" --build-arg "PYTHON_VERSION=$PYTHON_VERSION")
      check=(airflow version)
      ;;
    postgres)
      temp_context "$HERE/files/postgres-entrypoint.sh"
      args=(-f "$HERE/postgres.Dockerfile" --build-arg "PG_MAJOR=$PG_MAJOR")
      check=(postgres --version)
      ;;
    minio | mc)
      local bin
      bin="$(go_binary "$name")"
      temp_context "$bin"
      args=(-f "$HERE/minio.Dockerfile" --target "$name")
      check=(--version)
      ;;
  esac
  local sources
  sources="$(sources_hash "$name")"
  [[ -z "$sources" ]] || args+=(--label "$SOURCE_LABEL=$sources")
  log "$name: building $image (log: $logfile)"
  # build_image (docker-cli.sh): docker buildx, else a docker CLI with BuildKit built in.
  if ! build_image --progress=plain --build-arg "BASE_IMAGE=$BASE_IMAGE" "${args[@]}" \
      -t "$image" "$CONTEXT" >"$logfile" 2>&1; then
    tail -n 30 "$logfile" >&2
    die "$name: the build of $image failed after $((SECONDS - started)) s (whole log: $logfile)."
  fi
  local out
  if ! out="$(docker run --rm "$image" "${check[@]}" 2>&1)"; then
    printf '%s\n' "$out" >&2
    die "$name: $image was built but '${check[*]}' fails in it."
  fi
  log "$name: $image built in $((SECONDS - started)) s ($(head -n 1 <<<"$out"))"
}

check_prerequisites docker
[[ "$PG_MAJOR" =~ ^[0-9]+$ ]] || die "the tag of LOCAL_POSTGRES_IMAGE ($LOCAL_POSTGRES_IMAGE) must be the Postgres major version."
mkdir -p "$LOGS"
if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  [[ "$BASE_IMAGE" == "ray-platform/debian:$DEBIAN_SUITE" ]] ||
    die "base image $BASE_IMAGE is not in the engine: build or load it, or unset BASE_IMAGE."
  "$HERE/base-image.sh"
fi
log "base: $BASE_IMAGE; CA bundle for pip: ${CA_BUNDLE:-none (pip uses its own)}"
total=$SECONDS
for name in "${@:-${NAMES[@]}}"; do
  if [[ "${FORCE:-0}" != 1 ]] && docker image inspect "${IMAGE[$name]}" >/dev/null 2>&1; then
    wanted="$(sources_hash "$name")"
    built="$(docker image inspect -f "{{ index .Config.Labels \"$SOURCE_LABEL\" }}" "${IMAGE[$name]}" 2>/dev/null || true)"
    if [[ -z "$wanted" || "$built" == "$wanted" ]]; then
      log "$name: ${IMAGE[$name]} present, kept (FORCE=1 rebuilds it)"
      continue
    fi
    log "$name: ${IMAGE[$name]} was built from other repository files (${built:-unlabelled}, now $wanted): rebuilding"
  fi
  build "$name"
done
log "images ready in $((SECONDS - total)) s"
