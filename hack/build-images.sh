#!/usr/bin/env bash
# Container images without Docker, for the real node (hack/node.sh):
#   python   a minimal Debian bookworm (debootstrap) with python3, venv and pip: the Dockerfile's PYTHON_IMAGE
#   pause    Kubernetes' pause.c (from the k8s.io/kubernetes module) compiled with gcc -static, one file
#   ragops   the root Dockerfile, built by buildah (daemonless) with --build-arg PYTHON_IMAGE=<python>
#   qdrant   with RAGOPS_QDRANT_BINARY: that server binary in the official image's layout (/qdrant/qdrant,
#            /qdrant/entrypoint.sh, /qdrant/config); without it the project's Qdrant STAND-IN
#            (ragops.standin: qdrant-client local mode behind Qdrant's REST endpoints), same layout
# Each image is cached as a docker-archive under ~/.cache/ragops/images, named by a hash of its inputs, and
# rebuilt only when those change. `import` loads the archives into containerd (ctr -n k8s.io images import).
#
#   hack/build-images.sh build            build what is missing; prints NAME=REF lines (REF: the image name)
#   hack/build-images.sh import SOCKET    build, then import every image into the containerd at SOCKET
#   hack/build-images.sh refs             the NAME=REF lines only (no build; empty refs when not built)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
# shellcheck source=versions.env
source "$here/versions.env"
cache_root="${RAGOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ragops}"
images="$cache_root/images"
mkdir -p "$images"
log() { printf '[build-images] %s\n' "$*" >&2; }
die() { printf '[build-images] ERROR: %s\n' "$*" >&2; exit 1; }
# buildah keeps its layers in containers-storage (outside the repo); overlay on ext4/xfs, vfs elsewhere.
export STORAGE_DRIVER="${RAGOPS_STORAGE_DRIVER:-overlay}"
export BUILDAH_ISOLATION=chroot
buildah_bin=$(type -P buildah || true)
buildah() { nice -n 10 "$buildah_bin" --storage-driver "$STORAGE_DRIVER" "$@"; }

hash_of() { sha256sum | cut -c1-12; }
# Content hash of files (paths relative to the repo), names included.
files_hash() { (cd "$repo" && for f in "$@"; do printf '%s\n' "$f"; cat "$f"; done) | hash_of; }
# What the Dockerfile's COPY takes (bytecode caches aside), so a new untracked module changes the hash too.
tracked() { (cd "$repo" && find "$@" -type f -not -path '*/__pycache__/*' -not -name '*.pyc' -not -path '*.egg-info/*') | LC_ALL=C sort; }

