# The gateway image: one process, `agent-gateway serve` (what `make serve` runs), on :4000.
#
# LiteLLM's own database features (/key/generate, its spend logs and admin UI) need its
# Prisma client, whose engines `prisma generate` downloads at build time. An image built
# with network access could add, in the build stage:
#     RUN pip install prisma && prisma generate --schema "$(python -c 'import litellm,os;print(os.path.dirname(litellm.__file__))')/proxy/schema.prisma"
# The gateway does not need it: keys, teams, budgets and the spend ledger live in its own
# store (SQLite by default, PostgreSQL via GATEWAY_STORE_URL).

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY custom_hooks ./custom_hooks
COPY agent_routes ./agent_routes
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    LITELLM_TELEMETRY_DISABLED=true \
    GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=4000 \
    GATEWAY_DATA_DIR=/data \
    GATEWAY_CONFIG=/app/config.yaml
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
 && useradd --uid 10001 --create-home --shell /usr/sbin/nologin gateway \
 && mkdir -p /data /app && chown gateway:gateway /data
# Only the config sits in /app: the plugins are imported from the installed package.
COPY config.yaml /app/config.yaml
WORKDIR /app
USER gateway
EXPOSE 4000
VOLUME ["/data"]
HEALTHCHECK --interval=15s --timeout=5s --start-period=40s --retries=3 \
  CMD python -c "import sys,urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:4000/gateway/health/live', timeout=4).status != 200)"
CMD ["agent-gateway", "serve"]
