#!/usr/bin/env bash
# ONE real node for the local control plane (hack/cluster.sh with RAGOPS_REAL_NODE=1 calls this): pods really
# run, without Docker. Host processes, all started and stopped here:
#   containerd (Debian) + runc, CNI bridge/host-local/portmap/loopback (Debian containernetworking-plugins),
#   kubelet + kube-proxy (iptables) from hack/build-control-plane.sh, CoreDNS (cluster DNS on the bridge IP),
#   images from hack/build-images.sh imported into containerd.
# SAFETY: pods get routes only to the pod range, the Service range and this host; the bridge has no default route
# and no masquerade; forwarding between the bridge and any other interface is dropped; the pod and Service
# ranges get blackhole routes; CoreDNS answers cluster.local only (no upstream); containerd's registry traffic
# goes to a closed local proxy port. Nothing a pod does can reach a non-local address.
#
#   hack/node.sh deps                       apt-get install the Debian packages (idempotent)
#   hack/node.sh up NAME CLUSTER_DIR        start the node for the kwokctl cluster NAME (idempotent)
#   hack/node.sh down NAME                  stop it: no process, mount, netns, interface, rule or route left
#   hack/node.sh status NAME
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
action=${1:-}
name=${2:-${RAGOPS_CLUSTER:-ragops}}
cache_root="${RAGOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ragops}"
node_dir="$cache_root/nodes/$name"
run_dir="/run/ragops-node/$name"
active="/run/ragops-node/active"
node_name="${RAGOPS_NODE_NAME:-real-node}"
bridge=ragops0
pod_cidr=10.244.0.0/24
pod_gateway=10.244.0.1
pod_supernet=10.244.0.0/16
dns_ip=$pod_gateway
socket="$run_dir/containerd.sock"
chain=RAGOPS-NODE
# The binaries of hack/build-control-plane.sh (built by hack/cluster.sh before the node starts; never built here).
bin_dir="$cache_root/k8s-$KUBERNETES_VERSION-$BUILD_REVISION/bin"
export PATH="$bin_dir:$PATH"
packages=(containerd runc containernetworking-plugins iptables conntrack buildah debootstrap gcc libc6-dev)
log() { printf '[node] %s\n' "$*" >&2; }
die() { printf '[node] ERROR: %s\n' "$*" >&2; exit 1; }

deps() {
  local missing=()
  for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return
  log "apt-get install ${missing[*]}"
  command -v apt-get >/dev/null || die "no apt-get: install ${missing[*]} (Debian/Ubuntu package names) yourself"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The Debian package starts a system containerd where an init system runs; the node runs its own.
}

host_ip() {
  ip -4 -o addr show scope global | awk '{split($4, a, "/"); print a[1]; exit}'
}

running() { [ -f "$run_dir/$1.pid" ] && kill -0 "$(cat "$run_dir/$1.pid")" 2>/dev/null; }

start() {  # start NAME CMD...: a host process with its pid and log in the node's directories
  local proc=$1; shift
  running "$proc" && return
  nohup "$@" >"$node_dir/logs/$proc.log" 2>&1 &
  echo $! > "$run_dir/$proc.pid"
}

