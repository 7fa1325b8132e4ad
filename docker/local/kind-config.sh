#!/usr/bin/env bash
# Prints the kind configuration of `make up IMAGES=local`: the repository's kind-config.yaml plus
# kubeadm patches that name the etcd and CoreDNS images by the versions built here (kubeadm
# would otherwise ask for its own defaults, which no registry here serves).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=docker/local/versions.sh
source "$HERE/versions.sh"
cat "$HERE/../../kind-config.yaml"
cat <<YAML
kubeadmConfigPatches:
  - |
    kind: ClusterConfiguration
    etcd:
      local:
        imageTag: "${ETCD_VERSION#v}-0"
    dns:
      imageTag: "$COREDNS_VERSION"
YAML
