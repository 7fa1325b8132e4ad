#!/usr/bin/env bash
# Installs and starts a Docker engine on a Debian/Ubuntu machine without one (a CI VM, a fresh
# server), ready for kind. Safe to run again: it only changes what is missing.
#   - Debian's docker.io (engine 20.10, with its BuildKit client) and jq, when dockerd is absent;
#   - where this machine's capability bounding set lacks CAP_SYS_RESOURCE (some VMs and
#     sandboxes), registers docker/local/files/runc-drop-caps as the default runtime, without which
#     no --privileged container (a kind node) starts; elsewhere runc is left alone;
#   - starts dockerd (systemd where it runs, else in the background, log in /var/log/dockerd.log).
# Needs root. Usage: charts/scripts/docker-engine.sh   (or: make docker-engine)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
log() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

[[ $EUID -eq 0 ]] || die "run as root (sudo $0): it installs packages and configures dockerd."

if ! command -v dockerd >/dev/null 2>&1 || ! command -v jq >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 || die "no dockerd and no apt-get: install Docker Engine for this OS (https://docs.docker.com/engine/install/) and jq, then rerun."
  log "installing Debian's docker.io and jq"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io jq >/dev/null
fi

# CAP_SYS_RESOURCE is bit 24 of the bounding set.
cap_missing() {
  local bnd
  bnd="$(awk '/^CapBnd:/ {print $2}' /proc/self/status)"
  (((0x$bnd >> 24 & 1) == 0))
}

daemon_json=/etc/docker/daemon.json
wrapper=/usr/local/sbin/runc-drop-caps
want='{}'
if cap_missing; then
  log "CAP_SYS_RESOURCE is missing from this machine's capability bounding set: using $wrapper as Docker's default runtime"
  install -m 0755 "$ROOT/docker/local/files/runc-drop-caps" "$wrapper"
  want="$(jq -n --arg p "$wrapper" '{runtimes: {"runc-drop-caps": {path: $p}}, "default-runtime": "runc-drop-caps"}')"
fi
mkdir -p /etc/docker
current='{}'
[[ -s "$daemon_json" ]] && current="$(cat "$daemon_json")"
merged="$(jq -S -n --argjson a "$current" --argjson b "$want" '$a * $b')"
changed=0
if [[ "$(jq -S . <<<"$current")" != "$merged" ]]; then
  log "writing $daemon_json"
  printf '%s\n' "$merged" >"$daemon_json"
  changed=1
fi

running() { docker info >/dev/null 2>&1; }
if running && ((changed)); then
  log "restarting dockerd for the new configuration"
  if [[ -d /run/systemd/system ]]; then systemctl restart docker; else pkill -x dockerd || true; fi
  for _ in $(seq 60); do running || break; sleep 0.5; done
fi
if ! running; then
  if [[ -d /run/systemd/system ]]; then
    systemctl enable --now docker
  else
    log "starting dockerd in the background (no systemd here); log: /var/log/dockerd.log"
    nohup dockerd >>/var/log/dockerd.log 2>&1 &
  fi
  for _ in $(seq 120); do running && break; sleep 0.5; done
  running || die "dockerd did not start within 60 s; see /var/log/dockerd.log"
fi
log "Docker $(docker version -f '{{.Server.Version}}') is running ($(docker info -f '{{.DefaultRuntime}}') runtime)"
