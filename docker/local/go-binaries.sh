#!/usr/bin/env bash
# Builds, from the Go module proxy, every binary that the local (air-gapped) cluster needs and
# that no Debian package provides: Kubernetes 1.34 (node and control plane), kind, etcd,
# CoreDNS, kube-router (NetworkPolicy), local-path-provisioner, the KubeRay operator, MinIO and mc.
# MinIO is also the S3 server of the tests, `make demo` and the benchmarks (`make tools` builds
# it); SeaweedFS (`seaweedfs`, the `weed` binary) is built only when named, for the benchmark.
# Output: $CACHE/bin/<name>; a binary already there is kept (delete it to rebuild). The Go
# module and build caches make a rebuild after a wipe of $CACHE take seconds; a cold build of all
# of them takes about 12 minutes on 2 cores.
#
# Usage: docker/local/go-binaries.sh [NAME ...]   (default: all of `targets` below)
set -euo pipefail
# shellcheck source=docker/local/versions.sh
source "$(dirname "${BASH_SOURCE[0]}")/versions.sh"

GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
[[ -x "$GO" ]] || { echo "error: Go is needed to build the local cluster's binaries: install it (https://go.dev/dl/) and rerun." >&2; exit 1; }
BIN="$CACHE/bin"
SRC="$CACHE/src"
mkdir -p "$BIN" "$SRC"
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local

log() { printf '==> [%s] %s\n' "$(date +%H:%M:%S)" "$*"; }

# A throw-away main module that requires MODULE@VERSION, so that `go build PKG` works even
# where the module has replace directives (which `go install pkg@version` refuses).
# Arguments: dir module version [extra go.mod lines...]
wrapper_module() {
  local dir="$SRC/$1" module="$2" version="$3"
  shift 3
  mkdir -p "$dir"
  {
    printf 'module local/%s\n\ngo 1.24\n\nrequire %s %s\n' "$(basename "$dir")" "$module" "$version"
    printf '%s\n' "$@"
  } >"$dir/go.mod"
  # Imports of the packages to build, so that `go mod tidy` records all their dependencies
  # (the build tag keeps the file out of every real build).
  { printf '//go:build tools\n\npackage tools\n\nimport (\n'
    for p in ${IMPORTS:-$module}; do printf '\t_ "%s"\n' "$p"; done
    printf ')\n'; } >"$dir/tools.go"
  (cd "$dir" && "$GO" mod tidy >/dev/null)
}

# The path of MODULE@VERSION's go.mod in the module cache (downloaded when missing).
module_gomod() {
  "$GO" mod download -json "$1@$2" | sed -n 's/^\s*"GoMod": "\(.*\)",*$/\1/p'
}

