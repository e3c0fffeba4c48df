"""`agent-gateway serve` start-up tells the truth: a busy port fails before the banner with
the fix, "ready" is printed only once the port answers, and LiteLLM's warning that budgets
and allow-lists are not enforced (they are, by our hooks) stays out of the log."""

from __future__ import annotations

import logging
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from custom_hooks.observability.startup_logs import NotApplicableWarnings
from tests.harness.gateway import REPO_ROOT, SHIPPED_CONFIG, GatewayProcess, free_port


def _serve(tmp_path: Path, port: int, **env: str) -> tuple[list[str], dict[str, str]]:
    gw = GatewayProcess(SHIPPED_CONFIG, tmp_path / ".gateway-data", port=port, provider_keys=False, env=env)
    return [sys.executable, "-m", "custom_hooks.cli", "serve"], gw.env()


@pytest.mark.e2e
def test_busy_port_fails_before_the_banner_with_the_fix(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        cmd, env = _serve(tmp_path, port)
        proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert f"port {port} is in use" in proc.stderr
    assert "set GATEWAY_PORT=" in proc.stderr
    assert "Managed Agent Gateway" not in proc.stdout  # no banner for a gateway that never started
    assert "Errno" not in proc.stderr and "Traceback" not in proc.stderr


def _wait_for_line(log: Path, text: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
        time.sleep(0.02)
    pytest.fail(f"no {text!r} within {timeout}s:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.mark.e2e
def test_ready_is_printed_only_once_the_port_answers(tmp_path: Path) -> None:
    port = free_port()
    # WARNING: LiteLLM's start-up warnings would be shown, so the filter is what keeps them out.
    cmd, env = _serve(tmp_path, port, LITELLM_LOG="WARNING")
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_for_line(log, "Managed Agent Gateway", proc, 120)
        text = log.read_text()
        assert "listening" not in text and "ready on" not in text  # the banner claims nothing yet
        _wait_for_line(log, "ready on ", proc, 180)
        # The line came after the port answered: it answers now, with the lifespan done.
        live = httpx.get(f"http://127.0.0.1:{port}/gateway/health/live", timeout=5)
        assert live.status_code == 200
        ready = httpx.get(f"http://127.0.0.1:{port}/gateway/health/ready", timeout=10)
        assert ready.status_code == 200, ready.text
        lines = log.read_text().splitlines()
        ready_lines = [ln for ln in lines if ln.startswith("ready on ")]
        assert ready_lines == [
            f"ready on http://127.0.0.1:{port}  (OpenAI base_url: http://127.0.0.1:{port}/v1)"
        ]
        assert lines.index(ready_lines[0]) > next(
            i for i, ln in enumerate(lines) if "Managed Agent Gateway" in ln
        )
        assert "will NOT be enforced" not in log.read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def _gc_collections(exposition: str) -> float:
    """``python_gc_collections_total`` summed over generations (prometheus_client's collector)."""
    found = re.findall(r'^python_gc_collections_total\{generation="\d"\} (\S+)$', exposition, re.M)
    assert found, "no python_gc_collections_total in /metrics"
    return sum(float(v) for v in found)


@pytest.mark.e2e
def test_the_serving_process_collects_garbage_again_after_start_up(gateway: GatewayProcess) -> None:
    """Start-up runs with the collector paused (custom_hooks.core.startup_gc); if serving did
    not turn it back on, every reference cycle a request leaves would stay for good."""
    with gateway.http() as http:
        before = _gc_collections(http.get("/metrics").text)
        client = gateway.client()
        for i in range(20):
            client.chat.completions.create(model="demo", messages=[{"role": "user", "content": f"hi {i}"}])
        after = _gc_collections(http.get("/metrics").text)
    assert after > before


def _record(msg: str) -> logging.LogRecord:
    return logging.LogRecord("LiteLLM Proxy", logging.WARNING, __file__, 1, msg, None, None)


def test_filter_drops_only_the_inapplicable_warning() -> None:
    f = NotApplicableWarnings()
    litellm_warning = (
        "custom_auth is configured but 'custom_auth_run_common_checks' is not set. Problem: budgets, "
        "model-access allowlists, and per-model rate limits configured on your DB team/project records "
        "will NOT be enforced for custom-auth requests"
    )
    assert f.filter(_record(litellm_warning)) is False
    assert f.filter(_record("A proxy-wide budget (litellm.max_budget=%s) is configured")) is True
    assert f.filter(_record("Redis connection failed")) is True
    # A message that merely mentions the text later (e.g. an error quoting it) is kept.
    assert f.filter(_record("error: " + litellm_warning)) is True


def test_cache_pricing_warning_dropped_only_for_our_own_providers() -> None:
    f = NotApplicableWarnings()
    msg = (
        "register_model: model=%s has custom pricing but not in built-in cost map and no prefix/region "
        "variant matched; cache_creation_input_token_cost and cache_read_input_token_cost will default to 0"
    )

    def record(model: str) -> logging.LogRecord:
        return logging.LogRecord("LiteLLM", logging.WARNING, __file__, 1, msg, (model,), None)

    assert f.filter(record("agent/research")) is False
    assert f.filter(record("demo/echo")) is False
    for real in ("openai/text-embedding-3-small", "ollama_chat/llama3.1", "azure/agent/x", "demoz/echo"):
        assert f.filter(record(real)) is True, real
    merged = record("x")  # as LiteLLM's own filter leaves it: the name already in the message
    merged.msg, merged.args = msg % "agent/support", ()
    assert f.filter(merged) is False
    merged.msg = msg % "openai/gpt-4o"
    assert f.filter(merged) is True


def test_a_fresh_start_prints_no_warning_about_our_own_models(gateway: GatewayProcess) -> None:
    log = gateway.log_path.read_text()
    assert "register_model: model=agent/" not in log and "register_model: model=demo/" not in log
