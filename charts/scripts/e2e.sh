#!/usr/bin/env bash
# make e2e: what a user checks on a fresh cluster, through the Airflow CLI in the scheduler pod.
#   higgs      the HIGGS DAG (ROWS=100000, ROUNDS=20 by default) succeeds, test AUC > E2E_MIN_AUC
#   head-loss  checkpoint_restore_check: the Ray head pod is deleted between a checkpointed
#              producer and its consumer; the consumer restores the value from the store
#   netpol     the NetworkPolicies hold: a pod without the client labels reaches neither Ray's
#              ports (6379, 10001, 8265) nor the store nor Postgres; one with them reaches Ray
#              Client, the dashboard and the store but not Postgres; Airflow's scheduler all three
#   operations ray_operations_check: 8 shards mapped from one @task.ray list, then a deferrable
#              training in the triggerer whose rounds reach the task log while it waits
#   logs       task logs outlive pods: after the scheduler pod is replaced, the HIGGS run's
#              train_model log is read back from the store's logs bucket (remote logging), with
#              the trainer's live output and the task's "Ray dashboard" link in it (needs higgs)
#   bundle     DAGs from Git: a repository served inside the cluster becomes a GitDagBundle
#              (airflow.dagBundles.git, helm upgrade), and its @task.ray DAG, whose helper
#              package exists only in the bundle's checkout, runs on Ray; then the chart's
#              values are put back
#   run-cluster per-run clusters: with perRunClusters on (helm upgrade), ray_run_cluster_check
#              makes a RayCluster for its run, runs two @task.ray on it (their pods are that
#              cluster's) and reads the result back in a plain task; the teardown deletes it.
#              A second run fails on purpose: its cluster is deleted too. The same with
#              astro-provider-ray's SetupRayCluster / SubmitRayJob / DeleteRayCluster
#              (astro_run_cluster_check), and the HIGGS pipeline on a run's cluster
#              (higgs_xgboost_run_cluster, RUN_CLUSTER_ROWS rows). Then the values are put back
# E2E_CHECKS picks some of them (default: all seven, in that order). Exits non-zero on the first
# check that fails, with the command that shows why.
set -euo pipefail
# shellcheck source=charts/scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

check_cluster_kind
check_images_mode
check_prerequisites "$CLUSTER" kubectl
cluster_exists 2>/dev/null || die "no $CLUSTER cluster '$CLUSTER_NAME': run 'make up' first."

CHECKS="${E2E_CHECKS:-higgs head-loss netpol operations logs bundle run-cluster}"
TIMEOUT="${E2E_TIMEOUT:-1800}"
MIN_AUC="${E2E_MIN_AUC:-0.7}"
STAMP="$(date -u +%Y%m%dT%H%M%S)"
scheduler=(deploy/"$AIRFLOW_RELEASE"-scheduler -c scheduler)
airflow() { kc -n "$NAMESPACE" exec "${scheduler[@]}" -- airflow "$@"; }
# Python in the scheduler pod (it has Airflow's models and the metadata database): stdin, args.
in_scheduler() { kc -n "$NAMESPACE" exec -i "${scheduler[@]}" -- python - "$@"; }

wait_for_dag() {
  log "waiting for Airflow to have parsed $1"
  local _
  for _ in $(seq 1 60); do
    airflow dags list -o plain 2>/dev/null | grep -qw "$1" && return 0
    sleep 5
  done
  die "Airflow has not parsed $1 after 5 minutes: kubectl --context $(kube_context) -n $NAMESPACE logs deploy/$AIRFLOW_RELEASE-dag-processor"
}

# "<run state> <task>=<state> ..." of one run.
run_state() {
  in_scheduler "$1" "$2" <<'PY'
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
}

