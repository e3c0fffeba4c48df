#!/usr/bin/env bash
# Build the gateway image here, with no image registry: a Debian bookworm root filesystem
# made by debootstrap from this machine's apt mirror becomes the base image, then the
# repository's Dockerfile is built on it with podman (chroot isolation: no user namespaces
# or setrlimit needed).
#
#   .ci/build_image.sh            # -> localhost/managed-agent-gateway:ci
#
# Cached between runs (in $GATEWAY_IMAGE_CACHE, default ~/.cache/gateway-image): the base
# root filesystem tarball, podman's layer cache and pip's download cache. A re-run with an
# unchanged pyproject.toml rebuilds only the layers with our code.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${GATEWAY_IMAGE_CACHE:-$HOME/.cache/gateway-image}"
BASE_IMAGE="localhost/gateway-base:bookworm"
IMAGE="${GATEWAY_IMAGE:-localhost/managed-agent-gateway:ci}"
SECRETS=".ci/build-secrets"         # gitignored; never committed, never in a layer
mkdir -p "$CACHE" "$SECRETS"

need=()
command -v podman >/dev/null || need+=(podman)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v buildah >/dev/null || need+=(buildah)
if ((${#need[@]})); then
  echo "image: installing ${need[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
fi

# The apt mirror this machine uses (deb822 or one-line sources), for debootstrap.
mirror() {
  local uri
  uri=$(grep -hs -E '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
  if [[ -z "$uri" ]]; then
    uri=$(grep -hs -E '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
      | grep -E 'debian/? ' | awk '{print $2}' | head -n1 || true)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

start=$(date +%s)
base_tar="$CACHE/gateway-base-bookworm.tar"
if ! podman image exists "$BASE_IMAGE"; then
  if [[ ! -s "$base_tar" ]]; then
    url=$(mirror)
    echo "image: debootstrap bookworm from $url"
    rootfs=$(mktemp -d "$CACHE/rootfs.XXXXXX")
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
      bookworm "$rootfs" "$url"
    # Smaller base: no apt lists, docs or caches (the image never runs apt).
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/usr/share/doc/* \
      "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
    tar -C "$rootfs" -cf "$base_tar.tmp" .
    mv "$base_tar.tmp" "$base_tar"
    rm -rf "$rootfs"
  fi
  echo "image: importing $BASE_IMAGE"
  podman import "$base_tar" "$BASE_IMAGE" >/dev/null
fi

# pip inside the build: only this machine's index settings and CA certificate, as build
# secrets. Local paths in the machine's pip config (find-links, constraints) do not exist
# in the build and are dropped; a ca bundle is passed as its own secret.
: >"$SECRETS/pip.conf"
printf '[global]\n' >>"$SECRETS/pip.conf"
for f in /etc/pip.conf /etc/xdg/pip/pip.conf "$HOME/.config/pip/pip.conf" "$HOME/.pip/pip.conf"; do
  [[ -f "$f" ]] || continue
  # file:// indexes (/opt/pypi, ...) are local folders the build cannot see: dropped, so pip
  # uses the network index (PyPI, or this machine's index-url) with the machine's CA.
  grep -E '^\s*(index-url|extra-index-url|trusted-host|timeout|retries)\s*=' "$f" \
    | sed -E 's#file://[^ ]*##g' | grep -vE '^\s*[a-z-]+\s*=\s*$' >>"$SECRETS/pip.conf" || true
done
for var in PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_TRUSTED_HOST; do
  if [[ -n "${!var:-}" ]]; then
    key=$(echo "${var#PIP_}" | tr 'A-Z_' 'a-z-')
    printf '%s = %s\n' "$key" "${!var}" >>"$SECRETS/pip.conf"
  fi
done
ca="${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}"
secret_args=(--secret "id=pip_conf,src=$SECRETS/pip.conf")
if [[ -f "$ca" ]]; then
  cp "$ca" "$SECRETS/ca.crt"
  printf 'cert = /run/secrets/pip_ca\n' >>"$SECRETS/pip.conf"
  secret_args+=(--secret "id=pip_ca,src=$SECRETS/ca.crt")
fi

echo "image: building $IMAGE"
build_start=$(date +%s)
podman build --isolation chroot --network host --layers --format docker \
  --build-arg "BASE_IMAGE=$BASE_IMAGE" \
  "${secret_args[@]}" \
  -t "$IMAGE" -f Dockerfile .
end=$(date +%s)
size=$(podman image inspect "$IMAGE" --format '{{.Size}}')
echo "image: $IMAGE built in $((end - build_start)) s (total $((end - start)) s incl. base), size $((size / 1024 / 1024)) MiB"
