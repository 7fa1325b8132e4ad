# shellcheck shell=bash disable=SC2034  # read by the scripts that source this
# Versions of what the local (air-gapped) cluster builds here, and where builds are cached.
# Every version below is one the Go module proxy or Debian serves (see charts/README.md).
KUBERNETES_VERSION="${KUBERNETES_VERSION:-v1.34.4}"   # 1.35 refuses cgroup v1 hosts by default
KIND_VERSION="${KIND_VERSION:-v0.33.0}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
COREDNS_VERSION="${COREDNS_VERSION:-v1.15.0}"
# NetworkPolicy: kube-router's firewall (iptables + ipset). kube-network-policies needs nftables'
# queue expression (CONFIG_NFT_QUEUE), which this machine's kernel lacks; v2.1.0 is the newest
# kube-router the Go module proxy serves.
KUBE_ROUTER_VERSION="${KUBE_ROUTER_VERSION:-v2.1.0}"
LOCAL_PATH_PROVISIONER_VERSION="${LOCAL_PATH_PROVISIONER_VERSION:-v0.0.30}"
KUBERAY_VERSION="${KUBERAY_VERSION:-v1.5.0}"           # the newest ray-operator module served
MINIO_VERSION="${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
MC_VERSION="${MC_VERSION:-v0.0.0-20250313080218-cf909e1063a9}"
# SeaweedFS (the checkpoint benchmark's second server): its releases are tagged without a "v"
# (4.36), which the Go module proxy does not serve, so a commit of its master branch is pinned.
SEAWEEDFS_VERSION="${SEAWEEDFS_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}"
# The S3 gateway in front of Azure Blob Storage (the chart's store.kind azureblob, the image
# docker/s3proxy.Dockerfile): s3proxy's self-contained jar from Maven Central, pinned by SHA-256.
# Azurite (Azure's storage emulator, npm) is what the tests run it against; 3.35.0 is the newest
# that runs on Node.js 20 (3.36 and later need Node.js 22).
S3PROXY_VERSION="${S3PROXY_VERSION:-4.1.0}"
S3PROXY_SHA256="${S3PROXY_SHA256:-a4d025969aaf796616ed4b1e2491d87d455ce84bb28cb9db086b2e6aaa68b48d}"
AZURITE_VERSION="${AZURITE_VERSION:-3.35.0}"
DEBIAN_SUITE="${DEBIAN_SUITE:-bookworm}"               # its python3 is 3.11, the project's minor

# Outside the repository, so `git clean` and a fresh clone keep it.
CACHE="${RAY_PLATFORM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ray-platform}"

# Images of `make up IMAGES=local` besides Ray and Airflow (whose names are the upstream path's).
# charts/values/local-images.yaml points the chart at the same names (tests/charts checks).
LOCAL_OPERATOR_IMAGE="ray-platform/kuberay-operator:$KUBERAY_VERSION"
LOCAL_MINIO_IMAGE="ray-platform/minio:$MINIO_VERSION"
LOCAL_MC_IMAGE="ray-platform/mc:$MC_VERSION"
LOCAL_POSTGRES_IMAGE="ray-platform/postgres:15"