# Follow a run until it ends; with UNTIL=<task>=<state>, return as soon as that task is there.
follow() {
  local dag_id="$1" run_id="$2" start=$SECONDS line state
  while :; do
    line="$(run_state "$dag_id" "$run_id")"
    state="${line%% *}"
    printf '  [%4ds] %s\n' $((SECONDS - start)) "$line"
    if [[ -n "${UNTIL:-}" && " $line " == *" $UNTIL "* ]]; then return 0; fi
    case "$state" in
      success) log "run $run_id: success in $((SECONDS - start))s"; return 0 ;;
      failed)
        if [[ "${EXPECT_FAILURE:-}" == 1 ]]; then log "run $run_id: failed in $((SECONDS - start))s, as it should"; return 0; fi
        die "run $run_id failed; task logs: kubectl --context $(kube_context) -n $NAMESPACE exec ${scheduler[*]} -- airflow tasks states-for-dag-run $dag_id $run_id (logs under /opt/airflow/logs/dag_id=$dag_id/run_id=$run_id)" ;;
    esac
    ((SECONDS - start < TIMEOUT)) || die "run $run_id did not finish within ${TIMEOUT}s (state: $state)"
    sleep 10
  done
}

trigger() {
  wait_for_dag "$1"
  airflow dags unpause "$1" >/dev/null
  log "triggering $1 ($2) with $3"
  airflow dags trigger "$1" --run-id "$2" --conf "$3" >/dev/null
}

# The return value (XCom) of a plain @task, as JSON.
task_result() {
  in_scheduler "$@" <<'PY'
import json
import sys

from airflow.models.xcom import XComModel
from airflow.utils.session import create_session

dag_id, run_id, task_id = sys.argv[1:4]
with create_session() as session:
    row = session.query(XComModel).filter_by(dag_id=dag_id, run_id=run_id, task_id=task_id, key="return_value").one()
    value = row.value
    print(json.dumps(json.loads(value) if isinstance(value, str) else value))
PY
}

# A task's log as the UI shows it (Airflow's own log reader: from the logs bucket with remote
# logging, whose upload leaves the pod's file empty), one JSON event per line.
task_log() {
  in_scheduler "$1" "$2" "$3" <<'PY'
import sys

from airflow.models import TaskInstance
from airflow.utils.log.log_reader import TaskLogReader
from airflow.utils.session import create_session

dag_id, run_id, task_id = sys.argv[1:4]
with create_session() as session:
    ti = session.query(TaskInstance).filter_by(
        dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=-1
    ).one()
    for line in TaskLogReader().read_log_stream(ti, ti.try_number, {}):
        sys.stdout.write(line)
PY
}

HIGGS_RUN=""
check_higgs() {
  local run_id="e2e__$STAMP" conf metrics auc
  HIGGS_RUN="$run_id"
  conf="$(printf '{"source": "synthetic", "rows": %d, "rounds": %d, "num_actors": %d, "cpus_per_actor": 1, "use_gpu": false}' \
    "${ROWS:-100000}" "${ROUNDS:-20}" "${ACTORS:-2}")"
  trigger higgs_xgboost "$run_id" "$conf"
  follow higgs_xgboost "$run_id"
  metrics="$(task_result higgs_xgboost "$run_id" report)"
  echo "  metrics: $metrics"
  auc="$(grep -o '"auc": *[0-9.eE+-]*' <<<"$metrics" | awk -F': *' '{print $2}' || true)"
  [[ -n "$auc" ]] || die "the report task returned no auc: $metrics"
  awk -v auc="$auc" -v min="$MIN_AUC" 'BEGIN { exit !(auc > min) }' || die "test AUC $auc is not above $MIN_AUC"
  log "higgs: test AUC $auc > $MIN_AUC"
}

head_pod() {
  kc -n "$NAMESPACE" get pods -l "ray.io/cluster=$RELEASE,ray.io/node-type=head" \
    -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.uid} {.status.phase}{"\n"}{end}'
}

