"""The admin API: keys, teams and spend reports, for the master key or admin keys only.

Paths (all JSON; errors in OpenAI format ``{"error": {"message", "type", "param", "code"}}``)::

    POST   /gateway/keys                    create; the response's "key" is shown only here
    GET    /gateway/keys                    list (?team_id= &user_id= &include_deleted=true)
    GET    /gateway/keys/{key}              one key ({key} = key_hash or key_alias)
    PATCH  /gateway/keys/{key}              change fields (only those sent)
    POST   /gateway/keys/{key}/rotate       new secret, same record; the old one stops working
    POST   /gateway/keys/{key}/block        /unblock
    DELETE /gateway/keys/{key}
    POST   /gateway/teams   GET /gateway/teams   GET|PATCH /gateway/teams/{team_id}
    GET    /gateway/spend?group_by=key|team|user|model|day&start=&end=&team_id=...

LiteLLM-compatible aliases for porting scripts: ``POST /key/generate``, ``/key/update``,
``/key/delete``, ``/key/block``, ``/key/unblock``, ``GET /key/info``, ``POST /team/new``.
Field names follow LiteLLM's ``/key/generate`` (key_alias, models, max_budget,
budget_duration, rpm_limit, tpm_limit, max_parallel_requests, team_id, user_id, metadata,
duration).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from custom_hooks.admin.models import (
    KeyCreate,
    KeyUpdate,
    TeamCreate,
    TeamUpdate,
    key_view,
    parse_body,
    team_view,
)
from custom_hooks.admin.service import Admin
from custom_hooks.auth.authenticator import get_authenticator, invalidate_cache, presented_key
from custom_hooks.core.errors import BadRequest, GatewayError, PermissionDenied, error_response
from custom_hooks.core.routes import mount_at_front, read_json_body
from custom_hooks.store.store import get_store

__all__ = ["mount", "router"]

router = APIRouter(tags=["gateway admin"])

Handler = Callable[[Request, Admin], Awaitable[Any]]


async def _serve(request: Request, handler: Handler) -> JSONResponse:
    try:
        auth = get_authenticator()
        ident = await auth.identify(presented_key(request))
        if not ident.is_admin or ident.run is not None:
            raise PermissionDenied("The admin API needs the master key or an admin key.")
        result = await handler(request, Admin(get_store(), on_change=invalidate_cache))
    except GatewayError as err:
        return error_response(err)
    return JSONResponse(result)


def _route(path: str, method: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> JSONResponse:
            return await _serve(request, handler)

        endpoint.__name__ = f"gateway_admin_{handler.__name__}"
        endpoint.__doc__ = handler.__doc__
        router.add_api_route(path, endpoint, methods=[method], include_in_schema=True)
        return handler

    return register


def _created(raw: str, row: dict[str, Any]) -> dict[str, Any]:
    return {"key": raw, **key_view(row), "note": "Store this key now: it is not shown again."}


# --- keys ------------------------------------------------------------------------------


@_route("/gateway/keys", "POST")
@_route("/key/generate", "POST")
async def create_key(request: Request, admin: Admin) -> Any:
    """Create a key; the raw key is in the response once."""
    body = parse_body(KeyCreate, await read_json_body(request))
    raw, row = await admin.create_key(body.to_fields())
    return _created(raw, row)


@_route("/gateway/keys", "GET")
async def list_keys(request: Request, admin: Admin) -> Any:
    """List keys (never their secrets)."""
    q = request.query_params
    rows = await admin.list_keys(
        team_id=q.get("team_id"),
        user_id=q.get("user_id"),
        include_deleted=q.get("include_deleted", "").lower() in ("1", "true", "yes"),
    )
    return {"keys": [key_view(r) for r in rows]}


@_route("/gateway/keys/{ref}", "GET")
async def get_key(request: Request, admin: Admin) -> Any:
    return key_view(await admin.find_key(request.path_params["ref"]))


@_route("/key/info", "GET")
async def key_info(request: Request, admin: Admin) -> Any:
    ref = request.query_params.get("key")
    if not ref:
        raise BadRequest("Pass ?key=<key_hash or key_alias>.", param="key")
    view = key_view(await admin.find_key(ref))
    return {"key": view["key_hash"], "info": view}


@_route("/gateway/keys/{ref}", "PATCH")
async def update_key(request: Request, admin: Admin) -> Any:
    body = parse_body(KeyUpdate, await read_json_body(request))
    return key_view(await admin.update_key(request.path_params["ref"], body.to_fields()))


@_route("/key/update", "POST")
async def update_key_compat(request: Request, admin: Admin) -> Any:
    body = await read_json_body(request)
    ref = body.pop("key", None) if isinstance(body, dict) else None
    if not isinstance(ref, str) or not ref:
        raise BadRequest("Name the key to update in 'key' (key_hash or key_alias).", param="key")
    changes = parse_body(KeyUpdate, body).to_fields()
    return key_view(await admin.update_key(ref, changes))


@_route("/gateway/keys/{ref}/rotate", "POST")
async def rotate_key(request: Request, admin: Admin) -> Any:
    """New secret for the same key; the old one stops working."""
    raw, row = await admin.rotate_key(request.path_params["ref"])
    return _created(raw, row)


@_route("/gateway/keys/{ref}/block", "POST")
async def block_key(request: Request, admin: Admin) -> Any:
    return key_view(await admin.set_blocked(request.path_params["ref"], True))


@_route("/gateway/keys/{ref}/unblock", "POST")
async def unblock_key(request: Request, admin: Admin) -> Any:
    return key_view(await admin.set_blocked(request.path_params["ref"], False))


async def _compat_refs(request: Request) -> list[str]:
    body = await read_json_body(request)
    refs = body.get("keys") or ([body["key"]] if body.get("key") else []) if isinstance(body, dict) else []
    if not refs or not all(isinstance(r, str) for r in refs):
        raise BadRequest("Name the keys in 'keys': [key_hash or key_alias, ...].", param="keys")
    return refs


@_route("/key/block", "POST")
async def block_compat(request: Request, admin: Admin) -> Any:
    return {"keys": [key_view(await admin.set_blocked(r, True)) for r in await _compat_refs(request)]}


@_route("/key/unblock", "POST")
async def unblock_compat(request: Request, admin: Admin) -> Any:
    return {"keys": [key_view(await admin.set_blocked(r, False)) for r in await _compat_refs(request)]}


@_route("/gateway/keys/{ref}", "DELETE")
async def delete_key(request: Request, admin: Admin) -> Any:
    return {"deleted": key_view(await admin.delete_key(request.path_params["ref"]))}


@_route("/key/delete", "POST")
async def delete_compat(request: Request, admin: Admin) -> Any:
    refs = await _compat_refs(request)
    return {"deleted_keys": [key_view(await admin.delete_key(r))["key_hash"] for r in refs]}


# --- teams -----------------------------------------------------------------------------


@_route("/gateway/teams", "POST")
@_route("/team/new", "POST")
async def create_team(request: Request, admin: Admin) -> Any:
    body = parse_body(TeamCreate, await read_json_body(request))
    return team_view(await admin.create_team(body.to_fields()))


@_route("/gateway/teams", "GET")
async def list_teams(request: Request, admin: Admin) -> Any:
    return {"teams": [team_view(r) for r in await admin.list_teams()]}


@_route("/gateway/teams/{team_id}", "GET")
async def get_team(request: Request, admin: Admin) -> Any:
    return team_view(await admin.get_team(request.path_params["team_id"]))


@_route("/gateway/teams/{team_id}", "PATCH")
async def update_team(request: Request, admin: Admin) -> Any:
    body = parse_body(TeamUpdate, await read_json_body(request))
    return team_view(await admin.update_team(request.path_params["team_id"], body.to_fields()))


# --- spend -----------------------------------------------------------------------------


@_route("/gateway/spend", "GET")
async def spend(request: Request, admin: Admin) -> Any:
    """Spend from the ledger grouped by key, team, user, model or day, with totals."""
    return await admin.spend(dict(request.query_params))


def mount(app: FastAPI) -> None:
    """Add the admin routes at the FRONT of the app, ahead of LiteLLM's own and catch-alls."""
    mount_at_front(app, router)
