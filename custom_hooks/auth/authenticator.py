"""Resolve a presented key to an :class:`Identity`, and that to LiteLLM's ``UserAPIKeyAuth``.

:class:`Authenticator` holds the only auth state: a short in-process cache of resolved
keys (``gateway.governance.auth_cache_ttl_s``, default 5 s). Admin changes made through
this instance invalidate it at once; another instance sees a change (block, delete,
rotate, new limits) within that TTL at most.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from litellm.proxy._types import LitellmUserRoles, UserAPIKeyAuth

from custom_hooks.auth.keys import (
    RUN_TOKEN_PREFIX,
    Identity,
    RunInfo,
    hash_key,
    hashes_equal,
    identity_from_records,
)
from custom_hooks.core.errors import (
    AuthenticationFailed,
    BadRequest,
    NotFound,
    PermissionDenied,
)
from custom_hooks.core.identity import remember_identity
from custom_hooks.core.lifecycle import Step
from custom_hooks.core.services import Services, Slot, services
from custom_hooks.edge.front_door import (
    BODY_STATE,
    PARSED_STATE,
    RESOLVED_STATE,
    ROUTE_STATE,
    take_stream_slot,
)
from custom_hooks.edge.model_resolution import ModelDirectory, Resolved, resolve
from custom_hooks.edge.request_policy import check_header_ids, check_request, parse_body
from custom_hooks.edge.surface import RouteInfo, Surface
from custom_hooks.store.store import STORE, Row, Store

__all__ = [
    "AUTHENTICATOR",
    "STEP",
    "Authenticator",
    "KeyBlocked",
    "KeyExpired",
    "ModelNotAllowed",
    "get_authenticator",
    "invalidate_cache",
    "presented_key",
]

log = logging.getLogger("gateway.auth")

_CachedKey = tuple[float, Row, Row | None]


class KeyExpired(AuthenticationFailed):
    code = "key_expired"


class KeyBlocked(AuthenticationFailed):
    code = "key_blocked"


class ModelNotAllowed(PermissionDenied):
    code = "model_not_allowed"


_NO_KEY = AuthenticationFailed(
    "No API key was sent. Pass your gateway key as 'Authorization: Bearer <key>' (or an 'api-key' header)."
)
_UNKNOWN = AuthenticationFailed("Invalid API key. Check the key, or ask your gateway admin for a new one.")


def presented_key(request: Request) -> str:
    """The key a client sent: ``Authorization: Bearer <key>`` or an ``api-key`` header."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return (request.headers.get("api-key") or auth).strip()


