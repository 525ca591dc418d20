{{/*
The operator's permissions, in one place and independent of values so they are easy to audit.

ragops.rbac.clusterRules: cluster-scoped objects. Always granted through a ClusterRole.
  - CRDs: kopf discovers the resources it serves.
  - namespaces: kopf follows namespace changes when serving several namespaces.
  - clusterkopfpeerings: kopf peering when watching every namespace (several replicas, one active).
  - storageclasses: read only, to report a `storage.storageClassName` that does not exist.

ragops.rbac.namespacedRules: objects inside watched namespaces. Granted through the same ClusterRole when
every namespace is watched, otherwise through one Role per watched namespace.
  - the two kinds (the spec is only read; patch is for kopf's finalizers and progress annotations)
    and their status subresource (the only thing the operator writes on them);
  - every child kind, written by server-side apply (create/patch), pruned with delete;
  - pods: read only (Qdrant node readiness, backup job results);
  - events (core and events.k8s.io): kopf and the operator post Events on the resources;
  - kopfpeerings: kopf peering when watching specific namespaces.
*/}}
{{- define "ragops.rbac.clusterRules" -}}
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["get", "list", "watch"]
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["kopf.dev"]
  resources: ["clusterkopfpeerings"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["storage.k8s.io"]
  resources: ["storageclasses"]
  verbs: ["get"]
{{- end -}}

{{- define "ragops.rbac.namespacedRules" -}}
- apiGroups: ["ragops.dev"]
  resources: ["vectorstores", "ragpipelines"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["ragops.dev"]
  resources: ["vectorstores/status", "ragpipelines/status"]
  verbs: ["get", "patch"]
- apiGroups: ["apps"]
  resources: ["statefulsets", "deployments"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["services", "configmaps", "secrets", "persistentvolumeclaims"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["networking.k8s.io"]
  resources: ["networkpolicies"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["batch"]
  resources: ["cronjobs", "jobs"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["autoscaling"]
  resources: ["horizontalpodautoscalers"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["monitoring.coreos.com"]
  resources: ["servicemonitors", "prometheusrules"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["kopf.dev"]
  resources: ["kopfpeerings"]
  verbs: ["get", "list", "watch", "patch"]
{{- end -}}
