#!/bin/sh
# The pod network of the local cluster (see docker/local/manifests/network.yaml): keeps this
# node's CNI config on its podCIDR and a route to every other node's podCIDR. Runs on the host
# network of each node with NET_ADMIN; NODE_NAME comes from the downward API.
set -eu
CONF_DIR="${CNI_CONF_DIR:-/etc/cni/net.d}"
CONF="$CONF_DIR/10-kind-net.conflist"
INTERVAL="${INTERVAL:-10}"

write_config() {
  tmp="$CONF_DIR/.kind-net.tmp"
  cat >"$tmp" <<JSON
{
  "cniVersion": "0.3.1",
  "name": "kind-net",
  "plugins": [
    {"type": "ptp", "ipMasq": false, "mtu": 1500,
     "ipam": {"type": "host-local", "dataDir": "/run/cni-ipam-state",
              "routes": [{"dst": "0.0.0.0/0"}], "ranges": [[{"subnet": "$1"}]]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
  if ! cmp -s "$tmp" "$CONF" 2>/dev/null; then
    mv "$tmp" "$CONF"
    echo "kind-net: CNI config for $1 written to $CONF"
  else
    rm -f "$tmp"
  fi
}

while :; do
  nodes="$(kubectl get nodes -o jsonpath='{range .items[*]}{.metadata.name} {.spec.podCIDR} {.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}' 2>&1)" || {
    echo "kind-net: cannot list nodes yet: $nodes"
    sleep 2
    continue
  }
  echo "$nodes" | while read -r name cidr address; do
    [ -n "$cidr" ] || continue
    if [ "$name" = "$NODE_NAME" ]; then
      write_config "$cidr"
    elif [ -n "$address" ]; then
      if ! ip route show "$cidr" | grep -q "via $address "; then
        ip route replace "$cidr" via "$address"
        echo "kind-net: route $cidr via $address ($name)"
      fi
    fi
  done
  sleep "$INTERVAL"
done
