"""Node client libraries (openai, Vercel ai + @ai-sdk/openai) against a real gateway.

``tests/clients/node/check.mjs`` runs the checks; this test installs its packages
(``npm ci``) when missing and runs it. Without Node it skips locally and fails in CI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.harness.gateway import GatewayProcess

pytestmark = pytest.mark.e2e

NODE_DIR = Path(__file__).parent / "node"


def _need_node() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node and npm:
        return node
    if os.environ.get("CI"):
        pytest.fail("node and npm are required in CI (tests/clients/node)")
    pytest.skip("node/npm not installed")


def test_node_clients(gw: GatewayProcess) -> None:
    node = _need_node()
    if not (NODE_DIR / "node_modules").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, timeout=600)
    env = {**os.environ, "GATEWAY_URL": gw.base_url, "GATEWAY_KEY": gw.admin_key}
    proc = subprocess.run(
        [node, "check.mjs"], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=600
    )
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    failures = [r for r in results if not r["ok"]]
    assert len(results) == 8 and not failures and proc.returncode == 0, failures or proc.stderr[-2000:]
