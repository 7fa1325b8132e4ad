#!/usr/bin/env bash
# make down: delete the local cluster that make up created, with everything in it.
set -euo pipefail
# shellcheck source=charts/scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

check_cluster_kind
check_images_mode
check_prerequisites "$CLUSTER"

if ! cluster_exists; then
  log "no $CLUSTER cluster '$CLUSTER_NAME': nothing to remove"
  exit 0
fi
log "deleting the $CLUSTER cluster '$CLUSTER_NAME' (Ray, Airflow, the store and their volumes)"
if [[ "$CLUSTER" == kind ]]; then
  kind delete cluster --name "$CLUSTER_NAME"
  # kind leaves its Docker network behind; remove it once no other kind cluster uses it.
  if docker network inspect kind >/dev/null 2>&1 &&
    [[ -z "$(docker network inspect -f '{{range .Containers}}{{.Name}} {{end}}' kind)" ]]; then
    docker network rm kind >/dev/null && log "removed the Docker network 'kind'"
  fi
else
  minikube delete -p "$CLUSTER_NAME"
fi
log "done; the images stay in the local Docker (docker image rm $RAY_IMAGE $AIRFLOW_IMAGE)"
