"""Hook ``agent_routes.run_reporter.run_reporter``: agent run headers and error bodies.

LiteLLM executes this file directly, so it holds no state (see :mod:`agent_routes._reporting`).
"""

from __future__ import annotations

from agent_routes._reporting import RunReporter

__all__ = ["run_reporter"]

run_reporter = RunReporter()
