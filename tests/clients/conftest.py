"""One real gateway for every client-library test: the shipped config, offline.

The shipped ``config.yaml`` serves the offline ``demo`` model and the agents (whose LLM
calls go to ``default``, the demo model), so no provider and no fake upstream is needed:
each test drives a real SDK against the real gateway, as a user would.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness.gateway import SHIPPED_CONFIG, GatewayProcess


@pytest.fixture(scope="session")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    proc = GatewayProcess(SHIPPED_CONFIG, tmp_path_factory.mktemp("clients") / "data", provider_keys=False)
    proc.start(timeout=240)  # shared CI machines start slowly
    yield proc
    proc.stop()
