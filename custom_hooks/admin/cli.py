"""``agent-gateway keys|teams|spend``: the admin API from a terminal.

Talks to a running gateway over HTTP: ``GATEWAY_URL`` (default
``http://127.0.0.1:$GATEWAY_PORT``) with ``GATEWAY_MASTER_KEY`` (or the key in
``<data_dir>/master.key`` when run on the gateway's host)::

    agent-gateway teams create research --budget 500 --budget-duration 30d --models gpt-4o-mini,research
    agent-gateway keys create --alias bot --team research --budget 50 --budget-duration 30d --expires 90d

``--budget-duration`` is the budget window (the API's ``budget_duration``); a key's expiry
is ``--expires`` (the API's ``duration``). ``--duration`` is a deprecated alias of
``--budget-duration``.
    agent-gateway keys list --team research
    agent-gateway keys block bot
    agent-gateway spend --by team --start 2025-01-01
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import httpx

from custom_hooks.core.settings import GatewaySettings

__all__ = ["add_parsers", "run"]

COMMANDS = ("keys", "teams", "spend")


def _csv(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


class _DeprecatedDuration(argparse.Action):
    """``--duration``: the old name of ``--budget-duration`` (the API's ``duration`` is expiry)."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        print(
            "agent-gateway: --duration is deprecated and means the budget window; use --budget-duration "
            "(a key's expiry is --expires).",
            file=sys.stderr,
        )
        setattr(namespace, self.dest, values)


def _limits(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models", type=_csv, help="comma-separated model/agent names; wildcards allowed")
    p.add_argument("--budget", type=float, dest="max_budget", help="max spend (USD) per budget window")
    p.add_argument(
        "--budget-duration", dest="budget_duration", help="budget window: 1h, 1d, 30d (API: budget_duration)"
    )
    p.add_argument("--duration", dest="budget_duration", action=_DeprecatedDuration, help=argparse.SUPPRESS)
    p.add_argument("--rpm", type=int, dest="rpm_limit")
    p.add_argument("--tpm", type=int, dest="tpm_limit")
    p.add_argument("--parallel", type=int, dest="max_parallel_requests")
    p.add_argument("--metadata", type=json.loads, help='JSON object, e.g. \'{"app": "crm"}\'')


def add_parsers(sub: Any) -> None:
    """Add ``keys``, ``teams`` and ``spend`` to the ``agent-gateway`` parser."""
    keys = sub.add_parser("keys", help="create, list and manage virtual keys").add_subparsers(
        dest="action", required=True
    )
    create = keys.add_parser("create", help="create a key (prints it once)")
    create.add_argument("--alias", dest="key_alias")
    create.add_argument("--team", dest="team_id")
    create.add_argument("--user", dest="user_id")
    create.add_argument(
        "--expires", dest="duration", help="expire after: 1h, 30d (default never; API: duration)"
    )
    create.add_argument("--tier")
    create.add_argument("--admin", action="store_const", const="admin", dest="user_role")
    _limits(create)
    lst = keys.add_parser("list", help="list keys")
    lst.add_argument("--team", dest="team_id")
    lst.add_argument("--user", dest="user_id")
    for action in ("get", "block", "unblock", "rotate", "delete"):
        keys.add_parser(action, help=f"{action} a key").add_argument("key", help="key_alias or key_hash")
    update = keys.add_parser("update", help="change a key's fields")
    update.add_argument("key", help="key_alias or key_hash")
    update.add_argument("--team", dest="team_id")
    update.add_argument("--tier")
    _limits(update)

    teams = sub.add_parser("teams", help="create, list and update teams").add_subparsers(
        dest="action", required=True
    )
    tcreate = teams.add_parser("create", help="create a team")
    tcreate.add_argument("team_id")
    tcreate.add_argument("--alias", dest="team_alias")
    _limits(tcreate)
    teams.add_parser("list", help="list teams")
    tupdate = teams.add_parser("update", help="change a team's fields")
    tupdate.add_argument("team_id")
    _limits(tupdate)

    spend = sub.add_parser("spend", help="spend report from the ledger")
    spend.add_argument("--by", default="key", choices=["key", "team", "user", "model", "day"])
    spend.add_argument("--start", help="ISO date/datetime (UTC)")
    spend.add_argument("--end", help="ISO date/datetime (UTC), exclusive")
    spend.add_argument("--team", dest="team_id")
    spend.add_argument("--json", action="store_true", help="print the raw JSON")
    lst.add_argument("--json", action="store_true", help="print the raw JSON")


def _master_key(settings: GatewaySettings) -> str:
    key = settings.existing_master_key()
    if key is not None:
        return key
    raise SystemExit("No admin key: set GATEWAY_MASTER_KEY (or run where <data_dir>/master.key exists).")


def _fields(args: argparse.Namespace, names: tuple[str, ...]) -> dict[str, Any]:
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


_LIMIT_FIELDS = (
    "models",
    "max_budget",
    "budget_duration",
    "rpm_limit",
    "tpm_limit",
    "max_parallel_requests",
    "metadata",
)


def _table(rows: list[dict[str, Any]], cols: list[str]) -> str:
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in cols] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def _call(client: httpx.Client, method: str, path: str, **kw: Any) -> Any:
    try:
        r = client.request(method, path, **kw)
    except httpx.HTTPError as exc:
        raise SystemExit(f"Cannot reach the gateway at {client.base_url}: {exc}") from None
    if r.status_code >= 400:
        try:
            err = r.json()["error"]
            raise SystemExit(f"error {r.status_code} ({err.get('code')}): {err.get('message')}")
        except (ValueError, KeyError, TypeError):
            raise SystemExit(f"error {r.status_code}: {r.text[:500]}") from None
    return r.json()


