#!/usr/bin/env bash
# External Secrets Operator v2.9.0 for bench/bench_eso.py, built from its release source tree (the
# peers tarball: ESO_TARBALL, default ../shared/peers/ beside this repository) with only its AWS
# provider (`-tags aws`); dependencies from the Go module proxy. Source and binary cached in .cache/.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=2.9.0
BIN=.cache/bin/eso-v$VERSION/external-secrets
SRC=.cache/eso-src/external-secrets-$VERSION
TARBALL=${ESO_TARBALL:-../shared/peers/external-secrets-$VERSION.tar.gz}
[ -x "$BIN" ] && [ -d "$SRC/config/crds/bases" ] && exit 0
if [ ! -f "$TARBALL" ]; then
  echo "build-eso: $TARBALL not found; set ESO_TARBALL to the external-secrets-$VERSION source tarball" >&2
  exit 1
fi
mkdir -p .cache/eso-src "$(dirname "$BIN")"
rm -rf "$SRC" && tar xzf "$TARBALL" -C .cache/eso-src
echo "build-eso: building External Secrets Operator v$VERSION (AWS provider only)" >&2
(cd "$SRC" && CGO_ENABLED=0 go build -tags aws -trimpath -o "$OLDPWD/$BIN.tmp" main.go)
mv "$BIN.tmp" "$BIN"
