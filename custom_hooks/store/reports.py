"""Spend reports over the ledger: grouped sums with totals, one query shape for both backends."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from custom_hooks.store import schema as s

__all__ = ["FILTERS", "GROUP_BYS", "SpendReport", "spend_report_query"]

_L = s.ledger.c
_MODEL = sa.func.coalesce(_L.served_model, _L.requested_model)

# group name -> the expression its rows are grouped on (named once, selected and grouped by)
_GROUP_KEYS: dict[str, sa.ColumnElement[Any]] = {
    "key": _L.key_hash,
    "team": _L.team_id,
    "user": _L.user_id,
    "model": _MODEL,
    # The PostgreSQL session runs in UTC (see _store.create_engine), SQLite stores UTC.
    "day": sa.func.date(_L.created_at),
}
# group name -> the columns selected for the group (its labelled key first)
GROUP_BYS: dict[str, list[sa.ColumnElement[Any]]] = {
    "key": [_GROUP_KEYS["key"].label("key_hash"), sa.func.max(_L.key_alias).label("key_alias")],
    "team": [_GROUP_KEYS["team"].label("team_id")],
    "user": [_GROUP_KEYS["user"].label("user_id")],
    "model": [_GROUP_KEYS["model"].label("model")],
    "day": [_GROUP_KEYS["day"].label("day")],
}
FILTERS: dict[str, sa.ColumnElement[Any]] = {
    "key_hash": _L.key_hash,
    "key_alias": _L.key_alias,
    "team_id": _L.team_id,
    "user_id": _L.user_id,
    "model": _MODEL,
    "requested_model": _L.requested_model,
    "status": _L.status,
    "agent_run_id": _L.agent_run_id,
}


def _sums() -> list[sa.ColumnElement[Any]]:
    return [
        sa.func.count().label("requests"),
        sa.func.coalesce(sa.func.sum(sa.case((_L.status == "failure", 1), else_=0)), 0).label("failures"),
        sa.func.coalesce(sa.func.sum(_L.prompt_tokens), 0).label("prompt_tokens"),
        sa.func.coalesce(sa.func.sum(_L.completion_tokens), 0).label("completion_tokens"),
        sa.func.coalesce(sa.func.sum(_L.cost), 0.0).label("cost"),
    ]


def spend_report_query(
    group_by: str,
    *,
    start: datetime | None,
    end: datetime | None,
    filters: Mapping[str, str],
) -> tuple[sa.Select[Any], sa.Select[Any]]:
    """The grouped query and the totals query (raises ValueError on a bad group or filter)."""
    if group_by not in GROUP_BYS:
        raise ValueError(f"group_by must be one of {', '.join(GROUP_BYS)}")
    where: list[sa.ColumnElement[bool]] = []
    if start is not None:
        where.append(_L.created_at >= start)
    if end is not None:
        where.append(_L.created_at < end)
    for name, value in filters.items():
        if name not in FILTERS:
            raise ValueError(f"unknown filter '{name}'; use one of {', '.join(FILTERS)}")
        where.append(FILTERS[name] == value)
    key = _GROUP_KEYS[group_by]
    order = key.asc() if group_by == "day" else sa.desc("cost")
    rows = sa.select(*GROUP_BYS[group_by], *_sums()).where(*where).group_by(key).order_by(order)
    totals = sa.select(*_sums()).where(*where)
    return rows, totals


def _plain(value: Any) -> Any:
    """JSON-ready values: PostgreSQL's date() gives a date, SQLite's a string."""
    return value.isoformat() if isinstance(value, date | datetime) else value


@dataclass(frozen=True)
class SpendReport:
    """Grouped spend rows (cost descending, or by day) and their totals."""

    group_by: str
    rows: list[dict[str, Any]]
    totals: dict[str, Any]
    start: datetime | None = None
    end: datetime | None = None

    @classmethod
    def build(
        cls,
        group_by: str,
        rows: list[dict[str, Any]],
        totals: dict[str, Any],
        *,
        start: datetime | None,
        end: datetime | None,
    ) -> SpendReport:
        def norm(r: dict[str, Any]) -> dict[str, Any]:
            out = {k: _plain(v) for k, v in r.items()}
            for k in ("requests", "failures", "prompt_tokens", "completion_tokens"):
                out[k] = int(out.get(k) or 0)
            out["cost"] = float(out.get("cost") or 0.0)
            return out

        return cls(group_by, [norm(r) for r in rows], norm(totals), start, end)

    def to_dict(self) -> dict[str, Any]:
        return {
            "group_by": self.group_by,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "rows": self.rows,
            "totals": self.totals,
        }
