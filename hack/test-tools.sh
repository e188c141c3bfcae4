#!/usr/bin/env bash
# Tools `make test` runs besides Python's: promtool (Debian's prometheus package) checks the chart's
# alerting rules. Installed with apt-get when missing (root on Debian/Ubuntu); its server is not run.
set -euo pipefail
command -v promtool >/dev/null && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "make test: promtool is missing; install Debian's prometheus package (apt-get install prometheus)" >&2
  exit 1
fi
echo "test-tools: installing promtool (prometheus)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends prometheus >/dev/null 2>&1 || {
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends prometheus >/dev/null
}
command -v promtool >/dev/null
