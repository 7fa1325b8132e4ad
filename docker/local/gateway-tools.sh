#!/usr/bin/env bash
# What the Azure gateway's tests run, outside Docker: s3proxy's jar (the same pinned jar that
# docker/s3proxy.Dockerfile installs) and Azurite, Azure's storage emulator. Both come from the
# package registries (Maven Central, npm); Java and Node.js come from the machine.
# Output: $CACHE/lib/s3proxy-$S3PROXY_VERSION.jar and $CACHE/azurite-$AZURITE_VERSION/ (kept;
# delete them to fetch again). devstack/azure_gateway.py looks for them there.
#
# Usage: docker/local/gateway-tools.sh
set -euo pipefail
# shellcheck source=docker/local/versions.sh
source "$(dirname "${BASH_SOURCE[0]}")/versions.sh"

log() { printf '==> [%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  echo "error: $1 is needed for the Azure gateway's tests ($2): install it (Debian: apt-get install $3) and rerun make." >&2
  exit 1
}
need java "s3proxy runs on Java 17 or later" openjdk-17-jre-headless
need keytool "the tests' TLS trust store" openjdk-17-jre-headless
need node "Azurite, the Azure Blob emulator" nodejs
need npm "installs Azurite" npm

jar="$CACHE/lib/s3proxy-$S3PROXY_VERSION.jar"
if [[ ! -s "$jar" ]]; then
  mkdir -p "$CACHE/lib"
  url="https://repo1.maven.org/maven2/org/gaul/s3proxy/$S3PROXY_VERSION/s3proxy-$S3PROXY_VERSION-jar-with-dependencies.jar"
  log "s3proxy $S3PROXY_VERSION: downloading $url (55 MB)"
  curl -fsSL --retry 3 -o "$jar.part" "$url"
  echo "$S3PROXY_SHA256  $jar.part" | sha256sum -c --quiet - ||
    { echo "error: $url does not match S3PROXY_SHA256 in docker/local/versions.sh" >&2; rm -f "$jar.part"; exit 1; }
  mv "$jar.part" "$jar"
fi

azurite="$CACHE/azurite-$AZURITE_VERSION"
if [[ ! -x "$azurite/node_modules/.bin/azurite-blob" ]]; then
  log "Azurite $AZURITE_VERSION: npm install into $azurite"
  mkdir -p "$azurite"
  npm install --prefix "$azurite" --no-audit --no-fund --loglevel=error "azurite@$AZURITE_VERSION"
fi
log "Azure gateway tools ready: $jar, $azurite"
