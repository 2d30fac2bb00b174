{{/*
Object name: fullnameOverride, else the release name. Flagger-style suffixes (-stable, -canary)
are appended to it, so the schema caps it at 55 characters.
*/}}
{{- define "manual.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 55 | trimSuffix "-" -}}
{{- end -}}

{{/*
Labels on every object: the recommended app.kubernetes.io set plus the experiment and run ids
(STYLE §6: leftovers of a crashed run are found and removed by label).
*/}}
{{- define "manual.labels" -}}
app.kubernetes.io/name: faulty-app
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: canary-mttr
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
canary-mttr/arm: manual
canary-mttr/experiment: {{ .Values.experiment | toString | quote }}
canary-mttr/run: {{ .Values.run | toString | quote }}
{{- end -}}

{{/*
Pod template labels. The run id is deliberately NOT here: a label change in the pod template is a
new revision, so a per-run label would restart the stable pods on every run (and, in the Flagger
chart, start a canary analysis). Pods are still found by the experiment label.
Takes (dict "root" $ "track" "stable"|"canary" "version" <APP_VERSION>).
*/}}
{{- define "manual.podLabels" -}}
app: {{ include "manual.fullname" .root }}
track: {{ .track }}
app.kubernetes.io/name: faulty-app
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ .version | quote }}
app.kubernetes.io/part-of: canary-mttr
canary-mttr/arm: manual
canary-mttr/experiment: {{ .root.Values.experiment | toString | quote }}
{{- end -}}

{{/*
Fails the render unless the two weights sum to 100: Istio rejects other sums only at apply time,
and a silent 90/0 split would send 10% of requests nowhere.
*/}}
{{- define "manual.validate" -}}
{{- $w := .Values.trafficManagement.weights -}}
{{- $sum := add (int $w.stable) (int $w.canary) -}}
{{- if ne (int $sum) 100 -}}
{{- fail (printf "trafficManagement.weights: stable %v + canary %v = %v; the weights must sum to 100 (e.g. stable 90, canary 10)" $w.stable $w.canary $sum) -}}
{{- end -}}
{{- end -}}