wait_ray_ready() {
  local old_uid="$1" deadline=$((SECONDS + 600)) state pod
  while :; do
    state="$(kc -n "$NAMESPACE" get raycluster "$RELEASE" -o jsonpath='{.status.state}' 2>/dev/null || true)"
    pod="$(head_pod | head -1)"
    printf '    RayCluster %s, head %s\n' "${state:-?}" "${pod:-none}"
    if [[ "$state" == ready && -n "$pod" && "$pod" != *"$old_uid"* ]] &&
      kc -n "$NAMESPACE" wait --for=condition=Ready pod -l "ray.io/cluster=$RELEASE" --timeout=5s >/dev/null 2>&1; then
      return 0
    fi
    ((SECONDS < deadline)) || die "the Ray cluster did not come back within 600s: kubectl --context $(kube_context) -n $NAMESPACE describe raycluster $RELEASE"
    sleep 5
  done
}

check_head_loss() {
  local dag=checkpoint_restore_check run_id="e2e_head_loss__$STAMP" before name uid
  trigger "$dag" "$run_id" '{"hold": true, "rows": 200000}'
  UNTIL="hold=running" follow "$dag" "$run_id"
  before="$(head_pod | head -1)"
  read -r name uid _ <<<"$before"
  [[ -n "$name" ]] || die "no Ray head pod found"
  log "deleting the Ray head pod $name (uid $uid) while the run holds between produce and consume"
  kc -n "$NAMESPACE" delete pod "$name" --wait=true >/dev/null
  wait_ray_ready "$uid"
  log "releasing the run"
  airflow variables set checkpoint_restore_check_release "$run_id" >/dev/null
  follow "$dag" "$run_id"
  task_log "$dag" "$run_id" consume | grep -E "restored|restoring" | sed 's/^/  log: /' ||
    die "the run succeeded but the consumer's log does not say it restored the value: was the head really replaced?"
  log "head-loss: the consumer restored the checkpoint after the head pod was replaced"
}

# Prints "<host>:<port> open" as soon as a TCP connection succeeds, or "<host>:<port> closed
# <error>" when none did for PROBE_SECONDS: a new pod's address reaches the policy engine's sets
# a moment after the pod starts, and a door that opens late counts as open.
PROBE_PY='
import os, socket, sys, time
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    deadline = time.monotonic() + float(os.environ.get("PROBE_SECONDS", "15"))
    while True:
        try:
            socket.create_connection((host, int(port)), timeout=3).close()
            print(target, "open")
            break
        except OSError as error:
            if time.monotonic() > deadline:
                print(target, "closed", type(error).__name__)
                break
            time.sleep(1)
'

# A throw-away pod that runs PROBE_PY against the targets.
probe() {
  local name="$1" labels="$2"
  shift 2
  kc -n "$NAMESPACE" delete pod "$name" --ignore-not-found --wait=true >/dev/null
  kc -n "$NAMESPACE" run "$name" --restart=Never --image="$RAY_IMAGE" --image-pull-policy=IfNotPresent \
    ${labels:+--labels="$labels"} --command -- python -c "$PROBE_PY" "$@" >/dev/null
  kc -n "$NAMESPACE" wait --for=jsonpath='{.status.phase}'=Succeeded "pod/$name" --timeout=180s >/dev/null ||
    die "probe pod $name did not finish: kubectl --context $(kube_context) -n $NAMESPACE describe pod $name"
  kc -n "$NAMESPACE" logs "$name"
  kc -n "$NAMESPACE" delete pod "$name" --wait=false >/dev/null
}

expect() {
  local output="$1" target="$2" want="$3"
  grep -q "^$target $want" <<<"$output" || die "netpol: $target should be $want: $(grep "^$target " <<<"$output")"
  echo "    $target $want (as it should be)"
}

check_netpol() {
  local head="$RELEASE-head-svc" store="$RELEASE-minio" db="$RELEASE-postgres:5432" out
  local targets=("$head:6379" "$head:10001" "$head:8265" "$store:9000" "$db")
  log "netpol: from a pod without the client labels"
  out="$(probe netpol-outsider "" "${targets[@]}")"
  for t in "${targets[@]}"; do expect "$out" "$t" closed; done
  log "netpol: from a pod with the client labels (as Airflow's pods have)"
  out="$(probe netpol-client "ray-platform/ray-client=true" "${targets[@]}")"
  expect "$out" "$head:6379" closed
  expect "$out" "$db" closed
  for t in "$head:10001" "$head:8265" "$store:9000"; do expect "$out" "$t" open; done
  log "netpol: from the Airflow scheduler"
  out="$(kc -n "$NAMESPACE" exec "${scheduler[@]}" -- python -c "$PROBE_PY" "$head:10001" "$head:8265" "$store:9000" "$db")"
  for t in "$head:10001" "$head:8265" "$store:9000" "$db"; do expect "$out" "$t" open; done
  log "netpol: enforced"
}

