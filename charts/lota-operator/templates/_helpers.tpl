{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "lota-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's resources. */}}
{{- define "lota-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "lota-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lota-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "lota-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "lota-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: controller
app.kubernetes.io/part-of: lota
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "lota-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "lota-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name must name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "lota-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Leader election is forced on with more than one replica: two reconciling operators would race. */}}
{{- define "lota-operator.leaderElect" -}}
{{- if or .Values.leaderElection.enabled (gt (int .Values.replicaCount) 1) }}true{{ else }}false{{ end }}
{{- end }}

{{- define "lota-operator.leaseName" -}}
{{- default (include "lota-operator.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/* The rules the operator needs on the namespaces it watches; docs/install.md justifies each verb. */}}
{{- define "lota-operator.reconcileRules" -}}
- apiGroups: [lota.dev]
  resources: [lotaadaptations, ticketmerges]
  verbs: [get, list, watch]
- apiGroups: [lota.dev]
  resources: [lotaadaptations/status, ticketmerges/status]
  verbs: [update]
- apiGroups: [lota.dev]
  resources: [lotaadaptations/finalizers, ticketmerges/finalizers]
  verbs: [update]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [list, watch, create, delete]
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end }}
