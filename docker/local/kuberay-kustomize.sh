#!/usr/bin/env bash
# Prints a kustomize directory that installs the KubeRay operator from its Go module (CRDs, RBAC,
# Deployment: the module's own config/) into NAMESPACE with the image built here. For machines
# that reach no Helm repository; the caller applies it (kubectl apply --server-side -k DIR) and
# removes the directory's parent.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=docker/local/versions.sh
source "$HERE/versions.sh"
namespace="${1:?usage: kuberay-kustomize.sh NAMESPACE}"
module="$(GOFLAGS=-mod=mod go mod download -json "github.com/ray-project/kuberay/ray-operator@$KUBERAY_VERSION" | jq -r .Dir)"
[[ -d "$module/config/default" ]] || { echo "error: KubeRay $KUBERAY_VERSION's config is not in its module ($module)" >&2; exit 1; }
work="$(mktemp -d)"
cp -r "$module/config" "$work/config"
chmod -R u+w "$work/config"
mkdir "$work/local"
cat >"$work/local/namespace.yaml" <<YAML
apiVersion: v1
kind: Namespace
metadata:
  name: $namespace
YAML
cat >"$work/local/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: $namespace
resources:
  - namespace.yaml
  - ../config/default
images:
  - name: quay.io/kuberay/operator
    newName: ${LOCAL_OPERATOR_IMAGE%:*}
    newTag: ${LOCAL_OPERATOR_IMAGE##*:}
YAML
echo "$work/local"
