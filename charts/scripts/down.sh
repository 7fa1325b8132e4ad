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
else
  minikube delete -p "$CLUSTER_NAME"
fi
log "done; the images stay in the local Docker (docker image rm $RAY_IMAGE $AIRFLOW_IMAGE)"