class Authenticator:
    """Authenticate keys against the store. One per process; tests build their own."""

    def __init__(
        self,
        store: Store,
        *,
        master_key: str,
        model_names: Callable[[], Sequence[str]] = list,
        cache_ttl_s: float = 5.0,
        user_budget: tuple[float | None, str | None] = (None, None),
        clock: Callable[[], float] = time.monotonic,
        directory: Callable[[], ModelDirectory] | None = None,
    ) -> None:
        self.store = store
        self._master = master_key
        self._master_hash = hash_key(master_key)
        self._model_names = model_names
        self._names: tuple[str, ...] | None = None  # model_names(), read once: the config is fixed in-process
        self._models_memo: dict[tuple[Any, ...], tuple[str, ...]] = {}
        self._ttl = cache_ttl_s
        self._user_budget = user_budget
        self._clock = clock
        self._cache: dict[str, _CachedKey] = {}
        self._inflight: dict[str, asyncio.Future[tuple[Row | None, Row | None]]] = {}
        self._generation = 0
        self._directory_fn = directory or (lambda: ModelDirectory(modes=dict.fromkeys(model_names(), "chat")))
        self._dir: ModelDirectory | None = None

    def invalidate(self) -> None:
        """Forget every cached key (after any admin change made on this instance)."""
        self._generation += 1  # a fetch already under way must not cache what it read before
        self._cache.clear()
        self._inflight.clear()

    # --- identity --------------------------------------------------------------------

    def master_identity(self) -> Identity:
        return Identity(
            key_hash=self._master_hash,
            key_alias="master",
            user_id="admin",
            team_id=None,
            is_admin=True,
            tier="admin",
        )

    async def identify(self, api_key: str) -> Identity:
        """The identity behind a raw key or run token; raises a 401 :class:`GatewayError`."""
        if not api_key:
            raise _NO_KEY
        if hmac.compare_digest(api_key.encode(), self._master.encode()):
            return self.master_identity()
        if api_key.startswith(RUN_TOKEN_PREFIX):
            return await self._identify_run(api_key)
        secret_hash = hash_key(api_key)
        key, team = await self._load(
            f"s:{secret_hash}", lambda: self.store.get_key_by_secret_hash(secret_hash)
        )
        if key is None or not hashes_equal(key["secret_hash"], secret_hash):
            raise _UNKNOWN
        return self._check_usable(key, team)

    async def _identify_run(self, token: str) -> Identity:
        try:
            from custom_hooks.auth.run_tokens import averify_run_token
        except ImportError:
            raise AuthenticationFailed("Run tokens are not enabled on this gateway.") from None
        claims = await averify_run_token(token)
        if claims is None:
            raise AuthenticationFailed(
                "Invalid or expired agent run token. Start a new agent run with your own key."
            )
        run = RunInfo.from_claims(claims)
        if hashes_equal(claims.key_hash, self._master_hash):
            return self.master_identity().with_run(run)
        key_hash = claims.key_hash
        key, team = await self._load(
            f"k:{key_hash}", lambda: self.store.get_key_by_hash(key_hash, include_deleted=True)
        )
        if key is None:
            raise _UNKNOWN
        rotated = key.get("rotated_at")
        if rotated is not None and claims.issued_at < rotated.timestamp():
            raise AuthenticationFailed(
                "This agent run's key was rotated after the run started. Start a new run with the new key."
            )
        return self._check_usable(key, team).with_run(run)

    async def _load(self, cache_key: str, fetch: Callable[[], Any]) -> tuple[Row | None, Row | None]:
        """The key and team rows behind ``cache_key``: cached for the TTL, fetched once.

        Single-flight: when an entry expires under load, the first request fetches and the
        others await that one fetch instead of each querying the store (a stampede of
        store calls, each waiting on a saturated loop, was the p99 at high concurrency).
        """
        now = self._clock()
        hit = self._cache.get(cache_key)
        if hit is not None and hit[0] > now:
            return hit[1], hit[2]
        pending = self._inflight.get(cache_key)
        if pending is None:
            pending = asyncio.ensure_future(self._fetch(cache_key, fetch))
            self._inflight[cache_key] = pending
            pending.add_done_callback(
                lambda f: self._inflight.pop(cache_key, None) if self._inflight.get(cache_key) is f else None
            )
        return await asyncio.shield(pending)

    async def _fetch(self, cache_key: str, fetch: Callable[[], Any]) -> tuple[Row | None, Row | None]:
        generation = self._generation
        key: Row | None = await fetch()
        if key is None:
            return None, None
        team = await self.store.get_team(key["team_id"]) if key.get("team_id") else None
        if len(self._cache) > 10_000:
            self._cache.clear()
        # Jittered expiry, never beyond the TTL (the bound another instance's change waits for):
        # entries loaded together do not all expire together.
        ttl = self._ttl * (1.0 - 0.2 * random.random())
        if generation == self._generation:
            self._cache[cache_key] = (self._clock() + ttl, key, team)
        return key, team

    def _check_usable(self, key: Row, team: Row | None) -> Identity:
        name = f"'{key['key_alias']}'" if key.get("key_alias") else f"{key['key_prefix']}..."
        if key.get("deleted_at") is not None:
            raise AuthenticationFailed(f"API key {name} was deleted. Ask your gateway admin for a new key.")
        if key.get("blocked"):
            raise KeyBlocked(f"API key {name} is blocked. Ask your gateway admin to unblock it.")
        if team is not None and team.get("blocked"):
            raise KeyBlocked(
                f"Team '{team['team_id']}' of API key {name} is blocked. Ask your gateway admin."
            )
        expires = key.get("expires_at")
        if expires is not None and expires <= datetime.now(UTC):
            raise KeyExpired(
                f"API key {name} expired at {expires.isoformat(timespec='seconds')}. "
                "Ask your gateway admin to extend it or issue a new key."
            )
        return identity_from_records(key, team, user_budget=self._user_budget)

    # --- LiteLLM ---------------------------------------------------------------------

    def _allowed_models(self, ident: Identity) -> list[str]:
        """``ident.allowed_model_names`` over the configured models, memoised.

        The answer depends only on the key's, team's and run's model lists (the model
        names come from the config, which does not change in-process), so it is computed
        once per distinct combination instead of per request.
        """
        if self._names is None:
            self._names = tuple(self._model_names())
        run_models = None if ident.run is None else tuple(ident.run.allowed_models)
        memo_key = (tuple(ident.key_models), tuple(ident.team_models), run_models)
        hit = self._models_memo.get(memo_key)
        if hit is None:
            hit = tuple(ident.allowed_model_names(self._names))
            if len(self._models_memo) > 10_000:
                self._models_memo.clear()
            self._models_memo[memo_key] = hit
        return list(hit)

    def to_user_api_key_auth(self, ident: Identity) -> UserAPIKeyAuth:
        models = [] if ident.is_admin and ident.run is None else self._allowed_models(ident)
        wire = ident.as_metadata()
        remember_identity(ident, wire)  # identity_of() hands hooks this very object back
        return UserAPIKeyAuth(
            api_key=ident.key_hash,
            key_alias=ident.key_alias,
            user_id=ident.user_id,
            team_id=ident.team_id,
            team_alias=ident.team_alias,
            user_role=LitellmUserRoles.PROXY_ADMIN if ident.is_admin else LitellmUserRoles.INTERNAL_USER,
            models=models,
            rpm_limit=ident.rpm_limit,
            tpm_limit=ident.tpm_limit,
            max_parallel_requests=ident.max_parallel_requests,
            team_rpm_limit=ident.team_rpm_limit,
            team_tpm_limit=ident.team_tpm_limit,
            metadata={"gateway_identity": wire},
        )

    def check_access(self, ident: Identity, *, route: str, is_llm_route: bool, models: Sequence[str]) -> None:
        """Raise 403 unless ``ident`` may use ``route`` with ``models``."""
        if not ident.is_admin and not is_llm_route:
            what = "An agent run token" if ident.run is not None else "This key"
            raise PermissionDenied(f"{what} may not call {route}: it needs the master key or an admin key.")
        for model in models:
            if not ident.may_call(model):
                raise ModelNotAllowed(
                    f"This key may not call model '{model}'. Call one of the models listed by "
                    "GET /v1/models, or ask your gateway admin to allow it.",
                    param="model",
                )

    async def authenticate(self, request: Request, api_key: str) -> UserAPIKeyAuth:
        """The whole custom-auth decision for one proxy request (raises GatewayError).

        Behind the front door (:mod:`custom_hooks.edge.front_door`) the route is already known
        to be served; its kind, any model in its path and the raw body are in the request
        state. LLM routes get one model resolution, the request policy and, for streams, a
        per-key stream slot; operator-enabled LiteLLM routes need an admin or a grant.
        """
        from litellm.proxy.auth.auth_utils import get_request_route
        from litellm.proxy.auth.route_checks import RouteChecks

        ident = await self.identify(api_key or presented_key(request))
        route = get_request_route(request)
        state = request.scope.get("state")
        state = state if isinstance(state, dict) else {}
        info = state.get(ROUTE_STATE)
        if not isinstance(info, RouteInfo):
            # Not behind the front door (it refuses unserved routes): learn the route's kind,
            # and let check_access keep non-admins to LLM routes.
            info = _LLM_SURFACE.classify(request.method, request.url.path) or RouteInfo("own")
        operator = ident.is_admin and ident.run is None
        if info.access == "enabled":
            if not operator and not _granted(ident, info):
                raise PermissionDenied(f"{route[:120]} is enabled for admins and granted keys only.")
            return self.to_user_api_key_auth(ident)
        models: list[str] = []
        if info.access == "llm":
            body = state.get(PARSED_STATE)
            if not isinstance(body, dict):  # not checked by the front door
                body = await self._body(request, state)
                check_request(body, kind=info.kind, operator=operator)
                check_header_ids(request.headers.raw)
            resolved = state.get(RESOLVED_STATE)
            if not isinstance(resolved, Resolved):  # not resolved by the front door
                resolved = resolve(
                    self._directory(),
                    kind=info.kind,
                    path_model=info.path_model,
                    query=request.query_params,
                    body=body,
                )
            if resolved.model is not None and not operator and info.kind != "models":
                models = [resolved.model]
            if not operator:
                _refuse_provider_side_state(info, body)
            if body.get("stream") is True:
                take_stream_slot(request.scope, ident.key_hash)
        self.check_access(ident, route=route, is_llm_route=RouteChecks.is_llm_api_route(route), models=models)
        return self.to_user_api_key_auth(ident)

    async def _body(self, request: Request, state: dict[str, Any]) -> dict[str, Any]:
        raw = state.get(BODY_STATE)
        if not isinstance(raw, bytes):
            raw = await request.body()
        if not raw and request.method in ("GET", "HEAD", "DELETE"):
            return {}
        return parse_body(raw)

    def _directory(self) -> ModelDirectory:
        if self._dir is None:
            self._dir = self._directory_fn()
        return self._dir