# How many task instances of one task of a run ended in success (all map indexes).
succeeded() {
  in_scheduler "$1" "$2" "$3" <<'PY'
import sys

from airflow.models import TaskInstance
from airflow.utils.session import create_session

dag_id, run_id, task_id = sys.argv[1:4]
with create_session() as session:
    tis = session.query(TaskInstance).filter_by(dag_id=dag_id, run_id=run_id, task_id=task_id)
    print(sum(ti.state == "success" for ti in tis))
PY
}

check_operations() {
  local dag=ray_operations_check run_id="e2e_operations__$STAMP" out mapped
  trigger "$dag" "$run_id" '{"shards": 8, "rows": 10000, "rounds": 5}'
  follow "$dag" "$run_id"
  mapped="$(succeeded "$dag" "$run_id" score_shard)"
  [[ "$mapped" == 8 ]] || die "operations: $mapped of 8 mapped score_shard tasks succeeded"
  echo "  8 mapped score_shard tasks, each read its shard from Ray"
  out="$(task_log "$dag" "$run_id" train)"
  grep -q 'waiting in the triggerer' <<<"$out" ||
    die "operations: train did not defer (is the triggerer running? kubectl --context $(kube_context) -n $NAMESPACE get deploy $AIRFLOW_RELEASE-triggerer)"
  grep -q '\[ray stdout\] \[5\] loss=' <<<"$out" || die "operations: the training's rounds are not in the train task's log"
  grep -o '"event":"\[ray stdout\] \[[0-9]\] loss=[^"]*' <<<"$out" | sed 's/^"event":"/  log: /'
  out="$(task_log "$dag" "$run_id" summarize_job)"
  grep -q '\[ray job\] job step 3' <<<"$out" ||
    die "operations: the Ray job's lines are not in the summarize_job task's log (Jobs API on the head's port 8265 reachable from Airflow?)"
  grep -o '"event":"\[ray job\] job step [0-9]' <<<"$out" | sed 's/^"event":"/  log: /'
  log "operations: mapped over a Ray list, trained in the triggerer, ran a Ray job"
}

check_logs() {
  if [[ -z "$HIGGS_RUN" ]]; then
    log "logs: reads a HIGGS run's task log, and higgs is not in E2E_CHECKS: running it first"
    check_higgs
  fi
  local old new out
  old="$(kc -n "$NAMESPACE" get pods -l component=scheduler -o jsonpath='{.items[0].metadata.name}')"
  log "logs: deleting the scheduler pod $old (its log files go with it)"
  kc -n "$NAMESPACE" delete pod "$old" --wait=true >/dev/null
  kc -n "$NAMESPACE" rollout status "deploy/$AIRFLOW_RELEASE-scheduler" --timeout=600s >/dev/null
  new="$(kc -n "$NAMESPACE" get pods -l component=scheduler -o jsonpath='{.items[0].metadata.name}')"
  [[ "$new" != "$old" ]] || die "logs: the scheduler pod was not replaced"
  out="$(task_log higgs_xgboost "$HIGGS_RUN" train_model)"
  grep -q '"event":"s3://' <<<"$out" ||
    die "logs: the train_model log did not come from the logs bucket (is remote logging on? kubectl --context $(kube_context) -n $NAMESPACE exec ${scheduler[*]} -- airflow config get-value logging remote_logging)"
  grep -q 'trainer: ' <<<"$out" || die "logs: the train_model log read back from the bucket lacks the trainer line"
  grep -o '"event":"Ray dashboard of this task: [^"]*' <<<"$out" | sed 's/^"event":"/  log: /' ||
    die "logs: the train_model log has no Ray dashboard link"
  grep -o '"event":"\[ray std[a-z]*\] [^"]*' <<<"$out" | head -5 | sed 's/^"event":"/  log: /' || true
  log "logs: the HIGGS run's task log survived the scheduler pod ($old -> $new), read from the store"
}

