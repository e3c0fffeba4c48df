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
from typing import get_args

from custom_hooks.core.sections.guardrails import SecretEntity
from custom_hooks.guardrails.base import Finding, non_overlapping
from custom_hooks.guardrails.text_normalize import normalize

__all__ = ["ALL_SECRETS", "SecretDetector", "shannon_entropy"]

# The option schema's Literal is the one list of entity names (the detector and the config agree).
ALL_SECRETS: tuple[str, ...] = get_args(SecretEntity)

_B64 = "A-Za-z0-9+/"
# One pattern per kind, each led by a literal so the regex engine jumps between
# anchors instead of trying every position; word boundaries are checked in Python.
# Group 1, where a pattern has one, is the token body that must not be a placeholder.
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "private_key",
        re.compile(
            r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
            # unterminated: the base64 body, plus a footer still arriving in a stream
            r"(?:.*?-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
            r"|[A-Za-z0-9+/=\s\\]*(?:-{1,5}[A-Z0-9 ]{0,40}-{0,5})?)",
            re.DOTALL,
        ),
    ),
    ("connection_string", re.compile(r"://[^\s:/@'\"]{1,128}:([^\s@/'\"]{1,256})@[^\s/'\"?#]+")),
    # JDBC / ODBC / ADO.NET: "password=..." or "pwd=..." as a parameter of a connection string
    ("connection_string", re.compile(r"(?i)[;?&\s\"'](?:password|pwd)=([^;&\s'\"]{3,256})")),
    ("jwt", re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    ("bearer_token", re.compile(r"earer[ \t]+([A-Za-z0-9._~+/-]{20,}=*)")),
    ("anthropic_key", re.compile(r"sk-ant-(?:[a-z]+\d*-)?([A-Za-z0-9_-]{32,})")),
    ("openai_key", re.compile(r"sk-(?:proj-|svcacct-|admin-)?([A-Za-z0-9_-]{20,})")),
    ("aws_access_key", re.compile(r"A(?:KIA|SIA|GPA|IDA|ROA|NPA|NVA|PKA)([0-9A-Z]{16})(?![A-Za-z0-9])")),
    ("github_token", re.compile(r"g(?:h[pousr]_([A-Za-z0-9]{36,})|ithub_pat_([A-Za-z0-9_]{22,}))")),
    ("gitlab_token", re.compile(r"gl(?:pat|dt|rt|ptt|cbt|soat|ft|imt|agent)-([A-Za-z0-9_-]{20,})")),
    (
        "slack_webhook",
        re.compile(r"hooks\.slack\.com/(?:services|workflows|triggers)/(T[A-Za-z0-9_/-]{20,})"),
    ),
    ("slack_token", re.compile(r"x(?:ox[abposre]|app)-([A-Za-z0-9-]{10,})")),
    ("stripe_key", re.compile(r"k_live_([A-Za-z0-9]{16,})")),  # after "s" or "r", checked in Python
    ("google_api_key", re.compile(r"AIza([0-9A-Za-z_-]{35})(?![0-9A-Za-z_-])")),
    ("huggingface_token", re.compile(r"hf_([A-Za-z0-9]{30,})")),
    ("npm_token", re.compile(r"npm_([A-Za-z0-9]{36})(?![A-Za-z0-9])")),
    ("sendgrid_key", re.compile(r"SG\.([A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{30,64})")),
    (
        "azure_storage_key",
        re.compile(rf"(?i)AccountKey=([{_B64}]{{40,}}={{0,2}})|[?&;]sig=([{_B64}%]{{30,}})"),
    ),
    ("generic_api_key", re.compile(r"[:=][ \t]*[\"']?([^\s\"',;`]{12,})")),
)
# Case-insensitive patterns have no literal for the engine to jump to: they run only
# when one of these (lower-case) substrings occurs.
_GATES: tuple[tuple[str, ...], ...] = tuple(
    {"connection_string": ("password=", "pwd="), "azure_storage_key": ("accountkey=", "sig=")}.get(kind, ())
    if "(?i)" in pattern.pattern
    else ()
    for kind, pattern in _PATTERNS
)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{1,30}\Z")
_KEY_NAME = re.compile(
    r"(?i)(?<![A-Za-z0-9])[a-z0-9_.-]*?(?:api[_-]?key|apikey|secret[_-]?(?:access[_-]?)?key|client[_-]?secret"
    r"|access[_-]?token|auth[_-]?token|access[_-]?key|account[_-]?key|storage[_-]?key|private[_-]?key"
    r"|secret|token|password|passwd|passwort|kennwort|contrase[nñ]a|senha|wachtwoord|has[lł]o|pwd"
    r"|mot de passe|credentials?)[\"']?[ \t]*\Z"
)
_AWS_SECRET_NAME = re.compile(r"(?i)(?:aws.{0,12}secret|secret_?access_?key)")
_AZURE_NAME = re.compile(r"(?i)(?:azure|storage|account)[_-]?(?:storage[_-]?)?key")
_AZURE_VALUE = re.compile(rf"[{_B64}]{{86}}==")
_AWS_SECRET_VALUE = re.compile(rf"[{_B64}]{{40}}")
# a connection string around a bare "password=" (not a shell assignment or prose)
_CONN_CONTEXT = re.compile(
    r"(?i)jdbc:|odbc|server=|data source=|uid=|user ?id=|user(?:name)?=|host=|database="
)


