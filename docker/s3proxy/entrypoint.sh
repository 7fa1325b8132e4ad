#!/bin/sh
# The store gateway of store.kind azureblob: s3proxy serving the S3 API over an Azure Storage
# account, as the pod's Azure workload identity. The pods that use the store (Airflow, Ray, the
# bucket Job) sign with the in-cluster keys AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; s3proxy
# reaches Azure with a token that Azure's identity library trades for the projected
# service-account token (AZURE_FEDERATED_TOKEN_FILE, set by AKS's workload identity webhook).
# No Azure key exists anywhere. devstack/azure_gateway.py runs this same script in the tests.
#
# Environment: AZURE_STORAGE_ACCOUNT_URL (https://ACCOUNT.blob.core.windows.net), the two AWS_*
# keys, the webhook's AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE; optional
# S3PROXY_PORT (8080), S3PROXY_BIND (0.0.0.0), S3PROXY_CONFIG (/tmp/s3proxy.conf),
# S3PROXY_JAR (/opt/s3proxy/s3proxy.jar), JAVA_OPTS.
set -eu

fail() {
  echo "s3proxy gateway: $*" >&2
  exit 64
}

[ -n "${AZURE_STORAGE_ACCOUNT_URL:-}" ] ||
  fail "AZURE_STORAGE_ACCOUNT_URL is empty: set store.azureblob.accountUrl to your storage account's blob endpoint (https://ACCOUNT.blob.core.windows.net)."
[ -n "${AWS_ACCESS_KEY_ID:-}" ] && [ -n "${AWS_SECRET_ACCESS_KEY:-}" ] ||
  fail "AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY is empty: the gateway's S3 keys come from the chart's store Secret."
for name in AZURE_CLIENT_ID AZURE_TENANT_ID AZURE_FEDERATED_TOKEN_FILE; do
  eval "value=\${$name:-}"
  [ -n "$value" ] ||
    fail "$name is not set: this pod has no Azure workload identity. Enable it on the cluster (az aks update --enable-oidc-issuer --enable-workload-identity), set store.azureblob.clientId to the managed identity's client id (the chart then labels the pod azure.workload.identity/use=true and annotates its ServiceAccount), and add the identity's federated credential for this ServiceAccount (charts/README.md, AKS)."
done
[ -r "$AZURE_FEDERATED_TOKEN_FILE" ] ||
  fail "AZURE_FEDERATED_TOKEN_FILE=$AZURE_FEDERATED_TOKEN_FILE cannot be read: the workload identity webhook projects it; check the pod's azure-identity-token volume."

config="${S3PROXY_CONFIG:-/tmp/s3proxy.conf}"
umask 077
# jclouds.identity and .credential empty: s3proxy's azureblob-sdk provider then authenticates
# with Azure's DefaultAzureCredential, whose workload identity step reads the variables above.
cat >"$config" <<CONF
s3proxy.endpoint=http://${S3PROXY_BIND:-0.0.0.0}:${S3PROXY_PORT:-8080}
s3proxy.authorization=aws-v2-or-v4
s3proxy.identity=$AWS_ACCESS_KEY_ID
s3proxy.credential=$AWS_SECRET_ACCESS_KEY
jclouds.provider=azureblob-sdk
jclouds.endpoint=$AZURE_STORAGE_ACCOUNT_URL
jclouds.identity=
jclouds.credential=
CONF
echo "s3proxy gateway: S3 on port ${S3PROXY_PORT:-8080} -> $AZURE_STORAGE_ACCOUNT_URL as Azure client $AZURE_CLIENT_ID (workload identity)"
# shellcheck disable=SC2086  # JAVA_OPTS is a list of options
exec java -Djdk.httpclient.allowRestrictedHeaders=content-length ${JAVA_OPTS:-} -jar "${S3PROXY_JAR:-/opt/s3proxy/s3proxy.jar}" --properties "$config"