def _show_key(data: dict[str, Any]) -> str:
    shown = {k: v for k, v in data.items() if k not in ("key", "token", "note") and v not in (None, [], {})}
    return json.dumps(shown, indent=2)


def _dispatch(client: httpx.Client, args: argparse.Namespace) -> str:
    if args.command == "keys":
        if args.action == "create":
            names = ("key_alias", "team_id", "user_id", "duration", "tier", "user_role", *_LIMIT_FIELDS)
            data = _call(client, "POST", "/gateway/keys", json=_fields(args, names))
            return f"key: {data['key']}\n(store it now: it is not shown again)\n{_show_key(data)}"
        if args.action == "list":
            data = _call(client, "GET", "/gateway/keys", params=_fields(args, ("team_id", "user_id")))
            if args.json:
                return json.dumps(data, indent=2)
            cols = [
                "key_alias",
                "key_name",
                "team_id",
                "user_id",
                "models",
                "max_budget",
                "budget_duration",
                "blocked",
                "expires",
            ]
            return _table(data["keys"], cols)
        if args.action == "update":
            body = _fields(args, ("team_id", "tier", *_LIMIT_FIELDS))
            return _show_key(_call(client, "PATCH", f"/gateway/keys/{args.key}", json=body))
        if args.action == "get":
            return _show_key(_call(client, "GET", f"/gateway/keys/{args.key}"))
        if args.action == "delete":
            _call(client, "DELETE", f"/gateway/keys/{args.key}")
            return f"deleted {args.key}"
        data = _call(client, "POST", f"/gateway/keys/{args.key}/{args.action}")
        if args.action == "rotate":
            return f"new key: {data['key']}\n(the old one no longer works; store this one now)"
        return f"{args.key}: blocked={data['blocked']}"
    if args.command == "teams":
        if args.action == "list":
            cols = [
                "team_id",
                "team_alias",
                "models",
                "max_budget",
                "budget_duration",
                "rpm_limit",
                "tpm_limit",
            ]
            return _table(_call(client, "GET", "/gateway/teams")["teams"], cols)
        body = _fields(args, ("team_alias", *_LIMIT_FIELDS))
        if args.action == "create":
            return json.dumps(
                _call(client, "POST", "/gateway/teams", json={"team_id": args.team_id, **body}), indent=2
            )
        return json.dumps(_call(client, "PATCH", f"/gateway/teams/{args.team_id}", json=body), indent=2)
    params = {"group_by": args.by, **_fields(args, ("start", "end", "team_id"))}
    data = _call(client, "GET", "/gateway/spend", params=params)
    if args.json:
        return json.dumps(data, indent=2)
    group_cols = {
        "key": ["key_alias", "key_hash"],
        "team": ["team_id"],
        "user": ["user_id"],
        "model": ["model"],
        "day": ["day"],
    }[args.by]
    cols = [*group_cols, "requests", "failures", "prompt_tokens", "completion_tokens", "cost"]
    rows = [{**r, "cost": f"{r['cost']:.6f}"} for r in data["rows"]]
    totals = {**data["totals"], group_cols[0]: "TOTAL", "cost": f"{data['totals']['cost']:.6f}"}
    return _table([*rows, totals], cols)


def run(args: argparse.Namespace, settings: GatewaySettings) -> int:
    """Run one admin command against the gateway at GATEWAY_URL."""
    url = os.environ.get("GATEWAY_URL") or f"http://127.0.0.1:{settings.port}"
    headers = {"Authorization": f"Bearer {_master_key(settings)}"}
    with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=30) as client:
        print(_dispatch(client, args))
    sys.stdout.flush()
    return 0
