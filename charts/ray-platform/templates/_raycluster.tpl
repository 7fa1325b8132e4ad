{{/*
The spec of a RayCluster: one head, a CPU worker group and a GPU worker group (KubeRay 1.7).
Call with (dict "root" $ "head" <head group values> "workers" <dict cpu/gpu of group values>):
the chart's own cluster passes ray.head and workers; the per-run cluster template the same
values with perRunClusters' overrides merged over them.
*/}}
{{- define "rp.ray.clusterSpec" -}}
{{- $head := .head -}}
{{- $workers := .workers -}}
{{- $root := .root -}}
{{- with $root -}}
{{- $cpuImage := include "rp.image.cpu" . -}}
{{- $gpuImage := include "rp.image.gpu" . -}}
rayVersion: {{ $root.Values.versions.ray | quote }}
{{- if and $root.Values.ray.auth.enabled (eq (include "rp.ray.authVia" $root) "authOptions") }}
# KubeRay sets RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (secretKeyRef, key auth_token) in every
# Ray container, the autoscaler and the wait-for-GCS init containers.
authOptions:
  mode: token
  secretName: {{ include "rp.ray.tokenSecret" $root }}
{{- end }}
enableInTreeAutoscaling: {{ $root.Values.ray.autoscaler.enabled }}
{{- if $root.Values.ray.autoscaler.enabled }}
autoscalerOptions:
  upscalingMode: {{ $root.Values.ray.autoscaler.upscalingMode }}
  idleTimeoutSeconds: {{ $root.Values.ray.autoscaler.idleTimeoutSeconds }}
  imagePullPolicy: {{ $root.Values.image.pullPolicy }}
  {{- if eq (include "rp.ray.authVia" $root) "env" }}
  env:
    {{- include "rp.ray.authEnv" $root | nindent 6 }}
  {{- end }}
  securityContext:
    {{- toYaml $root.Values.containerSecurityContext | nindent 6 }}
  resources:
    {{- toYaml $root.Values.ray.autoscaler.resources | nindent 6 }}
{{- end }}
headGroupSpec:
  serviceType: ClusterIP
  rayStartParams:
    {{- include "rp.ray.startParams" (list $root $head.rayStartParams) | nindent 6 }}
  template:
    {{- include "rp.ray.podTemplate" (dict "root" $root "group" $head "image" (default $cpuImage $head.image) "gpus" 0 "head" true) | nindent 6 }}
workerGroupSpecs:
  {{- with $workers.cpu }}
  {{- if .enabled }}
  - groupName: {{ .groupName }}
    replicas: {{ .replicas }}
    minReplicas: {{ .minReplicas }}
    maxReplicas: {{ .maxReplicas }}
    rayStartParams:
      {{- include "rp.ray.startParams" (list $root .rayStartParams) | nindent 8 }}
    template:
      {{- include "rp.ray.podTemplate" (dict "root" $root "group" . "image" (default $cpuImage .image) "gpus" 0 "head" false) | nindent 8 }}
  {{- end }}
  {{- end }}
  {{- with $workers.gpu }}
  {{- if .enabled }}
  - groupName: {{ .groupName }}
    replicas: {{ .replicas }}
    minReplicas: {{ .minReplicas }}
    maxReplicas: {{ .maxReplicas }}
    rayStartParams:
      {{- include "rp.ray.startParams" (list $root .rayStartParams) | nindent 8 }}
    template:
      {{- include "rp.ray.podTemplate" (dict "root" $root "group" . "image" (default $gpuImage .image) "gpus" (int .gpusPerWorker) "head" false) | nindent 8 }}
  {{- end }}
  {{- end }}
{{- end -}}
{{- end -}}
