#!/usr/bin/env bash
# The e2e suite (e2e/) on a real cluster, two ways:
#
#   hack/e2e.sh local   the local control plane (hack/cluster.sh, kwok nodes): the chart is installed with helm
#                       and the operator runs on this machine with a token of the chart's ServiceAccount, so
#                       the chart's RBAC is exercised (make e2e; CI). Scope `node` adds the real node
#                       (RAGOPS_REAL_NODE=1, hack/node.sh): images built by hack/build-images.sh, the operator
#                       in the chart's Deployment (2 replicas), the small sample's pods really running
#   hack/e2e.sh kind    a kind cluster: builds the image, `kind load`s it, the chart's Deployment runs the
#                       operator and Qdrant really runs (make e2e-kind; needs docker, kind, kubectl, helm)
#
# The suite runs once per RAGOPS_E2E_SCOPES entry (local default: all,namespaces,node; kind: all), each on a fresh
# cluster. The cluster is deleted after the run; RAGOPS_KEEP_CLUSTER=1 keeps the last one.
# Extra arguments go to pytest (e.g. -x, -k uninstall).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
mode=${1:-}
[ $# -gt 0 ] && shift
python="${PYTHON:-$repo/.venv/bin/python}"
name=${RAGOPS_E2E_CLUSTER:-ragops-e2e}
log() { printf '[e2e] %s\n' "$*" >&2; }
die() { printf '[e2e] ERROR: %s\n' "$*" >&2; exit 1; }

case "$mode" in
  local)
    bin_dir=$(bash hack/build-control-plane.sh | tail -1)
    export HELM="$bin_dir/helm" KUBECTL="$bin_dir/kubectl"
    cleanup() { [ -n "${RAGOPS_KEEP_CLUSTER:-}" ] || bash hack/cluster.sh down "$name"; }
    trap cleanup EXIT
    ;;
  kind)
    for tool in docker kind kubectl helm; do
      command -v "$tool" >/dev/null || die "$tool is not on PATH (make e2e-kind needs docker, kind, kubectl and helm)"
    done
    docker info >/dev/null 2>&1 || die "no Docker engine answers (docker info failed)"
    image=${RAGOPS_E2E_IMAGE:-ragops:e2e}
    kind get clusters 2>/dev/null | grep -qx "$name" || kind create cluster --name "$name" --wait 180s
    cleanup() { [ -n "${RAGOPS_KEEP_CLUSTER:-}" ] || kind delete cluster --name "$name"; }
    trap cleanup EXIT
    kubeconfig="$(mktemp -d)/kubeconfig"
    kind get kubeconfig --name "$name" > "$kubeconfig"
    log "building $image"
    docker build -t "$image" .
    kind load docker-image "$image" --name "$name"
    # Qdrant pulls its image and really serves: only the small profile fits a laptop.
    export KUBECONFIG="$kubeconfig" RAGOPS_E2E_OPERATOR=cluster RAGOPS_E2E_IMAGE="$image" \
      RAGOPS_E2E_SAMPLES="${RAGOPS_E2E_SAMPLES:-small}" RAGOPS_E2E_READY_TIMEOUT="${RAGOPS_E2E_READY_TIMEOUT:-600}"
    ;;
  *)
    echo "usage: $0 local|kind [pytest args...]" >&2; exit 2
    ;;
esac

# Each scope on a fresh cluster: `all` (ClusterRole, one replica) and `namespaces` (watchNamespaces: Roles in
# the sample namespaces, two replicas with kopf peering). kind runs `all` unless told otherwise.
# The third local scope, `node`, runs on the real node (see above).
default_scopes=all,namespaces,node
[ "$mode" = kind ] && default_scopes=all
IFS=, read -r -a scopes <<< "${RAGOPS_E2E_SCOPES:-$default_scopes}"

# A fresh local cluster for a scope (the suite installs cluster-wide objects); `node` with the real node.
local_cluster() {
  local scope=$1
  bash hack/cluster.sh down "$name"
  if [ "$scope" = node ]; then
    KUBECONFIG=$(RAGOPS_REAL_NODE=1 bash hack/cluster.sh up "$name")
    local images
    images=$(bash hack/cluster.sh images "$name")
    # The operator from the image, in the chart's Deployment; Qdrant pods from the locally built image.
    export RAGOPS_E2E_OPERATOR=cluster
    RAGOPS_E2E_IMAGE=$(sed -n 's/^ragops=//p' <<< "$images")
    RAGOPS_E2E_QDRANT_IMAGE=$(sed -n 's/^qdrant=//p' <<< "$images")
    RAGOPS_E2E_QDRANT_KIND=$(sed -n 's/^qdrant_kind=//p' <<< "$images")
    export RAGOPS_E2E_IMAGE RAGOPS_E2E_QDRANT_IMAGE RAGOPS_E2E_QDRANT_KIND
  else
    KUBECONFIG=$(bash hack/cluster.sh up "$name")
    export RAGOPS_E2E_OPERATOR=local
    unset RAGOPS_E2E_IMAGE RAGOPS_E2E_QDRANT_IMAGE RAGOPS_E2E_QDRANT_KIND
  fi
  export KUBECONFIG
}

for i in "${!scopes[@]}"; do
  scope=${scopes[$i]}
  scope_start=$(date +%s)
  if [ "$mode" = local ]; then
    local_cluster "$scope"
  elif [ "$i" -gt 0 ]; then
    kind delete cluster --name "$name" && kind create cluster --name "$name" --wait 180s
    kind get kubeconfig --name "$name" > "$KUBECONFIG" && kind load docker-image "$image" --name "$name"
  fi
  log "scope $scope: the suite ($RAGOPS_E2E_OPERATOR operator) against $KUBECONFIG"
  (
    # One real node holds the small sample only (medium asks 3 x 2 CPU); pods take minutes to be Ready.
    if [ "$scope" = node ]; then
      export RAGOPS_E2E_SAMPLES=small RAGOPS_E2E_READY_TIMEOUT="${RAGOPS_E2E_READY_TIMEOUT:-600}"
    fi
    RAGOPS_E2E_SCOPE="$scope" "$python" -m pytest e2e -v -ra -p no:cacheprovider "$@"
  )
  log "scope $scope took $(( $(date +%s) - scope_start ))s"
done
