#!/usr/bin/env bash
# Entrypoint of ray-platform/postgres (docker/local/postgres.Dockerfile), a small subset of the
# official postgres image's docker-entrypoint.sh with the same environment:
#   POSTGRES_PASSWORD (required for a new database), POSTGRES_USER (default postgres),
#   POSTGRES_DB (default POSTGRES_USER), PGDATA, POSTGRES_INITDB_ARGS,
#   /docker-entrypoint-initdb.d/*.sh and *.sql (run once, on a new database).
# On an empty PGDATA it runs initdb (scram-sha-256 for every TCP connection, trust only on the
# local socket), listens on every address and creates POSTGRES_DB; then, and on an existing
# PGDATA straight away, it execs postgres in the foreground. Runs as the postgres user (uid 70,
# no capabilities needed); started as root it drops to that user first.
set -Eeuo pipefail

if [[ $# -eq 0 || "${1:0:1}" == "-" ]]; then
  set -- postgres "$@"
fi
# Anything but the server (psql, bash, pg_dump ...), and the server's --version or --help, runs
# as given.
wants_info() {
  local arg
  for arg; do
    case "$arg" in -'?' | --help | --describe-config | -V | --version) return 0 ;; esac
  done
  return 1
}
if [[ "$1" != postgres ]] || wants_info "$@"; then
  exec "$@"
fi

: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
export PGDATA POSTGRES_USER POSTGRES_DB

log() { printf '%s [entrypoint] %s\n' "$(date -u '+%Y-%m-%d %H:%M:%S UTC')" "$*"; }

if [[ "$(id -u)" == 0 ]]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 0700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
  if [[ -z "${POSTGRES_PASSWORD:-}" ]]; then
    log "error: the database is uninitialized and POSTGRES_PASSWORD is not set." >&2
    exit 1
  fi
  mkdir -p "$PGDATA"
  chmod 0700 "$PGDATA"
  log "initializing a new database in $PGDATA"
  # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of options
  initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
    --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 \
    ${POSTGRES_INITDB_ARGS:-} >/dev/null
  {
    printf '\n# ray-platform/postgres: any host with a password.\n'
    printf 'host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n'
  } >>"$PGDATA/pg_hba.conf"
  printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"

  # A temporary server on the local socket only, to create the database and run the init files.
  pg_ctl --pgdata="$PGDATA" --silent --wait --options="-c listen_addresses='' -p 5432" start
  psql=(psql -v ON_ERROR_STOP=1 --no-password --no-psqlrc --username "$POSTGRES_USER")
  if [[ "$POSTGRES_DB" != postgres ]]; then
    "${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";' >/dev/null
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh) log "running $f"; bash "$f" ;;
      *.sql) log "running $f"; "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" >/dev/null ;;
      *) ;;
    esac
  done
  pg_ctl --pgdata="$PGDATA" --silent --wait --mode=fast stop
  log "database $POSTGRES_DB of user $POSTGRES_USER is ready"
else
  log "starting on the existing database in $PGDATA"
fi

exec "$@"