# --- inputs and names --------------------------------------------------------------------------------------
python_packages="python3,python3-venv,python3-pip,python-is-python3,ca-certificates"
# The machine's own CAs (/usr/local/share/ca-certificates: e.g. a TLS-inspecting egress proxy in front of PyPI)
# are trusted in the base, so pip inside the build reaches PyPI the way pip on the host does.
python_hash=$( { printf 'bookworm %s v2\n' "$python_packages"; cat /usr/local/share/ca-certificates/*.crt 2>/dev/null || true; } | hash_of)
python_ref="localhost/ragops/python:3.11-bookworm-$python_hash"

pause_src="$(go env GOMODCACHE 2>/dev/null || echo "$HOME/go/pkg/mod")/k8s.io/kubernetes@$KUBERNETES_VERSION/build/pause/linux/pause.c"
pause_ref="localhost/ragops/pause:3.10-$KUBERNETES_VERSION"

mapfile -t app_files < <(tracked Dockerfile pyproject.toml README.md operator)
app_hash=$( { files_hash "${app_files[@]}"; echo "$python_ref"; } | hash_of)
ragops_ref="localhost/ragops/ragops:dev-$app_hash"

if [ -n "${RAGOPS_QDRANT_BINARY:-}" ]; then
  [ -x "$RAGOPS_QDRANT_BINARY" ] || die "RAGOPS_QDRANT_BINARY=$RAGOPS_QDRANT_BINARY is not an executable file"
  qdrant_hash=$( { sha256sum "$RAGOPS_QDRANT_BINARY"; files_hash hack/images/qdrant-entrypoint.sh; echo "$python_ref"; } | hash_of)
  qdrant_ref="localhost/ragops/qdrant:real-$qdrant_hash"
else
  qdrant_hash=$( { files_hash hack/images/qdrant-entrypoint.sh; echo "$ragops_ref"; } | hash_of)
  qdrant_ref="localhost/ragops/qdrant-standin:$qdrant_hash"
fi

archive() { printf '%s/%s.tar' "$images" "$(printf '%s' "$1" | tr '/:' '__')"; }

refs() {
  echo "python=$python_ref"
  echo "pause=$pause_ref"
  echo "ragops=$ragops_ref"
  echo "qdrant=$qdrant_ref"
  [ -n "${RAGOPS_QDRANT_BINARY:-}" ] && echo "qdrant_kind=real" || echo "qdrant_kind=standin"
}

# Write REF from containers-storage to its cached archive (atomically: a cut-short run leaves no archive),
# then drop the older builds of the same image (archives and storage): only the current one is kept.
export_archive() {
  local ref=$1 out old
  out=$(archive "$ref")
  buildah push --quiet "$ref" "docker-archive:$out.tmp:$ref" >/dev/null
  mv "$out.tmp" "$out"
  find "$images" -maxdepth 1 -name "$(basename "$(archive "${ref%:*}")" .tar)_*.tar" ! -name "$(basename "$out")" -delete
  for old in $(buildah images --format '{{.Name}}:{{.Tag}}' 2>/dev/null | grep "^${ref%:*}:" | grep -vx "$ref"); do
    buildah rmi "$old" >/dev/null 2>&1 || true
  done
}

# In containers-storage already (e.g. the archive was removed): only export it again.
in_storage() { buildah inspect --type image "$1" >/dev/null 2>&1; }

build_python() {
  local rootfs="$images/build/python-rootfs" ctr
  log "python base: debootstrap bookworm ($python_packages), 2-4 minutes cold"
  if [ ! -f "$rootfs.done" ]; then
  rm -rf "$rootfs" && mkdir -p "$rootfs"
  nice -n 10 debootstrap --variant=minbase --include="$python_packages" bookworm "$rootfs" \
    "${RAGOPS_DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$images/build/debootstrap.log" 2>&1 \
    || { tail -20 "$images/build/debootstrap.log" >&2; die "debootstrap failed (log: $images/build/debootstrap.log)"; }
  # Like the official python images: pip may install into the image (no PEP 668 marker), no apt lists.
  rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/*
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates >/dev/null
  fi
  printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > "$rootfs/etc/pip.conf"
  touch "$rootfs.done"
  fi
  ctr=$(buildah from scratch)
  tar -C "$rootfs" -cf "$images/build/python-rootfs.tar" .
  buildah add --quiet "$ctr" "$images/build/python-rootfs.tar" / >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env LANG=C.UTF-8 \
    --cmd python3 --label org.opencontainers.image.description="Debian bookworm python3 (ragops local base)" "$ctr"
  buildah commit --quiet --rm "$ctr" "$python_ref" >/dev/null
  rm -rf "$rootfs" "$rootfs.done" "$images/build/python-rootfs.tar"
}

build_pause() {
  local dir="$images/build/pause" ctr
  if [ ! -f "$pause_src" ]; then  # the module cache was cleaned since the control plane was built
    (cd "$(mktemp -d)" && GOFLAGS=-mod=mod GOTOOLCHAIN=local go mod download "k8s.io/kubernetes@$KUBERNETES_VERSION") >/dev/null
  fi
  [ -f "$pause_src" ] || die "pause.c not found at $pause_src (go mod download k8s.io/kubernetes@$KUBERNETES_VERSION failed?)"
  log "pause: gcc -static $pause_src"
  mkdir -p "$dir"
  gcc -Os -Wall -Werror -static -DVERSION="v3.10-ragops" -o "$dir/pause" "$pause_src"
  strip "$dir/pause"
  ctr=$(buildah from scratch)
  buildah copy --quiet "$ctr" "$dir/pause" /pause >/dev/null
  buildah config --entrypoint '["/pause"]' --user 65535:65535 "$ctr"
  buildah commit --quiet --rm "$ctr" "$pause_ref" >/dev/null
}

build_ragops() {
  log "ragops: buildah bud of the Dockerfile on $python_ref (pip reaches PyPI; 3-6 minutes cold)"
  (cd "$repo" && buildah bud --quiet --layers --build-arg PYTHON_IMAGE="$python_ref" -t "$ragops_ref" -f Dockerfile . \
    >"$images/build/ragops.log" 2>&1) || { tail -30 "$images/build/ragops.log" >&2; die "buildah bud failed (log: $images/build/ragops.log)"; }
}

build_qdrant() {
  local ctr
  if [ -n "${RAGOPS_QDRANT_BINARY:-}" ]; then
    log "qdrant: the real server $RAGOPS_QDRANT_BINARY in the official layout"
    ctr=$(buildah from "$python_ref")
    buildah run "$ctr" -- sh -c 'mkdir -p /qdrant/config /qdrant/storage /qdrant/snapshots && chown -R 1000:1000 /qdrant' 
    buildah copy --quiet --chown 0:0 --chmod 0755 "$ctr" "$RAGOPS_QDRANT_BINARY" /qdrant/qdrant >/dev/null
  else
    log "qdrant: the ragops Qdrant STAND-IN (not Qdrant) in the official layout"
    ctr=$(buildah from "$ragops_ref")
    buildah config --user 0:0 "$ctr"
    buildah run "$ctr" -- sh -c 'mkdir -p /qdrant/config /qdrant/storage /qdrant/snapshots && chown -R 1000:1000 /qdrant
      printf "#!/bin/sh\n# ragops Qdrant STAND-IN, not Qdrant (hack/build-images.sh)\nexec /opt/ragops/bin/python -m ragops.standin \"\$@\"\n" > /qdrant/qdrant
      chmod 0755 /qdrant/qdrant'
    buildah config --label org.opencontainers.image.description="ragops Qdrant STAND-IN (qdrant-client local mode), not Qdrant" "$ctr"
  fi
  buildah copy --quiet --chmod 0755 "$ctr" "$here/images/qdrant-entrypoint.sh" /qdrant/entrypoint.sh >/dev/null
  buildah run "$ctr" -- sh -c 'printf "log_level: INFO\n" > /qdrant/config/config.yaml'
  buildah config --workingdir /qdrant --user 1000:1000 --env RUN_MODE=production --entrypoint '[]' \
    --cmd ./entrypoint.sh --port 6333 --port 6334 "$ctr"
  buildah commit --quiet --rm "$ctr" "$qdrant_ref" >/dev/null
}

ensure() {
  local name=$1 ref=$2
  if [ -f "$(archive "$ref")" ]; then return; fi
  mkdir -p "$images/build"
  local t0
  t0=$(date +%s)
  in_storage "$ref" || "build_$name"
  export_archive "$ref"
  log "$name: $ref ($(( $(date +%s) - t0 ))s)"
}

build_all() {
  [ -n "$buildah_bin" ] || die "buildah is not installed (hack/node.sh deps installs it from Debian)"
  ensure python "$python_ref"
  ensure pause "$pause_ref"
  ensure ragops "$ragops_ref"
  ensure qdrant "$qdrant_ref"
}

case "${1:-build}" in
  refs) refs ;;
  build) build_all; refs ;;
  import)
    socket=${2:?usage: $0 import CONTAINERD_SOCKET}
    build_all
    for ref in "$pause_ref" "$ragops_ref" "$qdrant_ref"; do
      if ! ctr --address "$socket" -n k8s.io images ls -q | grep -qx "$ref"; then
        log "import $ref"
        ctr --address "$socket" -n k8s.io images import --no-unpack=false "$(archive "$ref")" >/dev/null
      fi
    done
    refs
    ;;
  *) echo "usage: $0 build|import SOCKET|refs" >&2; exit 2 ;;
esac