# The replace directives of MODULE@VERSION's own go.mod (modules it builds against other than
# their released versions), copied into the wrapper so the build matches upstream's.
upstream_replaces() {
  local mod
  mod="$(module_gomod "$1" "$2")"
  # (A replacement by a local directory, ./x or ../x, is the module's own repository: skipped.)
  awk '/^replace \($/ {inside=1; next} inside && /^\)/ {inside=0} inside && $0 !~ /=> *\./ {print "replace " $0}
       /^replace [^(]/ && $0 !~ /=> *\./ {print}' "$mod"
}

build_kubernetes() {
  local v="$KUBERNETES_VERSION" minor staging=() m
  minor="${v#v1.}"; minor="${minor%%.*}"
  # k8s.io/kubernetes refers to its staging modules as ./staging/...: point each at its release.
  for m in $(staging_modules); do staging+=("replace k8s.io/$m => k8s.io/$m v0.${v#v1.}"); done
  local cmds=() c
  for c in kubelet kubeadm kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy; do
    cmds+=("k8s.io/kubernetes/cmd/$c")
  done
  IMPORTS="${cmds[*]}" wrapper_module kubernetes k8s.io/kubernetes "$v" "${staging[@]}"
  local pkg=k8s.io/component-base/version cpkg=k8s.io/client-go/pkg/version date
  date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  local ld="-s -w"
  for p in "$pkg" "$cpkg"; do
    ld+=" -X $p.gitVersion=$v -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=$date"
  done
  log "building Kubernetes $v (kubelet, kubeadm, kubectl, apiserver, controller-manager, scheduler, proxy); about 5 min on 2 cores the first time"
  (cd "$SRC/kubernetes" && "$GO" build -trimpath -ldflags "$ld" -o "$BIN/" "${cmds[@]}")
}

# The staging module names, read from k8s.io/kubernetes's own go.mod (its ./staging replaces).
staging_modules() {
  sed -n 's#^\s*k8s.io/\([a-z0-9-]*\) => ./staging/.*#\1#p' "$(module_gomod k8s.io/kubernetes "$KUBERNETES_VERSION")"
}

# Arguments: output-name dir module version package [ldflags]
build_one() {
  local name="$1" dir="$2" module="$3" version="$4" pkg="$5" ld="${6:-}"
  log "building $name ($module $version)"
  mapfile -t reps < <(upstream_replaces "$module" "$version")
  IMPORTS="$pkg" wrapper_module "$dir" "$module" "$version" "${reps[@]}"
  (cd "$SRC/$dir" && "$GO" build -trimpath -ldflags "-s -w $ld" -o "$BIN/$name" "$pkg")
}

build() {
  case "$1" in
    kubernetes) build_kubernetes ;;
    kind) build_one kind kind sigs.k8s.io/kind "$KIND_VERSION" sigs.k8s.io/kind ;;
    etcd) build_one etcd etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" go.etcd.io/etcd/server/v3
          build_one etcdctl etcdctl go.etcd.io/etcd/etcdctl/v3 "$ETCD_VERSION" go.etcd.io/etcd/etcdctl/v3 ;;
    coredns) build_one coredns coredns github.com/coredns/coredns "$COREDNS_VERSION" github.com/coredns/coredns ;;
    kube-router) build_one kube-router kube-router github.com/cloudnativelabs/kube-router/v2 \
          "$KUBE_ROUTER_VERSION" github.com/cloudnativelabs/kube-router/v2/cmd/kube-router ;;
    local-path-provisioner) build_one local-path-provisioner lpp github.com/rancher/local-path-provisioner \
          "$LOCAL_PATH_PROVISIONER_VERSION" github.com/rancher/local-path-provisioner ;;
    kuberay-operator) build_one kuberay-operator kuberay github.com/ray-project/kuberay/ray-operator \
          "$KUBERAY_VERSION" github.com/ray-project/kuberay/ray-operator ;;
    minio) build_one minio minio github.com/minio/minio "$MINIO_VERSION" github.com/minio/minio ;;
    mc) build_one mc mc github.com/minio/mc "$MC_VERSION" github.com/minio/mc ;;
    # SeaweedFS: only for the checkpoint benchmark (bench/suites/checkpoint_throughput.py), so
    # not in the default list below; build it by name.
    seaweedfs) build_one weed seaweedfs github.com/seaweedfs/seaweedfs "$SEAWEEDFS_VERSION" \
          github.com/seaweedfs/seaweedfs/weed ;;
    *) echo "error: unknown binary '$1' (known: ${targets[*]} ${extra_targets[*]})" >&2; exit 2 ;;
  esac
}

# name -> the file that proves it is built
targets=(kubernetes kind etcd coredns kube-router local-path-provisioner kuberay-operator minio mc)
# Built only when named (not part of the local cluster).
extra_targets=(seaweedfs)
declare -A marker=([kubernetes]=kubelet [etcd]=etcdctl [seaweedfs]=weed)
for t in "${@:-${targets[@]}}"; do
  if [[ -x "$BIN/${marker[$t]:-$t}" ]]; then log "$t: cached in $BIN"; continue; fi
  build "$t"
done
log "binaries in $BIN"
