#!/usr/bin/env bash
# make up: a local cluster (kind or minikube) with the KubeRay operator, this project's chart
# and Airflow, built from this checkout. Every step can be run again: it finds what is there.
set -euo pipefail
# shellcheck source=charts/scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

check_cluster_kind
check_images_mode
if [[ "$IMAGES" == local ]]; then
  check_prerequisites docker go gcc helm
  # Kubernetes, kind, the images: built here (about 16 minutes the first time, seconds after).
  "$ROOT/docker/local/build.sh"
  NODE_IMAGE="ray-platform/kind-node:$KUBERNETES_VERSION"
fi
check_prerequisites docker "$CLUSTER" helm kubectl

start=$SECONDS
elapsed() { printf '%4ds' $((SECONDS - start)); }

# 1. The cluster.
if cluster_exists; then
  log "$CLUSTER cluster '$CLUSTER_NAME' exists: reusing it"
else
  log "creating the $CLUSTER cluster '$CLUSTER_NAME'"
  if [[ "$CLUSTER" == kind && "$IMAGES" == local ]]; then
    kind create cluster --name "$CLUSTER_NAME" --image "$NODE_IMAGE" --wait 300s \
      --config <("$ROOT/docker/local/kind-config.sh")
  elif [[ "$CLUSTER" == kind ]]; then
    kind create cluster --name "$CLUSTER_NAME" --config "$ROOT/kind-config.yaml" --wait 120s
  else
    # Calico enforces the chart's NetworkPolicy.
    minikube start -p "$CLUSTER_NAME" --cpus "${MINIKUBE_CPUS:-6}" --memory "${MINIKUBE_MEMORY:-12g}" --cni calico
  fi
fi

# 2. The images, built from this checkout and loaded into the cluster's nodes.
images=("$RAY_IMAGE" "$AIRFLOW_IMAGE")
if [[ "$IMAGES" == local ]]; then
  # Built by docker/local/build.sh above; the store, its client and Postgres too.
  images+=("$LOCAL_OPERATOR_IMAGE" "$LOCAL_MINIO_IMAGE" "$LOCAL_MC_IMAGE" "$LOCAL_POSTGRES_IMAGE")
else
  log "building $RAY_IMAGE and $AIRFLOW_IMAGE (Ray $RAY_VERSION, Airflow $AIRFLOW_VERSION, Python $PYTHON_VERSION)"
  DOCKER_BUILDKIT=1 docker build -f "$ROOT/docker/ray.Dockerfile" \
    --build-arg RAY_VERSION="$RAY_VERSION" --build-arg PYTHON_TAG="py${PYTHON_VERSION//./}" \
    -t "$RAY_IMAGE" "$ROOT"
  DOCKER_BUILDKIT=1 docker build -f "$ROOT/docker/airflow.Dockerfile" \
    --build-arg AIRFLOW_VERSION="$AIRFLOW_VERSION" --build-arg PYTHON_VERSION="$PYTHON_VERSION" \
    -t "$AIRFLOW_IMAGE" "$ROOT"
  if [[ -n "${BUILD_GPU:-}" ]]; then
    docker build -f "$ROOT/docker/ray.Dockerfile" --build-arg RAY_VERSION="$RAY_VERSION" \
      --build-arg PYTHON_TAG="py${PYTHON_VERSION//./}" --build-arg VARIANT=-gpu -t "$RAY_IMAGE-gpu" "$ROOT"
  fi
fi
log "loading the images into the cluster"
for image in "${images[@]}"; do
  if [[ "$CLUSTER" == kind ]]; then
    kind load docker-image "$image" --name "$CLUSTER_NAME"
  else
    minikube -p "$CLUSTER_NAME" image load "$image"
  fi
done

if [[ "$IMAGES" == local ]]; then
  # 3-4. The KubeRay operator from its Go module's kustomize config (no Helm repository here).
  log "installing the KubeRay operator $KUBERAY_VERSION into $OPERATOR_NAMESPACE (kustomize, from the Go module)"
  kustomize_dir="$("$ROOT/docker/local/kuberay-kustomize.sh" "$OPERATOR_NAMESPACE")"
  kc apply --server-side --force-conflicts -k "$kustomize_dir" >/dev/null
  rm -rf "$(dirname "$kustomize_dir")"
  kc -n "$OPERATOR_NAMESPACE" rollout status deploy/kuberay-operator --timeout 5m
