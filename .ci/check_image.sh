#!/usr/bin/env bash
# Run the built image the way a container runtime would, without one (`podman run` is not
# available here: setrlimit is denied): mount the image's filesystem, chroot into it with
# /proc, /dev and a fresh /data and /tmp, and start its CMD with its ENV and USER on a
# loopback port. Then run its HEALTHCHECK command inside the image and make one chat call
# to the demo model.
#
#   .ci/check_image.sh [image]        # default localhost/managed-agent-gateway:ci
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE="${1:-${GATEWAY_IMAGE:-localhost/managed-agent-gateway:ci}}"
PORT="${GATEWAY_IMAGE_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
KEY="sk-admin-image-check-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"

inspect() { podman image inspect "$IMAGE" --format "$1"; }
root=$(podman image mount "$IMAGE")
work=$(mktemp -d)
mkdir -p "$work/data" "$work/tmp"
chmod 1777 "$work/tmp"
user=$(inspect '{{.Config.User}}')
chown "${user}" "$work/data"
mounts=()
cleanup() {
  set +e
  [[ -n "${pid:-}" ]] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  for m in "${mounts[@]}"; do umount -l "$m"; done
  podman image unmount "$IMAGE" >/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
bind() { mount --bind "$1" "$root$2"; mounts=("$root$2" "${mounts[@]}"); }
mount -t proc proc "$root/proc"; mounts=("$root/proc" "${mounts[@]}")
bind /dev /dev
bind "$work/data" /data
bind "$work/tmp" /tmp

# The image's ENV, WORKDIR and CMD, as a runtime would apply them (+ our port and key).
mapfile -t envs < <(inspect '{{range .Config.Env}}{{println .}}{{end}}' | sed '/^$/d')
workdir=$(inspect '{{.Config.WorkingDir}}')
mapfile -t cmd < <(inspect '{{range .Config.Cmd}}{{println .}}{{end}}' | sed '/^$/d')
mapfile -t health < <(inspect '{{range .Config.Healthcheck.Test}}{{println .}}{{end}}' | sed '/^$/d')
run_env=(env -i "${envs[@]}" HOME=/data GATEWAY_HOST=127.0.0.1 "GATEWAY_PORT=$PORT" "GATEWAY_MASTER_KEY=$KEY")
in_image() { chroot --userspec="$user" "$root" /bin/sh -c 'cd "$0" && exec "$@"' "$workdir" "${run_env[@]}" "$@"; }
# exec: the background job's pid becomes the gateway's own (for the uid check and SIGTERM).
exec_in_image() { exec chroot --userspec="$user" "$root" /bin/sh -c 'cd "$0" && exec "$@"' "$workdir" "${run_env[@]}" "$@"; }

echo "image-check: starting ${cmd[*]} from $IMAGE on 127.0.0.1:$PORT"
start=$(date +%s)
exec_in_image "${cmd[@]}" >"$work/gateway.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  grep -q '^ready on ' "$work/gateway.log" && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/gateway.log"; echo "image-check: gateway exited"; exit 1; }
  sleep 0.5
done
grep -q '^ready on ' "$work/gateway.log" || { cat "$work/gateway.log"; echo "image-check: not ready"; exit 1; }
echo "image-check: ready after $(($(date +%s) - start)) s"

[[ "${health[0]:-}" == "CMD" ]] || { echo "image-check: no exec-form HEALTHCHECK in the image"; exit 1; }
in_image "${health[@]:1}" && echo "image-check: HEALTHCHECK passed"

reply=$(curl -sf "http://127.0.0.1:$PORT/v1/chat/completions" -H "Authorization: Bearer $KEY" \
  -H "Content-Type: application/json" \
  -d '{"model": "default", "messages": [{"role": "user", "content": "Hello from the image"}]}')
grep -q 'You said: Hello from the image' <<<"$reply" || { echo "image-check: unexpected reply: $reply"; exit 1; }
echo "image-check: chat call to the demo model answered"
uid=$(stat -c %u "/proc/$pid")
[[ "$uid" != 0 ]] || { echo "image-check: the gateway runs as root"; exit 1; }
echo "image-check: runs as uid $uid"
