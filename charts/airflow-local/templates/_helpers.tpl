{{/*
Names, labels, images, Secrets and the pieces every Airflow pod shares. The templates take all of
these from here, so that the names match the official chart's: "<fullname>-<component>".
*/}}

{{/* The chart name in object names: "airflow" (the official chart's), not "airflow-local". */}}
{{- define "airflow-local.name" -}}
{{- default "airflow" .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* "<release>" when the release name contains the name, else "<release>-<name>". */}}
{{- define "airflow-local.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "airflow-local.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Selector labels of a component, the official chart's: (list $ "<component>"). */}}
{{- define "airflow-local.selectorLabels" -}}
{{- $root := index . 0 -}}
tier: airflow
component: {{ index . 1 }}
release: {{ $root.Release.Name }}
{{- end -}}

{{/*
Labels of a component's objects and pods: the selector labels, the chart's, then the
component's own labels and the global `labels` (neither can replace the selector labels).
Call with (list $ "<component>" <component labels or nil>).
*/}}
{{- define "airflow-local.labels" -}}
{{- $root := index . 0 -}}
{{- $own := index . 2 | default dict -}}
{{- $base := include "airflow-local.selectorLabels" (list $root (index . 1)) | fromYaml -}}
{{- $_ := set $base "chart" (printf "%s-%s" $root.Chart.Name $root.Chart.Version | replace "+" "_") -}}
{{- $_ := set $base "heritage" $root.Release.Service -}}
{{- toYaml (merge $base (deepCopy $own) (deepCopy ($root.Values.labels | default dict))) -}}
{{- end -}}

{{/* The Airflow image: repository:tag, or repository@digest. */}}
{{- define "airflow-local.image" -}}
{{- $img := .Values.images.airflow -}}
{{- $repository := $img.repository | default .Values.defaultAirflowRepository -}}
{{- $digest := $img.digest | default .Values.defaultAirflowDigest -}}
{{- if $digest -}}
{{- printf "%s@%s" $repository $digest -}}
{{- else -}}
{{- printf "%s:%s" $repository (toString ($img.tag | default .Values.defaultAirflowTag)) -}}
{{- end -}}
{{- end -}}

{{/* The image of the migration Job and of the wait-for-airflow-migrations init containers. */}}
{{- define "airflow-local.migrationImage" -}}
{{- if .Values.images.useDefaultImageForMigration -}}
{{- if .Values.defaultAirflowDigest -}}
{{- printf "%s@%s" .Values.defaultAirflowRepository .Values.defaultAirflowDigest -}}
{{- else -}}
{{- printf "%s:%s" .Values.defaultAirflowRepository (toString .Values.defaultAirflowTag) -}}
{{- end -}}
{{- else -}}
{{- include "airflow-local.image" . -}}
{{- end -}}
{{- end -}}

{{/* ---- Secrets --------------------------------------------------------------------------- */}}

{{- define "airflow-local.metadataSecret" -}}
{{- default (printf "%s-airflow-metadata" .Release.Name) .Values.data.metadataSecretName -}}
{{- end -}}

{{/* Like the official chart, the fernet key Secret is named after the release alone. */}}
{{- define "airflow-local.fernetKeySecret" -}}
{{- default (printf "%s-fernet-key" .Release.Name) .Values.fernetKeySecretName -}}
{{- end -}}

{{- define "airflow-local.apiSecretKeySecret" -}}
{{- default (printf "%s-api-secret-key" (include "airflow-local.fullname" .)) .Values.apiSecretKeySecretName -}}
{{- end -}}

{{- define "airflow-local.jwtSecret" -}}
{{- default (printf "%s-jwt-secret" (include "airflow-local.fullname" .)) .Values.jwtSecretName -}}
{{- end -}}

{{/*
The base64 data of a generated Secret's key: the value given in the values, else what the
Secret in the cluster already holds (so upgrades keep it), else `fresh`.
Call with (list $ "<secret name>" "<key>" <given value> <fresh value>).
*/}}
{{- define "airflow-local.keptSecretData" -}}
{{- $root := index . 0 -}}
{{- $given := index . 3 -}}
{{- if $given -}}
{{- toString $given | b64enc -}}
{{- else -}}
{{- $existing := lookup "v1" "Secret" $root.Release.Namespace (index . 1) -}}
{{- $kept := "" -}}
{{- if $existing -}}
{{- $kept = index ($existing.data | default dict) (index . 2) | default "" -}}
{{- end -}}
{{- $kept | default (index . 4 | b64enc) -}}
{{- end -}}
{{- end -}}

{{/* ---- Airflow settings ------------------------------------------------------------------- */}}

{{- define "airflow-local.dagsFolder" -}}
{{- .Values.dags.mountPath | default (printf "%s/dags" .Values.airflowHome) -}}
{{- end -}}

{{/* The api-server's execution API, as the task processes in the scheduler pod reach it. */}}
{{- define "airflow-local.executionApiServerUrl" -}}
{{- printf "http://%s-api-server:%d/execution/" (include "airflow-local.fullname" .) (int .Values.ports.apiServer) -}}
{{- end -}}

{{/* Is the dag-processor on? Empty (the official default) means yes: Airflow 3 needs it. */}}
{{- define "airflow-local.dagProcessorEnabled" -}}
{{- if or (kindIs "invalid" .Values.dagProcessor.enabled) .Values.dagProcessor.enabled -}}true{{- end -}}
{{- end -}}

{{/* ServiceAccount of a component: (list $ "<values key>" "<name suffix>"). */}}
{{- define "airflow-local.serviceAccountName" -}}
{{- $root := index . 0 -}}
{{- $sa := (index $root.Values (index . 1)).serviceAccount -}}
{{- if $sa.create -}}
{{- default (printf "%s-%s" (include "airflow-local.fullname" $root) (index . 2)) $sa.name -}}
{{- else -}}
{{- default "default" $sa.name -}}
{{- end -}}
{{- end -}}

{{/* ---- Pod parts ------------------------------------------------------------------------- */}}

{{/* Pod security context: the component's, else the global one, else uid/gid. (list $ <component>) */}}
{{- define "airflow-local.podSecurityContext" -}}
{{- $root := index . 0 -}}
{{- $own := ((index . 1).securityContexts).pod -}}
{{- $fallback := dict "runAsUser" $root.Values.uid "fsGroup" $root.Values.gid -}}
{{- toYaml ($own | default $root.Values.securityContexts.pod | default $fallback) -}}
{{- end -}}

{{/* Container security context: the given one, else the global one. (list $ <context or nil>) */}}
{{- define "airflow-local.containerSecurityContext" -}}
{{- $root := index . 0 -}}
{{- toYaml (index . 1 | default $root.Values.securityContexts.containers | default dict) -}}
{{- end -}}

{{/* nodeSelector, affinity, tolerations (the component's, else the global ones), imagePullSecrets. */}}
{{- define "airflow-local.scheduling" -}}
{{- $root := index . 0 -}}
{{- $c := index . 1 -}}
{{- with $c.nodeSelector | default $root.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $c.affinity | default $root.Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $c.tolerations | default $root.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- range . }}
  {{- if kindIs "string" . }}
  - name: {{ . }}
  {{- else }}
  - name: {{ .name }}
  {{- end }}
  {{- end }}
{{- end }}
{{- end -}}

{{/* Pod annotations: the global airflowPodAnnotations plus a component's own (which win). */}}
{{- define "airflow-local.podAnnotations" -}}
{{- $root := index . 0 -}}
{{- $merged := merge (deepCopy (index . 1 | default dict)) (deepCopy ($root.Values.airflowPodAnnotations | default dict)) -}}
{{- if $merged -}}
annotations:
  {{- toYaml $merged | nindent 2 }}
{{- end -}}
{{- end -}}

{{/*
The environment of an Airflow container, as a YAML list. From lowest to highest precedence (a
later variable of the same name replaces an earlier one, so no name appears twice):
  1. `config`: AIRFLOW__<SECTION>__<KEY> for every entry (the official chart's airflow.cfg);
  2. the built-in Secret references (fernet key, metadata database, api secret key, JWT key);
  3. when custom is true: `env`, `secret`, `extraEnv`;
  4. the component's own env list.
Call with (list $ <component env list> <custom: bool>).
*/}}
{{- define "airflow-local.env" -}}
{{- $root := index . 0 -}}
{{- $v := $root.Values -}}
{{- $entries := list -}}
{{- range $section, $settings := $v.config -}}
{{- if kindIs "map" $settings -}}
{{- range $key, $value := $settings -}}
{{- if not (kindIs "invalid" $value) -}}
{{- $name := printf "AIRFLOW__%s__%s" (upper $section) (upper $key) -}}
{{- $entries = append $entries (dict "name" $name "value" (tpl (toString $value) $root)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $refs := dict
  "AIRFLOW__CORE__FERNET_KEY" (list (include "airflow-local.fernetKeySecret" $root) "fernet-key")
  "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" (list (include "airflow-local.metadataSecret" $root) "connection")
  "AIRFLOW_CONN_AIRFLOW_DB" (list (include "airflow-local.metadataSecret" $root) "connection")
  "AIRFLOW__API__SECRET_KEY" (list (include "airflow-local.apiSecretKeySecret" $root) "api-secret-key")
  "AIRFLOW__API_AUTH__JWT_SECRET" (list (include "airflow-local.jwtSecret" $root) "jwt-secret") -}}
{{- range $name := list "AIRFLOW__CORE__FERNET_KEY" "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" "AIRFLOW_CONN_AIRFLOW_DB" "AIRFLOW__API__SECRET_KEY" "AIRFLOW__API_AUTH__JWT_SECRET" -}}
{{- if index $v.enableBuiltInSecretEnvVars $name -}}
{{- $ref := index $refs $name -}}
{{- $entries = append $entries (dict "name" $name "valueFrom" (dict "secretKeyRef" (dict "name" (index $ref 0) "key" (index $ref 1)))) -}}
{{- end -}}
{{- end -}}
{{- if index . 2 -}}
{{- range $v.env -}}
{{- $entries = append $entries (dict "name" .name "value" (toString .value)) -}}
{{- end -}}
{{- range $v.secret -}}
{{- $ref := dict "name" .secretName "key" (.secretKey | default "value") -}}
{{- $entries = append $entries (dict "name" .envName "valueFrom" (dict "secretKeyRef" $ref)) -}}
{{- end -}}
{{- with $v.extraEnv -}}
{{- $entries = concat $entries (tpl . $root | fromYamlArray) -}}
{{- end -}}
{{- end -}}
{{- with index . 1 -}}
{{- $entries = concat $entries (tpl (toYaml .) $root | fromYamlArray) -}}
{{- end -}}
{{- $byName := dict -}}
{{- $order := list -}}
{{- range $entries -}}
{{- if not (hasKey $byName .name) -}}
{{- $order = append $order .name -}}
{{- end -}}
{{- $_ := set $byName .name . -}}
{{- end -}}
{{- $env := list -}}
{{- range $order -}}
{{- $env = append $env (index $byName .) -}}
{{- end -}}
{{- toYaml $env -}}
{{- end -}}

{{/* envFrom of an Airflow container: the templated extraEnvFrom string, or an empty list. */}}
{{- define "airflow-local.envFrom" -}}
{{- if .Values.extraEnvFrom -}}
{{- tpl .Values.extraEnvFrom . | trim -}}
{{- else -}}
[]
{{- end -}}
{{- end -}}

{{/*
Init container that waits for the schema migration: (list $ <component values> <timeout s>).
It gets the component's resources, so that an `airflow` process fits in them.
*/}}
{{- define "airflow-local.waitForMigrations" -}}
{{- $root := index . 0 -}}
{{- $c := index . 1 -}}
- name: wait-for-airflow-migrations
  image: {{ include "airflow-local.migrationImage" $root }}
  imagePullPolicy: {{ $root.Values.images.airflow.pullPolicy }}
  securityContext:
    {{- include "airflow-local.containerSecurityContext" (list $root (($c.waitForMigrations).securityContexts).container) | nindent 4 }}
  args: ["airflow", "db", "check-migrations", "--migration-wait-timeout={{ index . 2 }}"]
  resources:
    {{- toYaml ($c.resources | default dict) | nindent 4 }}
  envFrom:
    {{- include "airflow-local.envFrom" $root | nindent 4 }}
  env:
    {{- include "airflow-local.env" (list $root ($c.waitForMigrations).env true) | nindent 4 }}
{{- end -}}

{{/* The emptyDir that holds a component's logs, and where containers mount it. */}}
{{- define "airflow-local.logsMount" -}}
- name: logs
  mountPath: {{ printf "%s/logs" .Values.airflowHome }}
{{- end -}}

{{/* Log groomer sidecar: (list $ <component values> "<component>"). */}}
{{- define "airflow-local.logGroomer" -}}
{{- $root := index . 0 -}}
{{- $g := (index . 1).logGroomerSidecar -}}
{{- $env := list
  (dict "name" "AIRFLOW__LOG_RETENTION_DAYS" "value" (toString $g.retentionDays))
  (dict "name" "AIRFLOW__LOG_CLEANUP_FREQUENCY_MINUTES" "value" (toString $g.frequencyMinutes))
  (dict "name" "AIRFLOW_HOME" "value" $root.Values.airflowHome) -}}
- name: {{ index . 2 }}-log-groomer
  image: {{ include "airflow-local.image" $root }}
  imagePullPolicy: {{ $root.Values.images.airflow.pullPolicy }}
  securityContext:
    {{- include "airflow-local.containerSecurityContext" (list $root ($g.securityContexts).container) | nindent 4 }}
  {{- with $g.command }}
  command:
    {{- tpl (toYaml .) $root | nindent 4 }}
  {{- end }}
  {{- with $g.args }}
  args:
    {{- tpl (toYaml .) $root | nindent 4 }}
  {{- end }}
  env:
    {{- toYaml (concat $env ($g.env | default list)) | nindent 4 }}
  resources:
    {{- toYaml ($g.resources | default dict) | nindent 4 }}
  volumeMounts:
    {{- include "airflow-local.logsMount" $root | nindent 4 }}
{{- end -}}

{{/* exec probe command running `airflow jobs check` for a job type: (list <probe values> "<JobType>"). */}}
{{- define "airflow-local.jobsCheck" -}}
{{- $probe := index . 0 -}}
{{- $command := $probe.command | default (list "sh" "-c" (printf "CONNECTION_CHECK_MAX_COUNT=0 AIRFLOW__LOGGING__LOGGING_LEVEL=ERROR exec /entrypoint airflow jobs check --job-type %s --local" (index . 1))) -}}
exec:
  command:
    {{- toYaml $command | nindent 4 }}
initialDelaySeconds: {{ $probe.initialDelaySeconds }}
timeoutSeconds: {{ $probe.timeoutSeconds }}
failureThreshold: {{ $probe.failureThreshold }}
periodSeconds: {{ $probe.periodSeconds }}
{{- end -}}

{{/*
A component's Deployment. Call with a dict:
  root: $;  key: values key ("scheduler");  component: name suffix and label ("scheduler");
  ports: container ports (list);  probes: the container's probes (YAML string);
  logs: mount an emptyDir at <airflowHome>/logs (and run the log groomer when it is enabled);
  defaultStrategy: the update strategy when the component sets none.
*/}}
{{- define "airflow-local.deployment" -}}
{{- $root := .root -}}
{{- $c := index $root.Values .key -}}
{{- $component := .component -}}
{{- $strategy := $c.strategy | default .defaultStrategy -}}
{{- $historyLimit := $c.revisionHistoryLimit | default $root.Values.revisionHistoryLimit -}}
{{- $mounts := list -}}
{{- $volumes := list -}}
{{- if .logs -}}
{{- $mounts = include "airflow-local.logsMount" $root | fromYamlArray -}}
{{- $volumes = list (dict "name" "logs" "emptyDir" dict) -}}
{{- end -}}
{{- $mounts = concat $mounts ($root.Values.volumeMounts | default list) -}}
{{- $volumes = concat $volumes ($root.Values.volumes | default list) -}}
{{- with $c.extraVolumeMounts -}}
{{- $mounts = concat $mounts (tpl (toYaml .) $root | fromYamlArray) -}}
{{- end -}}
{{- with $c.extraVolumes -}}
{{- $volumes = concat $volumes (tpl (toYaml .) $root | fromYamlArray) -}}
{{- end -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "airflow-local.fullname" $root }}-{{ $component }}
  labels:
    {{- include "airflow-local.labels" (list $root $component $c.labels) | nindent 4 }}
  {{- with $c.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  replicas: {{ $c.replicas }}
  {{- if not (kindIs "invalid" $historyLimit) }}
  revisionHistoryLimit: {{ $historyLimit }}
  {{- end }}
  {{- with $strategy }}
  strategy:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "airflow-local.selectorLabels" (list $root $component) | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "airflow-local.labels" (list $root $component $c.labels) | nindent 8 }}
      {{- with include "airflow-local.podAnnotations" (list $root $c.podAnnotations) }}
      {{- . | nindent 6 }}
      {{- end }}
    spec:
      serviceAccountName: {{ include "airflow-local.serviceAccountName" (list $root .key $component) }}
      securityContext:
        {{- include "airflow-local.podSecurityContext" (list $root $c) | nindent 8 }}
      {{- with $c.terminationGracePeriodSeconds }}
      terminationGracePeriodSeconds: {{ . }}
      {{- end }}
      {{- with include "airflow-local.scheduling" (list $root $c) | trim }}
      {{- . | nindent 6 }}
      {{- end }}
      {{- if $c.waitForMigrations.enabled }}
      initContainers:
        {{- include "airflow-local.waitForMigrations" (list $root $c $root.Values.images.migrationsWaitTimeout) | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ $component }}
          image: {{ include "airflow-local.image" $root }}
          imagePullPolicy: {{ $root.Values.images.airflow.pullPolicy }}
          securityContext:
            {{- include "airflow-local.containerSecurityContext" (list $root $c.securityContexts.container) | nindent 12 }}
          {{- with $c.command }}
          command:
            {{- tpl (toYaml .) $root | nindent 12 }}
          {{- end }}
          {{- with $c.args }}
          args:
            {{- tpl (toYaml .) $root | nindent 12 }}
          {{- end }}
          {{- with .ports }}
          ports:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- .probes | trim | nindent 10 }}
          resources:
            {{- toYaml ($c.resources | default dict) | nindent 12 }}
          envFrom:
            {{- include "airflow-local.envFrom" $root | nindent 12 }}
          env:
            {{- include "airflow-local.env" (list $root $c.env true) | nindent 12 }}
          {{- with $mounts }}
          volumeMounts:
            {{- toYaml . | nindent 12 }}
          {{- end }}
        {{- if and .logs ($c.logGroomerSidecar).enabled }}
        {{- include "airflow-local.logGroomer" (list $root $c $component) | nindent 8 }}
        {{- end }}
      {{- with $volumes }}
      volumes:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}