else
  # 3. Helm repositories (upstream charts are installed, not copied).
  log "adding the Helm repositories"
  "$HELM" repo add kuberay https://ray-project.github.io/kuberay-helm/ --force-update >/dev/null
  "$HELM" repo add apache-airflow https://airflow.apache.org --force-update >/dev/null
  "$HELM" repo update kuberay apache-airflow >/dev/null

  # 4. The KubeRay operator.
  log "installing the KubeRay operator $KUBERAY_CHART_VERSION into $OPERATOR_NAMESPACE"
  hc upgrade --install kuberay-operator kuberay/kuberay-operator --version "$KUBERAY_CHART_VERSION" \
    --namespace "$OPERATOR_NAMESPACE" --create-namespace \
    -f "$VALUES/kuberay-operator.yaml" --wait --timeout 5m
fi

# The images keep their tags from build to build, so an upgrade that only rebuilt them changes
# no pod spec and would leave pods on the earlier build: every pod is annotated with the ID of
# the image it should run (a changed ID rolls Airflow's Deployments; stale Ray pods are
# replaced below, since KubeRay does not roll a RayCluster's pods).
image_id() {
  local id
  id="$(docker image inspect -f '{{.Id}}' "$1" 2>/dev/null || true)"
  id="${id#sha256:}"
  echo "${id:0:32}"
}
ray_image_id="$(image_id "$RAY_IMAGE")"
airflow_image_id="$(image_id "$AIRFLOW_IMAGE")"

# 5. This project's chart: RayCluster, store, Secrets, Postgres, NetworkPolicy.
access=kind
extra=(--set-string "ray.podAnnotations.ray-platform/image=$ray_image_id")
if [[ "$CLUSTER" == minikube ]]; then
  access=port-forward
  extra+=(--set ray.dashboard.service.enabled=false --set store.minio.service.type=ClusterIP)
fi
if [[ "$IMAGES" == local ]]; then
  extra+=(-f "$VALUES/local-images.yaml")
fi
if [[ "$CLUSTER" == kind ]]; then
  # The NodePorts' traffic comes from the nodes' addresses: open the dashboard and the S3 port
  # to the subnet of kind's Docker network only (kind.yaml's default is Docker's whole default
  # pool range, 172.16.0.0/12).
  node_net="$(docker network inspect kind -f '{{range .IPAM.Config}}{{println .Subnet}}{{end}}' 2>/dev/null |
    grep -m1 -E '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+/[0-9]+$' || true)"
  if [[ -n "$node_net" ]]; then
    peers="[{\"ipBlock\":{\"cidr\":\"$node_net\"}}]"
    extra+=(--set-json "networkPolicy.dashboardFrom=$peers" --set-json "networkPolicy.storeFrom=$peers")
  fi
fi
log "installing $RELEASE (Ray cluster, MinIO, Postgres, Secrets) into $NAMESPACE"
hc upgrade --install "$RELEASE" "$CHART" --namespace "$NAMESPACE" --create-namespace \
  -f "$VALUES/kind.yaml" --set access="$access" ${extra[@]+"${extra[@]}"} --wait --timeout 10m
stale="$(kc -n "$NAMESPACE" get pods -l "ray.io/cluster=$RELEASE" \
  -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.metadata.annotations.ray-platform/image}{"\n"}{end}' |
  awk -v id="$ray_image_id" '$2 != id {print $1}')"
if [[ -n "$stale" ]]; then
  log "replacing Ray pods that run an earlier build of $RAY_IMAGE: ${stale//$'\n'/ } (results held in Ray are lost; checkpointed ones restore)"
  # shellcheck disable=SC2086
  kc -n "$NAMESPACE" delete pod $stale --wait=false >/dev/null
fi

# 6. Airflow.
airflow_extra=(--set-string "airflowPodAnnotations.ray-platform/image=$airflow_image_id")
if [[ "$CLUSTER" == minikube ]]; then
  airflow_extra+=(--set apiServer.service.type=ClusterIP)
fi
if [[ "$IMAGES" == local ]]; then
  # The official chart cannot be had here: the same values drive this project's stand-in.
  log "installing Airflow (charts/airflow-local, the same values as the official chart) into $NAMESPACE"
  airflow_chart=("$ROOT/charts/airflow-local")
