"""The cyclic garbage collector is off while a serving process loads, then frozen and back on.

Start-up imports LiteLLM, LangChain, our hooks and the config: about 850,000 objects that
live as long as the process. With the collector on, every few thousand allocations it
scans the young ones and, more and more often, all of them: measured on 2 cores, 1.5-4 s
of the 10-13 s of CPU those imports take. Nothing of that is garbage (a collection after
them finds about 4,000 unreachable objects), so :func:`pause` turns the collector off
as the entry point (``custom_hooks.cli.main``) starts, before anything loads, and
:func:`resume`, once the start steps have run, freezes what exists (full collections then
skip it: each used to hold the loop 0.4-0.6 s under load) and turns the collector back
on. This is what ``gc.freeze``'s documentation advises for a server that loads before it serves.

uvicorn starts its workers as fresh interpreters: they inherit :data:`ENV` and pause as
they import :mod:`custom_hooks.server`; the supervisor, which serves nothing, resumes
before it starts them. Only the standard library here: it runs before anything else loads.
"""

from __future__ import annotations

import gc
import os

__all__ = ["ENV", "pause", "pause_if_inherited", "resume"]

ENV = "GATEWAY_STARTUP_GC"
_PAUSED = "paused"


def pause() -> None:
    """Turn the collector off for this process and the workers it starts."""
    os.environ[ENV] = _PAUSED
    gc.disable()


def pause_if_inherited() -> None:
    """In a process started by a pausing one (a uvicorn worker): pause too."""
    if os.environ.get(ENV) == _PAUSED:
        gc.disable()


def resume() -> None:
    """Freeze what start-up built and turn the collector back on.

    Without a pause (the app imported by something else, the collector on), what exists is
    collected first, then frozen, so full collections under load skip it either way.
    """
    if gc.isenabled():
        gc.collect()
    gc.freeze()
    gc.enable()
