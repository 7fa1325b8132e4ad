# shellcheck shell=bash
# build_image ARGS...: `docker build` with BuildKit (RUN --mount, secrets), whichever CLI has it:
# `docker buildx` where the plugin is installed, else a docker CLI with BuildKit built in
# (Docker 20.10-23, e.g. Debian's /usr/bin/docker). Docker 24+ without buildx cannot BuildKit.
build_image() {
  if docker buildx version >/dev/null 2>&1; then
    docker buildx build --load "$@"
    return
  fi
  local cli
  for cli in docker /usr/bin/docker; do
    command -v "$cli" >/dev/null 2>&1 || continue
    local major
    major="$("$cli" version -f '{{.Client.Version}}' 2>/dev/null | cut -d. -f1)"
    if [[ -n "$major" ]] && ((major < 24)); then
      DOCKER_BUILDKIT=1 "$cli" build "$@"
      return
    fi
  done
  echo "error: building the images needs BuildKit: install the docker buildx plugin (Debian/Ubuntu: docker-buildx) or use Docker's own packages." >&2
  return 1
}