stop() {  # stop NAME: SIGTERM, then SIGKILL after 20 s, by pid
  local proc=$1 pid i
  [ -f "$run_dir/$proc.pid" ] || return 0
  pid=$(cat "$run_dir/$proc.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for i in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$run_dir/$proc.pid"
}

wait_for() {  # wait_for SECONDS WHAT CMD...
  local seconds=$1 what=$2; shift 2
  local deadline=$(( $(date +%s) + seconds ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.5
  done
}

network_up() {
  local service_cidr=$1 ip=$2
  # Remember what we change, so down restores it.
  [ -f "$run_dir/sysctl.saved" ] || printf '%s %s\n' "$(cat /proc/sys/net/ipv4/ip_forward)" \
    "$(cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null || echo 1)" > "$run_dir/sysctl.saved"
  ip link show "$bridge" >/dev/null 2>&1 || ip link add "$bridge" type bridge
  ip addr show dev "$bridge" | grep -q "inet $pod_gateway/" || ip addr add "$pod_gateway/24" dev "$bridge"
  ip link set "$bridge" up
  for cidr in "$pod_supernet" "$service_cidr"; do
    ip route show type blackhole | grep -q "^blackhole $cidr" || ip route add blackhole "$cidr"
  done
  echo "$service_cidr" > "$run_dir/service-cidr"
  # Services need routing between pods on the bridge (DNAT on the host) and iptables on bridged traffic.
  echo 1 > /proc/sys/net/ipv4/ip_forward
  [ -w /proc/sys/net/bridge/bridge-nf-call-iptables ] && echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables
  iptables -w -N "$chain" 2>/dev/null || iptables -w -F "$chain"
  iptables -w -A "$chain" -i "$bridge" -o "$bridge" -j ACCEPT
  iptables -w -A "$chain" -i "$bridge" -j DROP     # pods never leave through another interface
  iptables -w -A "$chain" -o "$bridge" -j DROP     # nothing from outside is forwarded to pods
  iptables -w -C FORWARD -j "$chain" 2>/dev/null || iptables -w -I FORWARD 1 -j "$chain"
  mkdir -p "$node_dir/cni/net.d"
  cat > "$node_dir/cni/net.d/10-ragops.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "ragops",
  "plugins": [
    {
      "type": "bridge", "bridge": "$bridge", "isGateway": true, "isDefaultGateway": false,
      "ipMasq": false, "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$pod_cidr", "gateway": "$pod_gateway"}]],
        "routes": [{"dst": "$pod_supernet"}, {"dst": "$service_cidr"}, {"dst": "$ip/32"}],
        "dataDir": "$run_dir/cni-ipam"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}, "snat": false}
  ]
}
JSON
}

# The kubelet's and kube-proxy's own chains (KUBE-*: KUBE-FIREWALL, KUBE-KUBELET-CANARY, ...), IPv4 and IPv6:
# the jumps to them from the built-in chains first, then the chains.
kube_rules_down() {
  local cmd table rule chains c
  for cmd in iptables ip6tables; do
    command -v "$cmd" >/dev/null || continue
    for table in filter nat mangle raw; do
      "$cmd"-save -t "$table" >/dev/null 2>&1 || continue
      while read -r rule; do
        eval "$cmd -w -t $table ${rule/#-A/-D}" 2>/dev/null || true
      done < <("$cmd"-save -t "$table" | grep -E '^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) .*-j KUBE-')
      chains=$("$cmd"-save -t "$table" | sed -n 's/^:\(KUBE-[^ ]*\) .*/\1/p')
      for c in $chains; do "$cmd" -w -t "$table" -F "$c" 2>/dev/null || true; done
      for c in $chains; do "$cmd" -w -t "$table" -X "$c" 2>/dev/null || true; done
    done
  done
}

network_down() {
  kube_rules_down
  iptables -w -D FORWARD -j "$chain" 2>/dev/null || true
  iptables -w -F "$chain" 2>/dev/null || true
  iptables -w -X "$chain" 2>/dev/null || true
  ip link del "$bridge" 2>/dev/null || true
  local cidr
  for cidr in "$pod_supernet" $(cat "$run_dir/service-cidr" 2>/dev/null); do
    ip route del blackhole "$cidr" 2>/dev/null || true
  done
  if [ -f "$run_dir/sysctl.saved" ]; then
    read -r forward nf < "$run_dir/sysctl.saved"
    echo "$forward" > /proc/sys/net/ipv4/ip_forward
    [ -w /proc/sys/net/bridge/bridge-nf-call-iptables ] && echo "$nf" > /proc/sys/net/bridge/bridge-nf-call-iptables
  fi
}

containerd_up() {
  local pause_ref=$1
  mkdir -p "$node_dir/containerd" "$run_dir/containerd"
  cat > "$node_dir/containerd/config.toml" <<TOML
version = 2
root = "$node_dir/containerd/root"
state = "$run_dir/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$socket"
[ttrpc]
  address = "$socket.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$node_dir/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause_ref"
  # This sandbox lacks CAP_SYS_RESOURCE: the pause container's oom_score_adj -998 is refused otherwise.
  restrict_oom_score_adj = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$node_dir/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$node_dir/containerd/certs.d"
TOML
  mkdir -p "$node_dir/containerd/certs.d"
  ls /run/netns 2>/dev/null | sort > "$run_dir/netns.before" || true
  # Registry pulls go to a closed local port: only images imported by hack/build-images.sh exist here.
  start containerd env HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY= \
    containerd --config "$node_dir/containerd/config.toml"
  wait_for 60 containerd ctr --address "$socket" version \
    || { tail -20 "$node_dir/logs/containerd.log" >&2; die "containerd did not start (log: $node_dir/logs/containerd.log)"; }
}

