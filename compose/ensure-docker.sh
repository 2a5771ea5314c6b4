#!/usr/bin/env bash
# Make sure a Docker engine answers: install Debian's docker.io (+ compose, debootstrap) if missing and start
# dockerd in the background if nothing is listening. Used by .ci/run and `make harness-up` so a fresh machine
# needs nothing installed by hand. Idempotent; exits non-zero with a reason if the engine cannot be had.
set -euo pipefail

log() { echo "ensure-docker: $*" >&2; }

need_pkgs=()
command -v dockerd >/dev/null 2>&1 || need_pkgs+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need_pkgs+=(debootstrap)
docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1 || need_pkgs+=(docker-compose)
if ((${#need_pkgs[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    log "missing ${need_pkgs[*]} and not root: install them (apt-get install ${need_pkgs[*]}) and retry"
    exit 1
  fi
  log "installing ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" ca-certificates >/dev/null
fi

if docker info >/dev/null 2>&1; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  log "no Docker engine answers and not root: start dockerd (systemctl start docker) and retry"
  exit 1
fi
log "starting dockerd"
mkdir -p /var/log
nohup setsid dockerd >/var/log/harness-dockerd.log 2>&1 </dev/null &
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    log "dockerd is up"
    exit 0
  fi
  sleep 1
done
log "dockerd did not answer within 60 s; last lines of /var/log/harness-dockerd.log:"
tail -n 20 /var/log/harness-dockerd.log >&2 || true
exit 1
