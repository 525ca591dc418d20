#!/usr/bin/env bash
# Builds promtool (Prometheus's rule checker) from the github.com/prometheus/prometheus Go module into a
# cache outside the repo: $RAGOPS_CACHE (default ~/.cache/ragops)/promtool-<version>/promtool.
# The tests run `promtool check rules` and `promtool test rules` on the PrometheusRule the operator builds.
# Idempotent: a cached binary is not rebuilt (a warm run takes well under a second).
# Prints the binary's path on its last line of stdout.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
version=$PROMETHEUS_MODULE_VERSION

cache_root="${RAGOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ragops}"
out_dir="$cache_root/promtool-$version"
binary="$out_dir/promtool"
log() { printf '[build-promtool] %s\n' "$*" >&2; }
die() { printf '[build-promtool] ERROR: %s\n' "$*" >&2; exit 1; }

if [ -x "$binary" ]; then
  echo "$binary"
  exit 0
fi
command -v go >/dev/null || die "Go is not installed; install Go >= 1.26 (github.com/prometheus/prometheus@$version needs it)."
export GOTOOLCHAIN=local GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0

# A throwaway module that requires Prometheus at the pinned tag and builds its ./cmd/promtool: unlike
# `go install ...@version` it keeps working if Prometheus's go.mod ever gains replace directives.
work="$cache_root/build/promtool-$version"
mkdir -p "$work" "$out_dir"
start=$(date +%s)
log "building promtool from github.com/prometheus/prometheus@$version (cold build: minutes)"
cd "$work"
cat > go.mod <<MOD
module ragops.local/build/promtool

go 1.26

require github.com/prometheus/prometheus $version
MOD
# `go get` of the one package (not `go mod tidy`, which fetches every module any build tag could need).
go get "github.com/prometheus/prometheus/cmd/promtool@$version" >/dev/null 2>get.log \
  || { cat get.log >&2; die "go get failed for github.com/prometheus/prometheus@$version"; }
# Module v0.MMm.p is Prometheus M.m.p (v0.316.0 = 3.16.0): stamp it so `promtool --version` tells which rules engine checked.
module_minor=${version#v0.}; module_minor=${module_minor%%.*}
release="$(( module_minor / 100 )).$(( module_minor % 100 )).${version##*.}"
ldflags="-s -w -X github.com/prometheus/common/version.Version=$release"
# remove_all_sd: Prometheus's own tag that leaves out the cloud service-discovery plugins (AWS, Azure, GCE, ...
# SDKs, most of a cold build); rule checking and rule unit tests do not use them.
go build -trimpath -tags remove_all_sd -ldflags "$ldflags" -o "$binary.tmp" github.com/prometheus/prometheus/cmd/promtool 2>build.log \
  || { tail -40 build.log >&2; die "go build of promtool failed (Go $(go env GOVERSION)); see the errors above"; }
mv "$binary.tmp" "$binary"
log "promtool ready at $binary ($(( $(date +%s) - start )) s)"
echo "$binary"