# Restart Airflow's Deployments (they read the connections Secret at start) one after the other,
# each scaled to zero and back rather than rolled: a rolling restart's surge pod needs the CPU
# its old pod still holds, which kind's 2 cores do not have (the scheduler's stayed Pending,
# 2026-12-04; all at once, every surge pod waited, 2026-12-03).
restart_airflow() {
  local deploy replicas
  for deploy in $(kc -n "$NAMESPACE" get deploy -l "release=$AIRFLOW_RELEASE" -o name); do
    replicas="$(kc -n "$NAMESPACE" get "$deploy" -o jsonpath='{.spec.replicas}')"
    kc -n "$NAMESPACE" scale "$deploy" --replicas=0 >/dev/null
    kc -n "$NAMESPACE" wait --for=delete pod -l "$(deploy_selector "$deploy")" --timeout=300s >/dev/null 2>&1 || true
    kc -n "$NAMESPACE" scale "$deploy" --replicas="${replicas:-1}" >/dev/null
    kc -n "$NAMESPACE" rollout status "$deploy" --timeout=600s >/dev/null ||
      die "$deploy did not come back after its restart: kubectl --context $(kube_context) -n $NAMESPACE describe $deploy"
  done
}

# A Deployment's pod selector as a label selector string (k=v,k=v).
deploy_selector() {
  kc -n "$NAMESPACE" get "$1" -o go-template='{{range $k, $v := .spec.selector.matchLabels}}{{$k}}={{$v}},{{end}}' | sed 's/,$//'
}

# The bundle's DAG: the same files tests/airflow/test_git_bundle.py commits to a local repository.
BUNDLE_SOURCE="$ROOT/tests/airflow/git_bundle"
BUNDLE_SERVER="e2e-git-dags"

check_bundle() {
  local work repo url image out
  work="$(mktemp -d)"
  repo="$work/dags.git"
  url="http://$BUNDLE_SERVER.$NAMESPACE.svc:8000/dags.git"
  log "bundle: committing $BUNDLE_SOURCE to a repository served in the cluster at $url"
  cp -r "$BUNDLE_SOURCE" "$work/src"
  find "$work/src" -name __pycache__ -prune -exec rm -rf {} +
  git -C "$work/src" -c init.defaultBranch=main init -q
  git -C "$work/src" add --all
  git -C "$work/src" -c user.name=e2e -c user.email=e2e@ray-platform.invalid commit -qm "DAGs for the bundle check"
  git clone -q --bare "$work/src" "$repo"
  git -C "$repo" update-server-info  # served as files: git's "dumb" HTTP protocol
  tar -czf "$work/dags.tgz" -C "$work" dags.git
  image="$(kc -n "$NAMESPACE" get "deploy/$AIRFLOW_RELEASE-scheduler" -o jsonpath='{.spec.template.spec.containers[0].image}')"
  kc -n "$NAMESPACE" delete configmap "$BUNDLE_SERVER" --ignore-not-found >/dev/null
  kc -n "$NAMESPACE" create configmap "$BUNDLE_SERVER" --from-file=dags.tgz="$work/dags.tgz" >/dev/null
  rm -rf "$work"
  kc -n "$NAMESPACE" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $BUNDLE_SERVER, labels: {app: $BUNDLE_SERVER}}
spec:
  securityContext: {runAsNonRoot: true, runAsUser: 50000, seccompProfile: {type: RuntimeDefault}}
  containers:
    - name: http
      image: $image
      command: [sh, -c, "tar -xzf /repo/dags.tgz -C /srv && exec python -m http.server 8000 --directory /srv"]
      ports: [{containerPort: 8000}]
      readinessProbe: {httpGet: {path: /dags.git/HEAD, port: 8000}, periodSeconds: 2}
      securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
      resources: {requests: {cpu: 10m, memory: 64Mi}, limits: {memory: 256Mi}}
      volumeMounts: [{name: repo, mountPath: /repo}, {name: srv, mountPath: /srv}]
  volumes:
    - {name: repo, configMap: {name: $BUNDLE_SERVER}}
    - {name: srv, emptyDir: {}}
