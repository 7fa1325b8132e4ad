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

{{- define "rp.store.secret" -}}
{{- default (printf "%s-store" (include "rp.fullname" .)) .Values.store.existingSecret -}}
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

{{/* Environment that every in-cluster S3 client gets, from the store Secret only. */}}
{{- define "rp.store.env" -}}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ include "rp.store.secret" . }}
      key: accessKey
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "rp.store.secret" . }}
      key: secretKey
{{- end -}}

{{/* ---- Generated secrets ------------------------------------------------------------------
Random values are made once per render and kept in .Values._generated, so the token in the
Ray token Secret and in the Airflow connection are the same string. On upgrade, `lookup` reads
the value already stored in the cluster, so secrets do not change. */}}

{{- define "rp.keep" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- $key := index . 2 -}}
{{- $existing := lookup "v1" "Secret" $root.Release.Namespace $name -}}
{{- if and $existing (hasKey ($existing.data | default dict) $key) -}}
{{- index $existing.data $key | b64dec -}}
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
{{- $_ := set $g "adminPassword" (include "rp.keep" (list . (include "rp.airflow.adminSecret" .) "password" 24)) -}}
{{- $_ := set $g "postgresPassword" (include "rp.keep" (list . (include "rp.postgres.secret" .) "password" 32)) -}}
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
{{- $existing := lookup "v1" "Secret" $root.Release.Namespace $name -}}
{{- if and $existing (hasKey ($existing.data | default dict) $key) -}}
{{- index $existing.data $key | b64dec -}}
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
