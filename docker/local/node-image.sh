#!/usr/bin/env bash
# Builds the kind node image for a machine that reaches no container registry:
#   ray-platform/kind-node:<Kubernetes version>
# with every image the cluster needs before this project's own (control plane, kube-proxy, etcd,
# CoreDNS, pause, the pod network, NetworkPolicy, local-path storage) already in its containerd,
# so `kind create cluster --image` pulls nothing. Kept when it exists (FORCE=1 rebuilds).
# Needs the binaries of docker/local/go-binaries.sh and the base of docker/local/base-image.sh.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=docker/local/versions.sh
source "$HERE/versions.sh"
# shellcheck source=docker/local/docker-cli.sh
source "$HERE/docker-cli.sh"

BIN="$CACHE/bin"
NODE_IMAGE="ray-platform/kind-node:$KUBERNETES_VERSION"
BASE_IMAGE="ray-platform/debian:$DEBIAN_SUITE"
ETCD_TAG="${ETCD_VERSION#v}-0"
SANDBOX_IMAGE="ray-platform/pause:local"
log() { printf '==> [%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

if [[ -z "${FORCE:-}" ]] && docker image inspect "$NODE_IMAGE" >/dev/null 2>&1; then
  log "$NODE_IMAGE: present"
  exit 0
fi
for b in kubelet kubeadm kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy \
  etcd etcdctl coredns kube-router local-path-provisioner; do
  [[ -x "$BIN/$b" ]] || die "$BIN/$b is missing: run docker/local/go-binaries.sh first (make up IMAGES=local does)."
done
docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 || "$HERE/base-image.sh"
KIND_DIR="$(GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/kind@$KIND_VERSION" | jq -r .Dir)"
[[ -d "$KIND_DIR/images/base/files" ]] || die "kind $KIND_VERSION's source is not in the Go module cache"

work="$(mktemp -d)"
container=""
cleanup() {
  [[ -n "$container" ]] && docker rm -f "$container" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

# A build context holding just the named files (hard links where possible: no copies of 100 MB).
context() {
  local dir="$work/$1"
  shift
  mkdir -p "$dir"
  local f
  for f in "$@"; do ln "$f" "$dir/" 2>/dev/null || cp -p "$f" "$dir/"; done
  echo "$dir"
}

log "compiling the pause sandbox (static)"
gcc -static -O2 -o "$work/pause" "$HERE/files/pause.c"

# name | target | build arg | files
images=(
  "registry.k8s.io/kube-apiserver:$KUBERNETES_VERSION|kube-component|kube-apiserver|$BIN/kube-apiserver"
  "registry.k8s.io/kube-controller-manager:$KUBERNETES_VERSION|kube-component|kube-controller-manager|$BIN/kube-controller-manager"
  "registry.k8s.io/kube-scheduler:$KUBERNETES_VERSION|kube-component|kube-scheduler|$BIN/kube-scheduler"
  "registry.k8s.io/kube-proxy:$KUBERNETES_VERSION|kube-proxy||$BIN/kube-proxy"
  "registry.k8s.io/etcd:$ETCD_TAG|etcd||$BIN/etcd $BIN/etcdctl"
  "registry.k8s.io/coredns/coredns:$COREDNS_VERSION|coredns||$BIN/coredns"
  "$SANDBOX_IMAGE|pause||$work/pause"
  "ray-platform/kind-net:local|kind-net||$BIN/kubectl $HERE/files/kind-net.sh"
  "ray-platform/kube-router:$KUBE_ROUTER_VERSION|kube-router||$BIN/kube-router"
  "ray-platform/local-path-provisioner:$LOCAL_PATH_PROVISIONER_VERSION|local-path-provisioner||$BIN/local-path-provisioner"
)
tags=("$BASE_IMAGE")
for entry in "${images[@]}"; do
  IFS='|' read -r tag target arg files <<<"$entry"
  log "image $tag"
  # shellcheck disable=SC2086  # files is a list
  dir="$(context "img-$target-${arg:-x}" $files)"
  build_image -f "$HERE/components.Dockerfile" --target "$target" --build-arg BASE_IMAGE="$BASE_IMAGE" \
    ${arg:+--build-arg BINARY="$arg"} -t "$tag" "$dir"
  tags+=("$tag")
done

log "node base (Debian $DEBIAN_SUITE, containerd and runc from Debian, Kubernetes $KUBERNETES_VERSION)"
node="$work/node"
mkdir -p "$node/kind" "$node/files" "$node/bin" "$node/manifests"
cp -r "$KIND_DIR/images/base/files/." "$node/kind/"
chmod -R u+w "$node/kind"
rm -f "$node/kind/etc/containerd/config.toml"
cp "$HERE/files/runc-drop-caps" "$node/files/"
sed "s#SANDBOX_IMAGE#$SANDBOX_IMAGE#" "$HERE/files/containerd-config.toml" >"$node/files/containerd-config.toml"
for b in kubelet kubeadm kubectl; do ln "$BIN/$b" "$node/bin/" 2>/dev/null || cp -p "$BIN/$b" "$node/bin/"; done
sed "s#KUBE_ROUTER_VERSION#$KUBE_ROUTER_VERSION#" "$HERE/manifests/network.yaml" >"$node/manifests/default-cni.yaml"
sed "s#LPP_VERSION#$LOCAL_PATH_PROVISIONER_VERSION#" "$HERE/manifests/storage.yaml" >"$node/manifests/default-storage.yaml"
build_image -f "$HERE/node.Dockerfile" --build-arg BASE_IMAGE="$BASE_IMAGE" \
  --build-arg KUBERNETES_VERSION="$KUBERNETES_VERSION" -t "$NODE_IMAGE-base" "$node"

log "importing ${#tags[@]} images into the node's containerd"
# --init: something must reap containerd when it stops (sleep, as PID 1, does not).
container="$(docker run -d --init --privileged --entrypoint sleep "$NODE_IMAGE-base" infinity)"
docker exec "$container" bash -c 'nohup containerd >/var/log/containerd-build.log 2>&1 &'
for _ in $(seq 60); do docker exec "$container" ctr version >/dev/null 2>&1 && break; sleep 0.5; done
docker exec "$container" ctr version >/dev/null || die "containerd did not start in the build container"
for tag in "${tags[@]}"; do
  docker save "$tag" | docker exec -i "$container" \
    ctr --namespace=k8s.io images import --all-platforms --no-unpack --digests - >/dev/null
done
docker exec "$container" ctr --namespace=k8s.io images list -q | grep -v '^sha256:' | sed 's/^/    /'
docker exec "$container" pkill containerd || true
for _ in $(seq 60); do docker exec "$container" pgrep -x containerd >/dev/null || break; sleep 0.5; done
docker commit --change 'ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]' "$container" "$NODE_IMAGE" >/dev/null
docker rm -f "$container" >/dev/null
container=""
docker image rm "$NODE_IMAGE-base" >/dev/null
log "$NODE_IMAGE: built ($(docker image inspect -f '{{.Size}}' "$NODE_IMAGE" | awk '{printf "%.0f MB", $1/1e6}'))"
