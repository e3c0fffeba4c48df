"""Shared fixtures: the fake upstream, real gateway processes, private Redis/PostgreSQL."""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_TELEMETRY_DISABLED", "true")
# LiteLLM's types trip a pydantic warning at import, before pytest's filters apply.
warnings.filterwarnings("ignore", message=r"Items? .* (is|are) using the `ReadOnly` qualifier")

from tests.harness.fake_upstream import FakeUpstream  # noqa: E402
from tests.harness.gateway import GatewayProcess, make_test_config  # noqa: E402
from tests.harness.services import PostgresServer, RedisServer, find_pg_bin  # noqa: E402

IN_CI = bool(os.environ.get("CI"))


def _need(binary_ok: bool, what: str) -> None:
    """Skip locally when a service binary is missing; in CI that is a failure."""
    if binary_ok:
        return
    if IN_CI:
        pytest.fail(f"{what} is required in CI (.ci/run installs it)")
    pytest.skip(f"{what} not installed (apt-get install {what})")


@pytest.fixture(scope="session")
def fake_upstream() -> Iterator[FakeUpstream]:
    server = FakeUpstream()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _fresh_upstream_scripts(request: pytest.FixtureRequest) -> None:
    """Unconsumed scripts from one test must not leak into the next."""
    if "fake_upstream" in request.fixturenames:
        upstream: FakeUpstream = request.getfixturevalue("fake_upstream")
        upstream.reset()


GatewayFactory = Callable[..., GatewayProcess]


def _factory(upstream: FakeUpstream, base: Path) -> tuple[GatewayFactory, list[GatewayProcess]]:
    started: list[GatewayProcess] = []

    def make(
        config_overrides: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        name: str = "gw",
        data_dir: Path | None = None,
        start: bool = True,
    ) -> GatewayProcess:
        workdir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=base))
        config = make_test_config(upstream.url, config_overrides, workdir / "config.yaml")
        proc = GatewayProcess(config, data_dir or workdir / "data", env=env)
        started.append(proc)
        return proc.start() if start else proc

    return make, started


@pytest.fixture(scope="module")
def gateway_factory(
    fake_upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayFactory]:
    """Start real gateways (module scope: share them across a module's tests)."""
    make, started = _factory(fake_upstream, tmp_path_factory.mktemp("gateways"))
    yield make
    for proc in started:
        proc.stop()


@pytest.fixture(scope="session")
def gateway(
    fake_upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    """The default gateway: shipped config.yaml pointed at the fake upstream."""
    make, started = _factory(fake_upstream, tmp_path_factory.mktemp("default-gateway"))
    yield make(name="default")
    for proc in started:
        proc.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    _need(shutil.which("redis-server") is not None, "redis-server")
    server = RedisServer(Path(tempfile.mkdtemp(prefix="gw-redis-"))).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    _need(find_pg_bin() is not None, "postgresql")
    workdir = Path(tempfile.mkdtemp(prefix="gw-pg-"))
    os.chmod(workdir, 0o755)
    server = PostgresServer(workdir / "cluster").init()
    yield server
    server.stop()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def shipped_services() -> Iterator[Any]:
    """Services over the shipped config.yaml, installed for one test (no service started)."""
    from custom_hooks.core.services import use_services
    from tests.harness.built_services import shipped_services as build

    with use_services(build()) as svc:
        yield svc
