#!/usr/bin/env bash
# Start a private Docker engine for pd's tests, beside (never instead of) any system one.
#
#   eval "$(scripts/start-dockerd.sh [DIR])"     # exports PD_TEST_DOCKER_HOST
#
# DIR (default $PD_DOCKERD_DIR, else /tmp/pd-dockerd) holds the socket, data, exec root, pidfile and
# log; keep it short: unix socket paths are limited to 108 bytes. Idempotent: when the engine of DIR
# already answers, it only prints the export line. Needs root (dockerd does). Stop it with
# scripts/stop-dockerd.sh DIR. Progress goes to stderr; stdout carries only the export line.
set -euo pipefail

dir="${1:-${PD_DOCKERD_DIR:-/tmp/pd-dockerd}}"
timeout_s="${PD_DOCKERD_TIMEOUT:-60}"
export PATH="$PATH:/usr/sbin:/sbin"

log() { printf 'start-dockerd: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "dockerd needs root"
command -v dockerd >/dev/null || die "dockerd not installed (apt-get install docker.io)"
command -v docker >/dev/null || die "docker CLI not installed (apt-get install docker.io)"

mkdir -p "$dir"
dir="$(cd "$dir" && pwd -P)"
sock="$dir/docker.sock"
pidfile="$dir/docker.pid"
logfile="$dir/dockerd.log"
host="unix://$sock"

answers() { timeout 10 docker -H "$host" version --format '{{.Server.Version}}' >/dev/null 2>&1; }
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

if [ -s "$pidfile" ]; then
  old="$(cat "$pidfile")"
  if alive "$old" && answers; then
    log "engine of $dir already running (pid $old)"
    printf 'export PD_TEST_DOCKER_HOST=%q\n' "$host"
    exit 0
  fi
  alive "$old" && die "pid $old of $pidfile is alive but $host does not answer; stop it first (scripts/stop-dockerd.sh $dir)"
  rm -f "$pidfile"
fi

# Docker needs cgroups; most machines mount them at boot, a bare VM or container may not.
if [ ! -e /sys/fs/cgroup/cgroup.controllers ] && [ ! -d /sys/fs/cgroup/devices ]; then
  command -v cgroupfs-mount >/dev/null || die "no cgroup hierarchy mounted and cgroupfs-mount is missing"
  log "mounting cgroups (cgroupfs-mount)"
  cgroupfs-mount
fi

mkdir -p "$dir/data" "$dir/exec"
# An own (empty) daemon.json keeps a system /etc/docker/daemon.json out of this engine.
[ -e "$dir/daemon.json" ] || echo '{}' >"$dir/daemon.json"
rm -f "$sock"

# No bridge and no iptables: tests run containers with --network none and reach registries on the
# host's loopback through the engine itself, so the machine's network is left untouched.
setsid dockerd \
  --config-file "$dir/daemon.json" \
  --bridge=none --iptables=false --ip6tables=false \
  -H "$host" \
  --data-root "$dir/data" \
  --exec-root "$dir/exec" \
  --pidfile "$pidfile" \
  </dev/null >"$logfile" 2>&1 &
pid=$!
log "dockerd pid $pid, log $logfile"

deadline=$((SECONDS + timeout_s))
until answers; do
  if ! alive "$pid"; then
    log "dockerd exited early; last lines of $logfile:"
    tail -n 60 "$logfile" >&2 || true
    exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    log "no answer on $host within ${timeout_s}s; last lines of $logfile:"
    tail -n 60 "$logfile" >&2 || true
    kill "$pid" 2>/dev/null || true
    exit 1
  fi
  sleep 0.5
done

log "engine $(docker -H "$host" version --format '{{.Server.Version}}') answers on $host"
printf 'export PD_TEST_DOCKER_HOST=%q\n' "$host"
