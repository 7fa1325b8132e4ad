#!/usr/bin/env bash
# The Debian base image every local image starts from, made here with debootstrap (no container
# registry is needed): ray-platform/debian:<suite>. Kept when it exists (docker rmi to remake).
set -euo pipefail
# shellcheck source=docker/local/versions.sh
source "$(dirname "${BASH_SOURCE[0]}")/versions.sh"
IMAGE="ray-platform/debian:$DEBIAN_SUITE"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "==> $IMAGE: present"
  exit 0
fi
command -v debootstrap >/dev/null 2>&1 || {
  command -v apt-get >/dev/null 2>&1 || { echo "error: debootstrap is needed to make $IMAGE: install it and rerun." >&2; exit 1; }
  apt-get install -y -qq debootstrap >/dev/null
}
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
echo "==> making $IMAGE with debootstrap (about 80 s)"
debootstrap --variant=minbase "$DEBIAN_SUITE" "$root" "$MIRROR" >/dev/null
# Smaller and reproducible: no apt lists, caches or docs in the base.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/usr/share/doc/* "$root"/usr/share/man/*
printf 'deb %s %s main\ndeb %s %s-updates main\ndeb http://deb.debian.org/debian-security %s-security main\n' \
  "$MIRROR" "$DEBIAN_SUITE" "$MIRROR" "$DEBIAN_SUITE" "$DEBIAN_SUITE" >"$root/etc/apt/sources.list"
tar -C "$root" -c . | docker import --change 'CMD ["/bin/bash"]' - "$IMAGE" >/dev/null
echo "==> $IMAGE: made"
