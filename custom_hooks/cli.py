"""``python -m custom_hooks.cli`` and ``agent-gateway``: a stable entry point.

The CLI is :mod:`custom_hooks.server.cli`.
"""

from custom_hooks.server.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
