# Airflow image built without a container registry: the Debian base that
# docker/local/base-image.sh makes with debootstrap, Debian's Python 3.11 in a virtual
# environment, Airflow from PyPI and the same additions as docker/airflow.Dockerfile (the
# provider, the pipeline's dependencies and the DAGs) at the versions of uv.lock
# (docker/requirements/lock.txt). Same name and tag as the internet path, so the Airflow values
# need no override. It keeps what the Airflow chart relies on in apache/airflow: user "airflow"
# (uid 50000, gid 0), AIRFLOW_HOME /opt/airflow, the FAB auth manager the chart configures, the
# Postgres drivers, /entrypoint (the chart's liveness probes exec it) and /clean-logs (its
# log-groomer sidecars run it).
#
# No "# syntax=" line: the Dockerfile frontend built into Docker >= 20.10 (BuildKit) is enough,
# and pulling docker/dockerfile needs a registry. docker/local/app-images.sh builds it from the
# repository root:
#   DOCKER_BUILDKIT=1 docker build -f docker/local/airflow.Dockerfile \
#     --secret id=ca_bundle,src=/etc/ssl/certs/ca-certificates.crt \
#     -t ray-platform/airflow:3.3.2-python3.11 .
#
# Behind a TLS-intercepting proxy (corporate networks): pip trusts the PEM bundle passed as the
# BuildKit secret "ca_bundle" (app-images.sh passes $EXTRA_CA_BUNDLE, else the host's
# /etc/ssl/certs/ca-certificates.crt). It replaces pip's own CA list, so it must hold every CA
# pip needs; it is mounted only while pip runs and never stays in a layer. Without the secret
# pip uses its own CAs.
ARG BASE_IMAGE=ray-platform/debian:bookworm
FROM ${BASE_IMAGE}
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11
# What apache/airflow has and uv.lock does not (yet): the Postgres provider with the drivers of
# the metadata database (psycopg 3, SQLAlchemy 2.1's default for postgresql://, psycopg2, and
# asyncpg for Airflow's async engine) and the FAB provider, whose auth manager the Airflow chart
# configures (`airflow users create` is its command).
ARG POSTGRES_PROVIDER_VERSION=7.1.1
ARG PSYCOPG_VERSION=3.3.9
ARG PSYCOPG2_VERSION=2.9.11
ARG ASYNCPG_VERSION=0.32.0
ARG FAB_PROVIDER_VERSION=3.10.2
LABEL org.opencontainers.image.title="ray-platform/airflow" \
      org.opencontainers.image.description="Airflow ${AIRFLOW_VERSION} on Debian's Python ${PYTHON_VERSION} (docker/local)"

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# Debian's packages come from the suite the base image names (its sources.list is the pin).
# dumb-init: PID 1, as in apache/airflow; libgomp1: xgboost's OpenMP; git: GitDagBundle clones.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        python3 python3-venv ca-certificates dumb-init libgomp1 procps netbase tzdata git \
    && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && python3 -c "import sys; v = '.'.join(map(str, sys.version_info[:2])); assert v == '${PYTHON_VERSION}', v"

