"""HIGGS boson classification with XGBoost on Ray: from notebook to Airflow DAG.

load -> split -> train (checkpointed) -> evaluate -> save model + metrics -> report. The
trainer is plain XGBoost on one node when the data fits one (``trainer="auto"``, the default),
xgboost-ray or Ray Train otherwise; the task log says which and why.
Every heavy step is a ``@task.ray``: frames move from task to task through the Ray object
store, never through Airflow. Trigger with params to change the data or the training, e.g.
``{"source": "https://.../HIGGS.csv.gz", "rows": 11000000, "rounds": 200}``.

``higgs_xgboost_run_cluster`` is the same pipeline on a Ray cluster of the run's own, made
from the chart's per-run template (``perRunClusters.enabled``) by a setup task and deleted by
a teardown when the run ends, failed or not. The trained model is checkpointed, so a re-run
of ``evaluate`` after the cluster is gone restores it from the store.
"""

from __future__ import annotations

import json
import os

from airflow.sdk import Param, dag, task

# The helpers are imported here, not inside the tasks: the Ray workers cannot import the DAG
# folder, so they travel with the task functions, pickled by value (the provider does that for
# any module under the DAG folder that the DAG file has imported).
from higgs.frames import to_modin
from higgs.model import TRAINERS, split
from higgs.model import evaluate as score_model
from higgs.sources import load
from higgs.trainer_choice import CHOICES, choose_trainer, frame_bytes

from ray_provider.operators import RayClusterSetupOperator, RayClusterTeardownOperator

RAY_CONN_ID = os.environ.get("HIGGS_RAY_CONN_ID", "ray_default")
CHECKPOINT_CONN_ID = os.environ.get("HIGGS_CHECKPOINT_CONN_ID", "s3_checkpoints")
# An s3:// source is read with this aws connection (by default the checkpoint store's).
SOURCE_CONN_ID = os.environ.get("HIGGS_SOURCE_CONN_ID", CHECKPOINT_CONN_ID)


def s3_fields(conn_id: str) -> dict[str, str]:
    """Templates for an aws connection's endpoint and keys, rendered by Airflow at run time.

    No keys: the Ray worker finds its own credentials (its pod's IAM role, the AWS chain).

    The Ray worker that runs the task cannot read Airflow connections, so Airflow renders them
    into the task's arguments, which travel to Ray with the task (never through XCom); Airflow
    masks the secret in the rendered fields it shows.
    """
    conn = f"conn.get({conn_id!r})"
    return {
        "endpoint_url": f"{{{{ {conn}.extra_dejson.get('endpoint_url', '') }}}}",
        "region": f"{{{{ {conn}.extra_dejson.get('region_name', '') }}}}",
        "access_key": f"{{{{ {conn}.login or '' }}}}",
        "secret_key": f"{{{{ {conn}.password or '' }}}}",
        "session_token": f"{{{{ {conn}.extra_dejson.get('aws_session_token', '') }}}}",
    }


PARAMS = {
    "source": Param(
        "synthetic",
        type="string",
        description="'synthetic', a path to HIGGS.csv(.gz), an http(s) URL or s3://bucket/key",
    ),
    "rows": Param(
        1_000_000,
        type=["integer", "null"],
        minimum=100,
        description="use the first N rows (null: all)",
    ),
    "rounds": Param(100, type="integer", minimum=1, maximum=5000),
    "num_actors": Param(2, type="integer", minimum=1, maximum=256),
    "cpus_per_actor": Param(1, type="integer", minimum=1, maximum=64),
    "use_gpu": Param(False, type="boolean", description="train on GPUs (device='cuda')"),
    "gpus_per_actor": Param(1, type="integer", minimum=1, maximum=8),
    "trainer": Param(
        "auto",
        enum=list(CHOICES),
        description="auto (default: xgboost when the data fits one node, else xgboost_ray), "
        "xgboost (plain XGBoost in one task holding a node), xgboost_ray, or ray_train "
        "(Ray Train's XGBoostTrainer)",
    ),
    "sha256": Param(None, type=["string", "null"], description="expected SHA-256 of a download"),
}