---
apiVersion: v1
kind: Service
metadata: {name: $BUNDLE_SERVER}
spec:
  selector: {app: $BUNDLE_SERVER}
  ports: [{port: 8000, targetPort: 8000}]
YAML
  kc -n "$NAMESPACE" wait --for=condition=Ready "pod/$BUNDLE_SERVER" --timeout=300s >/dev/null
  log "bundle: helm upgrade $RELEASE with airflow.dagBundles.git (repoUrl $url), then Airflow restarts"
  hc upgrade "$RELEASE" "$CHART" -n "$NAMESPACE" --reuse-values --wait --timeout 10m \
    --set airflow.dagBundles.git.enabled=true --set-string "airflow.dagBundles.git.repoUrl=$url" \
    --set-string airflow.dagBundles.git.subdir=dags >/dev/null
  restart_airflow
  local run_id="e2e_bundle__$STAMP"
  trigger git_bundle_ray "$run_id" '{}'
  follow git_bundle_ray "$run_id"
  out="$(task_result git_bundle_ray "$run_id" report)"
  grep -q '"mark": "computed by git_bundle_helpers"' <<<"$out" ||
    die "bundle: git_bundle_ray's report is $out, not the bundle helper's value"
  echo "  report: $out"
  out="$(in_scheduler <<'PY'
from airflow.models import DagModel
from airflow.utils.session import create_session

with create_session() as session:
    print(session.query(DagModel.bundle_name).filter_by(dag_id="git_bundle_ray").scalar())
PY
)"
  [[ "$out" == git-dags ]] || die "bundle: git_bundle_ray came from bundle '$out', not git-dags"
  log "bundle: putting the chart's values back (no Git bundle) and removing the server"
  hc upgrade "$RELEASE" "$CHART" -n "$NAMESPACE" --reuse-values --wait --timeout 10m \
    --set airflow.dagBundles.git.enabled=false --set-string airflow.dagBundles.git.repoUrl= \
    --set-string airflow.dagBundles.git.subdir= >/dev/null
  restart_airflow
  kc -n "$NAMESPACE" delete "pod/$BUNDLE_SERVER" "service/$BUNDLE_SERVER" "configmap/$BUNDLE_SERVER" \
    --ignore-not-found >/dev/null
  log "bundle: a @task.ray DAG from a Git bundle ran on Ray, its helper package sent by value"
}

# Per-run clusters are small here: the chart's own cluster already holds most of kind's CPUs.
RUN_CLUSTER_VALUES=(
  --set perRunClusters.enabled=true
  --set-string perRunClusters.head.resources.requests.cpu=100m
  --set-string perRunClusters.head.resources.requests.memory=1Gi
  --set-string perRunClusters.head.resources.limits.cpu=1
  --set-string perRunClusters.head.resources.limits.memory=1536Mi
  --set-string perRunClusters.workers.cpu.resources.requests.cpu=100m
  --set-string perRunClusters.workers.cpu.resources.requests.memory=1Gi
  --set-string perRunClusters.workers.cpu.resources.limits.cpu=1
  --set-string perRunClusters.workers.cpu.resources.limits.memory=2Gi
)
RUN_CLUSTER_SELECTOR="ray-platform/per-run=true"

# Whether a run_state line has every <task>=<state> given after it (in any order).
states_are() {
  local line=" $1 " want
  shift
  for want in "$@"; do [[ "$line" == *" $want "* ]] || return 1; done
}

# The names of the per-run RayClusters left in the namespace.
run_clusters() {
  kc -n "$NAMESPACE" get rayclusters -l "$RUN_CLUSTER_SELECTOR" -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}'
}

