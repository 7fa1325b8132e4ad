{{/*
The pod template of a Ray node, shared by the head and the worker groups.
Call with (dict "root" $ "group" <values of the group> "image" <image> "gpus" <int> "head" <bool>).
KubeRay adds the `ray start` command, the ports, RAY_AUTH_MODE/RAY_AUTH_TOKEN (from the token
Secret, authOptions) and the init container that waits for the head.
*/}}
{{- define "rp.ray.podTemplate" -}}
{{- $root := .root -}}
{{- $group := .group -}}
metadata:
  labels:
    {{- include "rp.labels" (list $root "ray") | nindent 4 }}
    {{- with $group.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with merge (deepCopy ($group.annotations | default dict)) (deepCopy ($root.Values.ray.podAnnotations | default dict)) }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- /* The in-tree autoscaler, a sidecar of the head pod, scales the worker groups through the
  Kubernetes API (KubeRay gives the head a ServiceAccount and Role for it). Nothing else in a Ray
  pod calls that API, so the token is mounted only there. */}}
  {{- if not (and .head $root.Values.ray.autoscaler.enabled) }}
  automountServiceAccountToken: false
  {{- end }}
  {{- /* With pod identity the ServiceAccount carries the cloud role; the IRSA webhook projects
  its own token volume, which needs no API token mount. */}}
  {{- with include "rp.ray.serviceAccountName" $root }}
  serviceAccountName: {{ . }}
  {{- end }}
  {{- include "rp.imagePullSecrets" (list $root 2) }}
  securityContext:
    {{- toYaml $root.Values.podSecurityContext | nindent 4 }}
  {{- if and .head $root.Values.ray.keeper.enabled }}
  {{- /* Ray (2.60) finds the raylet a driver joins by scanning the process list for it, so the
  keeper sidecar must see the head container's processes (found on the kind cluster: without it
  the keeper fails with "No node info found matching attributes"). */}}
  shareProcessNamespace: true
  {{- end }}
  containers:
    - name: ray-{{ ternary "head" "worker" .head }}
      image: {{ .image }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      {{- /* No readOnlyRootFilesystem for Ray: besides /tmp/ray (a volume) it writes to /tmp and
      the home directory (runtime_env pip/working_dir downloads, library caches, the Python
      environment of the image lives under the home directory too, so it cannot simply become an
      emptyDir), and @task.ray code may write anywhere a normal Python process can. */}}
      securityContext:
        {{- toYaml $root.Values.containerSecurityContext | nindent 8 }}
      {{- $authEnv := eq (include "rp.ray.authVia" $root) "env" }}
      {{- if or $root.Values.ray.env $authEnv }}
      env:
        {{- with $root.Values.ray.env }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- if $authEnv }}
        {{- include "rp.ray.authEnv" $root | nindent 8 }}
        {{- end }}
      {{- end }}
      resources:
        requests:
          {{- toYaml $group.resources.requests | nindent 10 }}
          {{- if .gpus }}
          nvidia.com/gpu: {{ .gpus }}
          {{- end }}
        limits:
          {{- toYaml $group.resources.limits | nindent 10 }}
          {{- if .gpus }}
          nvidia.com/gpu: {{ .gpus }}
          {{- end }}
      {{- if or .head $root.Values.ray.metrics.enabled }}
      ports:
        {{- if .head }}
        - {name: gcs, containerPort: 6379}
        - {name: dashboard, containerPort: 8265}
        - {name: client, containerPort: 10001}
        {{- end }}
        {{- if $root.Values.ray.metrics.enabled }}
        {{- /* KubeRay's name for Ray's metrics export port; the PodMonitor scrapes it by name. */}}
        - {name: metrics, containerPort: {{ int $root.Values.ray.metrics.port }}}
        {{- end }}
      {{- end }}
      volumeMounts:
        - name: shared-mem
          mountPath: /dev/shm
        - name: ray-tmp
          mountPath: /tmp/ray
      lifecycle:
        preStop:
          exec:
            command: ["/bin/sh", "-c", "ray stop"]
    {{- if and .head $root.Values.ray.keeper.enabled }}
    {{- /* A driver that creates the provider's result registry and stays connected, so Ray
    keeps reusing worker processes between @task.ray tasks (see ray_provider.cli.keeper). It
    shares the head's /tmp/ray (raylet sockets) and /dev/shm (object store). */}}
    - name: registry-keeper
      image: {{ .image }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      command: ["python", "-m", "ray_provider.cli.keeper"]
      args:
        - --address=127.0.0.1:6379
        - --namespace={{ $root.Values.ray.namespace }}
      securityContext:
        {{- toYaml $root.Values.containerSecurityContext | nindent 8 }}
      env:
        {{- with $root.Values.ray.env }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- if $root.Values.ray.auth.enabled }}
        {{- include "rp.ray.authEnv" $root | nindent 8 }}
        {{- end }}
      resources:
        {{- toYaml $root.Values.ray.keeper.resources | nindent 8 }}
      volumeMounts:
        - name: shared-mem
          mountPath: /dev/shm
        - name: ray-tmp
          mountPath: /tmp/ray
    {{- end }}
  volumes:
    - name: shared-mem
      emptyDir:
        medium: Memory
        sizeLimit: {{ $group.sharedMemory }}
    - name: ray-tmp
      # Session files, logs and spilled objects; the kubelet evicts the pod beyond this size.
      emptyDir:
        sizeLimit: {{ $group.tmpSizeLimit }}
  {{- with $group.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $group.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $group.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/* `ray start` arguments of a group, plus --metrics-export-port with ray.metrics (the
chart's port wins over a group's own). Call with (list $ <rayStartParams>). */}}
{{- define "rp.ray.startParams" -}}
{{- $root := index . 0 -}}
{{- $params := deepCopy (index . 1 | default dict) -}}
{{- if $root.Values.ray.metrics.enabled -}}
{{- $_ := set $params "metrics-export-port" (toString (int $root.Values.ray.metrics.port)) -}}
{{- end -}}
{{- toYaml $params -}}
{{- end -}}
