"""``agent-gateway``: start the gateway, check its config.

agent-gateway serve            # validate config.yaml, then serve on :4000
agent-gateway check-config     # validate only; non-zero exit on errors
agent-gateway config-reference [--write]   # the README's configuration reference, from the models
agent-gateway keys create --alias bot --team research --budget 50 --budget-duration 30d
agent-gateway keys list | teams create research | spend --by team   # admin API over HTTP
"""

from __future__ import annotations

import argparse
import errno
import os
import socket
import sys
import threading
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from custom_hooks.admin import cli as _admin_cli
from custom_hooks.core import startup_gc
from custom_hooks.core.config import GatewayConfig, SectionCheck, check_config
from custom_hooks.core.settings import GatewaySettings, get_settings
from custom_hooks.observability.multiproc import prepare_multiprocess_dir

__all__ = ["main"]

# Offline-safe defaults; an operator's explicit environment wins.
_ENV_DEFAULTS = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # else `import litellm` fetches the price map
    "LITELLM_TELEMETRY_DISABLED": "true",
    "LITELLM_LOG": "ERROR",  # DEBUG multiplies CPU per request by ~3.7
    "LITELLM_DONT_SHOW_FEEDBACK_BOX": "true",
}


def _apply_env_defaults(settings: GatewaySettings) -> None:
    for key, value in _ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)
    os.environ["CONFIG_FILE_PATH"] = str(Path(settings.config).resolve())
    os.environ["GATEWAY_CONFIG"] = str(Path(settings.config).resolve())
    os.environ["LITELLM_MASTER_KEY"] = settings.resolved_master_key()
    prepare_multiprocess_dir(settings.workers, settings.resolved_data_dir())  # metrics from every worker
    if settings.redis_url:
        # LiteLLM's coordination Redis (rpm/tpm/parallel counters shared by instances) falls
        # back to REDIS_URL when config.yaml has no general_settings.coordination_redis block.
        os.environ.setdefault("REDIS_URL", settings.redis_url)


def _config_checks() -> tuple[SectionCheck, ...]:
    """Checks of sections the core does not own (imported here: the agents pull in LangChain)."""
    from agent_routes.runtime.registry import check_agents_section

    return (check_agents_section,)


def _report(settings: GatewaySettings) -> GatewayConfig | None:
    cfg, problems = check_config(settings.config, _config_checks())
    for p in problems:
        print(p.render(Path(settings.config)), file=sys.stderr)
    if cfg is None or any(p.fatal for p in problems):
        print(f"{settings.config}: configuration is invalid; the gateway was not started.", file=sys.stderr)
        return None
    return cfg


def _banner(settings: GatewaySettings, cfg: GatewayConfig, key_from_env: bool) -> str:
    from custom_hooks.core.catalog import agent_model_names

    agents = list(agent_model_names(cfg.model_list))
    models = [m for m in cfg.model_names() if m not in agents]
    key_hint = "the key in GATEWAY_MASTER_KEY" if key_from_env else f"the key in {settings.master_key_path()}"
    host = "127.0.0.1" if settings.host in {"0.0.0.0", "::"} else settings.host
    return "\n".join(
        [
            "Managed Agent Gateway",
            f"  starting on    http://{settings.host}:{settings.port}  (OpenAI base_url: http://{host}:{settings.port}/v1)",
            f"  config         {cfg.path}",
            f"  models         {', '.join(models) or '-'}  (default: {cfg.gateway.default_model})",
            f"  agents         {', '.join(agents) or '-'}",
            f"  authenticate   Authorization: Bearer <key>; admin: {key_hint}",
            f"  state          {settings.resolved_data_dir()}",
        ]
    )


