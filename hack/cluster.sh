#!/usr/bin/env bash
# The local control plane: etcd, kube-apiserver (RBAC on), controller-manager, scheduler and kwok
# fake nodes on 127.0.0.1, plus a fake volume provisioner. All built from source by
# hack/build-control-plane.sh; nothing needs Docker.
#
#   hack/cluster.sh up [NAME]      start (idempotent); prints the kubeconfig path last
#   hack/cluster.sh down [NAME]    stop everything, leaving no processes behind
#   hack/cluster.sh kubeconfig [NAME]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
action=${1:-up}
name=${2:-${RAGOPS_CLUSTER:-ragops}}
nodes=${RAGOPS_NODES:-3}
cache_root="${RAGOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ragops}"
export KWOK_WORKDIR="$cache_root/kwok"
cluster_dir="$KWOK_WORKDIR/clusters/$name"
kubeconfig="$cluster_dir/kubeconfig.yaml"
python="${PYTHON:-$repo/.venv/bin/python}"
log() { printf '[cluster] %s\n' "$*" >&2; }

bin_dir=$(bash "$here/build-control-plane.sh" | tail -1)
export PATH="$bin_dir:$PATH"

provisioner_pid_file="$cluster_dir/fake-provisioner.pid"

stop_provisioner() {
  if [ -f "$provisioner_pid_file" ]; then
    kill "$(cat "$provisioner_pid_file")" 2>/dev/null || true
    rm -f "$provisioner_pid_file"
  fi
}

case "$action" in
  up)
    if kwokctl get clusters 2>/dev/null | grep -qx "$name" && kubectl --kubeconfig "$kubeconfig" get --raw /readyz >/dev/null 2>&1; then
      log "cluster $name already running"
    else
      kwokctl delete cluster --name "$name" >/dev/null 2>&1 || true
      log "starting cluster $name (Kubernetes $(kube-apiserver --version 2>/dev/null | awk '{print $2}'), $nodes kwok nodes)"
      kwokctl create cluster --name "$name" --runtime binary \
        --kube-apiserver-binary "$bin_dir/kube-apiserver" \
        --kube-controller-manager-binary "$bin_dir/kube-controller-manager" \
        --kube-scheduler-binary "$bin_dir/kube-scheduler" \
        --etcd-binary "$bin_dir/etcd" \
        --kwok-controller-binary "$bin_dir/kwok" \
        --kube-authorization \
        --kube-audit-policy "$here/audit-policy.yaml" \
        --disable-qps-limits \
        --kubeconfig "$kubeconfig" \
        --wait 120s >&2 || { log "ERROR: kwokctl could not start the control plane (logs: $cluster_dir/logs)"; exit 1; }
      kwokctl scale node --name "$name" --replicas "$nodes" >/dev/null 2>&1
    fi
    until kubectl --kubeconfig "$kubeconfig" get --raw /readyz >/dev/null 2>&1; do sleep 0.5; done
    # A default StorageClass served by the fake provisioner, with expansion allowed.
    kubectl --kubeconfig "$kubeconfig" apply -f - >/dev/null <<YAML
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: ragops.dev/fake-provisioner
allowVolumeExpansion: true
volumeBindingMode: Immediate
YAML
    if ! { [ -f "$provisioner_pid_file" ] && kill -0 "$(cat "$provisioner_pid_file")" 2>/dev/null; }; then
      KUBECONFIG="$kubeconfig" nohup "$python" "$here/fake_provisioner.py" >"$cluster_dir/fake-provisioner.log" 2>&1 &
      echo $! > "$provisioner_pid_file"
    fi
    log "ready: export KUBECONFIG=$kubeconfig"
    echo "$kubeconfig"
    ;;
  down)
    stop_provisioner
    kwokctl delete cluster --name "$name" >/dev/null 2>&1 || true
    log "cluster $name stopped"
    ;;
  kubeconfig)
    echo "$kubeconfig"
    ;;
  audit-log)
    echo "$cluster_dir/logs/audit.log"
    ;;
  *)
    echo "usage: $0 up|down|kubeconfig|audit-log [NAME]" >&2; exit 2
    ;;
esac
