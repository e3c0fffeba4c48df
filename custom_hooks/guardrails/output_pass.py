"""One masking pass over a streamed answer for every output guardrail that rewrites it.

PII and secrets both rewrite streamed text. LiteLLM chains their iterator hooks, each over
the stream the one before it returns; as two separate passes, each walked every chunk,
copied each chunk whose text it shifted, and added its generator to the per-chunk path.
Joined, the first hook called owns the pass and the other adds its stage to it, so the
chunks are walked and copied once, by a :class:`.stream_masker.MaskerChain` per text.

The stages keep the order the separate passes had (the inner guardrail masks first, the
outer one masks what it sent), so the text sent and what each guardrail counts and records
are the same as before. Where a hook sits is known for sure in two cases only, and only
then does it join:

- called while the pass waits for its first chunk, it is inside the pass: LiteLLM calls
  the outermost hook first and each inner one when the layer around it first pulls;
- called on the pass's own output before the pass started, it is directly outside it (a
  chain built eagerly, inner hook first).

Any other hook runs a pass of its own: joining saves work, correctness never depends on it.
In the first case a foreign streaming guardrail configured between the two (none is in the
shipped config) sees the text before the inner stage rather than after it; what the caller
receives has still been through both stages, last of all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, MutableMapping
from typing import Any, Literal

from custom_hooks.guardrails.masking import OutputStage, masked_stream

__all__ = ["join_output_pass"]

# Where the pass waits for other hooks: set when the pass is made, removed as soon as it
# reads its first chunk (so nothing of it is left in the request for logging to see).
_OPEN = "_gateway_output_pass"
_NOTHING = object()


class _OutputPass:
    __slots__ = ("output", "stages", "state")

    def __init__(
        self, stage: OutputStage, response: AsyncIterator[Any], request_data: MutableMapping[str, Any]
    ) -> None:
        self.stages = [stage]
        self.state: Literal["new", "pulling", "sealed"] = "new"
        self.output = self._run(response, request_data)

    async def _run(
        self, response: AsyncIterator[Any], request_data: MutableMapping[str, Any]
    ) -> AsyncIterator[Any]:
        self.state = "pulling"
        it = response.__aiter__()
        try:
            first = await it.__anext__()
        except StopAsyncIteration:
            first = _NOTHING
        finally:
            self.state = "sealed"
            if request_data.get(_OPEN) is self:
                del request_data[_OPEN]
        stages = tuple(self.stages)
        if first is not _NOTHING:
            async for chunk in masked_stream(first, it, stages):
                yield chunk
        for stage in stages:
            stage.done()


def join_output_pass(
    response: AsyncIterator[Any], request_data: MutableMapping[str, Any], stage: OutputStage
) -> AsyncIterator[Any]:
    """``response`` masked by ``stage``: in the request's open pass when this hook's place
    relative to it is certain (see the module docstring), otherwise in a new pass that
    other hooks may join."""
    found = request_data.get(_OPEN)
    if isinstance(found, _OutputPass):
        if found.state == "pulling":  # inside: mask before the stages already there
            found.stages.insert(0, stage)
            return response
        if found.state == "new" and response is found.output:  # directly outside: mask after
            found.stages.append(stage)
            return found.output
    owner = _OutputPass(stage, response, request_data)
    request_data[_OPEN] = owner
    return owner.output