# The task's "<task> ran on pod <pod>" line, then that pod's name (DAG, run, task).
ran_on() {
  local out pod
  out="$(task_log "$1" "$2" "$3")"
  pod="$(grep -o "$3 ran on pod [a-z0-9.-]*" <<<"$out" | head -1 | awk '{print $NF}')"
  [[ -n "$pod" ]] || die "run-cluster: $3's log has no 'ran on pod' line (live output from the run's cluster?)"
  echo "$pod"
}

# The name in the setup task's handle (XCom), and the names the teardown returned.
cluster_made() { cluster_made_in ray_run_cluster_check "$1"; }
cluster_made_in() {
  task_result "$1" "$2" ray_cluster | python3 -c 'import json, sys; print(json.load(sys.stdin)["name"])'
}
clusters_deleted() {
  task_result ray_run_cluster_check "$1" delete_ray_cluster | python3 -c 'import json, sys; print(" ".join(json.load(sys.stdin)))'
}

# astro-provider-ray's spelling of the same (dags/astro_run_cluster_check.py): SetupRayCluster
# from a YAML file (the chart's template, copied into the scheduler pod where tasks run), a
# @ray.task and a SubmitRayJob on its cluster via xcom_task_key, DeleteRayCluster after them.
ASTRO_YAML=/tmp/astro-raycluster.yaml
check_astro_run_cluster() {
  local dag=astro_run_cluster_check ok_run="e2e_astro_cluster__$STAMP" fail_run="e2e_astro_cluster_fail__$STAMP"
  local made pod left job_log
  kc -n "$NAMESPACE" get configmap -l app.kubernetes.io/component=run-cluster-template \
    -o jsonpath='{.items[0].data.raycluster\.yaml}' |
    kc -n "$NAMESPACE" exec -i "${scheduler[@]}" -- sh -c "cat > $ASTRO_YAML"
  trigger "$dag" "$ok_run" '{}'
  follow "$dag" "$ok_run"
  made="$(task_result "$dag" "$ok_run" SetupRayCluster | python3 -c 'import json, sys; print(json.load(sys.stdin)["name"])')"
  pod="$(ran_on "$dag" "$ok_run" where)"
  [[ "$pod" == "$made"-* ]] || die "astro: the @ray.task ran on pod $pod, not on the run's cluster $made"
  # Read whole, then searched: grep -q on the pipe would end kubectl early (pipefail).
  job_log="$(task_log "$dag" "$ok_run" SubmitRayJob)"
  grep -q "job ran on pod $made-" <<<"$job_log" ||
    die "astro: SubmitRayJob's log has no 'job ran on pod $made-...' line: $(tail -5 <<<"$job_log")"
  left="$(run_clusters)"
  [[ -z "$left" ]] || die "astro: RayCluster(s) $left left after DeleteRayCluster"
  echo "  @ray.task ran on pod $pod; SubmitRayJob ran on $made's head"
  log "astro: SetupRayCluster made $made, @ray.task and SubmitRayJob ran on it, DeleteRayCluster deleted it"
  trigger "$dag" "$fail_run" '{"fail": true}'
  EXPECT_FAILURE=1 follow "$dag" "$fail_run"
  states_are "$(run_state "$dag" "$fail_run")" SubmitRayJob=failed DeleteRayCluster=success ||
    die "astro: expected SubmitRayJob failed and DeleteRayCluster successful: $(run_state "$dag" "$fail_run")"
  left="$(run_clusters)"
  [[ -z "$left" ]] || die "astro: RayCluster(s) $left left after a failed run"
  log "astro: a failed job's run still deleted its cluster (DeleteRayCluster is a teardown)"
}

