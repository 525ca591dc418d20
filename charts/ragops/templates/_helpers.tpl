{{/*
Name of the app. Fixed to "ragops": the NetworkPolicies the operator writes for each VectorStore admit
operator pods by the label app.kubernetes.io/name=ragops, so it must not be overridden.
*/}}
{{- define "ragops.name" -}}
ragops
{{- end -}}

{{/* Prefix of every object name: the release name, plus "-ragops" unless it already contains it. */}}
{{- define "ragops.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains "ragops" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-ragops" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ragops.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that never change: the Deployment selector and Service/PDB/ServiceMonitor selectors. */}}
{{- define "ragops.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ragops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{/* Every object's labels (DESIGN.md: name, instance, version, component, part-of, managed-by). */}}
{{- define "ragops.labels" -}}
{{ include "ragops.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: ragops
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "ragops.chart" . }}
{{- end -}}

{{- define "ragops.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ragops.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The operator image, repository:tag (tag defaults to the appVersion). */}}
{{- define "ragops.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* "true" when kopf peering is on: more than one replica, or asked for. */}}
{{- define "ragops.peering" -}}
{{- if or (gt (int .Values.replicaCount) 1) .Values.peering.enabled -}}true{{- end -}}
{{- end -}}

{{/*
The operator pods' topologySpreadConstraints: the explicit list when set, else with two or more replicas one
constraint per topologySpread.topologyKeys entry. pod-template-hash keeps a rollout's surge pod from
counting against the old ReplicaSet's pods.
*/}}
{{- define "ragops.topologySpreadConstraints" -}}
{{- if .Values.topologySpreadConstraints -}}
{{- toYaml .Values.topologySpreadConstraints -}}
{{- else if and .Values.topologySpread.enabled (ge (int .Values.replicaCount) 2) -}}
{{- range .Values.topologySpread.topologyKeys }}
- maxSkew: {{ $.Values.topologySpread.maxSkew }}
  topologyKey: {{ . | quote }}
  whenUnsatisfiable: {{ $.Values.topologySpread.whenUnsatisfiable }}
  labelSelector:
    matchLabels:
      {{- include "ragops.selectorLabels" $ | nindent 6 }}
  matchLabelKeys:
    - pod-template-hash
{{- end }}
{{- end -}}
{{- end -}}