_LLM_SURFACE = Surface()


class ResponseNotFound(NotFound):
    code = "response_not_found"


def _refuse_provider_side_state(info: RouteInfo, body: dict[str, Any]) -> None:
    """Provider-side response ids live on the operator's provider account, shared by every
    tenant: without a record of which key created an id, no key but the master key may
    read, delete or continue one (agents continue their own threads; see the agents docs)."""
    if info.kind == "responses_item":
        raise ResponseNotFound(
            "No such response for this key. Stored responses are not retrievable through this gateway; "
            "keep the response your client received.",
            param="response_id",
        )
    if info.kind == "responses" and (body.get("previous_response_id") or body.get("conversation")):
        name = "previous_response_id" if body.get("previous_response_id") else "conversation"
        raise BadRequest(
            f"'{name}' is not available for models on this gateway (provider-side state is shared by "
            "all tenants). Send the conversation so far in 'input' instead.",
            param=name,
        )


def _granted(ident: Identity, info: RouteInfo) -> bool:
    if ident.run is not None:
        return False
    return (ident.key_alias is not None and ident.key_alias in info.grant_keys) or (
        ident.team_id is not None and ident.team_id in info.grant_teams
    )


# --- the process's authenticator -----------------------------------------------------

AUTHENTICATOR: Slot[Authenticator] = Slot("authenticator", "the key store")


def get_authenticator() -> Authenticator:
    """This process's authenticator (:class:`GatewayStarting` before the auth step ran)."""
    return services().get(AUTHENTICATOR)


def invalidate_cache() -> None:
    """Drop cached identities on this instance (admin API calls this after every change)."""
    get_authenticator().invalidate()


async def _start(svc: Services) -> None:
    cfg = svc.config
    opts = cfg.gateway.governance.identity
    directory = ModelDirectory.from_model_list(cfg.model_list)
    svc.provide(
        AUTHENTICATOR,
        Authenticator(
            svc.get(STORE),
            master_key=svc.settings.resolved_master_key(),
            model_names=cfg.model_names,
            cache_ttl_s=opts.auth_cache_ttl_s,
            user_budget=(opts.user_max_budget, opts.user_budget_duration),
            directory=lambda: directory,
        ),
    )


async def _stop(svc: Services) -> None:
    svc.take(AUTHENTICATOR)


STEP = Step("auth", _start, _stop)
