#!/usr/bin/env bash
# `make demo`: the small sample running and serving.
#   - a reachable cluster (current kube context): the operator runs on this machine against it, as before;
#   - none: the local control plane WITH the real node (hack/node.sh): the images are built without Docker
#     (hack/build-images.sh), the chart is installed with the operator in the cluster, the small sample
#     becomes Ready with real pods, and two documents and a query go through the gateway's Service.
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
cluster=ragops-demo
python="$repo/.venv/bin/python"
log() { printf '[demo] %s\n' "$*" >&2; }

down() {
  if [ -f "$state/operator.pid" ]; then kill "$(cat "$state/operator.pid")" 2>/dev/null || true; rm -f "$state/operator.pid"; fi
  if [ -f "$state/port-forward.pid" ]; then kill "$(cat "$state/port-forward.pid")" 2>/dev/null || true; rm -f "$state/port-forward.pid"; fi
  if [ -f "$state/local-cluster" ]; then bash "$here/cluster.sh" down "$cluster"; rm -f "$state/local-cluster"; fi
  log "demo stopped"
}

case "${1:-up}" in
  down) down; exit 0 ;;
  up) ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac

wait_ready() {
  log "waiting for Ready (real pods: a few minutes the first time)"
  kubectl wait -n "$namespace" --for=jsonpath='{.status.phase}'=Ready vectorstores --all --timeout="$1"
  kubectl wait -n "$namespace" --for=jsonpath='{.status.phase}'=Ready ragpipelines --all --timeout="$1"
}

show() {
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
}

if [ -z "${RAGOPS_LOCAL:-}" ] && kubectl version --request-timeout=5s >/dev/null 2>&1; then
  # A reachable cluster: the operator on this machine against it (unchanged behaviour).
  kubeconfig="${KUBECONFIG:-$HOME/.kube/config}"
  log "using the current kube context: $(kubectl config current-context)"
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
  wait_ready 180s
  show
  echo "Operator metrics: curl -s localhost:9090/metrics | grep ragops_   (log: $state/operator.log)"
  echo "Stop with: make demo-down"
  echo "export KUBECONFIG=$kubeconfig"
  exit 0
fi

log "no reachable cluster: the local control plane with a real node (images built without Docker)"
kubeconfig=$(RAGOPS_REAL_NODE=1 bash "$here/cluster.sh" up "$cluster")
touch "$state/local-cluster"
export KUBECONFIG="$kubeconfig"
images=$(bash "$here/cluster.sh" images "$cluster")
ragops_image=$(sed -n 's/^ragops=//p' <<< "$images")
qdrant_image=$(sed -n 's/^qdrant=//p' <<< "$images")
qdrant_kind=$(sed -n 's/^qdrant_kind=//p' <<< "$images")
restricted() {  # a namespace enforcing the restricted Pod Security Standard
  kubectl create namespace "$1" --dry-run=client -o yaml \
    | kubectl label --local -f - -o yaml pod-security.kubernetes.io/enforce=restricted \
    | kubectl apply -f - >/dev/null
}
restricted ragops-system
restricted "$namespace"
log "helm install ragops (operator image $ragops_image, in the cluster)"
helm upgrade --install ragops "$repo/charts/ragops" --namespace ragops-system \
  --set image.repository="${ragops_image%:*}" --set image.tag="${ragops_image##*:}" --wait --timeout 5m >/dev/null
# The small sample, its VectorStore on the locally built Qdrant image (the stand-in unless RAGOPS_QDRANT_BINARY).
"$python" - "$repo/manifests/samples/small.yaml" "$qdrant_image" > "$state/small.yaml" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
for d in docs:
    if d["kind"] == "VectorStore":
        d["spec"].setdefault("qdrant", {})["image"] = sys.argv[2]
print(yaml.safe_dump_all(docs, sort_keys=False))
PY
kubectl apply -n "$namespace" -f "$state/small.yaml"
wait_ready 600s
show
[ "$qdrant_kind" = standin ] && log "NOTE: Qdrant pods run the ragops Qdrant STAND-IN (no Qdrant binary given: RAGOPS_QDRANT_BINARY)"

# The gateway's Service on a local port, then two documents and a query, as a user would.
if [ -f "$state/port-forward.pid" ]; then kill "$(cat "$state/port-forward.pid")" 2>/dev/null || true; fi
port=${RAGOPS_DEMO_PORT:-18080}
nohup kubectl port-forward -n "$namespace" svc/support-bot-gateway "$port:8080" >"$state/port-forward.log" 2>&1 &
echo $! > "$state/port-forward.pid"
for _ in $(seq 1 60); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
gateway="http://127.0.0.1:$port"
# The gateway's API key, from the Secret the pipeline names in its status.
key_secret=$(kubectl get ragpipeline support-bot -n "$namespace" -o jsonpath='{.status.apiKeySecret}')
key=$(kubectl get secret "$key_secret" -n "$namespace" -o jsonpath='{.data.apiKey}' | base64 -d)
ingest=$(cat <<'JSON'
{"documents": [
  {"id": "router-reset", "text": "To reset the router, hold the reset button for ten seconds until the light blinks."},
  {"id": "warranty", "text": "The warranty covers manufacturing defects for two years from the date of purchase."}]}
JSON
)
query='{"query": "To reset the router, hold the reset button for ten seconds until the light blinks.", "topK": 2}'
auth="authorization: Bearer $key"
echo "\$ curl -s -X POST $gateway/v1/documents -H \"authorization: Bearer \$KEY\" -H 'content-type: application/json' -d '<two documents>'"
curl -sf -X POST "$gateway/v1/documents" -H "$auth" -H 'content-type: application/json' -d "$ingest"; echo
echo "\$ curl -s -X POST $gateway/v1/query -H \"authorization: Bearer \$KEY\" -H 'content-type: application/json' -d '$query'"
answer=$(curl -sf -X POST "$gateway/v1/query" -H "$auth" -H 'content-type: application/json' -d "$query")
echo "$answer"
echo
grep -q '"documentId":"router-reset"' <<< "$answer" || { log "ERROR: the query did not return the ingested chunk"; exit 1; }
echo "Answered by a real gateway pod ($(kubectl get pods -n "$namespace" -l app.kubernetes.io/instance=support-bot -o jsonpath='{.items[0].metadata.name}') on node real-node)."
echo
echo "Try it yourself:"
echo "  export KUBECONFIG=$kubeconfig"
echo "  kubectl -n $namespace port-forward svc/support-bot-gateway $port:8080 &   # already running (pid $(cat "$state/port-forward.pid"))"
echo "  KEY=\$(kubectl -n $namespace get secret $key_secret -o jsonpath='{.data.apiKey}' | base64 -d)"
echo "  curl -s -X POST $gateway/v1/documents -H \"authorization: Bearer \$KEY\" -H 'content-type: application/json' -d '{\"documents\": [{\"id\": \"doc-1\", \"text\": \"...\"}]}'"
echo "  curl -s -X POST $gateway/v1/query -H \"authorization: Bearer \$KEY\" -H 'content-type: application/json' -d '{\"query\": \"...\"}'"
echo "  kubectl -n ragops-system logs deploy/ragops   # the operator, running in the cluster"
echo "Stop with: make demo-down"
