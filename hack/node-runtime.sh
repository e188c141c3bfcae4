#!/usr/bin/env bash
# What the local nodes of `make e2e` and `make up` run containers with: Debian's containerd (with
# ctr) and runc, installed when missing. Needs root on Linux, as the nodes do.
set -euo pipefail
if [ "$(id -u)" != 0 ] || [ "$(uname -s)" != Linux ]; then
  echo "make e2e / make up: needs root on Linux (containerd, runc and the kubelet run here)" >&2
  exit 1
fi
missing=()
command -v containerd >/dev/null || missing+=(containerd)
command -v runc >/dev/null || missing+=(runc)
if [ ${#missing[@]} -gt 0 ]; then
  echo "node-runtime: installing ${missing[*]}" >&2
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
fi