def _port_problem(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be bound (None when it can), checked before anything starts.

    Binds the way uvicorn does (SO_REUSEADDR), so a port held only by old TIME_WAIT
    connections counts as free and a port another process listens on does not.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (
                    f"port {port} is in use on {host}; set GATEWAY_PORT=<another port> "
                    f"(or --port), or stop the process listening on it."
                )
            if exc.errno == errno.EACCES:
                return f"no permission to listen on port {port}; set GATEWAY_PORT to a port above 1023."
            if exc.errno == errno.EADDRNOTAVAIL:
                return f"{host} is not an address of this machine; set GATEWAY_HOST=127.0.0.1 (or 0.0.0.0)."
            return f"cannot listen on {host}:{port} ({exc.strerror}); set GATEWAY_HOST / GATEWAY_PORT."
    return None


def _probe_host(host: str) -> str:
    if host in {"0.0.0.0", ""}:
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _announce_when_ready(settings: GatewaySettings, stop: threading.Event) -> None:
    """Print the ready line once the gateway answers on its port.

    ``/gateway/health/live`` answers only after LiteLLM's and our lifespan start-up
    completed and uvicorn accepted the connection, so the line never comes early.
    """
    url = f"http://{_url_host(_probe_host(settings.host))}:{settings.port}/gateway/health/live"
    while not stop.is_set():
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    print(
                        f"ready on http://{_url_host(settings.host)}:{settings.port}"
                        f"  (OpenAI base_url: http://{_url_host(_probe_host(settings.host))}:{settings.port}/v1)",
                        flush=True,
                    )
                    return
        except OSError:
            pass
        stop.wait(0.25)


def _serve(settings: GatewaySettings) -> int:
    import uvicorn

    cfg = _report(settings)
    if cfg is None:
        return 2
    problem = _port_problem(settings.host, settings.port)
    if problem is not None:
        print(f"agent-gateway: {problem} The gateway was not started.", file=sys.stderr)
        return 2
    key_from_env = settings.master_key is not None or bool(os.environ.get("LITELLM_MASTER_KEY"))
    _apply_env_defaults(settings)
    # Keys, ledger and threads are the operator's: every file this process creates is 0600.
    os.umask(0o077)
    settings.secure_data_dir()
    print(_banner(settings, cfg, key_from_env), flush=True)
    stop = threading.Event()
    watcher = threading.Thread(target=_announce_when_ready, args=(settings, stop), daemon=True)
    watcher.start()
    if settings.workers > 1:
        # The supervisor serves nothing; its workers pause again (they inherit the setting)
        # and resume in their own lifespan. One worker is this process: its lifespan resumes.
        startup_gc.resume()
    try:
        _run_uvicorn(uvicorn, settings)
    finally:
        stop.set()
    return 0


def _run_uvicorn(uvicorn: Any, settings: GatewaySettings) -> None:
    uvicorn.run(
        "custom_hooks.server.app:app",
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level="warning",
        # Bounds header count, size and time before the app sees a request (431/408).
        http="custom_hooks.server.http_protocol:GuardedHttpToolsProtocol",
        timeout_graceful_shutdown=30,
        # With several workers uvicorn kills a worker that misses a 5 s health ping; a new
        # worker imports LiteLLM (seconds, more on a busy host) before it can answer.
        timeout_worker_healthcheck=60,
    )


def _config_reference(write: str | None) -> int:
    from custom_hooks.admin import config_reference as ref

    body = ref.render()
    if write is None:
        print(body, end="")
        return 0
    readme = Path(write)
    readme.write_text(ref.replace_section(readme.read_text(), body))
    print(f"{readme}: configuration reference updated")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="agent-gateway", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--config", help="path to config.yaml (env GATEWAY_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="validate the config and start the gateway")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    sub.add_parser("check-config", help="validate config.yaml and exit")
    ref = sub.add_parser("config-reference", help="print the gateway: section's reference (Markdown)")
    ref.add_argument(
        "--write", metavar="README", nargs="?", const="README.md", help="update README.md's section"
    )
    _admin_cli.add_parsers(sub)
    args = parser.parse_args(argv)

    if args.config:
        os.environ["GATEWAY_CONFIG"] = args.config
    for name in ("host", "port", "workers"):
        value = getattr(args, name, None)
        if value is not None:
            os.environ[f"GATEWAY_{name.upper()}"] = str(value)
    get_settings.cache_clear()
    settings = get_settings()

    if args.command != "serve":
        startup_gc.resume()  # a command, not a server: the collector back on before it runs
    if args.command == "config-reference":
        return _config_reference(args.write)
    if args.command in _admin_cli.COMMANDS:
        return _admin_cli.run(args, settings)
    if args.command == "check-config":
        cfg = _report(settings)
        if cfg is None:
            return 2
        print(f"{cfg.path}: ok ({len(cfg.model_names())} models)")
        return 0
    return _serve(settings)
