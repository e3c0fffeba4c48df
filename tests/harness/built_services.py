"""Build the services a unit test needs, explicitly (no start-up steps, no module globals).

::

    with use_services(shipped_services()) as svc:      # the shipped config.yaml
        svc.provide(STORE, store)
        ...

or the ``shipped_services`` fixture (``tests/conftest.py``), which installs one for the test.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from custom_hooks.core.config import GatewayConfig, load_config
from custom_hooks.core.services import Services
from custom_hooks.core.settings import GatewaySettings

__all__ = ["shipped_config", "shipped_services"]

SHIPPED = Path(__file__).resolve().parents[2] / "config.yaml"


@cache
def shipped_config() -> GatewayConfig:
    """The repository's config.yaml, parsed once per test session (it is read-only)."""
    return load_config(str(SHIPPED))


def shipped_services(settings: GatewaySettings | None = None) -> Services:
    """Fresh services over the shipped config, as the composition root builds them before the
    start-up steps: settings, config, tracing off; every other slot empty."""
    from custom_hooks.observability.request_context import CLIENT_IDS, ClientIds
    from custom_hooks.observability.tracing import TRACING

    svc = Services(settings=settings or GatewaySettings(config=SHIPPED), config=shipped_config())
    svc.provide(TRACING, None)
    svc.provide(CLIENT_IDS, ClientIds())
    return svc
