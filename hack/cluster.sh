#!/usr/bin/env bash
# The local control plane: etcd, kube-apiserver (RBAC on), controller-manager, scheduler and kwok
# fake nodes on 127.0.0.1, plus a fake volume provisioner. All built from source by
# hack/build-control-plane.sh; nothing needs Docker.
#
#   hack/cluster.sh up [NAME]      start (idempotent); prints the kubeconfig path last
#   RAGOPS_REAL_NODE=1 hack/cluster.sh up [NAME]
#                                  the same plus ONE real node (hack/node.sh: containerd, kubelet, kube-proxy,
#                                  CoreDNS, CNI bridge) named real-node, labelled ragops.dev/node=real; the kwok
#                                  nodes are then tainted ragops.dev/kwok=true:NoSchedule, so pods land on the real
#                                  node unless they tolerate that taint. Volumes are real host directories.
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
real_node=${RAGOPS_REAL_NODE:-}
# The real node's Service range (kwokctl leaves the API server's default otherwise); its first IP, the
# `kubernetes` Service, must be in the serving certificate for in-cluster clients.
service_cidr=10.96.0.0/20
real_node_args=()
if [ -n "$real_node" ]; then
  mkdir -p "$KWOK_WORKDIR"
  cat > "$KWOK_WORKDIR/real-node-$name.yaml" <<YAML
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  kubeApiserverCertSANs: ["10.96.0.1"]
YAML
  pki="$cluster_dir/pki"
  real_node_args=(
    --config "$KWOK_WORKDIR/real-node-$name.yaml"
    # (kwokctl v0.8.0 groups --extra-args by component using the flag's index: each component's first
    # argument must come first, in the order the components first appear, or kwokctl panics.)
    # kwok must leave the real node (and its pods) alone: it would report them Running with fake IPs.
    --extra-args "kwok-controller=manage-all-nodes=false"
    --extra-args "kube-apiserver=service-cluster-ip-range=$service_cidr"
    --extra-args "kwok-controller=manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake"
    # logs, exec and port-forward: the API server authenticates to the kubelet with the admin certificate
    --extra-args "kube-apiserver=kubelet-client-certificate=$pki/admin.crt"
    --extra-args "kube-apiserver=kubelet-client-key=$pki/admin.key"
    # ... at the node's InternalIP: its name would go to the host's DNS resolver
    --extra-args "kube-apiserver=kubelet-preferred-address-types=InternalIP"
  )
fi

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
        "${real_node_args[@]}" \
        --wait 120s >&2 || { log "ERROR: kwokctl could not start the control plane (logs: $cluster_dir/logs)"; exit 1; }
      # kwok nodes' InternalIPs on loopback: nothing that talks to a "node" (logs, exec) leaves this machine.
      # ...and ephemeral-storage to allocate (kwok's node template has cpu, memory and pods only).
      kwokctl scale node --name "$name" --replicas "$nodes" \
        --param '.nodeIPs=["127.0.10.1"] | .allocatable["ephemeral-storage"]="100Gi" | .capacity["ephemeral-storage"]="100Gi"' \
        >/dev/null 2>&1
    fi
    until kubectl --kubeconfig "$kubeconfig" get --raw /readyz >/dev/null 2>&1; do sleep 0.5; done
    provisioner=ragops.dev/fake-provisioner
    provisioner_env=()
    if [ -n "$real_node" ]; then
      kubectl --kubeconfig "$kubeconfig" taint nodes -l type=kwok ragops.dev/kwok=true:NoSchedule --overwrite >/dev/null
      bash "$here/node.sh" up "$name" "$cluster_dir" >&2
      # Real volumes: a host directory per claim, as a local PV pinned to the real node.
      provisioner=ragops.dev/host-path
      provisioner_env=(RAGOPS_PV_ROOT="$cache_root/nodes/$name/volumes" RAGOPS_PV_NODE=real-node
                       RAGOPS_PROVISIONER="$provisioner")
    fi
    # A default StorageClass served by the (fake or host-path) provisioner, with expansion allowed.
    kubectl --kubeconfig "$kubeconfig" apply -f - >/dev/null <<YAML
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: $provisioner
allowVolumeExpansion: true
volumeBindingMode: Immediate
YAML
    if ! { [ -f "$provisioner_pid_file" ] && kill -0 "$(cat "$provisioner_pid_file")" 2>/dev/null; }; then
      env KUBECONFIG="$kubeconfig" "${provisioner_env[@]}" nohup "$python" "$here/fake_provisioner.py" \
        >"$cluster_dir/fake-provisioner.log" 2>&1 &
      echo $! > "$provisioner_pid_file"
    fi
    log "ready: export KUBECONFIG=$kubeconfig"
    echo "$kubeconfig"
    ;;
  down)
    stop_provisioner
    bash "$here/node.sh" down "$name"
    kwokctl delete cluster --name "$name" >/dev/null 2>&1 || true
    log "cluster $name stopped"
    ;;
  kubeconfig)
    echo "$kubeconfig"
    ;;
  images)  # NAME=REF of the images the real node holds (hack/build-images.sh)
    bash "$here/node.sh" images "$name"
    ;;
  audit-log)
    echo "$cluster_dir/logs/audit.log"
    ;;
  *)
    echo "usage: $0 up|down|kubeconfig|audit-log [NAME]" >&2; exit 2
    ;;
esac
