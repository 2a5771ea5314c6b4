#!/usr/bin/env bash
# Bootstrap a minimal Debian bookworm + Python 3.11 base image with debootstrap and `docker import`, for hosts
# that can reach a Debian mirror but no container registry (air-gapped validators, this CI machine).
# Hosts with a registry skip this and pass BASE_IMAGE=python:3.11-slim-bookworm to the Dockerfiles instead.
#
# Idempotent: does nothing when the tag already exists (FORCE=1 rebuilds).
# Env: BASE_TAG (default harness-base:bookworm-py311), DEBIAN_MIRROR (default: the first bookworm mirror in
# this host's apt sources, else http://deb.debian.org/debian), WORKDIR (default: a fresh temp dir).
set -euo pipefail

BASE_TAG=${BASE_TAG:-harness-base:bookworm-py311}
log() { echo "base-image: $*" >&2; }

if ! docker info >/dev/null 2>&1; then
  log "no Docker engine answers (docker info failed): start dockerd, e.g. bash compose/ensure-docker.sh"
  exit 1
fi
if [[ -z ${FORCE:-} ]] && docker image inspect "$BASE_TAG" >/dev/null 2>&1; then
  log "$BASE_TAG exists; skipping (FORCE=1 to rebuild)"
  exit 0
fi
if ! command -v debootstrap >/dev/null 2>&1; then
  log "debootstrap is missing: apt-get install debootstrap (or build with BASE_IMAGE=python:3.11-slim-bookworm)"
  exit 1
fi
if [[ $(id -u) -ne 0 ]]; then
  log "debootstrap needs root (it creates device nodes and chroots)"
  exit 1
fi

mirror_from_apt() {
  # deb822 (URIs:) or one-line (deb URL suite ...) sources; first Debian mirror that is not a security mirror.
  local files=(/etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list)
  local f
  for f in "${files[@]}"; do
    [[ -r $f ]] || continue
    awk '/^URIs:/ {print $2} /^deb / {print ($2 ~ /^\[/ ? $3 : $2)}' "$f"
  done | grep -E '/debian/?$' | grep -v security | head -n1
}
MIRROR=${DEBIAN_MIRROR:-$(mirror_from_apt || true)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}

WORK=${WORKDIR:-$(mktemp -d /tmp/harness-base.XXXXXX)}
ROOTFS=$WORK/rootfs
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT

PKGS=python3,python3-venv,python3-pip,socat,ca-certificates,bash,procps
log "debootstrap bookworm from $MIRROR into $ROOTFS"
debootstrap --variant=minbase --include="$PKGS" bookworm "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || {
  tail -n 30 "$WORK/debootstrap.log" >&2
  exit 1
}

# Slim the tree: package caches, docs and man pages are not needed at runtime.
chroot "$ROOTFS" apt-get clean
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* \
  "$ROOTFS"/usr/share/info/* "$ROOTFS"/var/cache/debconf/*-old "$ROOTFS"/var/log/*.log
# The same mirror for later `apt-get` steps in derived images.
echo "deb $MIRROR bookworm main" >"$ROOTFS/etc/apt/sources.list"

log "importing as $BASE_TAG"
tar -C "$ROOTFS" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["/bin/bash"]' \
  - "$BASE_TAG" >/dev/null
log "done: $(docker image inspect -f '{{.Size}}' "$BASE_TAG") bytes"
