# Ray image (head and workers) built without a container registry: the Debian base that
# docker/local/base-image.sh makes with debootstrap, Debian's Python 3.11 in a virtual
# environment, Ray from PyPI and the same additions as docker/ray.Dockerfile (xgboost-ray, modin,
# minio and the provider's Ray-side runtime) at the versions of uv.lock (docker/requirements/
# lock.txt). Same name and tag as the internet path, so the chart needs no override. It keeps
# what KubeRay and the chart rely on in rayproject/ray: user "ray" (uid 1000, gid 100 "users",
# HOME /home/ray), bash, wget (KubeRay's probes), and python, pip and ray on PATH, also in the
# login shells KubeRay starts (`bash -lc "ulimit -n 65536; ray start ..."`).
#
# No "# syntax=" line: the Dockerfile frontend built into Docker >= 20.10 (BuildKit) is enough,
# and pulling docker/dockerfile needs a registry. docker/local/app-images.sh builds it from the
# repository root:
#   DOCKER_BUILDKIT=1 docker build -f docker/local/ray.Dockerfile \
#     --secret id=ca_bundle,src=/etc/ssl/certs/ca-certificates.crt -t ray-platform/ray:2.60.0-py311 .
#
# Behind a TLS-intercepting proxy (corporate networks): pip trusts the PEM bundle passed as the
# BuildKit secret "ca_bundle" (app-images.sh passes $EXTRA_CA_BUNDLE, else the host's
# /etc/ssl/certs/ca-certificates.crt). It replaces pip's own CA list, so it must hold every CA
# pip needs; it is mounted only while pip runs and never stays in a layer. Without the secret
# pip uses its own CAs.
ARG BASE_IMAGE=ray-platform/debian:bookworm
FROM ${BASE_IMAGE}
ARG RAY_VERSION=2.60.0
ARG PYTHON_VERSION=3.11
LABEL org.opencontainers.image.title="ray-platform/ray" \
      org.opencontainers.image.description="Ray ${RAY_VERSION} on Debian's Python ${PYTHON_VERSION} (docker/local)"

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# Debian's packages come from the suite the base image names (its sources.list is the pin).
# libgomp1: xgboost's OpenMP; wget: KubeRay's readiness and liveness probes.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        python3 python3-venv ca-certificates wget libgomp1 procps netbase tzdata \
    && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && python3 -c "import sys; v = '.'.join(map(str, sys.version_info[:2])); assert v == '${PYTHON_VERSION}', v"

# The user of rayproject/ray. It owns the virtual environment, as rayproject/ray's user owns its
# Python, so pip works for it (e.g. in an image built FROM this one). Login shells reset PATH
# (Debian's /etc/profile), so /etc/profile.d puts the environment back in front.
# The single-quoted $ expressions are meant for the scripts written here, not this shell.
# hadolint ignore=SC2016
RUN useradd --uid 1000 --gid 100 --create-home --home-dir /home/ray --shell /bin/bash ray \
    && install -d -o 1000 -g 100 /opt/venv \
    && echo 'export PATH="/opt/venv/bin:$PATH"' >/etc/profile.d/00-venv.sh
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8
USER 1000:100
WORKDIR /home/ray
RUN python3 -m venv /opt/venv

# Ray with the dashboard, the autoscaler and the KubeRay autoscaler (ray[default]), then what
# docker/ray.Dockerfile adds to rayproject/ray, all pinned by lock.txt.
RUN --mount=type=bind,source=docker/requirements,target=/tmp/requirements \
    --mount=type=secret,id=ca_bundle,uid=1000 \
    if [ -s /run/secrets/ca_bundle ]; then export PIP_CERT=/run/secrets/ca_bundle; fi \
    && pip install --no-cache-dir "ray[default]==${RAY_VERSION}" \
        -r /tmp/requirements/ray.txt -c /tmp/requirements/lock.txt

# The provider without its Airflow dependency: only ray_provider.runtime runs on Ray, and it
# never imports Airflow. (pip fetches the build backend, hatchling, so the CA is needed here too.)
RUN --mount=type=bind,source=provider,target=/tmp/provider,rw \
    --mount=type=secret,id=ca_bundle,uid=1000 \
    if [ -s /run/secrets/ca_bundle ]; then export PIP_CERT=/run/secrets/ca_bundle; fi \
    && pip install --no-cache-dir --no-deps /tmp/provider

# Numeric, so that runAsNonRoot can verify it.
USER 1000:100
