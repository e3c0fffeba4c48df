"""The in-process transport, against a real Starlette app: what a socket would have given.

Each case is something a request from the network gets and an inner call must get too:
the request as sent, a response streamed as the app writes it, a disconnect when the client
gives up, a clean context, a 500 or a broken body when the app fails, the read timeout.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from agent_routes.runtime.loopback import (
    LOOPBACK,
    Loopback,
    LoopbackTransport,
    inner_call_target,
    loopback,
    step,
)
from custom_hooks.core.services import Services, use_services
from custom_hooks.core.settings import GatewaySettings
from tests.harness.built_services import SHIPPED, shipped_services

_caller_var: contextvars.ContextVar[str] = contextvars.ContextVar("caller_var", default="unset")


class _Probe:
    """What the app saw and did, for the test to read."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.disconnected = asyncio.Event()
        self.cleaned_up = asyncio.Event()
        self.seen: dict[str, Any] = {}


def _app(probe: _Probe) -> Starlette:
    async def echo(request: Request) -> Response:
        probe.seen = {
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "auth": request.headers.get("authorization"),
            "body": await request.body(),
            "client": request.client,
            "var": _caller_var.get(),
        }
        return JSONResponse({"ok": True}, status_code=201, headers={"x-gateway-run": "r1"})

    async def chunks(request: Request) -> Response:
        async def body() -> AsyncIterator[bytes]:
            try:
                yield b"data: one\n\n"
                await probe.release.wait()
                yield b"data: two\n\n"
            finally:
                probe.cleaned_up.set()

        return StreamingResponse(body(), media_type="text/event-stream")

    async def forever(request: Request) -> Response:
        async def body() -> AsyncIterator[bytes]:
            yield b"data: first\n\n"
            await asyncio.sleep(3600)
            yield b"never"

        return StreamingResponse(body(), media_type="text/event-stream")

    async def boom(request: Request) -> Response:
        raise RuntimeError("the app broke")

    async def silent(request: Request) -> Response:
        await asyncio.sleep(3600)
        return Response(b"late")

    async def after(request: Request) -> Response:
        async def finish_later() -> None:
            await asyncio.sleep(0.05)
            probe.cleaned_up.set()

        from starlette.background import BackgroundTask

        return Response(b"done", background=BackgroundTask(finish_later))

    async def raw_disconnect(scope: Any, receive: Any, send: Any) -> None:
        # A bare ASGI app: sends half a body, then waits for the client to go away.
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"half", "more_body": True})
        message = await receive()
        if message["type"] == "http.disconnect":
            probe.disconnected.set()

    async def broken_mid_body(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise RuntimeError("failed after the headers")

    async def ends_early(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})

    app = Starlette(
        routes=[
            Route("/v1/echo", echo, methods=["POST"]),
            Route("/v1/chunks", chunks),
            Route("/v1/forever", forever),
            Route("/v1/boom", boom),
            Route("/v1/silent", silent),
            Route("/v1/after", after),
        ]
    )
    app.mount("/raw/disconnect", raw_disconnect)
    app.mount("/raw/broken", broken_mid_body)
    app.mount("/raw/short", ends_early)
    return app


@pytest.fixture
def probe() -> _Probe:
    return _Probe()


