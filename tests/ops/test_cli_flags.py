"""The admin CLI's budget window is --budget-duration (the API's budget_duration); a key's
expiry is --expires (the API's duration); the old --duration still means the window, and warns."""

from __future__ import annotations

import argparse

import pytest

from custom_hooks.admin import cli as _admin_cli


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="agent-gateway")
    _admin_cli.add_parsers(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(list(argv))


def test_budget_duration_is_the_window_and_expires_is_expiry(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse("keys", "create", "--alias", "a", "--budget-duration", "30d", "--expires", "90d")
    assert args.budget_duration == "30d"
    assert args.duration == "90d"
    assert capsys.readouterr().err == ""


def test_old_duration_flag_still_sets_the_window_and_warns(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse("teams", "create", "research", "--duration", "1d")
    assert args.budget_duration == "1d"
    err = capsys.readouterr().err
    assert "--duration is deprecated" in err and "--budget-duration" in err and "--expires" in err


def test_duration_never_sets_key_expiry() -> None:
    args = _parse("keys", "create", "--alias", "a", "--duration", "30d")
    assert args.budget_duration == "30d"
    assert args.duration is None  # a careless --duration must not make the key expire
