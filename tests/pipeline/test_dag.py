"""The HIGGS DAG parses without errors, has the seed's tasks, and validates its params."""

from __future__ import annotations

import pytest

from tests.conftest import PROJECT_DAGS


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_DAGS / "higgs_xgboost.py"))
    assert bag.import_errors == {}
    return bag.dags["higgs_xgboost"]


def test_tasks_and_order(dag):
    assert set(dag.task_ids) == {
        "load_dataframe",
        "create_data",
        "train_model",
        "evaluate",
        "save_model",
        "report",
    }
    assert dag.get_task("train_model").checkpoint is True
    assert dag.get_task("train_model").upstream_task_ids == {"create_data"}
    assert dag.get_task("report").upstream_task_ids == {"evaluate", "save_model"}


@pytest.mark.parametrize(
    ("name", "value"),
    [("rows", 10), ("rounds", 0), ("trainer", "sklearn"), ("use_gpu", "yes"), ("source", 5)],
)
def test_bad_params_are_refused(dag, name, value):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError):
        dag.params.get_param(name).resolve(value=value)


def test_param_defaults(dag):
    assert dag.params["source"] == "synthetic"
    assert dag.params["rows"] == 1_000_000
    assert dag.params.get_param("rows").resolve(value=None) is None  # all rows


def test_the_operations_check_dag_maps_and_defers():
    """The cluster's `make e2e` operations check relies on this shape."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_DAGS / "ray_operations_check.py"))
    assert bag.import_errors == {}
    dag = bag.dags["ray_operations_check"]
    assert dag.get_task("train").deferrable is True
    assert dag.get_task("score_shard").is_mapped
    assert dag.get_task("make_shards").deferrable is False
    job = dag.get_task("summarize_job")
    assert type(job).__name__ == "RaySubmitJobOperator" and job.result == "last_line"


def test_the_run_cluster_check_dag_tears_its_cluster_down():
    """`make e2e`'s run-cluster check relies on this shape: the Ray tasks use the run's
    cluster, and the teardown belongs to the setup, so it runs when a task fails."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_DAGS / "ray_run_cluster_check.py"))
    assert bag.import_errors == {}
    dag = bag.dags["ray_run_cluster_check"]
    setup, teardown = dag.get_task("ray_cluster"), dag.get_task("delete_ray_cluster")
    assert setup.is_setup and teardown.is_teardown
    assert setup.task_id in teardown.upstream_task_ids
    for task_id in ("squares", "total"):
        assert setup.task_id in dag.get_task(task_id).upstream_task_ids
    assert teardown.task_id in dag.get_task("fail_if_asked").downstream_task_ids


def test_the_astro_run_cluster_check_dag_uses_astro_provider_rays_operators():
    """`make e2e`'s astro check: the cluster operators by astro-provider-ray's names, the
    delete a teardown after the work, the Ray task and the job on the setup's cluster."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_DAGS / "astro_run_cluster_check.py"))
    assert bag.import_errors == {}
    dag = bag.dags["astro_run_cluster_check"]
    setup, delete = dag.get_task("SetupRayCluster"), dag.get_task("DeleteRayCluster")
    assert type(setup).__name__ == "SetupRayCluster" and setup.is_setup
    assert type(delete).__name__ == "DeleteRayCluster" and delete.is_teardown
    assert delete.upstream_task_ids == {"where", "SubmitRayJob"}
    for task_id in ("where", "SubmitRayJob"):
        task = dag.get_task(task_id)
        assert task.upstream_task_ids == {"SetupRayCluster"}
        assert task.xcom_task_key == "SetupRayCluster.dashboard"


def test_the_higgs_pipeline_on_a_per_run_cluster_has_every_ray_task_on_it():
    """higgs_xgboost_run_cluster: the same tasks, the Ray ones on the setup's cluster, the
    teardown after all of them."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_DAGS / "higgs_xgboost.py"))
    assert bag.import_errors == {}
    plain, per_run = bag.dags["higgs_xgboost"], bag.dags["higgs_xgboost_run_cluster"]
    work = set(plain.task_ids)
    assert set(per_run.task_ids) == work | {"ray_cluster", "delete_ray_cluster"}
    setup, teardown = per_run.get_task("ray_cluster"), per_run.get_task("delete_ray_cluster")
    assert setup.is_setup and teardown.is_teardown
    ray_tasks = {t for t in work if type(plain.get_task(t)).__name__ == "RayDecoratedOperator"}
    assert ray_tasks == {"load_dataframe", "create_data", "train_model", "evaluate"}
    for task_id in ray_tasks:
        assert per_run.get_task(task_id).ray_cluster is not None, task_id
        assert plain.get_task(task_id).ray_cluster is None, task_id
    assert setup.worker_replicas == {"cpu": "{{ params.cpu_workers }}"}
