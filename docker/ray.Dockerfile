# syntax=docker/dockerfile:1.7
# Ray image (head and workers): rayproject/ray plus xgboost-ray, modin, minio and this project's
# provider (its Ray-side runtime), at the versions of uv.lock (docker/requirements/lock.txt).
# Build from the repository root (`make up` does both):
#   docker build -f docker/ray.Dockerfile -t ray-platform/ray:2.60.0-py311 .
#   docker build -f docker/ray.Dockerfile --build-arg VARIANT=-gpu -t ray-platform/ray:2.60.0-py311-gpu .
# VARIANT "-gpu" picks rayproject's CUDA image (an alias of its current cuXXX tag). The versions
# come from charts/ray-platform/values.yaml (`versions:`); tests/charts checks these defaults.
ARG RAY_VERSION=2.60.0
ARG PYTHON_TAG=py311
ARG VARIANT=""
FROM rayproject/ray:${RAY_VERSION}-${PYTHON_TAG}${VARIANT}

# The base image runs as the unprivileged "ray" user (uid 1000, gid 100) with its own Python;
# nothing here needs root. Ray itself is the base image's; pip keeps it.
RUN --mount=type=bind,source=docker/requirements,target=/tmp/requirements \
    pip install --no-cache-dir -r /tmp/requirements/ray.txt -c /tmp/requirements/lock.txt

# The provider without its Airflow dependency: only ray_provider.runtime runs on Ray, and it
# never imports Airflow.
RUN --mount=type=bind,source=provider,target=/tmp/provider,rw \
    pip install --no-cache-dir --no-deps /tmp/provider

# Numeric, so that runAsNonRoot can verify it.
USER 1000:100
