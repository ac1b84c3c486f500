{{/* Names, labels and the pieces every workload shares. */}}

{{- define "socialcare.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "socialcare.fullname" -}}
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

{{/* The resource name of one service: <fullname>-<service>. */}}
{{- define "socialcare.serviceName" -}}
{{- printf "%s-%s" (include "socialcare.fullname" .root) .service | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "socialcare.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "socialcare.selectorLabels" -}}
app.kubernetes.io/name: {{ include "socialcare.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "socialcare.labels" -}}
helm.sh/chart: {{ include "socialcare.chart" . }}
{{ include "socialcare.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: socialcare
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one service (dict root, service). */}}
{{- define "socialcare.componentSelectorLabels" -}}
{{ include "socialcare.selectorLabels" .root }}
app.kubernetes.io/component: {{ .service }}
{{- end -}}

{{- define "socialcare.componentLabels" -}}
{{ include "socialcare.labels" .root }}
app.kubernetes.io/component: {{ .service }}
{{- end -}}

{{- define "socialcare.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "socialcare.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "socialcare.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* A secretKeyRef env entry (dict name, ref: {name, key}). */}}
{{- define "socialcare.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .ref.name | quote }}
      key: {{ .ref.key | quote }}
{{- end -}}

{{/*
The environment every socialcare process gets (services and the topic Job): the backends,
their credentials by secret reference, the topic layout, telemetry.
*/}}
{{- define "socialcare.commonEnv" -}}
{{- $v := .Values -}}
- name: SOCIALCARE_BUS
  value: {{ printf "kafka://%s" $v.kafka.bootstrapServers | quote }}
- name: SOCIALCARE_SEARCH
  value: {{ $v.elasticsearch.url | quote }}
- name: SOCIALCARE_SEARCH_INDEX_PREFIX
  value: {{ $v.elasticsearch.indexPrefix | quote }}
- name: SOCIALCARE_DATA_DIR
  value: /data
- name: SOCIALCARE_HTTP_HOST
  value: "0.0.0.0"
- name: SOCIALCARE_HTTP_PORT
  value: "8080"
- name: SOCIALCARE_LOG_LEVEL
  value: {{ $v.logLevel | quote }}
- name: SOCIALCARE_TOPIC_PARTITIONS
  value: {{ $v.topics.partitions | quote }}
- name: SOCIALCARE_TOPIC_REPLICATION
  value: {{ $v.topics.replication | quote }}
- name: SOCIALCARE_TOPIC_RETENTION
  value: {{ printf "%dh" (int $v.topics.retentionHours) | quote }}
- name: SOCIALCARE_DLQ_RETENTION
  value: {{ printf "%dh" (int $v.topics.dlqRetentionHours) | quote }}
- name: SOCIALCARE_AUDIT_RETENTION
  value: {{ printf "%dh" (int $v.topics.auditRetentionHours) | quote }}
{{- if $v.otlpEndpoint }}
- name: SOCIALCARE_OTLP_ENDPOINT
  value: {{ $v.otlpEndpoint | quote }}
{{- end }}
{{- if ne $v.kafka.securityProtocol "PLAINTEXT" }}
- name: SOCIALCARE_KAFKA_SECURITY_PROTOCOL
  value: {{ $v.kafka.securityProtocol | quote }}
{{- end }}
{{- if hasPrefix "SASL_" $v.kafka.securityProtocol }}
- name: SOCIALCARE_KAFKA_SASL_MECHANISM
  value: {{ $v.kafka.sasl.mechanism | quote }}
- name: SOCIALCARE_KAFKA_SASL_USERNAME
  value: {{ required "kafka.sasl.username is required with a SASL_* kafka.securityProtocol" $v.kafka.sasl.username | quote }}
{{ include "socialcare.secretEnv" (dict "name" "SOCIALCARE_KAFKA_SASL_PASSWORD" "ref" $v.kafka.sasl.passwordSecret) }}
{{- end }}
{{- if $v.kafka.tls.caSecret.name }}
- name: SOCIALCARE_KAFKA_SSL_CAFILE
  value: /etc/socialcare/kafka-ca/{{ $v.kafka.tls.caSecret.key }}
{{- end }}
{{- if $v.elasticsearch.username }}
- name: SOCIALCARE_SEARCH_USERNAME
  value: {{ $v.elasticsearch.username | quote }}
{{ include "socialcare.secretEnv" (dict "name" "SOCIALCARE_SEARCH_PASSWORD" "ref" $v.elasticsearch.passwordSecret) }}
{{- end }}
{{- if $v.elasticsearch.caSecret.name }}
- name: SOCIALCARE_SEARCH_CA_CERTS
  value: /etc/socialcare/elasticsearch-ca/{{ $v.elasticsearch.caSecret.key }}
{{- end }}
{{- end -}}

{{/* Volumes for the backends' CA certificates (pod spec), and their mounts (container). */}}
{{- define "socialcare.caVolumes" -}}
{{- if .Values.kafka.tls.caSecret.name }}
- name: kafka-ca
  secret:
    secretName: {{ .Values.kafka.tls.caSecret.name | quote }}
    items:
      - key: {{ .Values.kafka.tls.caSecret.key | quote }}
        path: {{ .Values.kafka.tls.caSecret.key | quote }}
{{- end }}
{{- if .Values.elasticsearch.caSecret.name }}
- name: elasticsearch-ca
  secret:
    secretName: {{ .Values.elasticsearch.caSecret.name | quote }}
    items:
      - key: {{ .Values.elasticsearch.caSecret.key | quote }}
        path: {{ .Values.elasticsearch.caSecret.key | quote }}
{{- end }}
{{- end -}}

{{- define "socialcare.caMounts" -}}
{{- if .Values.kafka.tls.caSecret.name }}
- name: kafka-ca
  mountPath: /etc/socialcare/kafka-ca
  readOnly: true
{{- end }}
{{- if .Values.elasticsearch.caSecret.name }}
- name: elasticsearch-ca
  mountPath: /etc/socialcare/elasticsearch-ca
  readOnly: true
{{- end }}
{{- end -}}

{{/* Settings only the services need (not the topic Job): auth, secrets of the care config. */}}
{{- define "socialcare.serviceEnv" -}}
{{- $v := .Values -}}
{{- if $v.auth.existingSecret }}
{{ include "socialcare.secretEnv" (dict "name" "SOCIALCARE_AUTH_SECRET" "ref" (dict "name" $v.auth.existingSecret "key" $v.auth.authSecretKey)) }}
{{- if $v.auth.adminPasswordKey }}
{{ include "socialcare.secretEnv" (dict "name" "SOCIALCARE_ADMIN_PASSWORD" "ref" (dict "name" $v.auth.existingSecret "key" $v.auth.adminPasswordKey)) }}
{{- end }}
{{- end }}
{{- if $v.auth.oidc.issuer }}
- name: SOCIALCARE_OIDC_ISSUER
  value: {{ $v.auth.oidc.issuer | quote }}
- name: SOCIALCARE_OIDC_CLIENT_ID
  value: {{ required "auth.oidc.clientId is required with auth.oidc.issuer" $v.auth.oidc.clientId | quote }}
{{- if $v.auth.oidc.clientSecret.name }}
{{ include "socialcare.secretEnv" (dict "name" "SOCIALCARE_OIDC_CLIENT_SECRET" "ref" $v.auth.oidc.clientSecret) }}
{{- end }}
{{- end }}
{{- if $v.careConfig }}
- name: SOCIALCARE_CARE_CONFIG
  value: /etc/socialcare/care/care.yaml
{{- end }}
{{- range $v.secretEnv }}
{{ include "socialcare.secretEnv" (dict "name" .name "ref" (dict "name" .secretName "key" .key)) }}
{{- end }}
{{- range $name, $value := $v.env }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end -}}
