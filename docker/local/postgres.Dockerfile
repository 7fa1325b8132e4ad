# Postgres for Airflow's metadata on local clusters, built without a container registry: the
# Debian base that docker/local/base-image.sh makes with debootstrap and Debian's postgresql-15.
# It fits charts/ray-platform/templates/postgres-statefulset.yaml as the official Alpine image
# does: user "postgres" uid 70 gid 70, the official image's environment (POSTGRES_PASSWORD,
# POSTGRES_USER, POSTGRES_DB, PGDATA), its socket in /var/run/postgresql and pg_isready on PATH.
# files/postgres-entrypoint.sh initializes an empty PGDATA and then runs postgres.
#
# The build context is a directory holding postgres-entrypoint.sh (docker/local/files is not
# in the repository root's context); docker/local/app-images.sh makes it:
#   DOCKER_BUILDKIT=1 docker build -f docker/local/postgres.Dockerfile -t ray-platform/postgres:15 \
#     docker/local/files
# No pip here, so no CA bundle is needed (apt fetches from deb.debian.org over HTTP, signed).
# No "# syntax=" line: the Dockerfile frontend built into Docker >= 20.10 is enough.
ARG BASE_IMAGE=ray-platform/debian:bookworm
FROM ${BASE_IMAGE}
ARG PG_MAJOR=15
LABEL org.opencontainers.image.title="ray-platform/postgres" \
      org.opencontainers.image.description="PostgreSQL ${PG_MAJOR} from Debian (docker/local)"

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# The user first, so that the packages (whose scripts create a "postgres" user when none exists)
# take uid and gid 70, the chart's runAsUser and runAsGroup. No cluster is made by the package:
# the entrypoint makes one in PGDATA.
# hadolint ignore=DL3008
RUN groupadd --system --gid 70 postgres \
    && useradd --system --uid 70 --gid 70 --home-dir /var/lib/postgresql --shell /bin/bash postgres \
    && apt-get update \
    && apt-get install -y --no-install-recommends postgresql-common \
    && sed -ri 's/#(create_main_cluster) .*$/\1 = false/' /etc/postgresql-common/createcluster.conf \
    && apt-get install -y --no-install-recommends "postgresql-${PG_MAJOR}" \
    && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && install -d -o 70 -g 70 -m 1777 /var/lib/postgresql/data \
    && install -d -o 70 -g 70 -m 3777 /var/run/postgresql \
    && install -d -m 0755 /docker-entrypoint-initdb.d \
    && test "$(id -u postgres):$(id -g postgres)" = 70:70

ENV PATH=/usr/lib/postgresql/${PG_MAJOR}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data \
    LANG=C.UTF-8
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh

VOLUME /var/lib/postgresql/data
EXPOSE 5432
# postgres stops cleanly and fast on SIGINT.
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]
CMD ["postgres"]

# Numeric, so that runAsNonRoot can verify it.
USER 70:70