else
  log "installing Apache Airflow (chart $AIRFLOW_CHART_VERSION) into $NAMESPACE"
  airflow_chart=(apache-airflow/airflow --version "$AIRFLOW_CHART_VERSION")
fi
# The values run the migration and user jobs as plain Jobs (useHelmHooks: false), and a Job's
# pod template cannot be changed: an upgrade with other values would fail with "field is
# immutable" (found on the kind cluster). Finished ones are removed first; they run again.
kc -n "$NAMESPACE" delete job -l "release=$AIRFLOW_RELEASE,component in (run-airflow-migrations,create-user-job)" \
  --ignore-not-found >/dev/null 2>&1 || true
hc upgrade --install "$AIRFLOW_RELEASE" "${airflow_chart[@]}" \
  --namespace "$NAMESPACE" -f "$VALUES/airflow.yaml" -f "$VALUES/airflow-kind.yaml" \
  ${airflow_extra[@]+"${airflow_extra[@]}"} --wait --wait-for-jobs --timeout 15m

# 7. Wait until Ray reports ready (helm does not wait for custom resources).
log "waiting for the Ray cluster"
deadline=$((SECONDS + ${RAY_WAIT_SECONDS:-900}))
while :; do
  state="$(kc -n "$NAMESPACE" get raycluster "$RELEASE" -o jsonpath='{.status.state}' 2>/dev/null || true)"
  ready="$(kc -n "$NAMESPACE" get pods -l "ray.io/cluster=$RELEASE" \
    -o jsonpath='{range .items[*]}{.status.containerStatuses[0].ready}{"\n"}{end}' 2>/dev/null | grep -c true || true)"
  total="$(kc -n "$NAMESPACE" get pods -l "ray.io/cluster=$RELEASE" --no-headers 2>/dev/null | wc -l)"
  printf '  [%s] RayCluster %s: state=%s, pods ready %s/%s\n' "$(elapsed)" "$RELEASE" "${state:-pending}" "$ready" "$total"
  [[ "$state" == ready ]] && break
  ((SECONDS < deadline)) || die "the Ray cluster is not ready after ${RAY_WAIT_SECONDS:-900}s; see: kubectl --context $(kube_context) -n $NAMESPACE describe raycluster $RELEASE"
  sleep 10
done

# 8. Where things are.
password="$(kc -n "$NAMESPACE" get secret "$RELEASE-airflow-admin" -o jsonpath='{.data.password}' | base64 -d)"
log "ready in $((SECONDS - start))s"
if [[ "$CLUSTER" == kind ]]; then
  echo "Airflow UI:     http://localhost:8080   (user admin, password $password)"
  echo "Ray dashboard:  http://localhost:8265   (token: kubectl --context $(kube_context) -n $NAMESPACE get secret $RELEASE-ray-token -o jsonpath='{.data.auth_token}' | base64 -d)"
  echo "MinIO S3 API:   http://localhost:9000   (bucket-scoped keys: kubectl --context $(kube_context) -n $NAMESPACE get secret $RELEASE-store-user -o yaml)"
else
  echo "Airflow UI:     kubectl --context $(kube_context) -n $NAMESPACE port-forward svc/$AIRFLOW_RELEASE-api-server 8080:8080, then http://localhost:8080 (user admin, password $password)"
  echo "Ray dashboard:  kubectl --context $(kube_context) -n $NAMESPACE port-forward svc/$RELEASE-head-svc 8265:8265, then http://localhost:8265"
  echo "MinIO S3 API:   kubectl --context $(kube_context) -n $NAMESPACE port-forward svc/$RELEASE-minio 9000:9000, then http://localhost:9000 (keys: secret $RELEASE-store-user)"
fi
make_args="CLUSTER=$CLUSTER"
[[ "$IMAGES" == local ]] && make_args+=" IMAGES=local"
echo "Run the checks (HIGGS, Ray head loss, NetworkPolicy):  make e2e $make_args   (or trigger higgs_xgboost in the UI)"
echo "Check Ray and the store:            helm test $RELEASE -n $NAMESPACE --kube-context $(kube_context)"
echo "Remove everything:                  make down $make_args"
