"""What the admin API does, without HTTP: key and team changes, spend reports.

Every change drops this instance's auth cache, so it applies here at once (other
instances within ``gateway.governance.identity.auth_cache_ttl_s``).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from custom_hooks.admin.models import HEX64
from custom_hooks.auth.keys import KEY_PREFIX, generate_key, hash_key
from custom_hooks.core.errors import BadRequest, NotFound
from custom_hooks.store.reports import FILTERS
from custom_hooks.store.store import GROUP_BYS, Row, Store, StoreConflict

__all__ = ["Admin"]

log = logging.getLogger("gateway.admin")


def _conflict_param(exc: StoreConflict, default: str) -> str:
    text = str(exc).lower()
    for name in ("key_alias", "team_id", "foreign key"):
        if name in text:
            return "team_id" if name == "foreign key" else name
    return default


class Admin:
    """Key, team and spend operations over a store (raises GatewayError subclasses)."""

    def __init__(self, store: Store, on_change: Callable[[], None] = lambda: None) -> None:
        self.store = store
        self._changed = on_change

    # --- keys --------------------------------------------------------------------

    async def _check_team(self, fields: Mapping[str, Any]) -> None:
        team_id = fields.get("team_id")
        if team_id and await self.store.get_team(team_id) is None:
            raise BadRequest(
                f"Team '{team_id}' does not exist. Create it first (POST /gateway/teams).", param="team_id"
            )

    async def create_key(self, fields: dict[str, Any]) -> tuple[str, Row]:
        """A new key: returns the raw key (shown once) and the stored record."""
        await self._check_team(fields)
        raw = generate_key()
        digest = hash_key(raw)
        record = {**fields, "key_hash": digest, "secret_hash": digest, "key_prefix": raw[:8]}
        try:
            row = await self.store.create_key(record)
        except StoreConflict as exc:
            raise BadRequest(
                f"Key alias '{fields.get('key_alias')}' is already used by another key.",
                param=_conflict_param(exc, "key_alias"),
            ) from None
        log.info("key created: %s (alias %s)", row["key_prefix"] + "...", row.get("key_alias"))
        self._changed()
        return raw, row

    async def find_key(self, ref: str) -> Row:
        """A live key by its hash, alias, or the raw key itself."""
        row: Row | None
        if ref.startswith(KEY_PREFIX):
            row = await self.store.get_key_by_secret_hash(hash_key(ref))
            row = row if row and row.get("deleted_at") is None else None
        elif HEX64.match(ref):
            row = await self.store.get_key_by_hash(ref)
        else:
            row = await self.store.get_key_by_alias(ref)
        if row is None:
            raise NotFound(
                "No such key. Refer to a key by its key_hash or key_alias (GET /gateway/keys).", param="key"
            )
        return row

    async def list_keys(self, **filters: Any) -> list[Row]:
        return await self.store.list_keys(**filters)

    async def update_key(self, ref: str, changes: dict[str, Any]) -> Row:
        row = await self.find_key(ref)
        await self._check_team(changes)
        if not changes:
            return row
        try:
            updated = await self.store.update_key(row["key_hash"], changes)
        except StoreConflict as exc:
            raise BadRequest(
                "That key_alias is already used by another key.", param=_conflict_param(exc, "key_alias")
            ) from None
        self._changed()
        if updated is None:
            raise NotFound("The key was deleted meanwhile.", param="key")
        return updated

    async def rotate_key(self, ref: str) -> tuple[str, Row]:
        """New secret for the same record; the old secret stops working."""
        row = await self.find_key(ref)
        raw = generate_key()
        changes = {"secret_hash": hash_key(raw), "key_prefix": raw[:8], "rotated_at": datetime.now(UTC)}
        updated = await self.store.update_key(row["key_hash"], changes)
        self._changed()
        if updated is None:
            raise NotFound("The key was deleted meanwhile.", param="key")
        log.info("key rotated: %s", updated["key_prefix"] + "...")
        return raw, updated

    async def set_blocked(self, ref: str, blocked: bool) -> Row:
        return await self.update_key(ref, {"blocked": blocked})

    async def delete_key(self, ref: str) -> Row:
        row = await self.find_key(ref)
        await self.store.delete_key(row["key_hash"])
        self._changed()
        gone = await self.store.get_key_by_hash(row["key_hash"], include_deleted=True)
        return gone or row

    # --- teams -------------------------------------------------------------------

    async def create_team(self, fields: dict[str, Any]) -> Row:
        fields = dict(fields)
        fields.setdefault("team_id", None)
        if not fields["team_id"]:
            fields["team_id"] = "team-" + secrets.token_hex(6)
        try:
            row = await self.store.create_team(fields)
        except StoreConflict:
            raise BadRequest(f"Team '{fields['team_id']}' already exists.", param="team_id") from None
        self._changed()
        return row

    async def get_team(self, team_id: str) -> Row:
        row = await self.store.get_team(team_id)
        if row is None:
            raise NotFound(f"No team '{team_id}' (GET /gateway/teams lists them).", param="team_id")
        return row

    async def update_team(self, team_id: str, changes: dict[str, Any]) -> Row:
        changes = {k: v for k, v in changes.items() if k != "team_id"}
        team = await self.get_team(team_id)
        row = await self.store.update_team(team_id, changes) if changes else team
        self._changed()
        if row is None:
            raise NotFound(f"No team '{team_id}'.", param="team_id")
        return row

    async def list_teams(self) -> list[Row]:
        return await self.store.list_teams()

    # --- spend -------------------------------------------------------------------

    async def spend(self, params: Mapping[str, str]) -> dict[str, Any]:
        params = dict(params)
        group_by = params.pop("group_by", params.pop("by", "key"))
        if group_by not in GROUP_BYS:
            raise BadRequest(f"group_by must be one of: {', '.join(GROUP_BYS)}.", param="group_by")
        start, end = _when(params.pop("start", None), "start"), _when(params.pop("end", None), "end")
        unknown = set(params) - set(FILTERS)
        if unknown:
            name = sorted(unknown)[0]
            raise BadRequest(f"Unknown filter '{name}'; use one of: {', '.join(FILTERS)}.", param=name)
        report = await self.store.spend_report(group_by, start=start, end=end, filters=params)
        return report.to_dict()


def _when(value: str | None, param: str) -> datetime | None:
    """An ISO date or datetime (UTC if no offset)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest(
            f"'{param}' must be an ISO date or datetime, e.g. 2025-01-31.", param=param
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