@pytest.fixture
async def client(probe: _Probe) -> AsyncIterator[httpx.AsyncClient]:
    transport = LoopbackTransport(_app(probe), server=("127.0.0.1", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:9") as c:
        yield c


async def test_the_request_reaches_the_app_as_sent(client: httpx.AsyncClient, probe: _Probe) -> None:
    r = await client.post(
        "/v1/echo?x=1&y=caf%C3%A9", content=b'{"model": "m"}', headers={"Authorization": "Bearer run-token"}
    )
    assert r.status_code == 201 and r.json() == {"ok": True}
    assert r.headers["x-gateway-run"] == "r1"
    assert probe.seen["method"] == "POST" and probe.seen["path"] == "/v1/echo"
    assert probe.seen["query"] == "x=1&y=caf%C3%A9"
    assert probe.seen["auth"] == "Bearer run-token"
    assert probe.seen["body"] == b'{"model": "m"}'
    assert probe.seen["client"] == ("127.0.0.1", 0)


async def test_the_response_streams_as_the_app_writes_it(client: httpx.AsyncClient, probe: _Probe) -> None:
    async with client.stream("GET", "/v1/chunks") as r:
        it = r.aiter_raw()
        assert await asyncio.wait_for(it.__anext__(), 5) == b"data: one\n\n"  # before the app goes on
        assert not probe.release.is_set()
        probe.release.set()
        rest = [c async for c in it]
    assert b"".join(rest) == b"data: two\n\n"
    await asyncio.wait_for(probe.cleaned_up.wait(), 5)


async def test_a_client_that_gives_up_is_a_disconnect_for_the_app(
    client: httpx.AsyncClient, probe: _Probe
) -> None:
    async with client.stream("GET", "/raw/disconnect/") as r:
        assert await r.aiter_raw().__anext__() == b"half"
    await asyncio.wait_for(probe.disconnected.wait(), 5)


async def test_a_streaming_response_given_up_ends_its_generator(
    client: httpx.AsyncClient, probe: _Probe
) -> None:
    async with client.stream("GET", "/v1/chunks") as r:
        assert await r.aiter_raw().__anext__() == b"data: one\n\n"
    # Starlette hears the disconnect and stops the body; its finally runs (nothing leaks)
    await asyncio.wait_for(probe.cleaned_up.wait(), 5)


async def test_work_after_the_last_byte_is_not_cancelled(client: httpx.AsyncClient, probe: _Probe) -> None:
    r = await client.get("/v1/after")
    assert r.content == b"done"
    await asyncio.wait_for(probe.cleaned_up.wait(), 5)


async def test_the_app_runs_in_a_clean_context(probe: _Probe) -> None:
    # What the outer request set must not leak into the inner one; what start-up set does.
    base = contextvars.Context()
    base.run(_caller_var.set, "from-start-up")
    transport = LoopbackTransport(_app(probe), context=base)
    token = _caller_var.set("the-outer-request")
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
            await c.post("/v1/echo", content=b"{}")
            assert probe.seen["var"] == "from-start-up"
            fresh = LoopbackTransport(_app(probe))  # no context given: an empty one
            async with httpx.AsyncClient(transport=fresh, base_url="http://gw") as c2:
                await c2.post("/v1/echo", content=b"{}")
            assert probe.seen["var"] == "unset"
    finally:
        _caller_var.reset(token)
    # and the inner request's own changes stay in its copy
    assert base.run(_caller_var.get) == "from-start-up"


async def test_an_app_failing_before_its_response_is_a_500(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/boom")
    assert r.status_code == 500
    assert b"the app broke" not in r.content  # no exception text to the client


async def test_an_app_failing_mid_body_is_a_read_error(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    async with client.stream("GET", "/raw/broken/") as r:
        assert r.status_code == 200
        with pytest.raises(httpx.ReadError):
            await r.aread()
    logged = [r for r in caplog.records if r.name == "gateway.agents" and r.exc_info]
    assert logged and "failed after the headers" in str(logged[0].exc_info[1])  # type: ignore[index]


async def test_an_app_ending_without_its_last_body_is_a_protocol_error(client: httpx.AsyncClient) -> None:
    async with client.stream("GET", "/raw/short/") as r:
        with pytest.raises(httpx.RemoteProtocolError):
            await r.aread()


async def test_the_read_timeout_holds_for_the_headers_and_each_chunk(client: httpx.AsyncClient) -> None:
    with pytest.raises(httpx.ReadTimeout):
        await client.get("/v1/silent", timeout=httpx.Timeout(5.0, read=0.2))
    async with client.stream("GET", "/v1/forever", timeout=httpx.Timeout(5.0, read=0.2)) as r:
        it = r.aiter_raw()
        assert await it.__anext__() == b"data: first\n\n"
        with pytest.raises(httpx.ReadTimeout):
            await it.__anext__()


async def test_a_caller_cancelled_while_waiting_disconnects(probe: _Probe) -> None:
    seen: list[str] = []

    async def waits(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        seen.append((await receive())["type"])  # blocks until the client is gone

    async with httpx.AsyncClient(transport=LoopbackTransport(waits), base_url="http://gw") as c:
        call = asyncio.ensure_future(c.get("/"))
        await asyncio.sleep(0.05)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        for _ in range(50):
            if seen:
                break
            await asyncio.sleep(0.01)
    assert seen == ["http.disconnect"]


async def test_only_its_own_origin_is_served(probe: _Probe) -> None:
    transport = LoopbackTransport(_app(probe), origin="http://127.0.0.1:4000/")
    async with httpx.AsyncClient(transport=transport) as c:
        assert (await c.post("http://127.0.0.1:4000/v1/echo", content=b"{}")).status_code == 201
        for elsewhere in (
            "http://127.0.0.1:4001/v1/echo",
            "https://127.0.0.1:4000/v1/echo",
            "http://example.com/",
        ):
            with pytest.raises(httpx.ConnectError, match=re.escape("serves http://127.0.0.1:4000/ only")):
                await c.post(elsewhere, content=b"{}")


def _services(inner_calls: str) -> Services:
    svc = shipped_services(GatewaySettings(config=SHIPPED, public_url="https://gateway.example.com/llm/"))
    shipped = svc.config
    agents = shipped.gateway.agents.model_copy(update={"inner_calls": inner_calls})
    svc.config = dataclasses.replace(shipped, gateway=shipped.gateway.model_copy(update={"agents": agents}))
    return svc


@pytest.mark.parametrize(("mode", "opened"), [("in_process", True), ("http", False)])
async def test_the_step_opens_it_unless_inner_calls_use_http(probe: _Probe, mode: str, opened: bool) -> None:
    svc = _services(mode)
    with use_services(svc):
        started = step(_app(probe))
        await started.start(svc)
        try:
            assert isinstance(svc.optional(LOOPBACK), Loopback) is opened
            found = loopback()
            assert (found is not None) is opened
            url, inner = inner_call_target()
            assert inner is found
            if found is not None:
                # its own loopback address, whatever GATEWAY_PUBLIC_URL says
                assert url == "http://127.0.0.1:4000" == found.url
                assert (await found.client.post("/v1/echo", content=b"{}")).status_code == 201
            else:
                assert url == "https://gateway.example.com/llm"
        finally:
            await started.stop(svc)
        assert not svc.started(LOOPBACK)
