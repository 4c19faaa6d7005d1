# Sourced by the scripts that use podman (test-container, test-trixie): one-time podman setup
# for our machines and base images built with debootstrap, since no registry is reachable
# (../shared/CONTAINERS.md).

podman_setup() {
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
}

# podman_base_image SUITE: imports docker.io/library/debian:SUITE-slim, built with debootstrap
# from the mirror apt already uses, unless it exists.
podman_base_image() {
  local suite=$1 image=docker.io/library/debian:$1-slim
  podman image exists "$image" && return 0
  echo "podman: building the $image base image with debootstrap"
  local mirror rootfs
  mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  rootfs=$(mktemp -d)
  debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" >/dev/null
  tar -C "$rootfs" -c . | podman import - "$image" >/dev/null 2>&1
  rm -rf "$rootfs"
}

# podman_build_trixie_test_image: docker/Dockerfile.trixie-test as localhost/gatehouse-trixie-test
# (cached layers make a second call quick).
podman_build_trixie_test_image() {
  local build_log
  build_log=$(mktemp)
  if ! podman build --pull=never -q -t localhost/gatehouse-trixie-test -f docker/Dockerfile.trixie-test docker \
      >"$build_log" 2>&1; then
    tail -n 40 "$build_log" >&2
    rm -f "$build_log"
    return 1
  fi
  rm -f "$build_log"
}
