"""The README's quickstart, as a newcomer runs it: shipped config, no keys, no services."""

from __future__ import annotations

import json
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
    assert "Sources:" in agent_answer and "agent_routes/search_corpus/budgets.md" in agent_answer


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


# --- Every shell and Python block of the README, run as pasted, in order -------------------
#
# A newcomer's terminal: the repository's folder (config.yaml, .venv, the running gateway's
# .gateway-data), one shell whose exported variables carry from block to block, and one
# Python session (a REPL) for the Python blocks. A block the test must not run carries
# `<!-- readme-test: skip (reason) -->` on the line above its fence.

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
_SKIP = re.compile(r"<!-- readme-test: skip \((.+?)\) -->\s*$")
_RUNNABLE = {"bash", "python"}

_PY_DRIVER = r"""
import contextlib, io, json, os, sys, traceback
ns = {"__name__": "__main__"}
for line in sys.stdin:
    msg = json.loads(line)
    os.environ.update(msg["env"])
    out = io.StringIO()
    ok, err = True, ""
    with contextlib.redirect_stdout(out):
        try:
            exec(compile(msg["code"], f"README block {msg['n']}", "exec"), ns)
        except BaseException:
            ok, err = False, traceback.format_exc()
    sys.__stdout__.write(json.dumps({"ok": ok, "out": out.getvalue(), "err": err}) + "\n")
    sys.__stdout__.flush()
"""


def readme_blocks(text: str = README) -> list[tuple[int, str, str, str | None]]:
    """(line, language, code, skip reason or None) of every fenced block."""
    blocks = []
    for m in _FENCE.finditer(text):
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = _SKIP.search(before)
        line = text.count("\n", 0, m.start()) + 1
        blocks.append((line, m.group(1), m.group(2), skip.group(1) if skip else None))
    return blocks


def test_readme_skip_markers_are_few_and_explained() -> None:
    blocks = readme_blocks()
    runnable = [b for b in blocks if b[1] in _RUNNABLE]
    skipped = [b for b in runnable if b[3] is not None]
    assert all(reason.strip() for *_, reason in skipped if reason is not None)
    assert len(runnable) - len(skipped) >= 8, "most of the README's commands must be exercised"
    assert len(skipped) <= 8, [b[0] for b in skipped]
    assert README.count("<!-- readme-test: skip") == len(skipped), "a skip marker not right above a fence"


@pytest.fixture(scope="module")
def newcomer_terminal(quickstart: GatewayProcess) -> Path:
    """The repository folder as a fresh clone looks after `make serve`."""
    home = quickstart.data_dir.parent
    (home / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    (home / "config.yaml").symlink_to(REPO_ROOT / "config.yaml")
    return home


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "OPENAI_", "VIRTUAL_ENV"))}
    # The blocks' agent-gateway and python import this checkout's code (not another install).
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(sys.prefix)
    )
    return env


def _shell_env(state: Path, cwd: Path) -> dict[str, str]:
    proc = subprocess.run(
        ["bash", "-c", f"source {state} >/dev/null 2>&1; env -0"],
        cwd=cwd,
        capture_output=True,
        env=_clean_env(),
        check=True,
    )
    return dict(item.split("=", 1) for item in proc.stdout.decode().split("\0") if "=" in item)


def test_every_readme_block_runs_as_pasted(quickstart: GatewayProcess, newcomer_terminal: Path) -> None:
    home = newcomer_terminal
    state = home / ".readme-shell-state.sh"
    state.write_text("")
    port = f"127.0.0.1:{quickstart.port}"
    python = subprocess.Popen(
        [sys.executable, "-u", "-c", _PY_DRIVER],
        cwd=home,
        env=_clean_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    outputs: dict[int, str] = {}
    try:
        for n, lang, code, skip in readme_blocks():
            if lang not in _RUNNABLE or skip is not None:
                continue
            code = code.replace("127.0.0.1:4000", port)
            if lang == "bash":
                script = f"set -eo pipefail\nsource {state}\n{code}\nexport -p > {state}\n"
                proc = subprocess.run(
                    ["bash", "-c", script],
                    cwd=home,
                    env=_clean_env(),
                    capture_output=True,
                    text=True,
                    timeout=900,
                )
                assert proc.returncode == 0, f"README line {n} (bash) failed:\n{code}\n{proc.stderr[-3000:]}"
                out = proc.stdout
            else:
                assert python.stdin is not None and python.stdout is not None
                msg = {"n": n, "code": code, "env": _shell_env(state, home)}
                python.stdin.write(json.dumps(msg) + "\n")
                python.stdin.flush()
                reply = json.loads(python.stdout.readline())
                assert reply["ok"], f"README line {n} (python) failed:\n{code}\n{reply['err'][-3000:]}"
                out = reply["out"]
            # curl prints error bodies with exit code 0: a README command must not get one.
            assert '"error"' not in out, f"README line {n} got an error response:\n{out[-2000:]}"
            outputs[n] = out
    finally:
        python.kill()
        python.wait()
    text = "\n".join(outputs.values())
    assert "[demo model] You said: Hello, gateway" in text
    key = _shell_env(state, home).get("GATEWAY_KEY", "")
    assert key.startswith("sk-gw-"), "the keys block must leave the new virtual key in GATEWAY_KEY"
    assert "agent_routes/search_corpus/budgets.md" in text  # the research agent answered for the new key
    assert "research-bot" in text and "research-bot-http" in text
