# Shared by up.sh, down.sh and e2e.sh: settings, messages and the prerequisite checks.
# shellcheck shell=bash disable=SC2034  # the settings are used by the scripts that source this

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CHART="$ROOT/charts/ray-platform"
VALUES="$ROOT/charts/values"

CLUSTER="${CLUSTER:-kind}"                      # kind or minikube
# Where images and charts come from: "upstream" (container registries and Helm repositories:
# the default) or "local" (everything built on this machine from package registries only; for
# air-gapped machines: docker/local/build.sh, charts/airflow-local, KubeRay from its Go module).
IMAGES="${IMAGES:-upstream}"
CLUSTER_NAME="${CLUSTER_NAME:-ray-platform}"
NAMESPACE="${NAMESPACE:-airflow-ray}"
OPERATOR_NAMESPACE="${OPERATOR_NAMESPACE:-kuberay-system}"
RELEASE="ray-platform"                          # the Airflow values refer to its Secrets by name
AIRFLOW_RELEASE="airflow"
KUBERAY_CHART_VERSION="1.7.0"
AIRFLOW_CHART_VERSION="${AIRFLOW_CHART_VERSION:-1.22.0}"

# helm: the one `make tools` builds, else the one on PATH.
if [[ -z "${HELM:-}" ]]; then
  if [[ -x "$ROOT/.tools/bin/helm" ]]; then HELM="$ROOT/.tools/bin/helm"; else HELM=helm; fi
fi
KUBECTL="${KUBECTL:-kubectl}"

log() { printf '==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# A value of the flat `versions:` block of the chart's values.yaml (the one place for versions).
chart_version() {
  awk -v key="$1" '
    /^versions:/ { inside = 1; next }
    inside && /^[^ #]/ { inside = 0 }
    inside && $1 == key ":" { gsub(/"/, "", $2); print $2; exit }
  ' "$CHART/values.yaml"
}

RAY_VERSION="$(chart_version ray)"
PYTHON_VERSION="$(chart_version python)"
AIRFLOW_VERSION="$(chart_version airflow)"
RAY_IMAGE="ray-platform/ray:${RAY_VERSION}-py${PYTHON_VERSION//./}"
AIRFLOW_IMAGE="ray-platform/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}"

# Every missing prerequisite is reported at once; nothing has been changed when this fails.
# Arguments: the tools to check (docker, kind, minikube, helm, kubectl).
check_prerequisites() {
  local missing=() tool
  for tool in "$@"; do
    case "$tool" in
      docker)
        if ! command -v docker >/dev/null 2>&1; then
          missing+=("docker is not installed: install Docker Engine (https://docs.docker.com/engine/install/) or Docker Desktop, then start it (Debian/Ubuntu: 'sudo make docker-engine' does both).")
        elif ! docker info >/dev/null 2>&1; then
          missing+=("docker is installed but its engine is not running ('docker info' failed): start Docker Desktop, or 'sudo systemctl start docker' on Linux ('sudo make docker-engine' where there is no systemd).")
        fi
        ;;
      kind)
        command -v kind >/dev/null 2>&1 ||
          missing+=("kind is not installed: 'go install sigs.k8s.io/kind@latest' or see https://kind.sigs.k8s.io/docs/user/quick-start/#installation (or run with CLUSTER=minikube).")
        ;;
      minikube)
        command -v minikube >/dev/null 2>&1 ||
          missing+=("minikube is not installed: see https://minikube.sigs.k8s.io/docs/start/ (or run with CLUSTER=kind).")
        ;;
      helm)
        command -v "$HELM" >/dev/null 2>&1 ||
          missing+=("helm is not installed: 'make tools' builds helm v3.22.0 into .tools/bin (needs Go), or see https://helm.sh/docs/intro/install/.")
        ;;
      go)
        command -v go >/dev/null 2>&1 || [[ -x /usr/local/go/bin/go ]] ||
          missing+=("go is not installed: IMAGES=local builds Kubernetes, kind and the operators with it; install Go 1.24+ (https://go.dev/dl/).")
        ;;
      gcc)
        command -v gcc >/dev/null 2>&1 ||
          missing+=("gcc is not installed: IMAGES=local compiles the pod sandbox (pause) with it; 'apt-get install gcc libc6-dev'.")
        ;;
      kubectl)
        command -v "$KUBECTL" >/dev/null 2>&1 ||
          missing+=("kubectl is not installed: see https://kubernetes.io/docs/tasks/tools/#kubectl.")
        ;;
    esac
  done
  if ((${#missing[@]})); then
    printf 'make: missing prerequisites, nothing was changed:\n' >&2
    printf '  - %s\n' "${missing[@]}" >&2
    exit 1
  fi
}

check_images_mode() {
  case "$IMAGES" in
    upstream) ;;
    local)
      [[ "$CLUSTER" == kind ]] || die "IMAGES=local builds a kind node image: use CLUSTER=kind (got '$CLUSTER')."
      # shellcheck source=docker/local/versions.sh
      source "$ROOT/docker/local/versions.sh"
      # kind and kubectl built by docker/local/go-binaries.sh come first.
      export PATH="$CACHE/bin:$PATH"
      ;;
    *) die "IMAGES must be upstream or local (got '$IMAGES')." ;;
  esac
}

check_cluster_kind() {
  case "$CLUSTER" in
    kind | minikube) ;;
    *) die "CLUSTER must be kind or minikube (got '$CLUSTER'); for GKE, EKS or AKS follow charts/README.md." ;;
  esac
}

cluster_exists() {
  if [[ "$CLUSTER" == kind ]]; then
    kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"
  else
    minikube -p "$CLUSTER_NAME" status >/dev/null 2>&1
  fi
}

kube_context() {
  if [[ "$CLUSTER" == kind ]]; then echo "kind-$CLUSTER_NAME"; else echo "$CLUSTER_NAME"; fi
}

kc() { "$KUBECTL" --context "$(kube_context)" "$@"; }
hc() { "$HELM" --kube-context "$(kube_context)" "$@"; }
