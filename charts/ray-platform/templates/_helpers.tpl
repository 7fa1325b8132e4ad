{{/*
Names, labels, images and generated secrets. Every template takes its names from here.
*/}}

{{- define "rp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "rp.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object; `component` names the part (ray, minio, postgres, ...). */}}
{{- define "rp.labels" -}}
{{- $root := index . 0 -}}
helm.sh/chart: {{ printf "%s-%s" $root.Chart.Name $root.Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "rp.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
app.kubernetes.io/part-of: airflow-ray-platform
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* Selector labels: stable across upgrades. */}}
{{- define "rp.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "rp.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* ---- Ray ---------------------------------------------------------------------------- */}}

{{- define "rp.ray.clusterName" -}}
{{- default (include "rp.fullname" .) .Values.ray.clusterName | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{/* KubeRay names the head Service "<cluster>-head-svc". */}}
{{- define "rp.ray.headService" -}}
{{- printf "%s-head-svc" (include "rp.ray.clusterName" .) -}}
{{- end -}}

{{- define "rp.ray.clientAddress" -}}
{{- printf "ray://%s.%s.svc:10001" (include "rp.ray.headService" .) .Release.Namespace -}}
{{- end -}}

{{- define "rp.image.cpuTag" -}}
{{- default (printf "%s-py%s" .Values.versions.ray (.Values.versions.python | replace "." "")) .Values.image.tag -}}
{{- end -}}

{{- define "rp.image.gpuTag" -}}
{{- default (printf "%s-gpu" (include "rp.image.cpuTag" .)) .Values.image.gpuTag -}}
{{- end -}}

{{- define "rp.image.cpu" -}}
{{- printf "%s:%s" .Values.image.repository (include "rp.image.cpuTag" .) -}}
{{- end -}}

{{- define "rp.image.gpu" -}}
{{- printf "%s:%s" .Values.image.repository (include "rp.image.gpuTag" .) -}}
{{- end -}}

{{- define "rp.ray.tokenSecret" -}}
{{- default (printf "%s-ray-token" (include "rp.fullname" .)) .Values.ray.auth.existingSecret -}}
{{- end -}}

{{/* ---- Store ---------------------------------------------------------------------------- */}}

{{/* The store's own keys: MinIO's root user, SeaweedFS's identity, or your external S3 keys. */}}
{{- define "rp.store.secret" -}}
{{- default (printf "%s-store" (include "rp.fullname" .)) .Values.store.existingSecret -}}
{{- end -}}

{{/* True ("true") when the clients get no keys and find their own credentials from their pod's
identity (store.auth podIdentity: IRSA or EKS Pod Identity through the AWS chain). */}}
{{- define "rp.store.podIdentity" -}}
{{- if eq .Values.store.auth "podIdentity" -}}true{{- end -}}
{{- end -}}

{{/* The ServiceAccount of the Ray pods (and the helm test), or "" for KubeRay's defaults. */}}
{{- define "rp.ray.serviceAccountName" -}}
{{- $sa := .Values.ray.serviceAccount -}}
{{- if or $sa.create $sa.name -}}
{{- default (printf "%s-ray" (include "rp.fullname" .)) $sa.name -}}
{{- end -}}
{{- end -}}

{{/* True ("true") when the chart gives the clients a bucket-scoped user of their own (MinIO). */}}
{{- define "rp.store.scopedUser" -}}
{{- if eq .Values.store.kind "minio" -}}true{{- end -}}
{{- end -}}

{{/* The MinIO user limited to the bucket, made by the bucket Job. */}}
{{- define "rp.store.userSecret" -}}
{{- default (printf "%s-store-user" (include "rp.fullname" .)) .Values.store.minio.user.existingSecret -}}
{{- end -}}

{{/* The keys every client of the store uses (Airflow, Ray, the helm test): the bucket-scoped
user with MinIO, the store's own keys otherwise (SeaweedFS, external S3). */}}
{{- define "rp.store.clientSecret" -}}
{{- if include "rp.store.scopedUser" . -}}
{{- include "rp.store.userSecret" . -}}
{{- else -}}
{{- include "rp.store.secret" . -}}
{{- end -}}
{{- end -}}

{{/* Name of the MinIO policy the bucket Job attaches to that user. */}}
{{- define "rp.store.policy" -}}
{{- printf "%s-readwrite" .Values.store.bucket -}}
{{- end -}}

{{/* ---- Airflow's task logs (airflow.remoteLogging) ---- */}}

{{/* "true" when the chart provides the logs bucket and connection. */}}
{{- define "rp.logs.enabled" -}}
{{- if .Values.airflow.remoteLogging.enabled -}}true{{- end -}}
{{- end -}}

{{/* The logs bucket: store.logsBucket, or "logs" in an in-cluster store (validate.yaml refuses
an external store without one). */}}
{{- define "rp.logs.bucket" -}}
{{- if .Values.store.logsBucket -}}
{{- .Values.store.logsBucket -}}
{{- else if ne .Values.store.kind "external" -}}
logs
{{- end -}}
{{- end -}}

{{/* Airflow's [logging] remote_base_log_folder for that bucket. */}}
{{- define "rp.logs.folder" -}}
{{- printf "s3://%s/%s" (include "rp.logs.bucket" .) (.Values.airflow.remoteLogging.prefix | trimAll "/") | trimSuffix "/" -}}
{{- end -}}

{{/* The MinIO user limited to the logs bucket (Airflow only), made by the bucket Job. */}}
{{- define "rp.logs.userSecret" -}}
{{- default (printf "%s-store-logs-user" (include "rp.fullname" .)) .Values.store.minio.logsUser.existingSecret -}}
{{- end -}}

{{/* The MinIO policy of that user: list, read and write on the logs bucket. */}}
{{- define "rp.logs.policy" -}}
{{- printf "%s-airflow-logs" (include "rp.logs.bucket" .) -}}
{{- end -}}

{{- define "rp.store.service" -}}
{{- printf "%s-%s" (include "rp.fullname" .) .Values.store.kind -}}
{{- end -}}

{{/* S3 endpoint URL as seen from inside the cluster; empty for AWS S3. */}}
{{- define "rp.store.endpoint" -}}
{{- if eq .Values.store.kind "minio" -}}
{{- printf "http://%s.%s.svc:9000" (include "rp.store.service" .) .Release.Namespace -}}
{{- else if eq .Values.store.kind "seaweedfs" -}}
{{- printf "http://%s.%s.svc:8333" (include "rp.store.service" .) .Release.Namespace -}}
{{- else -}}
{{- .Values.store.external.endpoint -}}
{{- end -}}
{{- end -}}

{{/* ---- Airflow ---------------------------------------------------------------------------- */}}

{{- define "rp.airflow.connectionsSecret" -}}
{{- printf "%s-airflow-connections" (include "rp.fullname" .) -}}
{{- end -}}

{{- define "rp.airflow.adminSecret" -}}
{{- printf "%s-airflow-admin" (include "rp.fullname" .) -}}
{{- end -}}

{{/* The api-server's secret key and the JWT signing key (keys "api-secret-key", "jwt-secret"),
named in the Airflow values' apiSecretKeySecretName and jwtSecretName. */}}
{{- define "rp.airflow.apiSecret" -}}
{{- printf "%s-airflow-api" (include "rp.fullname" .) -}}
{{- end -}}

{{/* The provider's deployment key (key "deployment-key"). */}}
{{- define "rp.airflow.deploymentKeySecret" -}}
{{- default (printf "%s-deployment-key" (include "rp.fullname" .)) .Values.airflow.deploymentKey.existingSecret -}}
{{- end -}}

{{- define "rp.postgres.name" -}}
{{- printf "%s-postgres" (include "rp.fullname" .) -}}
{{- end -}}

{{- define "rp.postgres.secret" -}}
{{- printf "%s-airflow-metadata" (include "rp.fullname" .) -}}
{{- end -}}

{{/* ---- Shared pod parts ---------------------------------------------------------------------- */}}

{{/* imagePullSecrets of a pod spec, or nothing. Call with (list $ <indent>). */}}
{{- define "rp.imagePullSecrets" -}}
{{- $root := index . 0 -}}
{{- $indent := index . 1 -}}
{{- with $root.Values.imagePullSecrets -}}
{{- "imagePullSecrets:" | nindent $indent -}}
{{- range . -}}
{{- printf "  - name: %s" . | nindent $indent -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from a Secret's accessKey and secretKey.
Call with (list $ "<secret name>"): rp.store.clientSecret for the store's clients,
rp.store.secret only for the store itself and the bucket Job. */}}
{{- define "rp.store.env" -}}
{{- $secret := index . 1 -}}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: accessKey
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: secretKey
{{- end -}}

{{/* containerSecurityContext plus readOnlyRootFilesystem: true, for the containers whose
process writes only to its volumes (MinIO, Postgres, the bucket Job). Setting
containerSecurityContext.readOnlyRootFilesystem: false turns it off for them too. */}}
{{- define "rp.readOnlySecurityContext" -}}
{{- $context := deepCopy .Values.containerSecurityContext -}}
{{- if not (hasKey $context "readOnlyRootFilesystem") -}}
{{- $_ := set $context "readOnlyRootFilesystem" true -}}
{{- end -}}
{{- toYaml $context -}}
{{- end -}}

{{/* ---- Generated secrets ------------------------------------------------------------------
Random values are made once per render and kept in .Values._generated, so the token in the
Ray token Secret and in the Airflow connection are the same string. On upgrade, `lookup` reads
the value already stored in the cluster, so secrets do not change. */}}

{{/* The data (base64 values) of a Secret in the release's namespace, as JSON; {} when there is
none (and always offline, with `helm template`). The one place the chart looks up a Secret:
tests/charts replace this line to render against Secrets of their own. */}}
{{- define "rp.secretData" -}}
{{- $root := index . 0 -}}
{{- $data := (lookup "v1" "Secret" $root.Release.Namespace (index . 1)).data -}}
{{- toJson ($data | default dict) -}}
{{- end -}}

{{/* The value under a key of a Secret in the cluster, else a new random one of the given length.
Call with (list $ "<secret name>" "<key>" <length>). */}}
{{- define "rp.keep" -}}
{{- $root := index . 0 -}}
{{- $key := index . 2 -}}
{{- $data := include "rp.secretData" (list $root (index . 1)) | fromJson -}}
{{- if hasKey $data $key -}}
{{- index $data $key | b64dec -}}
{{- else -}}
{{- randAlphaNum (index . 3) -}}
{{- end -}}
{{- end -}}

{{- define "rp.generate" -}}
{{- if not (hasKey .Values "_generated") -}}
{{- $g := dict -}}
{{- $_ := set $g "rayToken" (include "rp.keep" (list . (include "rp.ray.tokenSecret" .) "auth_token" 48)) -}}
{{- $_ := set $g "accessKey" (include "rp.keep" (list . (include "rp.store.secret" .) "accessKey" 20)) -}}
{{- $_ := set $g "secretKey" (include "rp.keep" (list . (include "rp.store.secret" .) "secretKey" 40)) -}}
{{- $_ := set $g "userAccessKey" (include "rp.keep" (list . (include "rp.store.userSecret" .) "accessKey" 20)) -}}
{{- $_ := set $g "userSecretKey" (include "rp.keep" (list . (include "rp.store.userSecret" .) "secretKey" 40)) -}}
{{- $_ := set $g "logsUserAccessKey" (include "rp.keep" (list . (include "rp.logs.userSecret" .) "accessKey" 20)) -}}
{{- $_ := set $g "logsUserSecretKey" (include "rp.keep" (list . (include "rp.logs.userSecret" .) "secretKey" 40)) -}}
{{- $_ := set $g "adminPassword" (include "rp.keep" (list . (include "rp.airflow.adminSecret" .) "password" 24)) -}}
{{- $_ := set $g "postgresPassword" (include "rp.keep" (list . (include "rp.postgres.secret" .) "password" 32)) -}}
{{- $_ := set $g "deploymentKey" (include "rp.keep" (list . (include "rp.airflow.deploymentKeySecret" .) "deployment-key" 64)) -}}
{{- $_ := set $g "apiSecretKey" (include "rp.keep" (list . (include "rp.airflow.apiSecret" .) "api-secret-key" 48)) -}}
{{- $_ := set $g "jwtSecret" (include "rp.keep" (list . (include "rp.airflow.apiSecret" .) "jwt-secret" 64)) -}}
{{- $_ := set .Values "_generated" $g -}}
{{- end -}}
{{- end -}}

{{/* A value from a Secret this chart does not own (existingSecret), read with lookup. Against a
cluster (the KubeRay CRDs are installed, so ray.io/v1 is known) a missing Secret is an error;
offline (`helm template`, where lookup finds nothing) a placeholder stands in. */}}
{{- define "rp.readExisting" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- $key := index . 2 -}}
{{- $data := include "rp.secretData" (list $root $name) | fromJson -}}
{{- if hasKey $data $key -}}
{{- index $data $key | b64dec -}}
{{- else if $root.Capabilities.APIVersions.Has "ray.io/v1" -}}
{{- fail (printf "Secret %q (key %q) was not found in namespace %q. The chart reads it to build the Airflow connections: create it first (charts/README.md), or set airflow.connections.create=false and provide the AIRFLOW_CONN_* variables yourself." $name $key $root.Release.Namespace) -}}
{{- else -}}
{{- printf "<offline render: read from Secret %s at install>" $name -}}
{{- end -}}
{{- end -}}

{{/* ---- Ray token auth -----------------------------------------------------------------------
"authOptions" or "env" (see ray.auth.method); "none" when token auth is off. "auto" reads the
installed RayCluster CRD: KubeRay before 1.7 (the 1.5 operator `make up IMAGES=local` builds)
has no authOptions field and would drop it silently, leaving the cluster open. */}}
{{- define "rp.ray.authVia" -}}
{{- $method := .Values.ray.auth.method | default "auto" -}}
{{- if not .Values.ray.auth.enabled -}}
none
{{- else if eq $method "auto" -}}
{{- $crd := lookup "apiextensions.k8s.io/v1" "CustomResourceDefinition" "" "rayclusters.ray.io" -}}
{{- if and $crd (not (contains "\"authOptions\"" (toJson $crd.spec))) -}}
env
{{- else -}}
authOptions
{{- end -}}
{{- else if has $method (list "authOptions" "env") -}}
{{- $method -}}
{{- else -}}
{{- fail (printf "ray.auth.method must be auto, authOptions or env (got %q)" $method) -}}
{{- end -}}
{{- end -}}

{{/* RAY_AUTH_MODE and RAY_AUTH_TOKEN (from the token Secret) as EnvVar items. */}}
{{- define "rp.ray.authEnv" -}}
- name: RAY_AUTH_MODE
  value: token
- name: RAY_AUTH_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "rp.ray.tokenSecret" . }}
      key: auth_token
{{- end -}}

{{/* The label every pod of a per-run cluster carries (value: the chart's full name); the
NetworkPolicies select those pods by it. */}}
{{- define "rp.ray.perRunLabel" -}}
ray-platform/run-cluster-of
{{- end -}}

{{/* The ConfigMap holding the per-run cluster template. */}}
{{- define "rp.ray.runTemplateName" -}}
{{- printf "%s-run-cluster" (include "rp.fullname" .) -}}
{{- end -}}