kubelet_up() {
  local kubeconfig=$1 pki=$2 ip=$3
  mkdir -p "$node_dir/kubelet" "$node_dir/pod-logs"
  : > "$node_dir/resolv.conf"  # pods get the cluster DNS only, none of the host's resolvers
  cat > "$node_dir/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# Debian's containerd 1.6 and this machine's cgroup v1 hierarchy need these (docs/real-node.md).
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
localStorageCapacityIsolation: false
containerRuntimeEndpoint: unix://$socket
address: $ip
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
clusterDomain: cluster.local
clusterDNS: [$dns_ip]
resolvConf: $node_dir/resolv.conf
podLogsDir: $node_dir/pod-logs
volumePluginDir: $node_dir/kubelet/volume-plugins
serializeImagePulls: false
# Images are imported, never pulled: keep them however full the disk gets, and evict only when nearly full.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 200Mi, nodefs.available: 2%, imagefs.available: 2%}
maxPods: 60
YAML
  start kubelet kubelet --config "$node_dir/kubelet.yaml" --kubeconfig "$kubeconfig" \
    --hostname-override "$node_name" --node-ip "$ip" --root-dir "$node_dir/kubelet" \
    --node-labels "ragops.dev/node=real" --v=1
}

kube_proxy_up() {
  local kubeconfig=$1
  cat > "$node_dir/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $kubeconfig}
mode: iptables
clusterCIDR: $pod_supernet
hostnameOverride: $node_name
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# 0: leave the host's conntrack sysctls as they are (a sandbox may not allow setting them)
conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s, udpTimeout: 0s, udpStreamTimeout: 0s}
YAML
  start kube-proxy kube-proxy --config "$node_dir/kube-proxy.yaml"
}

coredns_up() {
  local kubeconfig=$1
  cat > "$node_dir/Corefile" <<COREFILE
cluster.local:53 in-addr.arpa:53 {
  bind $dns_ip
  errors
  ready 127.0.0.1:18181
  kubernetes cluster.local in-addr.arpa {
    kubeconfig $kubeconfig
    pods insecure
  }
  cache 5
}
# Nothing outside the cluster resolves: no query ever leaves this machine.
.:53 {
  bind $dns_ip
  template ANY ANY {
    rcode NXDOMAIN
  }
}
COREFILE
  start coredns coredns -conf "$node_dir/Corefile"
  wait_for 30 coredns curl -sf http://127.0.0.1:18181/ready \
    || { tail -20 "$node_dir/logs/coredns.log" >&2; die "CoreDNS is not ready (log: $node_dir/logs/coredns.log)"; }
}

