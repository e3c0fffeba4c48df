"""PII detection: emails, phone numbers, payment cards, IBANs, US SSNs, IP addresses.

Pure and precompiled: :meth:`PiiDetector.scan` returns findings (entity + offsets).
Candidates come from one regex each and are then validated, which is what keeps
ordinary numbers out: cards must pass Luhn and carry a card-network prefix, IBANs must
have their country's length and pass ISO 7064 mod-97, SSNs must be in an issued range,
IP addresses must parse (and a dotted quad right after "version"/"v" is a version),
phone numbers need a ``+`` country code or a separated 3-3-4 North-American shape.

    >>> [f.entity for f in PiiDetector().scan("mail bob@example.com, card 4111 1111 1111 1111")]
    ['email', 'credit_card']
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable

from custom_hooks.guardrails.base import Finding, non_overlapping
from custom_hooks.guardrails.text_normalize import normalize

__all__ = ["ALL_ENTITIES", "LABELS", "PiiDetector", "iban_ok", "luhn_ok", "ssn_ok"]

ALL_ENTITIES = ("email", "phone", "credit_card", "iban", "us_ssn", "ip_address")
LABELS = {
    "email": "EMAIL",
    "phone": "PHONE",
    "credit_card": "CARD",
    "iban": "IBAN",
    "us_ssn": "SSN",
    "ip_address": "IP",
}

# Emails are found from their "@" (a literal the engine can jump to), then the local
# part is read backwards; numbers are found as digit clusters, and only clusters long
# enough to be a phone, card, SSN or IPv4 are handed to the specific patterns.
_EMAIL_DOMAIN = re.compile(r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,24})(?![\w-])")
_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9._%+-]{1,64}\Z")
# "icon@2x.png" is an asset, "git@host:org/repo" an SSH remote: neither is a mailbox
_FILE_SUFFIXES = frozenset(
    {"png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico", "tif", "tiff", "avif", "heic"}
)
_NUM_CLUSTER = re.compile(r"\d[\d .()/+-]{5,}")
# +CC then groups; or NANP (555) 123-4567 / 555-123-4567 / 555.123.4567 (same separator).
_PHONE = re.compile(
    r"(?<![\w+.-])(?:"
    r"\+\d{1,3}(?:[ .-]?\(\d{1,4}\))?(?:[ .-]?\d{1,5}){2,5}"
    r"|(?:\+?1[ .-]?)?\(\d{3}\)[ ]?\d{3}[ .-]\d{4}"
    r"|(?:1[ .-])?\d{3}([.-])\d{3}\1\d{4}"
    r")(?![\w.-]?\d)"
)
# National formats: a trunk "0" or a bracketed area code, then groups ("07700 900461",
# "06 12 34 56 78", "(02) 1234 5678", "03-1234-5678"); any grouping with a context word.
_PHONE_NATIONAL = re.compile(
    r"(?<![\w+.,/-])(?:\(\d{2,4}\)|\d{9,12}(?!\d)|\d{1,5})(?:[ ./-]{1,2}\d{2,8}){0,5}(?![\w]|[.,/-]\d)"
)
_GROUP_SEPARATORS = re.compile(r"[ ./()-]+")
_DATE_LIKE = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}\Z|(?:19|20)\d\d[./-]?\d{2}[./-]?\d{2}\Z")
_PHONE_CONTEXT = re.compile(
    r"(?i)(?:phone|tel\b|tel[.:#]|tél|telef|teléf|téléph|call\b|call me|calling|ring\b|mobile|mobil|\bmob\b"
    r"|cell|handy|whats ?app|\bsms\b|text me|\bfax\b|\bph\b|ph[#:.]|contact|reach me|appel|anruf|ruf\b|llam"
    r"|chiam|ligue"
    r"|bel me|zadzwo|номер|телеф|電話|携帯|手机|电话|연락|전화)[^\n\d]{0,24}\Z"
)
_NOT_PII_CONTEXT = re.compile(
    r"(?i)(?:order|invoice|sku|part|tracking|serial|ticket|isbn|issn|ean|upc|imei|model|build|ref(?:erence)?"
    r"|bestell|rechnung|commande|facture|pedido|factura|item|product|batch|lot)\b[^\n\d]{0,12}\Z"
)
_CARD_CONTEXT = re.compile(
    r"(?i)(?:card|visa|master|amex|kredit|karte|tarjeta|carte|cartão|\bcc\b|pay)[^\n\d]{0,24}\Z"
)
_CARD = re.compile(r"(?<![\w.-])\d(?:[ -]?\d){12,18}(?![\w-]|\.\d)")
# found from its check digits (digits are rarer than letters), the country code looked behind
_IBAN = re.compile(r"(?<=[A-Za-z]{2})\d{2}(?: ?[A-Za-z0-9]){11,30}(?![A-Za-z0-9])")
_SSN = re.compile(r"(?<![\w-])(\d{3})-(\d{2})-(\d{4})(?![\w-])")
# without dashes an SSN is just nine digits: only after a word that says it is one
_SSN_LOOSE = re.compile(r"(?<![\w.-])(\d{3})[ .]?(\d{2})[ .]?(\d{4})(?![\w-]|[.]\d)")
_SSN_CONTEXT = re.compile(
    r"(?i)(?:ssn|social security|social sec|\bsocial\b|soc\.? ?sec|\btin\b|ss#|ssa)[^\n\d]{0,20}\Z"
)
_IPV4 = re.compile(
    r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w]|\.\d)"
)
_IPV6_SEED = re.compile(r":[0-9A-Fa-f]{0,4}:")
_IPV6 = re.compile(r"(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}")
_HEX_COLON = frozenset("0123456789abcdefABCDEF:")
_VERSION_BEFORE = re.compile(
    r"(?:\bv|version|versão|versión|versione|release|build|ver\.?|version:|[=~<>]=|==)\s*$", re.IGNORECASE
)

# ISO 13616 IBAN lengths per country (the common ones; others only need mod-97).
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AT": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29, "CH": 21, "CY": 28,
    "CZ": 24, "DE": 22, "DK": 18, "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GI": 23,
    "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IS": 26, "IT": 27, "KW": 30, "KZ": 20,
    "LB": 28, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18, "NO": 15,
    "PK": 24, "PL": 28, "PT": 25, "QA": 29, "RO": 24, "SA": 24, "SE": 24, "SI": 19, "SK": 24,
    "SM": 27, "TR": 26, "UA": 29,
}  # fmt: skip
_CARD_PREFIX = re.compile(r"4|5[1-5]|2[2-7]|3[47]|3[068]|6(?:011|5|4[4-9]|2)|35")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i & 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_ok(compact: str) -> bool:
    rearranged = compact[4:] + compact[:4]
    try:
        return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1
    except ValueError:
        return False


def ssn_ok(area: str, group: str, serial: str) -> bool:
    a = int(area)
    return a != 0 and a != 666 and a < 900 and group != "00" and serial != "0000"


def _emails(text: str) -> Iterable[Finding]:
    for m in _EMAIL_DOMAIN.finditer(text):
        at = m.start()
        local = _EMAIL_LOCAL.search(text, max(0, at - 64), at)
        if local is None:
            continue
        start = local.start()
        while start < at and not text[start].isalnum():
            start += 1
        end = m.end()
        if m.group(1).lower() in _FILE_SUFFIXES or (
            end < len(text) and text[end] == ":" and text[end + 1 : end + 2] not in ("", " ", "\n")
        ):
            continue
        if start < at:
            yield Finding("email", start, end)


def _before(text: str, start: int, width: int = 40) -> str:
    return text[max(0, start - width) : start]


def _phones(text: str, lo: int, hi: int) -> Iterable[Finding]:
    for m in _PHONE.finditer(text, lo, hi):
        digits = sum(map(str.isdigit, m.group()))
        if 7 <= digits <= 15:
            yield Finding("phone", m.start(), m.end())
    for m in _PHONE_NATIONAL.finditer(text, lo, hi):
        raw = m.group()
        digits = sum(map(str.isdigit, raw))
        if not 9 <= digits <= 12 or _DATE_LIKE.match(raw):
            continue
        groups = _GROUP_SEPARATORS.split(raw.strip("()"))
        trunk = raw[0] == "(" or (raw[0] == "0" and len(groups) >= 2 and all(len(g) >= 2 for g in groups))
        before = _before(text, m.start())
        if (trunk or _PHONE_CONTEXT.search(before)) and not _NOT_PII_CONTEXT.search(before):
            yield Finding("phone", m.start(), m.end())


def _cards(text: str, lo: int, hi: int) -> Iterable[Finding]:
    for m in _CARD.finditer(text, lo, hi):
        digits = m.group().replace(" ", "").replace("-", "")
        if not (13 <= len(digits) <= 19 and _CARD_PREFIX.match(digits) and luhn_ok(digits)):
            continue
        before = _before(text, m.start(), 30)
        if _NOT_PII_CONTEXT.search(before) and not _CARD_CONTEXT.search(before):
            continue  # "order 4000 1234 ...", "SKU 8400-2231-...": identifiers that happen to pass Luhn
        yield Finding("credit_card", m.start(), m.end())


def _ssns(text: str, lo: int, hi: int) -> Iterable[Finding]:
    for m in _SSN.finditer(text, lo, hi):
        if ssn_ok(*m.groups()):
            yield Finding("us_ssn", m.start(), m.end())
    for m in _SSN_LOOSE.finditer(text, lo, hi):
        if "-" not in m.group() and ssn_ok(*m.groups()) and _SSN_CONTEXT.search(_before(text, m.start())):
            yield Finding("us_ssn", m.start(), m.end())


def _ipv4s(text: str, lo: int, hi: int) -> Iterable[Finding]:
    for m in _IPV4.finditer(text, lo, hi):
        if _VERSION_BEFORE.search(text, max(0, m.start() - 12), m.start()):
            continue
        if m.group().startswith(("127.", "0.0.0.0")):  # loopback / unspecified: not about anyone
            continue
        yield Finding("ip_address", m.start(), m.end())


def _ibans(text: str) -> Iterable[Finding]:
    for m in _IBAN.finditer(text):
        start = m.start() - 2
        if (start > 0 and text[start - 1].isalnum()) or not text[start : start + 2].isascii():
            continue
        raw = text[start : m.end()].upper()
        want = _IBAN_LENGTHS.get(raw[:2])
        if want is None and not text[start : start + 2].isupper():
            continue  # lower-case only for countries whose length is known
        compact = raw.replace(" ", "")
        if want is not None:
            if len(compact) < want:
                continue
            compact = compact[:want]
        if not iban_ok(compact):
            continue
        # map the compact length back to an end offset in the original text
        seen, end = 0, start
        for ch in raw:
            end += 1
            if ch != " ":
                seen += 1
                if seen == len(compact):
                    break
        yield Finding("iban", start, end)


def _ipv6s(text: str) -> Iterable[Finding]:
    last_end = -1
    for seed in _IPV6_SEED.finditer(text):
        if seed.start() < last_end:
            continue
        start = seed.start()
        while start > 0 and text[start - 1] in _HEX_COLON and seed.start() - start < 40:
            start -= 1
        if start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_."):
            continue
        m = _IPV6.match(text, start)
        if m is None or (m.end() < len(text) and (text[m.end()].isalnum() or text[m.end()] in "_:")):
            continue
        last_end = m.end()
        try:
            addr = ipaddress.IPv6Address(m.group())
        except ValueError:
            continue
        # "::1", "::", and "::2" / "1::" (Python slices) are not about anyone
        if addr.is_loopback or addr.is_unspecified or sum(1 for g in m.group().split(":") if g) < 2:
            continue
        yield Finding("ip_address", start, m.end())


_NUMERIC: dict[str, Callable[[str, int, int], Iterable[Finding]]] = {
    "phone": _phones,
    "credit_card": _cards,
    "us_ssn": _ssns,
    "ip_address": _ipv4s,
}
_TEXTUAL: dict[str, Callable[[str], Iterable[Finding]]] = {
    "email": _emails,
    "iban": _ibans,
    "ip_address": _ipv6s,
}


_DROP_SEPARATORS = str.maketrans("", "", " .()/+-")


def _worth_scanning(entity: str, cluster: str, digits: int) -> bool:
    if entity == "phone":
        return digits >= 7
    if entity == "credit_card":
        return digits >= 13
    if entity == "us_ssn":
        return digits >= 9
    return cluster.count(".") >= 3  # ipv4


class PiiDetector:
    """Find PII entities in text; ``entities`` limits the scan to those types."""

    __slots__ = ("_numeric", "_textual")

    def __init__(self, entities: Iterable[str] = ALL_ENTITIES) -> None:
        wanted = set(entities)
        unknown = wanted - set(ALL_ENTITIES)
        if unknown:
            raise ValueError(f"unknown PII entities: {sorted(unknown)}")
        self._numeric = [(e, fn) for e, fn in _NUMERIC.items() if e in wanted]
        self._textual = [fn for e, fn in _TEXTUAL.items() if e in wanted]

    def __bool__(self) -> bool:
        return bool(self._numeric or self._textual)

    def scan(self, text: str) -> list[Finding]:
        if len(text) < 6:
            return []
        norm = normalize(text)
        found = self._scan(norm.text)
        if norm.changed:
            found = [Finding(f.entity, *norm.span(f.start, f.end)) for f in found]
        return found

    def _scan(self, text: str) -> list[Finding]:
        found: list[Finding] = []
        for scan_text in self._textual:
            found.extend(scan_text(text))
        if self._numeric:
            n = len(text)
            for cluster in _NUM_CLUSTER.finditer(text):
                c = cluster.group()
                digits = len(c.translate(_DROP_SEPARATORS))
                if digits < 4:
                    continue
                # a little context either side: "+"/"(" prefixes, boundary look-arounds
                lo, hi = max(0, cluster.start() - 3), min(n, cluster.end() + 2)
                if text[lo:hi].startswith("0x", cluster.start() - lo):
                    continue  # hexadecimal, not a number about anyone
                for entity, scan_numbers in self._numeric:
                    if _worth_scanning(entity, c, digits):
                        found.extend(scan_numbers(text, lo, hi))
        return non_overlapping(found) if len(found) > 1 else found