# The HIGGS pipeline as an option on a per-run cluster (higgs_xgboost_run_cluster), small.
check_higgs_run_cluster() {
  local dag=higgs_xgboost_run_cluster run_id="e2e_higgs_run_cluster__$STAMP" conf metrics auc made left
  conf="$(printf '{"source": "synthetic", "rows": %d, "rounds": %d, "num_actors": 1, "cpus_per_actor": 1, "use_gpu": false, "cpu_workers": 1}' \
    "${RUN_CLUSTER_ROWS:-20000}" "${ROUNDS:-20}")"
  trigger "$dag" "$run_id" "$conf"
  follow "$dag" "$run_id"
  made="$(cluster_made_in "$dag" "$run_id")"
  metrics="$(task_result "$dag" "$run_id" report)"
  auc="$(grep -o '"auc": *[0-9.eE+-]*' <<<"$metrics" | awk -F': *' '{print $2}' || true)"
  [[ -n "$auc" ]] || die "higgs on a per-run cluster: the report task returned no auc: $metrics"
  left="$(run_clusters)"
  [[ -z "$left" ]] || die "higgs on a per-run cluster: RayCluster(s) $left left after the run"
  log "higgs on the run's cluster $made: test AUC $auc, cluster deleted"
}

check_run_cluster() {
  local dag=ray_run_cluster_check ok_run="e2e_run_cluster__$STAMP" fail_run="e2e_run_cluster_fail__$STAMP"
  local made pod task left
  [[ -z "$(run_clusters)" ]] || die "run-cluster: per-run RayClusters are already there: $(run_clusters | tr '\n' ' ')"
  log "run-cluster: helm upgrade $RELEASE with perRunClusters.enabled, then Airflow restarts"
  hc upgrade "$RELEASE" "$CHART" -n "$NAMESPACE" --reuse-values --wait --timeout 10m "${RUN_CLUSTER_VALUES[@]}" >/dev/null
  restart_airflow
  trigger "$dag" "$ok_run" '{}'
  UNTIL=ray_cluster=success follow "$dag" "$ok_run"
  made="$(cluster_made "$ok_run")"
  echo "  the run's cluster: $made ($(run_clusters | tr '\n' ' '))"
  follow "$dag" "$ok_run"
  for task in squares total; do
    pod="$(ran_on "$dag" "$ok_run" "$task")"
    [[ "$pod" == "$made"-* ]] || die "run-cluster: $task ran on pod $pod, not on the run's cluster $made"
    echo "  $task ran on pod $pod"
  done
  [[ "$(clusters_deleted "$ok_run")" == "$made" ]] ||
    die "run-cluster: the teardown deleted '$(clusters_deleted "$ok_run")', not the run's cluster $made"
  left="$(run_clusters)"
  [[ -z "$left" ]] || die "run-cluster: RayCluster(s) $left left after a successful run"
  log "run-cluster: the run's cluster $made was made, used and deleted"
  trigger "$dag" "$fail_run" '{"fail": true}'
  EXPECT_FAILURE=1 follow "$dag" "$fail_run"
  states_are "$(run_state "$dag" "$fail_run")" fail_if_asked=failed delete_ray_cluster=success ||
    die "run-cluster: expected fail_if_asked failed and the teardown successful: $(run_state "$dag" "$fail_run")"
  made="$(cluster_made "$fail_run")"
  [[ "$(clusters_deleted "$fail_run")" == "$made" ]] ||
    die "run-cluster: the failed run's teardown deleted '$(clusters_deleted "$fail_run")', not $made"
  left="$(run_clusters)"
  [[ -z "$left" ]] || die "run-cluster: RayCluster(s) $left left after the failed run"
  log "run-cluster: a failed run's cluster $made was deleted by its teardown"
  check_astro_run_cluster
  check_higgs_run_cluster
  log "run-cluster: putting the chart's values back (perRunClusters off)"
  hc upgrade "$RELEASE" "$CHART" -n "$NAMESPACE" --reuse-values --wait --timeout 10m \
    --set perRunClusters.enabled=false >/dev/null
  restart_airflow
}

for check in $CHECKS; do
  case "$check" in
    higgs) check_higgs ;;
    head-loss) check_head_loss ;;
    netpol) check_netpol ;;
    operations) check_operations ;;
    logs) check_logs ;;
    bundle) check_bundle ;;
    run-cluster) check_run_cluster ;;
    *) die "unknown E2E_CHECKS entry '$check' (known: higgs head-loss netpol operations logs bundle run-cluster)" ;;
  esac
done
log "e2e: all checks passed ($CHECKS)"