up() {
  local cluster_dir=${3:?usage: $0 up NAME CLUSTER_DIR}
  local kubeconfig="$cluster_dir/kubeconfig.yaml" pki="$cluster_dir/pki"
  deps
  mkdir -p /run/ragops-node
  if [ -f "$active" ] && [ "$(cat "$active")" != "$name" ] && [ -d "/run/ragops-node/$(cat "$active")" ]; then
    die "the real node of cluster $(cat "$active") runs on this machine (one at a time): hack/cluster.sh down $(cat "$active")"
  fi
  echo "$name" > "$active"
  mkdir -p "$node_dir/logs" "$run_dir"
  local ip service_cidr pause_ref
  for b in kubelet kube-proxy coredns kubectl; do
    [ -x "$bin_dir/$b" ] || die "$bin_dir/$b is missing: run hack/build-control-plane.sh"
  done
  ip=$(host_ip)
  [ -n "$ip" ] || die "no global IPv4 address on this machine for the node"
  service_cidr=$(kubectl --kubeconfig "$kubeconfig" get servicecidr kubernetes -o jsonpath='{.spec.cidrs[0]}')
  log "node $node_name: host $ip, pods $pod_cidr on $bridge, Services $service_cidr, DNS $dns_ip"
  network_up "$service_cidr" "$ip"
  pause_ref=$(bash "$here/build-images.sh" refs | sed -n 's/^pause=//p')
  containerd_up "$pause_ref"
  bash "$here/build-images.sh" import "$socket" > "$run_dir/images.env"
  coredns_up "$kubeconfig"
  kubelet_up "$kubeconfig" "$pki" "$ip"
  kube_proxy_up "$kubeconfig"
  wait_for 120 "node Ready" kubectl --kubeconfig "$kubeconfig" wait --for=condition=Ready "node/$node_name" --timeout=2s \
    || { tail -30 "$node_dir/logs/kubelet.log" >&2; die "node $node_name not Ready (log: $node_dir/logs/kubelet.log)"; }
  # With localStorageCapacityIsolation off the kubelet reports no ephemeral-storage, so pods that request some
  # (every ragops pod does) would stay Pending. Advertise the disk's free space: the kubelet keeps capacity it
  # does not set itself and derives allocatable from it.
  local free
  free=$(df --output=avail -B1G "$node_dir" | tail -1 | tr -d ' ')
  kubectl --kubeconfig "$kubeconfig" patch node "$node_name" --subresource=status --type=merge \
    -p "{\"status\":{\"capacity\":{\"ephemeral-storage\":\"${free}Gi\"},\"allocatable\":{\"ephemeral-storage\":\"${free}Gi\"}}}" >/dev/null
  log "node $node_name Ready (logs: $node_dir/logs)"
}

down() {
  [ -d "$run_dir" ] || { rm -rf "$node_dir"; return 0; }
  if running containerd; then
    # Every container and sandbox, stopped through containerd (its CNI teardown removes veths and IPs).
    local ids
    ids=$(ctr --address "$socket" -n k8s.io tasks ls -q 2>/dev/null || true)
    for id in $ids; do ctr --address "$socket" -n k8s.io tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true; done
    for id in $ids; do ctr --address "$socket" -n k8s.io tasks delete -f "$id" >/dev/null 2>&1 || true; done
  fi
  stop kubelet
  stop kube-proxy
  if [ -f "$node_dir/kube-proxy.yaml" ]; then kube-proxy --cleanup --config "$node_dir/kube-proxy.yaml" >/dev/null 2>&1 || true; fi
  stop coredns
  stop containerd
  # Shims outlive containerd: those of this node name its socket on their command line.
  local pid
  for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $socket" || true); do kill -9 "$pid" 2>/dev/null || true; done
  # Network namespaces the CRI made for this node's pods (/run/netns/cni-*), then every mount under the node.
  local ns
  for ns in $(ls /run/netns 2>/dev/null | grep '^cni-' || true); do
    grep -qx "$ns" "$run_dir/netns.before" 2>/dev/null && continue
    umount "/run/netns/$ns" 2>/dev/null || true
    rm -f "/run/netns/$ns"
  done
  local mounts
  mounts=$(awk -v a="$node_dir" -v b="$run_dir" '$2 ~ "^"a || $2 ~ "^"b {print $2}' /proc/self/mounts | sort -r)
  for m in $mounts; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  # The kubelet's cgroups (cgroupfs driver) and containerd's own (k8s.io): empty once the processes are gone.
  local d
  for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/*/k8s.io; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true; done
  network_down
  rm -rf "$run_dir" "$node_dir"
  [ "$(cat "$active" 2>/dev/null)" = "$name" ] && rm -f "$active"
  log "node $node_name of $name stopped"
}

status() {
  for p in containerd kubelet kube-proxy coredns; do
    if running "$p"; then echo "$p running (pid $(cat "$run_dir/$p.pid"))"; else echo "$p stopped"; fi
  done
}

case "$action" in
  deps) deps ;;
  up) up "$@" ;;
  down) down ;;
  status) status ;;
  images) cat "$run_dir/images.env" ;;
  *) echo "usage: $0 deps|up NAME CLUSTER_DIR|down NAME|status NAME|images NAME" >&2; exit 2 ;;
esac
