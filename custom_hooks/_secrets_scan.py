"""Secret detection: provider API keys, tokens, private keys, connection strings.

Pure and precompiled. Each pattern has a distinctive anchor (``sk-``, ``AKIA``, ``ghp_``,
``xox?-``, ``Bearer``, ``eyJ``, ``-----BEGIN``, ``://user:pass@``) so the scan is cheap
on ordinary prose; the generic ``api_key = "..."`` assignment additionally needs a value
with enough Shannon entropy, so ``password = changeme`` in docs is not a secret but
``api_key = "q7Zt9..."`` is. For generic assignments only the value is reported.

    >>> [f.entity for f in SecretDetector().scan("key: AKIAIOSFODNN7EXAMPLE")]
    ['aws_access_key']
"""

from __future__ import annotations

import math
import re
from collections import Counter

from custom_hooks._guardrail_core import Finding, non_overlapping

__all__ = ["ALL_SECRETS", "SecretDetector", "shannon_entropy"]

ALL_SECRETS = (
    "private_key",
    "connection_string",
    "jwt",
    "bearer_token",
    "openai_key",
    "aws_access_key",
    "github_token",
    "slack_token",
    "generic_api_key",
)

# One pattern per kind, each led by a literal so the regex engine jumps between
# anchors instead of trying every position; word boundaries are checked in Python.
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "private_key",
        re.compile(
            r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY-----"
            # unterminated: the base64 body, plus a footer still arriving in a stream
            r"(?:.*?-----END[A-Z0-9 ]{0,40}PRIVATE KEY-----"
            r"|[A-Za-z0-9+/=\s\\]*(?:-{1,5}[A-Z0-9 ]{0,40}-{0,5})?)",
            re.DOTALL,
        ),
    ),
    ("connection_string", re.compile(r"://[^\s:/@'\"]{1,128}:([^\s@/'\"]{1,256})@[^\s/'\"?#]+")),
    ("jwt", re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    ("bearer_token", re.compile(r"earer[ \t]+[A-Za-z0-9._~+/-]{20,}=*")),
    ("openai_key", re.compile(r"sk-(?:proj-|svcacct-|admin-|ant-[a-z0-9]+-)?[A-Za-z0-9_-]{20,}")),
    ("aws_access_key", re.compile(r"A(?:KIA|SIA|GPA|IDA|ROA)[0-9A-Z]{16}(?![A-Za-z0-9])")),
    ("github_token", re.compile(r"gh(?:[pousr]_[A-Za-z0-9]{36,}|ithub_pat_[A-Za-z0-9_]{22,})")),
    ("slack_token", re.compile(r"xox[abposre]-[A-Za-z0-9-]{10,}")),
    ("generic_api_key", re.compile(r"[:=][ \t]*[\"']?([^\s\"',;`]{12,})")),
)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{1,30}\Z")
_KEY_NAME = re.compile(
    r"(?i)(?<![A-Za-z0-9])(?:[a-z0-9]+[_-])?(?:api[_-]?key|apikey|secret[_-]?key|client[_-]?secret"
    r"|access[_-]?token|auth[_-]?token|access[_-]?key|secret|token|password|passwd)[\"']?[ \t]*\Z"
)


# Documentation placeholders, not credentials: "postgres://user:pw@db", "api_key=os.environ/X".
_PLACEHOLDER_PASSWORDS = frozenset(
    {"pw", "pass", "password", "passwd", "pwd", "secret", "changeme", "xxx", "x"}
)


def _placeholder(value: str) -> bool:
    v = value.lower()
    return v in _PLACEHOLDER_PASSWORDS or v[0] in "<$*{%[" or v.startswith("os.environ/")


def _word_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_-"


def shannon_entropy(s: str) -> float:
    n = len(s)
    if n == 0:
        return 0.0
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


class SecretDetector:
    """Find secrets in text; ``entities`` limits which kinds are reported."""

    __slots__ = ("_entities", "min_entropy")

    def __init__(
        self, entities: tuple[str, ...] | frozenset[str] = ALL_SECRETS, min_entropy: float = 3.0
    ) -> None:
        unknown = set(entities) - set(ALL_SECRETS)
        if unknown:
            raise ValueError(f"unknown secret entities: {sorted(unknown)}")
        self._entities = frozenset(entities)
        self.min_entropy = min_entropy

    def scan(self, text: str) -> list[Finding]:
        if len(text) < 12:
            return []
        found: list[Finding] = []
        for kind, pattern in _PATTERNS:
            if kind not in self._entities:
                continue
            for m in pattern.finditer(text):
                start, end = m.start(), m.end()
                if kind == "connection_string":
                    scheme = _SCHEME.search(text, max(0, start - 31), start)
                    if scheme is None or (scheme.start() > 0 and _word_char(text[scheme.start() - 1])):
                        continue
                    if _placeholder(m.group(1)):
                        continue
                    start = scheme.start()
                elif kind == "bearer_token":
                    if (
                        start == 0
                        or text[start - 1] not in "Bb"
                        or (start > 1 and _word_char(text[start - 2]))
                    ):
                        continue
                    start -= 1
                elif kind == "generic_api_key":
                    if _KEY_NAME.search(text, max(0, start - 48), start) is None:
                        continue
                    value = m.group(1)
                    # keys carry digits; "self.api_key" or "os.environ/KEY" are code, not secrets
                    if (
                        _placeholder(value)
                        or not any(c.isdigit() for c in value)
                        or shannon_entropy(value) < self.min_entropy
                    ):
                        continue
                    start = m.start(1)
                elif kind != "private_key" and start > 0 and _word_char(text[start - 1]):
                    continue
                found.append(Finding(kind, start, end))
        return non_overlapping(found) if len(found) > 1 else found
