{{- define "stashsync.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}{{ .Release.Name | trunc 63 | trimSuffix "-" }}{{ else }}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{ end }}
{{- end }}

{{- define "stashsync.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}{{ default (include "stashsync.fullname" .) .Values.serviceAccount.name }}{{ else }}{{ default "default" .Values.serviceAccount.name }}{{ end }}
{{- end }}

{{- define "stashsync.labels" -}}
app.kubernetes.io/name: stashsync
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "stashsync.selectorLabels" -}}
app.kubernetes.io/name: stashsync
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
