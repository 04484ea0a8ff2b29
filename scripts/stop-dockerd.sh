#!/usr/bin/env bash
# Stop the private Docker engine that scripts/start-dockerd.sh started in DIR (default as there).
# Only the processes named by DIR's pidfiles are signalled; a system engine is never touched.
# Its data stays in DIR (reused as an image cache by the next start); remove DIR to drop it.
set -euo pipefail

dir="${1:-${PD_DOCKERD_DIR:-/tmp/pd-dockerd}}"
grace_s="${PD_DOCKERD_STOP_TIMEOUT:-30}"

log() { printf 'stop-dockerd: %s\n' "$*" >&2; }
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# Signal the pid in $1 (a pidfile), wait up to grace_s, then kill it.
stop_pidfile() {
  local file="$1" what="$2" pid
  [ -s "$file" ] || return 0
  pid="$(cat "$file")"
  if ! alive "$pid"; then
    rm -f "$file"
    return 0
  fi
  log "stopping $what (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + grace_s))
  while alive "$pid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
  if alive "$pid"; then
    log "$what did not stop within ${grace_s}s; killing pid $pid"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$file"
}

[ -d "$dir" ] || { log "nothing to stop: $dir does not exist"; exit 0; }
stop_pidfile "$dir/docker.pid" dockerd
# dockerd normally takes its containerd down with it; after a kill it may be left behind.
stop_pidfile "$dir/exec/containerd/containerd.pid" containerd

# dockerd bind-mounts its data root onto itself (and layer mounts below it); drop what remains.
if command -v findmnt >/dev/null; then
  findmnt -rn -o TARGET | grep -F "$dir/" | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
fi
log "stopped the engine of $dir"