# Documentation placeholders, not credentials: "postgres://user:pw@db", "api_key=os.environ/X".
_PLACEHOLDER_PASSWORDS = frozenset(
    {"pw", "pass", "password", "passwd", "pwd", "secret", "changeme", "xxx", "x", "example", "test"}
)


def _placeholder(value: str) -> bool:
    v = value.lower()
    return (
        v in _PLACEHOLDER_PASSWORDS
        or v[0] in "<$*{[("
        or v.startswith(("%(", "%s", "%{"))
        or v.startswith(("os.environ/", "process.env", "env."))
        or "..." in v
        or len(set(v)) < 5  # "AKIAXXXXXXXXXXXXXXXX", "********"
    )


def _word_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_-"


def _looks_random(value: str, min_entropy: float) -> bool:
    """Keys mix character classes; identifiers, words and code do not."""
    # a short string cannot reach a high entropy: n characters carry at most log2(n) bits
    if "(" in value or shannon_entropy(value) < min(min_entropy, 0.75 * math.log2(len(value))):
        return False
    classes = (
        any(c.islower() for c in value)
        + any(c.isupper() for c in value)
        + any(c.isdigit() for c in value)
        + any(not c.isalnum() and c not in "._-" for c in value)
    )
    has_digit = any(c.isdigit() for c in value)
    return classes >= 3 or (has_digit and classes >= 2)


def shannon_entropy(s: str) -> float:
    n = len(s)
    if n == 0:
        return 0.0
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


class SecretDetector:
    """Find secrets in text; ``entities`` limits which kinds are reported."""

    __slots__ = ("_entities", "_wanted", "min_entropy")

    def __init__(
        self, entities: tuple[str, ...] | frozenset[str] = ALL_SECRETS, min_entropy: float = 3.0
    ) -> None:
        unknown = set(entities) - set(ALL_SECRETS)
        if unknown:
            raise ValueError(f"unknown secret entities: {sorted(unknown)}")
        self._entities = frozenset(entities)
        # the generic assignment rule also reports AWS secret and Azure storage keys
        self._wanted = self._entities | (
            {"generic_api_key"} if self._entities & {"aws_secret_key", "azure_storage_key"} else set()
        )
        self.min_entropy = min_entropy

    def scan(self, text: str) -> list[Finding]:
        if len(text) < 12:
            return []
        norm = normalize(text)
        found = self._scan(norm.text)
        if norm.changed:
            found = [Finding(f.entity, *norm.span(f.start, f.end)) for f in found]
        return non_overlapping(found) if len(found) > 1 else found

    def _scan(self, text: str) -> list[Finding]:
        found: list[Finding] = []
        lowered = text.lower()
        for (kind, pattern), gate in zip(_PATTERNS, _GATES, strict=True):
            if kind not in self._wanted or (gate and not any(g in lowered for g in gate)):
                continue
            for m in pattern.finditer(text):
                hit = self._check(kind, text, m)
                if hit is not None and hit.entity in self._entities:
                    found.append(hit)
        return found

    def _check(self, kind: str, text: str, m: re.Match[str]) -> Finding | None:
        start, end = m.start(), m.end()
        body = next((g for g in m.groups() if g), None)
        if kind == "connection_string":
            if m.group().startswith("://"):
                scheme = _SCHEME.search(text, max(0, start - 31), start)
                if scheme is None or (scheme.start() > 0 and _word_char(text[scheme.start() - 1])):
                    return None
                start = scheme.start()
            elif _CONN_CONTEXT.search(text, max(0, start - 200), start) is None:
                return None
            else:
                start += 1
            return None if body is None or _placeholder(body) else Finding(kind, start, end)
        if kind == "generic_api_key":
            if body is None:
                return None
            name = _KEY_NAME.search(text, max(0, start - 48), start)
            if name is None or _placeholder(body):
                return None
            key = name.group()
            if _AZURE_VALUE.fullmatch(body) and _AZURE_NAME.search(key):
                return Finding("azure_storage_key", m.start(1), m.end(1))
            if _AWS_SECRET_VALUE.fullmatch(body) and _AWS_SECRET_NAME.search(key):
                return Finding("aws_secret_key", m.start(1), m.end(1))
            if not _looks_random(body, self.min_entropy):
                return None
            return Finding(kind, m.start(1), m.end(1))
        if kind == "bearer_token":
            if start == 0 or text[start - 1] not in "Bb" or (start > 1 and _word_char(text[start - 2])):
                return None
            if text.startswith("eyJ", m.start(1)):  # a JWT: reported as such
                return None
            start -= 1
        elif kind == "stripe_key":
            if start == 0 or text[start - 1] not in "sr" or (start > 1 and _word_char(text[start - 2])):
                return None
            start -= 1
        elif kind == "azure_storage_key":
            if m.group()[0] in "?&;":
                start += 1
        elif kind != "private_key" and start > 0 and _word_char(text[start - 1]):
            return None
        if body is not None and _placeholder(body):
            return None
        return Finding(kind, start, end)
