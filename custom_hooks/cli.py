"""``python -m custom_hooks.cli`` and ``agent-gateway``: a stable entry point.

The CLI is :mod:`custom_hooks.server.cli`, imported only once the collector is paused
(:mod:`custom_hooks.core.startup_gc`): it loads LiteLLM. The command turns it back on.
"""

from __future__ import annotations

from collections.abc import Sequence

from custom_hooks.core import startup_gc

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    startup_gc.pause()
    from custom_hooks.server.cli import main as run

    return run(argv)


if __name__ == "__main__":
    raise SystemExit(main())
