"""The collector is off while a serving process loads and on, with start-up frozen, after.

Each case runs in a fresh interpreter: the collector is the process's, and pausing the
test runner's would change every other test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from custom_hooks.core.startup_gc import ENV
from tests.harness.gateway import REPO_ROOT


def _run(script: str, **env: str) -> dict[str, object]:
    base = {k: v for k, v in os.environ.items() if k != ENV}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=REPO_ROOT,
        env={**base, "PYTHONPATH": str(REPO_ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_pause_then_resume_freezes_what_start_up_built_and_turns_the_collector_on() -> None:
    out = _run(
        """
        import gc, json, os
        from custom_hooks.core import startup_gc
        startup_gc.pause()
        paused = not gc.isenabled()
        built = [[i] for i in range(50_000)]  # what an import would leave alive
        startup_gc.resume()
        print(json.dumps({"paused": paused, "env": os.environ.get(startup_gc.ENV),
                          "enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}))
        """
    )
    assert out["paused"] is True and out["env"] == "paused"  # workers started now pause too
    assert out["enabled"] is True
    assert isinstance(out["frozen"], int) and out["frozen"] >= 50_000


def test_a_worker_pauses_as_it_imports_the_server_package_only_when_told() -> None:
    script = """
        import gc, json
        import custom_hooks.server
        print(json.dumps({"enabled": gc.isenabled()}))
        """
    assert _run(script, **{ENV: "paused"}) == {"enabled": False}
    assert _run(script) == {"enabled": True}  # imported by anything else: untouched
    assert _run(script, **{ENV: "something else"}) == {"enabled": True}


def test_resume_without_a_pause_collects_garbage_before_freezing() -> None:
    """The app imported in a process that did not pause: a cycle left by start-up is freed,
    not frozen for the life of the process."""
    out = _run(
        """
        import gc, json, weakref
        from custom_hooks.core import startup_gc
        class Node: pass
        a, b = Node(), Node()
        a.other, b.other = b, a
        ref = weakref.ref(a)
        del a, b
        gc.disable(); gc.enable()  # on, as in any process that did not pause
        startup_gc.resume()
        print(json.dumps({"cycle_freed": ref() is None, "enabled": gc.isenabled()}))
        """
    )
    assert out == {"cycle_freed": True, "enabled": True}


def test_a_command_that_does_not_serve_turns_the_collector_back_on() -> None:
    out = _run(
        """
        import contextlib, gc, io, json, sys
        from custom_hooks.cli import main
        with contextlib.redirect_stdout(io.StringIO()):
            code = main(["--config", "config.yaml", "check-config"])
        print(json.dumps({"code": code, "enabled": gc.isenabled()}))
        """,
        LITELLM_LOCAL_MODEL_COST_MAP="True",
    )
    assert out == {"code": 0, "enabled": True}


def test_importing_the_entry_point_changes_nothing() -> None:
    out = _run(
        """
        import gc, json, os, sys
        import custom_hooks.cli
        print(json.dumps({"enabled": gc.isenabled(), "litellm": "litellm" in sys.modules,
                          "env": os.environ.get("GATEWAY_STARTUP_GC")}))
        """
    )
    assert out == {"enabled": True, "litellm": False, "env": None}
