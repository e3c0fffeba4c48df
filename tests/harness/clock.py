"""Move a test gateway's clock without sleeping: the offset file ``custom_hooks.core.clock``
reads when the gateway runs with ``GATEWAY_TEST_CLOCK=1`` (test only).

    clock = GatewayClock(tmp_path / "clock")
    gw = gateway_factory(env=clock.env, ...)
    clock.set(clock.to_boundary(3600) + 1)   # the gateway's "now" is just past an hour boundary
    clock.advance(3600)                       # ...and now in the next hour
"""

from __future__ import annotations

import os
import time
from pathlib import Path

__all__ = ["GatewayClock"]


class GatewayClock:
    """The offset (seconds added to the wall clock) a test gateway reads its "now" from."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0.0
        self.set(0.0)

    @property
    def env(self) -> dict[str, str]:
        return {"GATEWAY_TEST_CLOCK": "1", "GATEWAY_TEST_CLOCK_FILE": str(self.path)}

    def set(self, offset: float) -> None:
        """Write ``offset`` atomically (the gateway re-reads the file when it changes)."""
        self.offset = float(offset)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(repr(self.offset))
        os.replace(tmp, self.path)

    def advance(self, seconds: float) -> None:
        self.set(self.offset + seconds)

    def now(self) -> float:
        """The gateway's "now"."""
        return time.time() + self.offset

    def to_boundary(self, span_s: float) -> float:
        """The offset that puts the gateway's "now" on the next multiple of ``span_s`` (epoch-aligned)."""
        return self.offset + span_s - self.now() % span_s
