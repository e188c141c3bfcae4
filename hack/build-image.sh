#!/usr/bin/env bash
# Builds the operator image on this machine with no image registry: a Debian bookworm base made with
# debootstrap (python3 from Debian's packages), a wheelhouse made with the host's pip, and the
# Dockerfile built by a local dockerd with no network at all. Needs root on Linux; installs
# docker.io and debootstrap with apt-get when they are missing.
#
# Cached in .cache/image/ (git-ignored): the base root filesystem, dockerd's data, the dependencies'
# wheels. A warm run makes only the project's wheel and layer again. Prints the image name; writes
# size and timings to .cache/image/report.txt.
#
#   hack/build-image.sh [--save DIR] [IMAGE]     (IMAGE defaults to stashsync:dev)
#
# --save also builds the test node's pause image (tests/node/pause) and writes both images to DIR as
# archives for `ctr images import` (DIR/IMAGE-NAME.tar), rewritten only when an image changed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
save=""
if [ "${1:-}" = --save ]; then save=$2; shift 2; fi
image=${1:-stashsync:dev}
pause_image=stashsync.local/pause:1
cache="${STASHSYNC_CACHE:-$root/.cache}/image"
base_image=stashsync-base:bookworm
base_packages=python3,python3-venv,ca-certificates
mkdir -p "$cache"

if [ "$(id -u)" != 0 ]; then
  echo "build-image: needs root (debootstrap and dockerd)" >&2
  exit 1
fi
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  echo "build-image: installing ${missing[*]}" >&2
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
fi

# Our own dockerd: no bridge, no iptables (the network rule: nothing but loopback and host networking).
export DOCKER_HOST="unix://$cache/docker.sock"
started_dockerd=""
if ! docker version >/dev/null 2>&1; then
  dockerd --bridge=none --iptables=false --ip6tables=false --data-root "$cache/docker" \
    --exec-root "$cache/docker-exec" -H "$DOCKER_HOST" --pidfile "$cache/docker.pid" >"$cache/dockerd.log" 2>&1 &
  started_dockerd=$!
  for _ in $(seq 100); do docker version >/dev/null 2>&1 && break; sleep 0.2; done
  docker version >/dev/null
fi
stop_dockerd() {
  [ -n "$started_dockerd" ] || return 0
  kill "$started_dockerd" && wait "$started_dockerd" || true
  # dockerd leaves its data root and netns bind-mounted; unmounted, `make clean` can remove them.
  awk -v c="$cache" 'index($2, c) == 1 {print $2}' /proc/mounts | sort -r | xargs -r umount || true
}
trap stop_dockerd EXIT

start=$(date +%s.%N)
if ! docker image inspect "$base_image" >/dev/null 2>&1; then
  rootfs="$cache/bookworm-rootfs"
  if [ ! -f "$rootfs.done" ] || [ "$(cat "$rootfs.done")" != "$base_packages" ]; then
    echo "build-image: debootstrap bookworm ($base_packages), cached afterwards" >&2
    rm -rf "$rootfs" "$rootfs.done"
    debootstrap --variant=minbase --include="$base_packages" bookworm "$rootfs" http://deb.debian.org/debian >"$cache/debootstrap.log"
    # What a container never reads: documentation, manuals, translations, apt's lists and caches.
    rm -rf "$rootfs"/usr/share/{doc,man,info,locale}/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*
    echo "$base_packages" >"$rootfs.done"
  fi
  tar -C "$rootfs" -c . | docker import - "$base_image" >/dev/null
fi
base_done=$(date +%s.%N)

# The build context: the tracked files the Dockerfile uses, plus every wheel they need.
context="$cache/context"
rm -rf "$context" && mkdir -p "$context/wheelhouse"
(cd "$root" && git ls-files -z -- Dockerfile .dockerignore pyproject.toml README.md operator | xargs -0 tar -c) \
  | tar -C "$context" -x
# Debian's docker.io has no buildx: the classic builder, whose deprecation notice is only noise here.
quiet_build() {
  docker build --quiet --network none "$@" >"$cache/build.log" 2>&1 || { cat "$cache/build.log" >&2; return 1; }
}
# The image records what it was built from; the same sources on the same base need no build at all.
source_id=$( (cd "$context" && find . -type f -print0 | sort -z | xargs -0 sha256sum;
              docker image inspect "$base_image" --format '{{.Id}}') | sha256sum | cut -c1-16)
if [ "$(docker image inspect "$image" --format '{{index .Config.Labels "stashsync.source"}}' 2>/dev/null)" \
     != "$source_id" ]; then
  # Dependencies' wheels, at the tested versions, are cached per pyproject.toml and constraints; the
  # project's own wheel is made every time.
  deps="$cache/wheels-$(cat "$root/pyproject.toml" "$root/hack/constraints.txt" | sha256sum | cut -c1-16)"
  if [ ! -f "$deps/.done" ]; then
    rm -rf "$cache"/wheels-*
    python3 -m pip wheel --quiet -c "$root/hack/constraints.txt" --wheel-dir "$deps" "$context" >/dev/null
    rm -f "$deps"/stashsync-*.whl && touch "$deps/.done"
  fi
  cp "$deps"/*.whl "$context/wheelhouse/"
  python3 -m pip wheel --quiet --no-deps --wheel-dir "$context/wheelhouse" "$context" >/dev/null
  quiet_build --build-arg BASE="$base_image" --build-arg PIP_FLAGS="--no-index --find-links /src/wheelhouse" \
    --build-arg PIP_SOURCE=stashsync --label "stashsync.source=$source_id" -t "$image" "$context"
fi
built=$(date +%s.%N)
docker image prune --force >/dev/null  # the build stage of earlier builds

if [ -n "$save" ]; then
  pause_context="$cache/pause-context"
  mkdir -p "$pause_context" "$save"
  (cd "$root/tests/node/pause" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$pause_context/pause" .)
  printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' >"$pause_context/Dockerfile"
  quiet_build -t "$pause_image" "$pause_context"
  for name in "$image" "$pause_image"; do
    archive="$save/$(echo "${name##*/}" | tr : -).tar"
    id=$(docker image inspect "$name" --format '{{.Id}}')
    [ -f "$archive" ] && [ "$(cat "$archive.id" 2>/dev/null)" = "$id" ] && continue
    docker save -o "$archive.tmp" "$name" && mv "$archive.tmp" "$archive" && echo "$id" >"$archive.id"
  done
fi

size=$(docker image inspect "$image" --format '{{.Size}}')
{
  echo "image $image from $base_image"
  echo "size_bytes $size"
  echo "base_seconds $(awk "BEGIN{printf \"%.1f\", $base_done - $start}")"
  echo "build_seconds $(awk "BEGIN{printf \"%.1f\", $built - $base_done}")"
} >"$cache/report.txt"
echo "$image"
