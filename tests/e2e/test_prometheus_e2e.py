"""A real Prometheus scrapes a real gateway with the shipped scrape config and alert rules.

Also: /metrics needs the scrape token, ``promtool check metrics`` passes on the exposition
and ``promtool check rules`` on the shipped rules, and every dashboard query is valid PromQL.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.harness.gateway import REPO_ROOT, GatewayProcess, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.prometheus]

DEPLOY = REPO_ROOT / "deploy"
TOKEN = "scrape-token-e2e-5f1d2c"
OURS = re.compile(r"^(# (HELP|TYPE) )?(gateway_|gen_ai_)")


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is required in CI (apt-get install prometheus)")
        pytest.skip(f"{name} not installed (apt-get install prometheus)")
    return found


@pytest.fixture(scope="module")
def gw(gateway_factory: Any) -> GatewayProcess:
    return gateway_factory(env={"GATEWAY_METRICS_TOKEN": TOKEN}, name="prom")


def scrape(gw: GatewayProcess, token: str | None = TOKEN) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{gw.root_url}/metrics", headers=headers, timeout=30)


def chat(gw: GatewayProcess, text: str = "hello prometheus") -> None:
    gw.client().chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": text}])


def test_metrics_need_the_scrape_token_or_admin_key(gw: GatewayProcess) -> None:
    anonymous = scrape(gw, None)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "invalid_api_key"
    assert "GATEWAY_METRICS_TOKEN" in anonymous.json()["error"]["message"]
    assert scrape(gw, "not-the-token").status_code == 401
    assert scrape(gw, TOKEN).status_code == 200
    assert scrape(gw, gw.admin_key).status_code == 200


def test_promtool_check_metrics(gw: GatewayProcess) -> None:
    promtool = _binary("promtool")
    chat(gw)
    body = scrape(gw).text
    assert "gen_ai_client_token_usage_bucket" in body and "litellm_proxy_total_requests_metric_total" in body

    ours = "\n".join(line for line in body.splitlines() if OURS.match(line)) + "\n"
    own = subprocess.run(
        [promtool, "check", "metrics"], input=ours, capture_output=True, text=True, timeout=60
    )
    assert own.returncode == 0, own.stdout + own.stderr

    full = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, text=True, timeout=60
    )
    findings = {line.split()[0] for line in (full.stdout + full.stderr).splitlines() if line.strip()}
    # Exit 3 = lint findings only (1 would be a parse error). The one left is LiteLLM's
    # own `litellm_teams_count` (a gauge named *_count), which no setting can rename.
    assert full.returncode in (0, 3), full.stderr
    assert findings <= {"litellm_teams_count"}, findings


def test_promtool_check_rules() -> None:
    promtool = _binary("promtool")
    out = subprocess.run(
        [promtool, "check", "rules", str(DEPLOY / "alerts.yml")], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_alert_rules_fire_as_documented() -> None:
    """promtool's rule unit tests: budget 80%/100%, ledger failures, a dependency down, approvals."""
    promtool = _binary("promtool")
    out = subprocess.run(
        [promtool, "test", "rules", str(DEPLOY / "alerts_test.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def _test_config(gw: GatewayProcess, workdir: Path) -> Path:
    """deploy/prometheus.yml pointed at the test gateway, scraping every second."""
    cfg = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    token_file = workdir / "token"
    token_file.write_text(TOKEN)
    cfg["global"]["scrape_interval"] = "1s"
    cfg["global"]["evaluation_interval"] = "1s"
    cfg["rule_files"] = [str(DEPLOY / rule) for rule in cfg["rule_files"]]
    (job,) = cfg["scrape_configs"]
    assert job["authorization"]["credentials_file"]  # the shipped config uses the scrape token
    job["authorization"]["credentials_file"] = str(token_file)
    job["static_configs"] = [{"targets": [f"127.0.0.1:{gw.port}"]}]
    path = workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def prometheus(gw: GatewayProcess) -> Iterator[str]:
    binary = _binary("prometheus")
    workdir = Path(tempfile.mkdtemp(prefix="gw-prom-"))
    port = free_port()
    log = (workdir / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={_test_config(gw, workdir)}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, (workdir / "prometheus.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        else:
            pytest.fail("prometheus did not become ready")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


def query(url: str, promql: str) -> dict[str, Any]:
    r = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=10)
    body: dict[str, Any] = r.json()
    assert body.get("status") == "success", body
    return body


def wait_for_series(url: str, promql: str, timeout: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result: list[dict[str, Any]] = query(url, promql)["data"]["result"]
        if result:
            return result
        time.sleep(0.5)
    pytest.fail(f"no series for {promql} within {timeout}s")


def test_prometheus_scrapes_the_gateway(gw: GatewayProcess, prometheus: str) -> None:
    chat(gw, "hello from the prometheus test")
    [up] = wait_for_series(prometheus, 'up{job="agent-gateway"} == 1')
    assert up["metric"]["instance"] == f"127.0.0.1:{gw.port}"
    spend = wait_for_series(prometheus, 'sum by (model) (gateway_spend_usd_total{model="gpt-4o-mini"})')
    assert float(spend[0]["value"][1]) > 0
    tokens = wait_for_series(
        prometheus,
        'sum by (gen_ai_token_type) (gen_ai_client_token_usage_count{gen_ai_request_model="gpt-4o-mini"})',
    )
    assert {s["metric"]["gen_ai_token_type"] for s in tokens} == {"input", "output"}
    wait_for_series(prometheus, 'litellm_proxy_total_requests_metric_total{requested_model="gpt-4o-mini"}')


def test_shipped_alert_rules_load(prometheus: str) -> None:
    rules = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
    names = {r["name"] for g in rules for r in g["rules"]}
    assert {"GatewayHighErrorRate", "BudgetAbove80Percent", "BudgetExhausted", "LedgerWriteFailures"} <= names
    assert {"GatewayUpstreamFailures", "GatewayFallbacksFailing", "ApprovalsWaitingTooLong"} <= names
    assert all(r["health"] != "err" for g in rules for r in g["rules"])


def test_dashboard_queries_are_valid_promql(prometheus: str) -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "gateway-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 20
    for expr in exprs:
        promql = expr.replace("$__rate_interval", "1m").replace("$job", "agent-gateway")
        query(prometheus, promql)  # asserts status == success (a parse error is status error)
