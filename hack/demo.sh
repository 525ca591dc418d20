#!/usr/bin/env bash
# `make demo`: the operator running against a cluster with the small sample applied.
# Uses the current kube context when one answers; otherwise starts the local control plane.
#   hack/demo.sh up | down
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
cache_root="${RAGOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ragops}"
state="$cache_root/demo"
mkdir -p "$state"
bin_dir=$(bash "$here/build-control-plane.sh" | tail -1)
export PATH="$bin_dir:$PATH"
namespace=${RAGOPS_DEMO_NAMESPACE:-ragops-demo}
log() { printf '[demo] %s\n' "$*" >&2; }

down() {
  if [ -f "$state/operator.pid" ]; then kill "$(cat "$state/operator.pid")" 2>/dev/null || true; rm -f "$state/operator.pid"; fi
  if [ -f "$state/local-cluster" ]; then bash "$here/cluster.sh" down ragops-demo; rm -f "$state/local-cluster"; fi
  log "demo stopped"
}

case "${1:-up}" in
  down) down; exit 0 ;;
  up) ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac

if [ -z "${RAGOPS_LOCAL:-}" ] && kubectl version --request-timeout=5s >/dev/null 2>&1; then
  kubeconfig="${KUBECONFIG:-$HOME/.kube/config}"
  log "using the current kube context: $(kubectl config current-context)"
else
  log "no reachable cluster: starting the local control plane"
  kubeconfig=$(bash "$here/cluster.sh" up ragops-demo)
  touch "$state/local-cluster"
fi
export KUBECONFIG="$kubeconfig"

kubectl apply --server-side --force-conflicts -f "$repo/crds/" >/dev/null
kubectl wait --for=condition=Established crd/vectorstores.ragops.dev crd/ragpipelines.ragops.dev --timeout=60s >/dev/null

if [ -f "$state/operator.pid" ] && kill -0 "$(cat "$state/operator.pid")" 2>/dev/null; then
  log "operator already running (pid $(cat "$state/operator.pid"))"
else
  log "starting the operator (log: $state/operator.log)"
  nohup "$repo/.venv/bin/ragops" run --all-namespaces --standalone --metrics-port 9090 --health-port 8081 \
    >"$state/operator.log" 2>&1 &
  echo $! > "$state/operator.pid"
fi

kubectl create namespace "$namespace" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl apply -n "$namespace" -f "$repo/manifests/samples/small.yaml"
log "waiting for Ready"
kubectl wait -n "$namespace" --for=jsonpath='{.status.phase}'=Ready vectorstores --all --timeout=180s
kubectl wait -n "$namespace" --for=jsonpath='{.status.phase}'=Ready ragpipelines --all --timeout=180s

echo
kubectl get -n "$namespace" vectorstores,ragpipelines
echo
kubectl get -n "$namespace" statefulsets,deployments,services,configmaps,secrets,pvc,poddisruptionbudgets,networkpolicies,cronjobs,hpa,pods \
  -l app.kubernetes.io/part-of=ragops
echo
for kind in vectorstores ragpipelines; do
  kubectl get -n "$namespace" "$kind" -o jsonpath='{range .items[*]}{.kind}/{.metadata.name}: {range .status.conditions[*]}{.type}={.status} {end}{"\n"}{end}'
done
echo
echo "Operator metrics: curl -s localhost:9090/metrics | grep ragops_   (log: $state/operator.log)"
echo "Stop with: make demo-down"
echo "export KUBECONFIG=$kubeconfig"
