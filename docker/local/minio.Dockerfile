# MinIO server and client images built without a container registry, from the binaries that
# docker/local/go-binaries.sh builds from the Go module proxy ($CACHE/bin/minio and mc), on the
# Debian base that docker/local/base-image.sh makes with debootstrap. Two targets:
#   minio: the server. The chart (templates/store-minio-deployment.yaml) passes only args
#          ("server /data --address :9000 --console-address :9001 --certs-dir /tmp/certs"), so
#          the entrypoint is minio, as in quay.io/minio/minio. It runs as the chart's pod user
#          (uid 1000, gid 100) with /data on a volume and /tmp writable.
#   mc:    the client, for the chart's bucket Job (templates/store-bucket-job.yaml), which runs
#          `/bin/sh -c "for i in $(seq 1 60); do mc --config-dir /tmp/mc alias set ...; done
#          && mc mb ..."`: /bin/sh and seq come from the Debian base.
#
# The build context is a directory holding the binary of the target (the binaries are not in
# the repository); docker/local/app-images.sh makes it:
#   DOCKER_BUILDKIT=1 docker build -f docker/local/minio.Dockerfile --target minio \
#     -t ray-platform/minio:<tag> <directory with minio>
# No pip here, so no CA bundle is needed (apt fetches from deb.debian.org over HTTP, signed).
# No "# syntax=" line: the Dockerfile frontend built into Docker >= 20.10 is enough.
ARG BASE_IMAGE=ray-platform/debian:bookworm

FROM ${BASE_IMAGE} AS base
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# ca-certificates: TLS to an external S3 or KMS (public CAs only, from Debian).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && useradd --uid 1000 --gid 100 --create-home --home-dir /home/minio --shell /bin/sh minio \
    && install -d -o 1000 -g 100 /data
ENV LANG=C.UTF-8

FROM base AS minio
LABEL org.opencontainers.image.title="ray-platform/minio" \
      org.opencontainers.image.description="MinIO server built from source (docker/local)"
COPY minio /usr/bin/minio
RUN minio --version
EXPOSE 9000 9001
VOLUME /data
ENTRYPOINT ["/usr/bin/minio"]
CMD ["server", "/data", "--certs-dir", "/tmp/certs"]
# Numeric, so that runAsNonRoot can verify it.
USER 1000:100

FROM base AS mc
LABEL org.opencontainers.image.title="ray-platform/mc" \
      org.opencontainers.image.description="MinIO client built from source (docker/local)"
COPY mc /usr/bin/mc
RUN mc --config-dir /tmp/mc --version && rm -rf /tmp/mc
ENTRYPOINT ["/usr/bin/mc"]
CMD ["--help"]
# Numeric, so that runAsNonRoot can verify it.
USER 1000:100