# The user and directories of apache/airflow (group 0 and group-writable, for clusters that run
# it under another uid). /entrypoint runs a command as given, else an Airflow subcommand
# ("version" runs "airflow version"); /clean-logs is apache/airflow's log groomer. Login shells
# reset PATH (Debian's /etc/profile), so /etc/profile.d puts the environment back in front.
# The single-quoted $ expressions are meant for the scripts written here, not this shell.
# hadolint ignore=SC2016
RUN useradd --uid 50000 --gid 0 --create-home --home-dir /home/airflow --shell /bin/bash airflow \
    && install -d -o 50000 -g 0 -m 0775 /opt/airflow /opt/airflow/dags /opt/airflow/logs \
        /opt/airflow/plugins /opt/airflow/config /opt/venv \
    && echo 'export PATH="/opt/venv/bin:$PATH"' >/etc/profile.d/00-venv.sh \
    && printf '%s\n' \
        '#!/usr/bin/env bash' \
        '# Like apache/airflow'"'"'s /entrypoint: a command runs as given, anything else is an' \
        '# Airflow subcommand. The Airflow chart'"'"'s liveness probes run "/entrypoint airflow ...".' \
        'umask 0002' \
        'if [[ $# -gt 0 ]] && command -v -- "$1" >/dev/null 2>&1; then exec "$@"; fi' \
        'exec airflow "$@"' \
        >/entrypoint \
    && printf '%s\n' \
        '#!/usr/bin/env bash' \
        '# Like apache/airflow'"'"'s /clean-logs (the Airflow chart'"'"'s log-groomer sidecars): every' \
        '# AIRFLOW__LOG_CLEANUP_FREQUENCY_MINUTES, delete task logs older than AIRFLOW__LOG_RETENTION_DAYS.' \
        'set -euo pipefail' \
        'readonly DIRECTORY="${AIRFLOW_HOME:-/opt/airflow}"' \
        'readonly RETENTION="${AIRFLOW__LOG_RETENTION_DAYS:-15}"' \
        'readonly FREQUENCY="${AIRFLOW__LOG_CLEANUP_FREQUENCY_MINUTES:-15}"' \
        'readonly EVERY=$((FREQUENCY * 60))' \
        'trap "exit" INT TERM' \
        'echo "Cleaning logs every $EVERY seconds"' \
        'while true; do' \
        '  echo "Trimming airflow logs to ${RETENTION} days."' \
        '  find "$DIRECTORY/logs" -type d -name "lost+found" -prune -o \' \
        '    -type f -mtime +"$RETENTION" -name "*.log" -print0 | xargs -0 rm -f || true' \
        '  find "$DIRECTORY/logs" -mindepth 1 -type d -empty -delete || true' \
        '  seconds=$(( $(date -u +%s) % EVERY ))' \
        '  (( seconds < 1 )) || sleep $(( EVERY - seconds - 1 )) &' \
        '  wait $! || true' \
        '  sleep 1' \
        'done' \
        >/clean-logs \
    && chmod 0755 /entrypoint /clean-logs
ENV AIRFLOW_HOME=/opt/airflow \
    AIRFLOW_USER_HOME_DIR=/home/airflow \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8
USER 50000:0
WORKDIR /opt/airflow
RUN python3 -m venv /opt/venv

# Airflow and the pipeline's dependencies pinned by lock.txt (as docker/airflow.Dockerfile), plus
# what apache/airflow brings that the chart needs (see the ARGs above).
RUN --mount=type=bind,source=docker/requirements,target=/tmp/requirements \
    --mount=type=secret,id=ca_bundle,uid=50000 \
    if [ -s /run/secrets/ca_bundle ]; then export PIP_CERT=/run/secrets/ca_bundle; fi \
    && pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" \
        "apache-airflow-providers-postgres==${POSTGRES_PROVIDER_VERSION}" \
        "psycopg[binary]==${PSYCOPG_VERSION}" "psycopg2-binary==${PSYCOPG2_VERSION}" \
        "asyncpg==${ASYNCPG_VERSION}" "apache-airflow-providers-fab==${FAB_PROVIDER_VERSION}" \
        -r /tmp/requirements/airflow.txt -c /tmp/requirements/lock.txt

RUN --mount=type=bind,source=provider,target=/tmp/provider,rw \
    --mount=type=bind,source=docker/requirements,target=/tmp/requirements \
    --mount=type=secret,id=ca_bundle,uid=50000 \
    if [ -s /run/secrets/ca_bundle ]; then export PIP_CERT=/run/secrets/ca_bundle; fi \
    && pip install --no-cache-dir /tmp/provider -c /tmp/requirements/lock.txt

COPY --chown=50000:0 dags/ /opt/airflow/dags/

# dumb-init as PID 1 forwards signals; the chart's commands ("bash -c 'exec airflow ...'") and
# `docker run IMAGE airflow version` both go through /entrypoint.
ENTRYPOINT ["/usr/bin/dumb-init", "--", "/entrypoint"]
CMD []

# Numeric, so that runAsNonRoot can verify it.
USER 50000
