"""Metrics with several workers: point prometheus-client at a shared directory.

Each uvicorn worker is its own process with its own registry; a scrape reaches one of
them. With ``PROMETHEUS_MULTIPROC_DIR`` set before ``prometheus_client`` is imported,
every worker writes its samples to files there and ``/metrics`` collects them all.
:func:`prepare_multiprocess_dir` runs in ``agent-gateway serve`` before the workers
start (this module must not import prometheus_client).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["prepare_multiprocess_dir"]


def prepare_multiprocess_dir(workers: int, data_dir: Path) -> Path | None:
    """Set (when several workers and unset) and empty the multiprocess directory.

    An operator's own ``PROMETHEUS_MULTIPROC_DIR`` is respected and emptied too: files
    left by a previous run would be added to this run's counters.
    """
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not configured and workers <= 1:
        return None
    path = Path(configured) if configured else data_dir / "prometheus-multiproc"
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return path
