"""The output policy for agent text on routes LiteLLM's guardrails don't see (``/resume``).

On chat, Responses and messages the proxy's post-call guardrails apply to an agent's answer:
secrets are masked (``secrets_guard``), and PII is not masked again, since the agent's LLM
calls were masked when each came back through the gateway and the rest is the caller's own
data (see ``pii_guard``). :func:`agent_text_out` applies the same to the mounted routes, so
every route returning agent text shows the same thing.
"""

from __future__ import annotations

from custom_hooks.core.sections.guardrails import guardrails_config
from custom_hooks.guardrails.detectors.secrets import ALL_SECRETS, SecretDetector

__all__ = ["agent_text_out"]


def agent_text_out(text: str) -> str:
    """``text`` as the chat route would return it: credentials masked as ``[REDACTED_<KIND>]``."""
    opts = guardrails_config().secrets
    if not opts.mask_output or not text:
        return text
    detector = SecretDetector(
        frozenset(e for e in ALL_SECRETS if opts.action_for(e) != "allow"), opts.min_entropy
    )
    out, last = [], 0
    for f in sorted(detector.scan(text), key=lambda f: f.start):
        if f.start < last:
            continue
        out += [text[last : f.start], f"[REDACTED_{f.entity.upper()}]"]
        last = f.end
    out.append(text[last:])
    return "".join(out)
