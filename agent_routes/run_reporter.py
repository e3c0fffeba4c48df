"""Config entry ``agent_routes.run_reporter.run_reporter``: a stable dotted path for config.yaml.

The code is in :mod:`agent_routes.runtime.reporting`.
"""

from agent_routes.runtime.reporting import run_reporter

__all__ = ["run_reporter"]
