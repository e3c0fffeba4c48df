"""The process's services: one object, filled in an explicit start-up order, closed in reverse.

Everything the gateway opens or builds once per process (the store, the ledger writer,
the budgets, run tokens, the authenticator, metrics, the agents' thread store, ...) lives in
one :class:`Services`. The composition root (:mod:`custom_hooks.server.app`) builds it and
runs the start-up steps (:mod:`custom_hooks.core.lifecycle`) that fill it; a request reads
it with :func:`services`. The holder behind :func:`services` is the one module-level
singleton of the gateway (``tests/test_layering.py`` checks that).

A service is named by a typed :class:`Slot` declared next to the service's class, so the
core knows no area and an area (or ``agent_routes``) adds its own slots::

    STORE: Slot[Store] = Slot("store", "the key store")
    services().provide(STORE, await Store.open(url))   # a start-up step
    services().get(STORE)                              # a request: a Store, typed

Reaching a slot no step has filled raises :class:`GatewayStarting` (503,
``gateway_starting``, OpenAI error format), never a silent default. A service that is
legitimately absent in this deployment (Redis recovery without Redis) is provided as
``None`` and read with :meth:`Services.optional`. Unit tests build the services they need::

    with use_services(Services(config=load_config("config.yaml"))) as svc:
        svc.provide(STORE, store)
        ...
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from custom_hooks.core.errors import ServiceUnavailable

if TYPE_CHECKING:
    from custom_hooks.core.config import GatewayConfig
    from custom_hooks.core.settings import GatewaySettings

__all__ = ["GatewayStarting", "Services", "Slot", "install_services", "services", "use_services"]

T = TypeVar("T")


class GatewayStarting(ServiceUnavailable):
    """A service was reached before the start-up step that opens it ran (or after it closed)."""

    code = "gateway_starting"


@dataclass(frozen=True)
class Slot(Generic[T]):
    """The typed name of one service: ``name`` for logs, ``what`` for the client's message."""

    name: str
    what: str = ""

    def missing(self) -> GatewayStarting:
        what = self.what or self.name
        return GatewayStarting(
            f"The gateway is starting or stopping ({what} is not open yet); retry shortly."
        )


_ABSENT = object()


class Services:
    """The settings, the config and one typed slot per service of this process."""

    def __init__(
        self, *, settings: GatewaySettings | None = None, config: GatewayConfig | None = None
    ) -> None:
        self._settings = settings
        self._config = config
        self._slots: dict[Slot[Any], object] = {}

    # -- settings and config (read before any other step) ------------------------------

    @property
    def settings(self) -> GatewaySettings:
        if self._settings is None:
            raise Slot[object]("settings", "the process settings").missing()
        return self._settings

    @settings.setter
    def settings(self, value: GatewaySettings) -> None:
        self._settings = value

    @property
    def config(self) -> GatewayConfig:
        if self._config is None:
            raise Slot[object]("config", "config.yaml").missing()
        return self._config

    @config.setter
    def config(self, value: GatewayConfig) -> None:
        self._config = value

    def has_config(self) -> bool:
        return self._config is not None

    # -- the services --------------------------------------------------------------------

    def provide(self, slot: Slot[T], service: T | None) -> None:
        """Fill ``slot`` (a start-up step); ``None`` = absent in this deployment, not "not started"."""
        self._slots[slot] = service

    def get(self, slot: Slot[T]) -> T:
        """The service in ``slot``; :class:`GatewayStarting` when not started or absent."""
        found = self._slots.get(slot, _ABSENT)
        if found is _ABSENT or found is None:
            raise slot.missing()
        return cast("T", found)

    def optional(self, slot: Slot[T]) -> T | None:
        """The service, or None when its step ran and left it absent; raises when the step has not run."""
        found = self._slots.get(slot, _ABSENT)
        if found is _ABSENT:
            raise slot.missing()
        return cast("T | None", found)

    def started(self, slot: Slot[Any]) -> bool:
        """Whether ``slot`` holds a service (not absent, not waiting for its step)."""
        return self._slots.get(slot) is not None

    def take(self, slot: Slot[T]) -> T | None:
        """Empty ``slot`` and return what it held (a stop step closes it)."""
        found = self._slots.pop(slot, None)
        return cast("T | None", found)

    def names(self) -> list[str]:
        """The filled slots' names, in the order they were filled (for logs and tests)."""
        return [s.name for s, v in self._slots.items() if v is not None]


# The one module-level singleton: the Services this process serves with. It is replaced
# (by the composition root, or a test's ``use_services``), never rebound piecemeal.
_holder: list[Services] = [Services()]


def services() -> Services:
    """The current :class:`Services` (empty until the composition root installs its own)."""
    return _holder[0]


def install_services(svc: Services) -> Services:
    """Make ``svc`` the current services; returns the previous ones."""
    previous, _holder[0] = _holder[0], svc
    return previous


@contextmanager
def use_services(svc: Services) -> Iterator[Services]:
    """Serve with ``svc`` inside the block (tests), then put the previous ones back."""
    previous = install_services(svc)
    try:
        yield svc
    finally:
        install_services(previous)