def higgs_pipeline(ray_cluster=None) -> None:
    """The pipeline's tasks, on the connection's cluster or on ``ray_cluster`` (a setup's
    output: the run's own cluster)."""

    @task.ray(ray_conn_id=RAY_CONN_ID, num_cpus=1)
    def load_dataframe(source_store, params=None):
        frame = load(
            params["source"], params["rows"], sha256=params.get("sha256"), s3_conn=source_store
        )
        frame = to_modin(frame)
        print(f"loaded {len(frame):,} rows x {frame.shape[1]} columns from {params['source']}")
        return frame

    @task.ray(ray_conn_id=RAY_CONN_ID, num_cpus=1)
    def create_data(frame):
        train, validation, test = split(frame)
        print(f"train {len(train):,} / validation {len(validation):,} / test {len(test):,} rows")
        return train, validation, test

    @task.ray(
        ray_conn_id=RAY_CONN_ID, num_cpus=0, checkpoint=True, checkpoint_conn_id=CHECKPOINT_CONN_ID
    )
    def train_model(data, params=None):
        train, validation, _ = data
        choice = choose_trainer(
            params["trainer"],
            frame_bytes(train, validation),
            use_gpu=params["use_gpu"],
            num_actors=params["num_actors"],
            cpus_per_actor=params["cpus_per_actor"],
            gpus_per_actor=params["gpus_per_actor"],
        )
        print(f"trainer: {choice.trainer} ({choice.reason})")
        booster, history, seconds = TRAINERS[choice.trainer](
            train,
            validation,
            rounds=params["rounds"],
            num_actors=params["num_actors"],
            cpus_per_actor=params["cpus_per_actor"],
            use_gpu=params["use_gpu"],
            gpus_per_actor=params["gpus_per_actor"],
        )
        print(f"trained {params['rounds']} rounds with {choice.trainer} in {seconds:.1f}s")
        return {
            "booster": booster,
            "history": history,
            "train_seconds": seconds,
            "trainer": choice.trainer,
            "trainer_reason": choice.reason,
        }

    @task.ray(ray_conn_id=RAY_CONN_ID, num_cpus=1)
    def evaluate(data, trained, params=None):
        metrics = score_model(trained["booster"], data[2])
        metrics.update(
            train_seconds=round(trained["train_seconds"], 2),
            train_rows=len(data[0]),
            rounds=params["rounds"],
            trainer=trained["trainer"],
            device="cuda" if params["use_gpu"] else "cpu",
        )
        return metrics

    @task
    def save_model(trained, metrics, dag_run=None):
        """The booster (XGBoost's format) and metrics.json, next to the run's checkpoints.

        A plain task (Airflow side), so it uses the provider's public artifact API,
        ``CheckpointStoreHook.save_bytes``: ``.../<run_id>/artifacts/<name>`` in the store.
        """
        from ray_provider.hooks.checkpoint_store import CheckpointStoreHook

        store = CheckpointStoreHook(CHECKPOINT_CONN_ID)
        dag_id, run_id = dag_run.dag_id, dag_run.run_id
        model = bytes(trained["booster"].save_raw("ubj"))
        return {
            "model": store.save_bytes(dag_id, run_id, "model.ubj", model),
            "metrics": store.save_bytes(
                dag_id, run_id, "metrics.json", json.dumps(metrics, indent=2).encode()
            ),
        }

    @task
    def report(metrics, saved):
        rows = [
            (name, f"{value:.4f}" if isinstance(value, float) else str(value))
            for name, value in metrics.items()
        ]
        width = max(len(name) for name, _ in rows)
        print("HIGGS test-set metrics")
        for name, value in rows:
            print(f"  {name.ljust(width)}  {value}")
        print(f"model:   {saved['model']}\nmetrics: {saved['metrics']}")
        return metrics

    if ray_cluster is not None:
        on_cluster = {"ray_cluster": ray_cluster}
        load_dataframe = load_dataframe.override(**on_cluster)
        create_data = create_data.override(**on_cluster)
        train_model = train_model.override(**on_cluster)
        evaluate = evaluate.override(**on_cluster)
    data = create_data(load_dataframe(s3_fields(SOURCE_CONN_ID)))
    trained = train_model(data)
    metrics = evaluate(data, trained)
    report(metrics, save_model(trained, metrics))


@dag(
    dag_id="higgs_xgboost",
    schedule=None,
    catchup=False,
    params=PARAMS,
    tags=["example", "ray", "xgboost"],
    default_args={"retries": 1},
)
def higgs_xgboost():
    higgs_pipeline()


@dag(
    dag_id="higgs_xgboost_run_cluster",
    schedule=None,
    catchup=False,
    params={
        **PARAMS,
        "cpu_workers": Param(1, type="integer", minimum=0, maximum=64),
    },
    tags=["example", "ray", "xgboost", "per-run-cluster"],
    default_args={"retries": 1},
)
def higgs_xgboost_run_cluster():
    cluster = RayClusterSetupOperator(
        task_id="ray_cluster",
        worker_replicas={"cpu": "{{ params.cpu_workers }}"},
        ready_timeout=900,
    )
    delete = RayClusterTeardownOperator(task_id="delete_ray_cluster", cluster=cluster.output)
    with delete.as_teardown(setups=cluster):
        higgs_pipeline(ray_cluster=cluster.output)


higgs_xgboost()
higgs_xgboost_run_cluster()
