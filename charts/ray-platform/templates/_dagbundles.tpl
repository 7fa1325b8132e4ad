{{/* ---- Airflow 3 DAG bundles (airflow.dagBundles) -------------------------------------------
Airflow reads [dag_processor] dag_bundle_config_list as JSON: the image's dags folder
(LocalDagBundle, Airflow's default) and a GitDagBundle. Built with toJson, so the JSON is valid
whatever the values hold; validate.yaml checks the values first. */}}

{{/* The bundle list as a JSON string. */}}
{{- define "rp.dagBundles.configList" -}}
{{- $git := .Values.airflow.dagBundles.git -}}
{{- $bundles := list -}}
{{- if .Values.airflow.dagBundles.dagsFolder -}}
{{- $bundles = append $bundles (dict "name" "dags-folder" "classpath" "airflow.dag_processing.bundles.local.LocalDagBundle" "kwargs" dict) -}}
{{- end -}}
{{- $kwargs := dict "repo_url" $git.repoUrl "tracking_ref" $git.trackingRef "git_conn_id" $git.connId "refresh_interval" (int $git.refreshInterval) -}}
{{- with $git.subdir -}}
{{- $_ := set $kwargs "subdir" (trimAll "/" .) -}}
{{- end -}}
{{- $bundles = append $bundles (dict "name" $git.name "classpath" "airflow.providers.git.bundles.git.GitDagBundle" "kwargs" $kwargs) -}}
{{- toJson $bundles -}}
{{- end -}}

{{/* The git connection (JSON): the repository URL, and with existingSecret the user name and
the token read from that Secret (key "token") at install. */}}
{{- define "rp.dagBundles.gitConnection" -}}
{{- $git := .Values.airflow.dagBundles.git -}}
{{- $conn := dict "conn_type" "git" "host" $git.repoUrl -}}
{{- with $git.existingSecret -}}
{{- $_ := set $conn "login" $git.username -}}
{{- $_ := set $conn "password" (include "rp.readExisting" (list $ . "token")) -}}
{{- end -}}
{{- toJson $conn -}}
{{- end -}}
