#!/usr/bin/env bash
# make e2e: trigger the HIGGS DAG through the Airflow CLI in the scheduler pod and follow it
# until it ends; exits non-zero unless the run succeeds.
set -euo pipefail
# shellcheck source=charts/scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

check_cluster_kind
check_prerequisites "$CLUSTER" kubectl
cluster_exists 2>/dev/null || die "no $CLUSTER cluster '$CLUSTER_NAME': run 'make up' first."

DAG_ID=higgs_xgboost
CONF="$(printf '{"source": "synthetic", "rows": %d, "rounds": %d, "num_actors": %d, "cpus_per_actor": 1, "use_gpu": false}' \
  "${ROWS:-200000}" "${ROUNDS:-20}" "${ACTORS:-2}")"
TIMEOUT="${E2E_TIMEOUT:-1800}"
RUN_ID="e2e__$(date -u +%Y%m%dT%H%M%S)"
scheduler=(deploy/"$AIRFLOW_RELEASE"-scheduler -c scheduler)
airflow() { kc -n "$NAMESPACE" exec "${scheduler[@]}" -- airflow "$@"; }

log "waiting for Airflow to have parsed $DAG_ID"
for _ in $(seq 1 60); do
  airflow dags list -o plain 2>/dev/null | grep -qw "$DAG_ID" && break
  sleep 5
done
airflow dags unpause "$DAG_ID" >/dev/null
log "triggering $DAG_ID ($RUN_ID) with $CONF"
airflow dags trigger "$DAG_ID" --run-id "$RUN_ID" --conf "$CONF" >/dev/null

# Follow the run with Airflow's own models (the scheduler pod has the metadata database).
start=$SECONDS
while :; do
  line="$(kc -n "$NAMESPACE" exec -i "${scheduler[@]}" -- python - "$DAG_ID" "$RUN_ID" <<'PY'
import sys

from airflow.models import DagRun

dag_id, run_id = sys.argv[1:3]
runs = DagRun.find(dag_id=dag_id, run_id=run_id)
if not runs:
    print("queued -")
else:
    run = runs[0]
    tasks = " ".join(f"{ti.task_id}={ti.state}" for ti in sorted(run.get_task_instances(), key=lambda t: t.task_id))
    print(f"{run.state} {tasks}")
PY
)"
  state="${line%% *}"
  printf '  [%4ds] %s\n' $((SECONDS - start)) "$line"
  case "$state" in
    success) log "run $RUN_ID: success in $((SECONDS - start))s"; break ;;
    failed) die "run $RUN_ID failed; task logs: kubectl --context $(kube_context) -n $NAMESPACE exec ${scheduler[*]} -- airflow tasks states-for-dag-run $DAG_ID $RUN_ID" ;;
  esac
  ((SECONDS - start < TIMEOUT)) || die "run $RUN_ID did not finish within ${TIMEOUT}s (state: $state)"
  sleep 10
done
echo "Metrics: the report task's log in the Airflow UI (run $RUN_ID), and metrics.json in the checkpoint bucket."
