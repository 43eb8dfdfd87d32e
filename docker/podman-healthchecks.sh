#!/usr/bin/env bash
# Runs the health checks of running podman containers every 2 s. Podman schedules them with systemd
# timers; on a machine without systemd (a container host VM, CI) nothing runs them, every service
# stays "starting", and compose's `condition: service_healthy` waits for ever. Started in the
# background by docker/podman-setup.sh (once: it keeps a pid file).
set -u
while sleep 2; do
  for id in $(podman ps --filter status=running --format '{{.ID}} {{.Status}}' | awk '/\((starting|healthy|unhealthy)\)/ {print $1}'); do
    podman healthcheck run "$id" >/dev/null 2>&1 || true
  done
done
