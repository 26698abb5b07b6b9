{{/* Chart name, at most 63 characters. */}}
{{- define "tributary.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Prefix of every resource name: RELEASE-CHART, or the release name when it already holds the chart name. */}}
{{- define "tributary.fullname" -}}
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

{{/* Labels of every resource. */}}
{{- define "tributary.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "tributary.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tributary
{{- end -}}

{{/* Selector labels; the component label is added per workload. */}}
{{- define "tributary.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tributary.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The image every role runs. */}}
{{- define "tributary.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* etcd client URLs, comma separated. */}}
{{- define "tributary.etcdEndpoints" -}}
{{- if .Values.etcd.enabled -}}
{{- printf "http://%s-etcd:2379" (include "tributary.fullname" .) -}}
{{- else -}}
{{- if not .Values.etcd.external.endpoints -}}
{{- fail "etcd.enabled is false: set etcd.external.endpoints" -}}
{{- end -}}
{{- join "," .Values.etcd.external.endpoints -}}
{{- end -}}
{{- end -}}

{{/* Service account of the operator. */}}
{{- define "tributary.operatorServiceAccount" -}}
{{- if .Values.operator.serviceAccount.create -}}
{{- default (printf "%s-operator" (include "tributary.fullname" .)) .Values.operator.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.operator.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Name the ingest relay certificate is valid for (certificate modes). */}}
{{- define "tributary.relayServerName" -}}
{{- default (printf "%s-ingest.%s.svc" (include "tributary.fullname" .) .Release.Namespace) .Values.tls.serverName -}}
{{- end -}}

{{/* Secret with the ingest relay certificate (certificate modes). */}}
{{- define "tributary.ingestTlsSecret" -}}
{{- if eq .Values.tls.mode "certManager" -}}
{{- printf "%s-relay-ingest" (include "tributary.fullname" .) -}}
{{- else -}}
{{- required "tls.existingSecret.ingest is required with tls.mode=existingSecret" .Values.tls.existingSecret.ingest -}}
{{- end -}}
{{- end -}}

{{/* Secret with the edge relay client certificate (certificate modes). */}}
{{- define "tributary.edgeTlsSecret" -}}
{{- if eq .Values.tls.mode "certManager" -}}
{{- printf "%s-relay-edge" (include "tributary.fullname" .) -}}
{{- else -}}
{{- required "tls.existingSecret.edge is required with tls.mode=existingSecret" .Values.tls.existingSecret.edge -}}
{{- end -}}
{{- end -}}

{{/* Whether the relay uses certificates from a Secret ("true" or ""). */}}
{{- define "tributary.relayCerts" -}}
{{- if or (eq .Values.tls.mode "certManager") (eq .Values.tls.mode "existingSecret") -}}
true
{{- else if ne .Values.tls.mode "selfSigned" -}}
{{- fail (printf "tls.mode must be selfSigned, certManager or existingSecret, not %s" .Values.tls.mode) -}}
{{- end -}}
{{- end -}}

{{/* Secret holding the API token ("" when the API is open). */}}
{{- define "tributary.apiTokenSecret" -}}
{{- if .Values.apiToken.existingSecret -}}
{{- .Values.apiToken.existingSecret -}}
{{- else if .Values.apiToken.value -}}
{{- printf "%s-api-token" (include "tributary.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* Environment every node container shares: its pod name, namespace and IP, and the API token. */}}
{{- define "tributary.podEnv" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
- name: HOST_IP
  valueFrom:
    fieldRef:
      fieldPath: status.hostIP
{{- if include "tributary.apiTokenSecret" . }}
- name: TRIBUTARY_API_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "tributary.apiTokenSecret" . }}
      key: {{ .Values.apiToken.key }}
{{- end }}
{{- end -}}

{{/* Liveness and readiness probes on the HTTP port. */}}
{{- define "tributary.probes" -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: http
  initialDelaySeconds: 5
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /readyz
    port: http
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 2
{{- end -}}

{{/* Prometheus scrape annotations of a pod. */}}
{{- define "tributary.scrapeAnnotations" -}}
{{- if .Values.metrics.podAnnotations -}}
prometheus.io/scrape: "true"
prometheus.io/port: "8080"
prometheus.io/path: /metrics
{{- end -}}
{{- end -}}

{{/* WebRTC flags: the UDP port and the address announced to browsers. */}}
{{- define "tributary.webrtcArgs" -}}
- --webrtc-listen=0.0.0.0:8189
{{- if .Values.webrtc.publicIp }}
- --public-ip={{ .Values.webrtc.publicIp }}
{{- else if .Values.webrtc.hostPort }}
- --public-ip=$(HOST_IP)
{{- else }}
- --public-ip=$(POD_IP)
{{- end }}
{{- end -}}

{{/* The WebRTC container port. */}}
{{- define "tributary.webrtcPort" -}}
- name: webrtc
  containerPort: 8189
  protocol: UDP
  {{- if .Values.webrtc.hostPort }}
  hostPort: 8189
  {{- end }}
{{- end -}}
