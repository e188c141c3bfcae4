#!/usr/bin/env bash
# Builds kube-apiserver, etcd and helm at the pins in tests/controlplane/versions.env and caches
# them in .cache/bin/<pins>/ (git-ignored). Prints the folder. A warm cache does nothing.
# `--node` also builds what a single-node cluster needs (kubelet, kube-controller-manager,
# kube-scheduler) and kubectl, for the e2e suite and the playground.
# KUBEBUILDER_ASSETS / TEST_ASSET_* (envtest conventions) win over our build when set.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cp_dir="$root/tests/controlplane"
. "$cp_dir/versions.env"
out="${STASHSYNC_CACHE:-$root/.cache}/bin/k8s-${KUBERNETES_VERSION}_etcd-${ETCD_VERSION}_helm-${HELM_VERSION}"
mkdir -p "$out"

version_ldflags() {
  local pkg=k8s.io/component-base/version v=${KUBERNETES_VERSION#v}
  local major=${v%%.*} rest=${v#*.}
  local minor=${rest%%.*}
  echo "-s -w -X $pkg.gitVersion=${KUBERNETES_VERSION} -X $pkg.gitMajor=${major} -X $pkg.gitMinor=${minor} -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
}

build() {  # build NAME: only when missing; write to a temp name first so a killed build leaves no half binary
  local name=$1 pkg=$2 ldflags=${3:-"-s -w"}
  [ -x "$out/$name" ] && return 0
  echo "building $name ($pkg), cached afterwards in $out" >&2
  (cd "$cp_dir" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/$name.tmp" "$pkg")
  mv "$out/$name.tmp" "$out/$name"
}

build_kube() {  # build_kube CMD...: the missing ones in one go build, which compiles shared packages once
  local missing=() cmd tmp
  for cmd in "$@"; do [ -x "$out/$cmd" ] || missing+=("k8s.io/kubernetes/cmd/$cmd"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "building ${missing[*]##*/}, cached afterwards in $out" >&2
  tmp=$(mktemp -d "$out/.build-XXXXXX")
  (cd "$cp_dir" && CGO_ENABLED=0 go build -trimpath -ldflags "$(version_ldflags)" -o "$tmp/" "${missing[@]}")
  mv "$tmp"/* "$out/" && rmdir "$tmp"
}

kube_cmds=(kube-apiserver)
[ "${1:-}" = --node ] && kube_cmds+=(kubelet kube-controller-manager kube-scheduler kubectl)
build_kube "${kube_cmds[@]}"
build etcd go.etcd.io/etcd/server/v3
if [ ! -x "$out/helm" ]; then
  echo "building helm ${HELM_VERSION}, cached afterwards in $out" >&2
  GOBIN="$out/.helm-tmp" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
  mv "$out/.helm-tmp/helm" "$out/helm" && rmdir "$out/.helm-tmp"
fi
echo "$out"
