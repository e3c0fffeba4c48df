# The gateway image: one process, `agent-gateway serve` (what `make serve` runs), on :4000.
#
#   docker build -t managed-agent-gateway .          # or: podman build ...
#   docker run -p 4000:4000 -e GATEWAY_MASTER_KEY=... managed-agent-gateway
#
# BASE_IMAGE is any Debian-like image with Python >= 3.11 and its venv module
# (`python3 -m venv` must work): the public python:3.11-slim by default; CI builds on a
# Debian bookworm root filesystem it makes itself with debootstrap (.ci/build_image.sh),
# because no image registry is reachable there.
#
# pip inside the build uses the index PyPI unless a pip configuration is passed as a build
# secret: `--secret id=pip_conf,src=pip.conf` (and `--secret id=pip_ca,src=ca.crt` when that
# configuration names `cert = /run/secrets/pip_ca`). Secrets are mounted for one RUN step
# only and never stored in a layer.
#
# LiteLLM's own database features (/key/generate, its spend logs and admin UI) need its
# Prisma client, whose engines `prisma generate` downloads at build time. The gateway does
# not need them: keys, teams, budgets and the spend ledger live in its own store (SQLite by
# default, PostgreSQL via GATEWAY_STORE_URL).

ARG BASE_IMAGE=python:3.11-slim

# The runtime dependencies alone, so that their layer below is reused until they change
# (editing pyproject.toml's comments, tools or dev extras does not reinstall them).
FROM ${BASE_IMAGE} AS requirements
COPY pyproject.toml /src/
RUN python3 -c "import tomllib; print('\n'.join(tomllib.load(open('/src/pyproject.toml','rb'))['project']['dependencies']))" > /requirements.txt

FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180
RUN python3 -m venv /opt/gateway
WORKDIR /src
COPY --from=requirements /requirements.txt /tmp/requirements.txt
RUN --mount=type=secret,id=pip_conf --mount=type=secret,id=pip_ca \
    --mount=type=cache,target=/root/.cache/pip \
    if [ -f /run/secrets/pip_conf ]; then export PIP_CONFIG_FILE=/run/secrets/pip_conf; fi \
 && /opt/gateway/bin/pip install --upgrade pip setuptools wheel \
 && /opt/gateway/bin/pip install -r /tmp/requirements.txt
# pip compiles bytecode as it installs; keep it: the image runs with PYTHONDONTWRITEBYTECODE
# (read-only root filesystems), and compiling LiteLLM at every start adds most of a minute.
COPY pyproject.toml ./
COPY README.md ./
COPY custom_hooks ./custom_hooks
COPY agent_routes ./agent_routes
RUN --mount=type=secret,id=pip_conf --mount=type=secret,id=pip_ca \
    --mount=type=cache,target=/root/.cache/pip \
    if [ -f /run/secrets/pip_conf ]; then export PIP_CONFIG_FILE=/run/secrets/pip_conf; fi \
 && /opt/gateway/bin/pip install --no-deps --no-build-isolation . \
 && /opt/gateway/bin/pip uninstall --yes pip setuptools wheel

FROM ${BASE_IMAGE}
ENV PATH=/opt/gateway/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    LITELLM_TELEMETRY_DISABLED=true \
    GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=4000 \
    GATEWAY_DATA_DIR=/data \
    GATEWAY_CONFIG=/app/config.yaml
RUN (getent passwd gateway >/dev/null || useradd --uid 10001 --user-group --home-dir /data \
        --no-create-home --shell /usr/sbin/nologin gateway) \
 && mkdir -p /data /app && chown 10001:10001 /data
COPY --from=build /opt/gateway /opt/gateway
# Only the config sits in /app: the plugins are imported from the installed package.
COPY config.yaml /app/config.yaml
WORKDIR /app
USER 10001:10001
EXPOSE 4000
VOLUME ["/data"]
HEALTHCHECK --interval=15s --timeout=5s --start-period=40s --retries=3 \
  CMD ["python3", "-c", "import os,sys,urllib.request; port=os.environ.get('GATEWAY_PORT','4000'); sys.exit(urllib.request.urlopen(f'http://127.0.0.1:{port}/gateway/health/live', timeout=4).status != 200)"]
STOPSIGNAL SIGTERM
CMD ["agent-gateway", "serve"]
