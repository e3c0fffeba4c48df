"""The gateway's clock: the wall clock unless a test explicitly asks for an offset file."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from custom_hooks.core.clock import FileOffsetClock, clock_from_env


def _wall() -> float:
    return 1_000.0


def test_without_the_test_variables_now_is_the_wall_clock() -> None:
    assert clock_from_env({}) is time.time


def test_a_clock_file_without_the_test_flag_is_ignored_and_said_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "offset"
    path.write_text("3600")
    for flag in ({}, {"GATEWAY_TEST_CLOCK": "0"}, {"GATEWAY_TEST_CLOCK": "true"}):
        with caplog.at_level(logging.WARNING, logger="gateway.clock"):
            assert clock_from_env({"GATEWAY_TEST_CLOCK_FILE": str(path), **flag}) is time.time
    assert sum("ignored" in r.getMessage() for r in caplog.records) == 3


def test_with_the_flag_the_offset_in_the_file_is_added(tmp_path: Path) -> None:
    path = tmp_path / "offset"
    path.write_text("3600.5")
    clock = clock_from_env({"GATEWAY_TEST_CLOCK": "1", "GATEWAY_TEST_CLOCK_FILE": str(path)})
    assert isinstance(clock, FileOffsetClock) and clock.path == str(path)
    assert FileOffsetClock(str(path), wall=_wall)() == 4600.5


def test_the_offset_is_re_read_when_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "offset"
    path.write_text("10")
    clock = FileOffsetClock(str(path), wall=_wall)
    assert clock() == 1010.0
    tmp = tmp_path / "offset.tmp"
    tmp.write_text("7200")  # replaced the way tests/harness/clock.py writes it
    tmp.replace(path)
    assert clock() == 8200.0


@pytest.mark.parametrize("content", [None, "", "soon", "1e400x"])
def test_a_missing_or_malformed_file_counts_as_no_offset(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "offset"
    if content is not None:
        path.write_text(content)
    assert FileOffsetClock(str(path), wall=_wall)() == 1000.0
