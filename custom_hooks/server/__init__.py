"""The composition root: the ASGI app, the start-up order, the HTTP server, the CLI."""

from custom_hooks.core import startup_gc as _startup_gc

# A uvicorn worker imports this package (its HTTP protocol, then the app) before LiteLLM:
# it pauses the collector as the serving process that started it did.
_startup_gc.pause_if_inherited()
