{{/*
Object name: fullnameOverride, else the release name. Flagger appends "-primary" and "-canary"
to it, so the schema caps it at 55 characters.
*/}}
{{- define "flagger.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 55 | trimSuffix "-" -}}
{{- end -}}

{{/*
Labels on every object: the recommended app.kubernetes.io set plus the experiment and run ids
(STYLE §6: leftovers of a crashed run are found and removed by label).
*/}}
{{- define "flagger.labels" -}}
app.kubernetes.io/name: faulty-app
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: canary-mttr
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
canary-mttr/arm: flagger
canary-mttr/experiment: {{ .Values.experiment | toString | quote }}
canary-mttr/run: {{ .Values.run | toString | quote }}
{{- end -}}

{{/*
Pod template labels. The run id is deliberately NOT here: Flagger hashes the whole pod template
(labels included) to detect a new revision, so a per-run label would start a canary analysis by
itself. Flagger copies these labels to <name>-primary's pods, which are found by the experiment
label.
*/}}
{{- define "flagger.podLabels" -}}
app: {{ include "flagger.fullname" . }}
app.kubernetes.io/name: faulty-app
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.version | quote }}
app.kubernetes.io/part-of: canary-mttr
canary-mttr/arm: flagger
canary-mttr/experiment: {{ .Values.experiment | toString | quote }}
{{- end -}}

{{/*
Checks the schema cannot express, with the field, the value and what to do. Flagger would accept
some of these and then behave differently from what the scenario says (e.g. clamp the interval).
*/}}
{{- define "flagger.validate" -}}
{{- $a := .Values.analysis -}}
{{- $iv := $a.interval -}}
{{- if regexMatch "^[0-9]+(\\.[0-9]+)?ms$" $iv -}}
{{- if lt (float64 (trimSuffix "ms" $iv)) 10000.0 -}}
{{- fail (printf "analysis.interval: %s is below Flagger's 10s minimum; use 10s or more" $iv) -}}
{{- end -}}
{{- else if regexMatch "^[0-9]+(\\.[0-9]+)?s$" $iv -}}
{{- if lt (float64 (trimSuffix "s" $iv)) 10.0 -}}
{{- fail (printf "analysis.interval: %s is below Flagger's 10s minimum; use 10s or more" $iv) -}}
{{- end -}}
{{- end -}}
{{- if $a.stepWeights -}}
{{- $prev := 0 -}}
{{- range $i, $w := $a.stepWeights -}}
{{- if le (int $w) $prev -}}
{{- fail (printf "analysis.stepWeights[%d]: %v must be above the step before it (%v); list the weights in ascending order, e.g. [5, 10, 20, 50]" $i $w $prev) -}}
{{- end -}}
{{- $prev = int $w -}}
{{- end -}}
{{- else if gt (int $a.stepWeight) (int $a.maxWeight) -}}
{{- fail (printf "analysis.stepWeight: %v is above analysis.maxWeight %v; lower stepWeight or raise maxWeight" $a.stepWeight $a.maxWeight) -}}
{{- end -}}
{{- if not (or $a.metrics.requestSuccessRate.enabled $a.metrics.requestDuration.enabled .Values.smokeTest.enabled) -}}
{{- fail "analysis.metrics: requestSuccessRate, requestDuration and smokeTest are all disabled; Flagger would promote any build. Enable at least one check" -}}
{{- end -}}
{{- end -}}
