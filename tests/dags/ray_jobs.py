"""DAGs for RaySubmitJobOperator: a job in place and deferred, a failing job, two timeouts.

The jobs run ``ray_jobs_files/train.py`` (sent as their working_dir). Gates and pid files are
named in the run's conf, so the test decides when a job may go on and can check its process.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from airflow.sdk import dag, task

from ray_provider.operators.ray_job import RaySubmitJobOperator

JOB_FILES = str(Path(__file__).parent / "ray_jobs_files")
TRAIN = "python train.py"


@dag(schedule=None, catchup=False, tags=["test"], default_args={"retries": 0})
def ray_job_runs():
    in_place = RaySubmitJobOperator(
        task_id="train_in_place",
        entrypoint=TRAIN + " --rounds 3 --gate {{ dag_run.conf['gate'] }}",
        runtime_env={"working_dir": JOB_FILES, "env_vars": {"TRAIN_LABEL": "in-place"}},
        entrypoint_num_cpus=0.5,
        metadata={"team": "search"},
        result="file",
    )
    deferred = RaySubmitJobOperator(
        task_id="train_deferred",
        entrypoint=TRAIN + " --rounds 2 --print-json --gate {{ dag_run.conf['gate'] }}",
        runtime_env={"working_dir": JOB_FILES, "env_vars": {"TRAIN_LABEL": "deferred"}},
        result="last_line",
        deferrable=True,
    )

    @task
    def report(in_place_result, deferred_result):
        return {"in_place": in_place_result, "deferred": deferred_result}

    report(in_place.output, deferred.output)


@dag(schedule=None, catchup=False, tags=["test"], default_args={"retries": 0})
def ray_job_failure():
    RaySubmitJobOperator(
        task_id="train_bad_rows",
        entrypoint=TRAIN + " --rounds 1 --fail 'bad rows in part 3'",
        runtime_env={"working_dir": JOB_FILES},
    )


@dag(schedule=None, catchup=False, tags=["test"], default_args={"retries": 0})
def ray_job_timeouts():
    for name, deferrable in (("in_place", False), ("deferred", True)):
        RaySubmitJobOperator(
            task_id=f"forever_{name}",
            entrypoint=TRAIN + f" --forever --pid-file {{{{ dag_run.conf['pid_dir'] }}}}/{name}",
            runtime_env={"working_dir": JOB_FILES},
            deferrable=deferrable,
            execution_timeout=timedelta(seconds=20),
        )


ray_job_runs()
ray_job_failure()
ray_job_timeouts()
