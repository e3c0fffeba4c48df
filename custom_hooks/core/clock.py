"""The one clock the gateway reads "now" from (epoch seconds), and its test-only offset.

Budget windows, reservation leases and reconciliation read :func:`now`; unit tests do not
use it at all (the pure functions take ``now`` as an argument). End-to-end tests must
cross a budget window without sleeping until the wall clock gets there, so a gateway
started with BOTH of these environment variables reads the offset (seconds, a float) in
a file and adds it to the wall clock::

    GATEWAY_TEST_CLOCK=1                       # the explicit test flag
    GATEWAY_TEST_CLOCK_FILE=/tmp/x/offset      # holds e.g. "3600.5"; re-read when it changes

TEST ONLY: never set these in a deployment (they are not settings of ``config.yaml`` and
the config reference does not list them). Without the flag the file is ignored and a
warning is logged once; with neither variable :func:`now` is :func:`time.time` itself.
Only what reads this clock moves: the ledger's row timestamps stay on the wall clock, so
a window rebuilt from the ledger after the offset moved may miss rows.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping

__all__ = ["TEST_CLOCK_FILE_ENV", "TEST_CLOCK_FLAG_ENV", "FileOffsetClock", "clock_from_env", "now"]

log = logging.getLogger("gateway.clock")

TEST_CLOCK_FLAG_ENV = "GATEWAY_TEST_CLOCK"
TEST_CLOCK_FILE_ENV = "GATEWAY_TEST_CLOCK_FILE"


class FileOffsetClock:
    """Wall clock plus the offset written in a file (re-read when the file changes).

    An unreadable or malformed file counts as offset 0 until it is fixed: a test clock
    must never take the process down.
    """

    def __init__(self, path: str, wall: Callable[[], float] = time.time) -> None:
        self.path = path
        self._wall = wall
        self._stamp: tuple[int, int, int] | None = None
        self._offset = 0.0

    def offset(self) -> float:
        try:
            st = os.stat(self.path)
        except OSError:
            self._stamp, self._offset = None, 0.0
            return 0.0
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                with open(self.path, encoding="utf-8") as f:
                    self._offset = float(f.read().strip() or 0.0)
            except (OSError, ValueError):
                self._offset = 0.0
        return self._offset

    def __call__(self) -> float:
        return self._wall() + self.offset()


def clock_from_env(env: Mapping[str, str]) -> Callable[[], float]:
    """The clock ``env`` asks for: :func:`time.time` unless the test flag and file are both set."""
    path = env.get(TEST_CLOCK_FILE_ENV)
    if not path:
        return time.time
    if env.get(TEST_CLOCK_FLAG_ENV) != "1":
        log.warning(
            "%s is set without %s=1: ignored, the gateway uses the wall clock",
            TEST_CLOCK_FILE_ENV,
            TEST_CLOCK_FLAG_ENV,
        )
        return time.time
    log.warning("TEST CLOCK: 'now' is the wall clock plus the offset in %s (never in production)", path)
    return FileOffsetClock(path)


now: Callable[[], float] = clock_from_env(os.environ)
"""Epoch seconds: the wall clock, or the test clock (see the module docstring)."""
