#!/usr/bin/env bash
# Builds the image, starts docker/compose.yaml, sends requests through the containerised
# gateway to both demo services, checks the health check turns healthy, and stops the gateway
# with `podman stop` during a request in flight to confirm the drain (request answered, exit
# code 0). Uses podman (our machines have no Docker engine; ../shared/CONTAINERS.md); the files
# in docker/ themselves do not depend on it. Run as root from the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "test-container: $*"; }
fail() { echo "test-container: FAIL: $*" >&2; exit 1; }

# --- podman setup (once per machine) -------------------------------------------------------
if [ ! -f /etc/containers/containers.conf ]; then
  mkdir -p /etc/containers
  cat > /etc/containers/containers.conf <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
netns = "host"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
CONF
fi
if ! podman image exists docker.io/library/debian:bookworm-slim; then
  log "building the debian:bookworm-slim base image with debootstrap"
  mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  rootfs=$(mktemp -d)
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >/dev/null
  tar -C "$rootfs" -c . | podman import - docker.io/library/debian:bookworm-slim >/dev/null
  rm -rf "$rootfs"
fi

# --- build and start -----------------------------------------------------------------------
log "building the image"
# --format docker: the OCI format has no HEALTHCHECK, and podman would drop it.
podman build --pull=never --format docker -q -t localhost/gatehouse:latest -f docker/Dockerfile . >/dev/null

# The compose network resolves service names (podman's dnsname plugin, as Docker's embedded
# DNS does); ports unlikely to be taken on this machine.
export USERS_PORT=19001 ORDERS_PORT=19002 GATEHOUSE_PORT=19080 GATEHOUSE_ADMIN_PORT=19901
compose=(podman-compose -f docker/compose.yaml)
cleanup() {
  "${compose[@]}" down -t 2 >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup
log "starting the compose stack"
"${compose[@]}" up -d --no-build >/dev/null 2>&1 || "${compose[@]}" up -d >/dev/null

gw=http://127.0.0.1:$GATEHOUSE_PORT
for _ in $(seq 100); do
  curl -fsS -o /dev/null "$gw/api/users/1" 2>/dev/null && break
  sleep 0.2
done

# --- requests through the gateway ----------------------------------------------------------
users=$(curl -fsS "$gw/api/users/42") || fail "GET /api/users/42"
echo "$users" | grep -q '"service":"users"' || fail "users answer: $users"
echo "$users" | grep -q '"target":"/users/42"' || fail "prefix not stripped: $users"
orders=$(curl -fsS -X POST --data 'hello' "$gw/api/orders") || fail "POST /api/orders"
echo "$orders" | grep -q '"service":"orders"' || fail "orders answer: $orders"
status=$(curl -s -o /dev/null -w '%{http_code}' "$gw/nowhere")
[ "$status" = 404 ] || fail "GET /nowhere gave $status"
log "requests through the gateway reached both services"

# --- health check --------------------------------------------------------------------------
# podman runs HEALTHCHECKs from systemd timers, which this machine does not have: run it by
# hand, as the timer would, until it reports healthy.
healthy=no
for _ in $(seq 20); do
  if podman healthcheck run gatehouse-gateway >/dev/null 2>&1; then healthy=yes; break; fi
  sleep 0.5
done
[ "$healthy" = yes ] || fail "health check never passed"
health=$(podman inspect --format '{{.State.Health.Status}}' gatehouse-gateway 2>/dev/null || \
         podman inspect --format '{{.State.Healthcheck.Status}}' gatehouse-gateway)
[ "$health" = healthy ] || fail "health status is $health"
user=$(podman exec gatehouse-gateway id -u)
[ "$user" != 0 ] || fail "the gateway runs as root"
log "health check healthy; gateway runs as uid $user"

# --- drain on stop -------------------------------------------------------------------------
slow_out=$(mktemp)
curl -s -o "$slow_out" -w '%{http_code}' "$gw/api/users/delay/2000" > "$slow_out.code" &
slow=$!
sleep 0.5
podman stop -t 10 gatehouse-gateway >/dev/null 2>&1  # (podman warns about systemd timers it cannot remove)
wait "$slow" || true
code=$(cat "$slow_out.code")
[ "$code" = 200 ] || fail "request in flight during stop got '$code'"
exit_code=$(podman inspect --format '{{.State.ExitCode}}' gatehouse-gateway)
[ "$exit_code" = 0 ] || fail "gateway exited with $exit_code after stop"
podman logs gatehouse-gateway 2>&1 | grep -q "drained" || fail "no drain in the gateway log"
rm -f "$slow_out" "$slow_out.code"
log "podman stop drained: the request in flight got 200, exit code 0"
log "PASS"
