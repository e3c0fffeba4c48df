"""The README's quickstart, as a newcomer runs it: shipped config, no keys, no services."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.gateway import REPO_ROOT, SHIPPED_CONFIG, GatewayProcess

pytestmark = pytest.mark.e2e

README = (REPO_ROOT / "README.md").read_text()


def _first_block(lang: str) -> str:
    match = re.search(rf"```{lang}\n(.*?)```", README, re.S)
    assert match, f"README has no {lang} block"
    return match.group(1)


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> GatewayProcess:
    home = tmp_path_factory.mktemp("newcomer")
    # The unmodified config.yaml; no provider keys, no GATEWAY_MASTER_KEY: the key is generated.
    proc = GatewayProcess(SHIPPED_CONFIG, home / ".gateway-data", master_key=None, provider_keys=False)
    proc.start()
    yield proc
    proc.stop()


def test_start_banner_says_where_what_and_how(quickstart: GatewayProcess) -> None:
    log = quickstart.log_text()
    assert f"http://127.0.0.1:{quickstart.port}/v1" in log
    assert "default" in log and "research" in log
    assert "master.key" in log
    assert quickstart.admin_key not in log  # the banner names the file, never the key


def test_readme_python_snippet_runs(quickstart: GatewayProcess) -> None:
    code = _first_block("python").replace("127.0.0.1:4000", f"127.0.0.1:{quickstart.port}")
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=quickstart.data_dir.parent,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "[demo model] You said: Hello, gateway"
    assert lines[1] == "[demo model] You said: Stream this"
    assert "'default'" in lines[2] and "'research'" in lines[2]
    agent_answer = "\n".join(lines[3:])
    assert "Sources:" in agent_answer and "agent_routes/docs/budgets.md" in agent_answer


def test_readme_curl_snippet_runs(quickstart: GatewayProcess) -> None:
    script = _first_block("bash").split("\n", 1)[0]  # sanity: the first bash block is the two commands
    assert "make serve" in script
    curl = re.search(r"```bash\n(KEY=.*?)```", README, re.S)
    assert curl
    text = curl.group(1).replace("127.0.0.1:4000", f"127.0.0.1:{quickstart.port}")
    proc = subprocess.run(
        ["bash", "-c", text], cwd=quickstart.data_dir.parent, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert "[demo model] You said: Hello" in proc.stdout
    assert '"id":"default"' in proc.stdout.replace(" ", "")


def test_master_key_file_is_private(quickstart: GatewayProcess) -> None:
    mode = (quickstart.data_dir / "master.key").stat().st_mode & 0o777
    assert mode == 0o600


def test_no_database_url_or_provider_key_needed(quickstart: GatewayProcess) -> None:
    env = quickstart.env()
    assert not {"DATABASE_URL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GATEWAY_REDIS_URL"} & set(env)
    assert Path(quickstart.data_dir / "gateway.db").exists()
