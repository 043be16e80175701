{{/* Names and labels shared by every template. */}}

{{- define "impop.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "impop.fullname" -}}
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

{{- define "impop.selectorLabels" -}}
app.kubernetes.io/name: {{ include "impop.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
The chart's own objects are managed by Helm. They deliberately do NOT carry
app.kubernetes.io/managed-by=impersonation-operator: that label marks what the operator generates,
and the operator guard lets the operator write only objects that carry it.
*/}}
{{- define "impop.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "impop.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: impersonation-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "impop.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "impop.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The operator's username as the API server sees it. */}}
{{- define "impop.username" -}}
system:serviceaccount:{{ .Release.Namespace }}:{{ include "impop.serviceAccountName" . }}
{{- end -}}

{{- define "impop.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The deny list the operator enforces: the configured one plus cluster-admin, sorted, unique. */}}
{{- define "impop.deniedClusterRoles" -}}
{{- append .Values.operator.deniedClusterRoles "cluster-admin" | uniq | sortAlpha | toJson -}}
{{- end -}}

{{/* Refuses values that would hand the operator cluster-admin or the power to grant it. */}}
{{- define "impop.validate" -}}
{{- if has "cluster-admin" .Values.grants.bindableClusterRoles -}}
{{- fail "grants.bindableClusterRoles must not contain cluster-admin: the operator never binds it (and is never allowed to)" -}}
{{- end -}}
{{- range .Values.grants.bindableClusterRoles -}}
{{- if has . $.Values.operator.deniedClusterRoles -}}
{{- fail (printf "grants.bindableClusterRoles contains %q, which operator.deniedClusterRoles denies: remove it from one of the two lists" .) -}}
{{- end -}}
{{- end -}}
{{- range (concat .Values.grants.impersonate.users .Values.grants.impersonate.groups) -}}
{{- if or (eq . "system:masters") (eq . "*") -}}
{{- fail (printf "grants.impersonate must not name %q: it can never be impersonated" .) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
PromQL label matchers selecting the operator's series in the PrometheusRule: the value, or the job
the chart's ServiceMonitor gives them (the metrics Service's name).
*/}}
{{- define "impop.alertSelector" -}}
{{- .Values.prometheusRule.selector | default (printf "job=%q" (printf "%s-metrics" (include "impop.fullname" .))) -}}
{{- end -}}
