#!/usr/bin/env bash
# Builds the local control plane from Go modules into a cache outside the repo:
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubelet, kube-proxy
#   (k8s.io/kubernetes, with the real version stamped in), etcd (go.etcd.io/etcd/server/v3),
#   kwok + kwokctl (sigs.k8s.io/kwok), helm (helm.sh/helm/v3), coredns (github.com/coredns/coredns).
# Idempotent: a binary already in the cache is not rebuilt, so a warm run takes well under a second.
# Prints the bin directory on its last line of stdout.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

cache_root="${RAGOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ragops}"
# BUILD_REVISION changes when the same versions are built differently (stamped versions, new binaries).
bin_dir="$cache_root/k8s-$KUBERNETES_VERSION-$BUILD_REVISION/bin"
work_dir="$cache_root/build"
mkdir -p "$bin_dir" "$work_dir"

export GOTOOLCHAIN=local GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0
log() { printf '[build-control-plane] %s\n' "$*" >&2; }
die() { printf '[build-control-plane] ERROR: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null || die "Go is not installed; install Go >= 1.25 (the Kubernetes $KUBERNETES_VERSION module needs it)."

missing() { for b in "$@"; do [ -x "$bin_dir/$b" ] || return 0; done; return 1; }

# go build inside a throwaway module that requires MODULE@VERSION, pinning its v0.0.0 staging
# requirements (k8s.io/kubernetes's replace directives do not apply to dependents) to real versions.
build_with_wrapper() {
  local name=$1 module=$2 version=$3 staging_prefix=$4 staging_version=$5 ldflags=$6; shift 6
  local dir="$work_dir/$name-$version"
  mkdir -p "$dir"
  log "building $* from $module@$version (cold build: minutes)"
  (
    cd "$dir"
    cat > go.mod <<MOD
module ragops.local/build/$name

go 1.25

require $module $version
MOD
    if [ -n "$staging_prefix" ]; then
      # The staging modules the parent go.mod requires at v0.0.0, each mapped to its published tag.
      go mod download -json "$module@$version" > download.json || die "cannot download $module@$version from the Go module proxy"
      gomod=$(python3 -c 'import json,sys; print(json.load(open("download.json"))["GoMod"])')
      grep -E "^\s*${staging_prefix}[^ ]+ v0\.0\.0\s*$" "$gomod" | awk '{print $1}' | sort -u | while read -r mod; do
        echo "replace $mod => $mod $staging_version" >> go.mod
      done
    fi
    printf 'package tools\n' > tools.go
    local pkgs=()
    for cmd in "$@"; do pkgs+=("$cmd"); done
    imports=""
    for p in "${pkgs[@]}"; do imports+="	_ \"${p%%=*}\"\n"; done
    printf '//go:build tools\n\npackage tools\n\nimport (\n%b)\n' "$imports" > tools.go
    go mod tidy -e >/dev/null 2>tidy.log || { cat tidy.log >&2; die "go mod tidy failed for $module@$version (see above)"; }
    for p in "${pkgs[@]}"; do
      pkg=${p%%=*}; out=${p##*=}
      log "  go build $pkg -> $bin_dir/$out"
      go build -trimpath -ldflags "-s -w $ldflags" -o "$bin_dir/$out.tmp" "$pkg" 2>build.log \
        || { tail -40 build.log >&2; die "go build of $pkg failed (Go $(go env GOVERSION)); see the errors above"; }
      mv "$bin_dir/$out.tmp" "$bin_dir/$out"
    done
  )
}

start=$(date +%s)
k8s_minor=${KUBERNETES_VERSION#v1.}
k8s_minor=${k8s_minor%%.*}
staging_version="v0.${KUBERNETES_VERSION#v1.}"

# The version Kubernetes' own release build stamps in (hack/lib/version.sh): without it every binary
# reports v0.0.0-master+$Format:%H$, `kubectl version` fails and Helm's kubeVersion checks refuse charts.
k8s_ldflags=""
for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
  k8s_ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor"
  k8s_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

if missing kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy; then
  build_with_wrapper kubernetes k8s.io/kubernetes "$KUBERNETES_VERSION" "k8s.io/" "$staging_version" "$k8s_ldflags" \
    k8s.io/kubernetes/cmd/kube-apiserver=kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager=kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler=kube-scheduler \
    k8s.io/kubernetes/cmd/kubectl=kubectl \
    k8s.io/kubernetes/cmd/kubelet=kubelet \
    k8s.io/kubernetes/cmd/kube-proxy=kube-proxy
fi
if missing etcd; then
  build_with_wrapper etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" "" "" "" go.etcd.io/etcd/server/v3=etcd
fi
if missing kwok kwokctl; then
  build_with_wrapper kwok sigs.k8s.io/kwok "$KWOK_VERSION" "" "" "" \
    sigs.k8s.io/kwok/cmd/kwok=kwok sigs.k8s.io/kwok/cmd/kwokctl=kwokctl
fi
# Helm's release build stamps its version and the Kubernetes version `helm template` assumes without a
# cluster (its client-go minor + 1.x); unstamped it assumes v1.20.0 and refuses charts with a kubeVersion.
helm_stamped() { [ "$("$bin_dir/helm" version --template '{{.Version}}' 2>/dev/null)" = "$HELM_VERSION" ]; }
if missing helm || ! helm_stamped; then
  helm_client_go=$(cd "$work_dir" 2>/dev/null && go mod download -json "helm.sh/helm/v3@$HELM_VERSION" 2>/dev/null \
    | python3 -c 'import json,sys,re; m=re.search(r"k8s.io/client-go v0\.(\d+)\.", open(json.load(sys.stdin)["GoMod"]).read()); print(m.group(1) if m else "")')
  [ -n "$helm_client_go" ] || die "cannot read k8s.io/client-go's version from helm.sh/helm/v3@$HELM_VERSION's go.mod"
  helm_ldflags="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    helm_ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$helm_client_go"
  done
  build_with_wrapper helm helm.sh/helm/v3 "$HELM_VERSION" "" "" "$helm_ldflags" helm.sh/helm/v3/cmd/helm=helm
fi
if missing coredns; then
  build_with_wrapper coredns github.com/coredns/coredns "$COREDNS_VERSION" "" "" "" github.com/coredns/coredns=coredns
fi

log "control plane binaries ready in $bin_dir ($(( $(date +%s) - start )) s)"
echo "$bin_dir"
