"""``RaySubmitJobOperator``: run a command on the Ray cluster as a Ray job, as long as it takes.

For work that is a program rather than a Python callable (``python train.py --rounds 500``
with its own ``working_dir`` and packages), Ray's Jobs API runs the command as the job's
driver on the cluster. The operator submits it on the task's ``ray`` connection, copies the
job's log into the task log while it runs, waits (in the worker, or deferred in the
triggerer), and ends the way the job did: a failed job fails the task with the end of its
own log. A killed or timed-out task stops its job; a retry first stops a job an earlier try
left running. XCom gets the job's submission id (key ``ray_job_id``) and, with ``result=``,
the small JSON value the job wrote.

.. code-block:: python

    train = RaySubmitJobOperator(
        task_id="train",
        entrypoint="python train.py --rounds 200",
        runtime_env={"working_dir": "dags/jobs", "pip": ["xgboost==2.0.3"]},
        entrypoint_num_cpus=1,
        result="file",  # the job writes JSON to $RAY_JOB_RESULT_FILE
        deferrable=True,
    )
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, conf
from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason

from ray_provider.client.deployment import current as current_deployment
from ray_provider.client.job_log import JobLog
from ray_provider.client.job_result import (
    ResultFrom,
    check_result_source,
    parse_result,
    wrap_entrypoint,
)
from ray_provider.client.jobs import TERMINAL_STATUSES, JobOutcome, RayJobs
from ray_provider.client.run_cluster import signed_handle
from ray_provider.config_options import (
    DEFAULT_DEFERRABLE_POLL_SECONDS,
    DEFERRABLE,
    DEFERRABLE_POLL_SECONDS,
    SECTION,
)
from ray_provider.decorators.deferral import deferral_timeout
from ray_provider.decorators.options import merge_runtime_env, parse_memory
from ray_provider.exceptions import RayArgumentError, RayJobFailedError, RayReferenceError
from ray_provider.hooks.ray import RayHook, hook_for_task
from ray_provider.links import RayJobLink, job_url
from ray_provider.triggers.ray_job import RayJobTrigger

JOB_ID_XCOM_KEY = "ray_job_id"
# Lines of a failed job's log its task's error shows.
ERROR_TAIL_LINES = 20


class RaySubmitJobOperator(BaseOperator):
    """Submit ``entrypoint`` as a Ray job and wait for it (see the module docstring).

    :param entrypoint: the shell command the job runs (``python train.py``).
    :param ray_conn_id: the ``ray`` connection; its dashboard (``dashboard_url`` extra, or
        the address's host on port 8265) is the Jobs API, its password the token.
    :param runtime_env: Ray runtime environment (``working_dir``, ``pip``, ``uv``,
        ``env_vars``, ...), merged over the connection's; a local ``working_dir`` is uploaded.
    :param entrypoint_num_cpus: CPUs reserved for the entrypoint itself (not its tasks).
    :param entrypoint_num_gpus: GPUs reserved for the entrypoint itself.
    :param entrypoint_memory: memory reserved for the entrypoint, bytes or ``"2GiB"``.
    :param entrypoint_resources: custom resources reserved for the entrypoint.
    :param metadata: string labels stored with the job (the Airflow ids are added).
    :param result: ``"file"``: the job writes one JSON value to ``$RAY_JOB_RESULT_FILE``;
        ``"last_line"``: its last log line is JSON. That value is the task's return value;
        without ``result`` the return value is the submission id.
    :param wait_for_completion: False: submit and succeed at once (the id goes to XCom).
    :param deferrable: wait in the triggerer instead of a worker slot; default
        ``[ray_provider] deferrable``.
    :param poll_seconds: how often the job is looked at where its log cannot be followed
        live; default ``[ray_provider] deferrable_poll_seconds``.
    :param ray_cluster: submit to a per-run cluster's Jobs API: the output of a
        ``RayClusterSetupOperator``, or a Ray address. The connection gives the token.
    """

    template_fields: Sequence[str] = ("entrypoint", "runtime_env", "metadata", "ray_cluster")
    template_fields_renderers = {"runtime_env": "json", "metadata": "json"}
    operator_extra_links = (RayJobLink(),)

    def __init__(
        self,
        *,
        entrypoint: str,
        ray_conn_id: str = RayHook.default_conn_name,
        runtime_env: dict[str, Any] | None = None,
        entrypoint_num_cpus: float | None = None,
        entrypoint_num_gpus: float | None = None,
        entrypoint_memory: int | str | None = None,
        entrypoint_resources: dict[str, float] | None = None,
        metadata: dict[str, str] | None = None,
        result: ResultFrom | None = None,
        wait_for_completion: bool = True,
        deferrable: bool | None = None,
        poll_seconds: float | None = None,
        ray_cluster: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.ray_cluster = ray_cluster
        if not isinstance(entrypoint, str) or not entrypoint.strip():
            raise RayArgumentError(
                f"{self.task_id}: entrypoint={entrypoint!r}: give the shell command the job "
                "runs, e.g. 'python train.py'."
            )
        self.entrypoint = entrypoint
        self.ray_conn_id = ray_conn_id
        self.runtime_env = runtime_env
        self.entrypoint_num_cpus = _amount("entrypoint_num_cpus", entrypoint_num_cpus)
        self.entrypoint_num_gpus = _amount("entrypoint_num_gpus", entrypoint_num_gpus)
        self.entrypoint_memory = parse_memory(entrypoint_memory)
        self.entrypoint_resources = _resources(entrypoint_resources)
        self.metadata = metadata
        self.result = check_result_source(result)
        self.wait_for_completion = wait_for_completion
        if deferrable is None:
            deferrable = conf.getboolean(SECTION, DEFERRABLE, fallback=False)
        self.deferrable = deferrable
        self.poll_seconds = poll_seconds
        self._jobs: RayJobs | None = None
        self._job_id: str | None = None

    def jobs(self, ti: Any = None) -> RayJobs:
        """The Jobs API of the connection's cluster, or of ``ray_cluster`` (needs ``ti``)."""
        if self._jobs is None:
            hook = (
                hook_for_task(self.ray_conn_id, self.ray_cluster, ti)
                if self.ray_cluster
                else RayHook(self.ray_conn_id)
            )
            self._jobs = RayJobs(hook.settings)
        return self._jobs

    @property
    def _poll_seconds(self) -> float:
        if self.poll_seconds is not None:
            return float(self.poll_seconds)
        return conf.getfloat(
            SECTION, DEFERRABLE_POLL_SECONDS, fallback=DEFAULT_DEFERRABLE_POLL_SECONDS
        )

    def execute(self, context: Any) -> Any:
        ti = context["ti"]
        jobs = self.jobs(ti)
        self._stop_earlier_tries(jobs, ti)
        submission_id = new_submission_id(ti)
        job = self._job_spec(ti, submission_id, jobs.settings.runtime_env)
        self.log.info(
            "Submitting Ray job %s to %s: %s", submission_id, jobs.address, self.entrypoint
        )
        # Known before the submission returns: a kill while a working_dir uploads stops it too.
        self._job_id = submission_id
        jobs.submit(**job)
        ti.xcom_push(key=JOB_ID_XCOM_KEY, value=submission_id)
        self._publish_link(ti, jobs)
        if not self.wait_for_completion:
            self.log.info("Not waiting for Ray job %s (wait_for_completion=False)", submission_id)
            return submission_id
        if self.deferrable:
            self.defer(
                trigger=RayJobTrigger(
                    ray_conn_id=self.ray_conn_id,
                    job_id=submission_id,
                    poll_seconds=self._poll_seconds,
                    ray_cluster=signed_handle(self.ray_cluster, ti),
                ),
                method_name="execute_complete",
                kwargs={"job_id": submission_id},
                timeout=deferral_timeout(self.execution_timeout, ti.start_date),
            )
        outcome = asyncio.run(
            jobs.follow(submission_id, JobLog(self._log_line), poll_seconds=self._poll_seconds)
        )
        return self._finish(outcome)

    def execute_complete(self, context: Any, event: dict[str, Any], job_id: str) -> Any:
        """Resumed from the trigger with the job's end (its log is already in the task log)."""
        outcome = JobOutcome.from_event(event)
        if outcome.job_id != job_id or not job_id.startswith(submission_id_prefix(context["ti"])):
            raise RayReferenceError(
                f"{self.task_id}: the trigger's event names Ray job {outcome.job_id!r}, not this "
                f"task's {job_id!r}; refusing it. Clear the task to run it again."
            )
        self._job_id = outcome.job_id
        return self._finish(outcome)

    def resume_execution(
        self, next_method: str, next_kwargs: dict[str, Any] | None, context: Any
    ) -> Any:
        if next_method == TRIGGER_FAIL_REPR:
            ti = context["ti"]
            error = (next_kwargs or {}).get("error")
            if error == TriggerFailureReason.TRIGGER_TIMEOUT:
                # execution_timeout passed while deferred: the job goes with its task.
                for job_id in self._running_jobs(self.jobs(ti), ti, ti.try_number):
                    self._stop(job_id, "its task's execution_timeout passed")
            else:
                self.log.warning(
                    "The wait in the triggerer failed (%s); the Ray job is left running, and "
                    "the task's next try stops it before it submits again.",
                    error,
                )
        return super().resume_execution(next_method, next_kwargs, context)

    def on_kill(self) -> None:
        # Killed or timed out in place (Airflow calls on_kill for both).
        if self._job_id:
            self._stop(self._job_id, "its task was killed or timed out")

    def _finish(self, outcome: JobOutcome) -> Any:
        if outcome.status == "SUCCEEDED":
            self.log.info("Ray job %s succeeded", outcome.job_id)
            if self.result is None:
                return outcome.job_id
            return parse_result(
                self.result,
                result_line=outcome.result_line,
                last_line=outcome.last_line,
                job_id=outcome.job_id,
            )
        tail = outcome.tail[-ERROR_TAIL_LINES:]
        shown = "\n".join(f"    {line}" for line in tail) or "    (the job printed nothing)"
        raise RayJobFailedError(
            f"Ray job {outcome.job_id} {outcome.status.lower()}: {outcome.message or 'no message'}"
            f"\nLast {len(tail)} line(s) of its log:\n{shown}"
        )

    def _job_spec(
        self, ti: Any, submission_id: str, connection_runtime_env: dict[str, Any]
    ) -> dict[str, Any]:
        runtime_env = merge_runtime_env(connection_runtime_env, self.runtime_env)
        entrypoint = self.entrypoint
        if self.result == "file":
            entrypoint, wrapper_env = wrap_entrypoint(entrypoint)
            runtime_env["env_vars"] = {**(runtime_env.get("env_vars") or {}), **wrapper_env}
        metadata = {str(k): str(v) for k, v in (self.metadata or {}).items()}
        metadata.update(job_labels(ti))
        spec: dict[str, Any] = {
            "entrypoint": entrypoint,
            "submission_id": submission_id,
            "runtime_env": runtime_env or None,
            "metadata": metadata,
            "entrypoint_num_cpus": self.entrypoint_num_cpus,
            "entrypoint_num_gpus": self.entrypoint_num_gpus,
            "entrypoint_memory": self.entrypoint_memory,
            "entrypoint_resources": self.entrypoint_resources,
        }
        return {key: value for key, value in spec.items() if value is not None}

    def _stop_earlier_tries(self, jobs: RayJobs, ti: Any) -> None:
        """A worker that died mid-wait leaves its job running: a retry does not run it twice."""
        if int(ti.try_number) <= 1:
            return
        for job_id in self._running_jobs(jobs, ti):
            self.log.warning("Ray job %s of an earlier try is still running", job_id)
            self._stop(job_id, "a new try of its task starts")

    def _running_jobs(self, jobs: RayJobs, ti: Any, try_number: int | None = None) -> list[str]:
        """This task instance's jobs (of one try, or of any) that have not ended."""
        labels = job_labels(ti)
        if try_number is not None:
            labels["airflow_try_number"] = str(try_number)
        else:
            labels.pop("airflow_try_number")
        return [
            job for job, status in jobs.jobs_labelled(labels) if status not in TERMINAL_STATUSES
        ]

    def _stop(self, job_id: str, why: str) -> None:
        try:
            if self.jobs().stop(job_id):
                self.log.warning("Stopped Ray job %s: %s", job_id, why)
        except Exception as exc:  # stopping is best effort: the task's own error matters more
            self.log.warning("Could not stop Ray job %s (%s): %s", job_id, why, exc)

    def _publish_link(self, ti: Any, jobs: RayJobs) -> None:
        base = jobs.settings.dashboard_base
        if not base or not self._job_id:
            return
        url = job_url(base, self._job_id)
        self.log.info("Ray job in the dashboard: %s", url)
        try:
            RayJobLink().persist(ti, url)
        except Exception as exc:  # a link is a convenience: never fail the task for it
            self.log.warning("Could not publish the Ray job link: %s", exc)

    def _log_line(self, line: str) -> None:
        self.log.info("[ray job] %s", line)


def job_labels(ti: Any) -> dict[str, str]:
    """The metadata that names a job's task instance and try (and the deployment)."""
    return {
        "airflow_deployment": current_deployment().id,
        "airflow_dag_id": ti.dag_id,
        "airflow_task_id": ti.task_id,
        "airflow_run_id": ti.run_id,
        "airflow_map_index": str(getattr(ti, "map_index", -1)),
        "airflow_try_number": str(ti.try_number),
    }


def submission_id_prefix(ti: Any) -> str:
    """The readable start of a task instance's job ids: deployment, DAG, task, map index, run."""
    map_index = getattr(ti, "map_index", -1)
    identity = f"{ti.dag_id}\n{ti.task_id}\n{map_index}\n{ti.run_id}"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:12]
    index = f"_{map_index}" if map_index is not None and map_index >= 0 else ""
    name = f"{_safe(ti.dag_id)[:40]}_{_safe(ti.task_id)[:40]}{index}"
    return f"airflow_{current_deployment().id}_{name}_{digest}_"


def new_submission_id(ti: Any) -> str:
    """A new job id for this try: readable, and never one Ray has seen.

    The random end matters: a run deleted and made again has the same ids, and Ray refuses a
    second job with a used submission id. Earlier tries are found by their metadata.
    """
    return f"{submission_id_prefix(ti)}try{ti.try_number}_{secrets.token_hex(3)}"


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text)


def _amount(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise RayArgumentError(f"{name}={value!r}: expected a number >= 0 (e.g. {name}=1).")
    return value


def _resources(value: Any) -> dict[str, float] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and _amount(f"entrypoint_resources[{k!r}]", v) is not None
        for k, v in value.items()
    ):
        raise RayArgumentError(
            f"entrypoint_resources={value!r}: expected a dict of resource name to amount."
        )
    return dict(value)
