# syntax=docker/dockerfile:1.7
# Airflow image: apache/airflow plus this project's provider, the pipeline's dependencies at the
# versions of uv.lock (docker/requirements/lock.txt) and the DAGs.
# Build from the repository root (`make up` does):
#   docker build -f docker/airflow.Dockerfile -t ray-platform/airflow:3.3.2-python3.11 .
# The versions come from charts/ray-platform/values.yaml (`versions:`); the defaults below are
# the same and tests/charts checks that they stay equal to uv.lock.
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11
FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}
ARG AIRFLOW_VERSION

# The base image already runs as the unprivileged "airflow" user (uid 50000) and installs into
# its home; nothing here needs root. Requirements and the provider are bind-mounted, so no copy
# of them stays in a layer.
RUN --mount=type=bind,source=docker/requirements,target=/tmp/requirements \
    pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" \
        -r /tmp/requirements/airflow.txt -c /tmp/requirements/lock.txt

RUN --mount=type=bind,source=provider,target=/tmp/provider,rw \
    --mount=type=bind,source=docker/requirements,target=/tmp/requirements \
    pip install --no-cache-dir /tmp/provider -c /tmp/requirements/lock.txt

COPY --chown=airflow:root dags/ /opt/airflow/dags/

# Numeric, so that runAsNonRoot can verify it.
USER 50000
