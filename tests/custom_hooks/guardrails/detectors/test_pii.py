"""PII detector: table-driven positives, and false positives that must pass untouched."""

from __future__ import annotations

import pytest

from custom_hooks.guardrails.detectors.pii import PiiDetector, iban_ok, luhn_ok, ssn_ok

DETECT = PiiDetector()
FULLWIDTH_CARD = "4111 1111 1111 1111".translate({ord(d): 0xFF10 + int(d) for d in "0123456789"})


def entities(text: str) -> list[tuple[str, str]]:
    return [(f.entity, text[f.start : f.end]) for f in DETECT.scan(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to bob.smith+tag@example.co.uk today", [("email", "bob.smith+tag@example.co.uk")]),
        ("Mail: a@b.io.", [("email", "a@b.io")]),
        ("call +1 415 555 2671 now", [("phone", "+1 415 555 2671")]),
        ("ruf mich an: +49 30 12345678", [("phone", "+49 30 12345678")]),
        ("appelez le +33 1 23 45 67 89", [("phone", "+33 1 23 45 67 89")]),
        ("office (415) 555-2671 ext", [("phone", "(415) 555-2671")]),
        ("cell 415-555-2671", [("phone", "415-555-2671")]),
        ("visa 4111 1111 1111 1111 exp", [("credit_card", "4111 1111 1111 1111")]),
        ("mc 5500-0000-0000-0004", [("credit_card", "5500-0000-0000-0004")]),
        ("amex 378282246310005.", [("credit_card", "378282246310005")]),
        ("IBAN DE89 3704 0044 0532 0130 00 please", [("iban", "DE89 3704 0044 0532 0130 00")]),
        ("iban GB82WEST12345698765432", [("iban", "GB82WEST12345698765432")]),
        ("FR1420041010050500013M02606 is mine", [("iban", "FR1420041010050500013M02606")]),
        ("SSN 123-45-6789", [("us_ssn", "123-45-6789")]),
        ("server at 10.0.0.12.", [("ip_address", "10.0.0.12")]),
        ("ping 2001:db8::8a2e:370:7334 now", [("ip_address", "2001:db8::8a2e:370:7334")]),
        ("link-local fe80::1 here", [("ip_address", "fe80::1")]),
        (
            "Contact jane@corp.com or +44 20 7946 0958, card 4012888888881881",
            [("email", "jane@corp.com"), ("phone", "+44 20 7946 0958"), ("credit_card", "4012888888881881")],
        ),
        ("日本語のメール: taro@example.jp です", [("email", "taro@example.jp")]),
    ],
)
def test_detects(text: str, expected: list[tuple[str, str]]) -> None:
    assert entities(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Order number 4111111111111112 shipped",  # fails Luhn
        "Invoice 1234567890123 and ticket 9876543210987",
        "Tracking 1Z999AA10123456784",
        "Released in version 1.2.3.4 of the library",
        "upgrade to v10.2.0.1 now",
        "Meeting on 2024-01-15 at 10:30:45, see §12.3",
        "Timestamp 2024-01-15T10:30:45Z, duration 01:02:03",
        "The total was 1,234,567.89 EUR for 3 items",
        "Call ext. 1234 or room 567",
        "SSN-like 000-12-3456 and 666-12-3456 and 900-12-3456",
        "ratio 3:2:1 in the mix",
        "ISBN 978-3-16-148410-0",
        "Der schnelle braune Fuchs springt über den faulen Hund. Größe: 42.",
        "Le vif renard brun saute par-dessus le chien paresseux, à 17 h 30.",
        "El rápido zorro marrón salta sobre el perro perezoso el 15/01/2024.",
        "素早い茶色の狐がのろまな犬を飛び越えた。2024年1月15日。",
        "快速的棕色狐狸跳过了懒狗。价格是 42 元。",
        "user@localhost has no domain",
        "price: $1299.99, model X-1000",
        "listen on 127.0.0.1:4000 or 0.0.0.0, or [::1]:4000 and [::]",
        "python slices a[::2] and b[1::]",
    ],
)
def test_ordinary_text_passes(text: str) -> None:
    assert entities(text) == []


def test_entity_selection_limits_the_scan() -> None:
    only_email = PiiDetector(["email"])
    assert [f.entity for f in only_email.scan("a@b.io 4111 1111 1111 1111")] == ["email"]
    with pytest.raises(ValueError):
        PiiDetector(["passport"])


@pytest.mark.parametrize(
    ("fn", "args", "ok"),
    [
        (luhn_ok, ("4111111111111111",), True),
        (luhn_ok, ("4111111111111112",), False),
        (iban_ok, ("DE89370400440532013000",), True),
        (iban_ok, ("DE89370400440532013001",), False),
        (ssn_ok, ("123", "45", "6789"), True),
        (ssn_ok, ("666", "45", "6789"), False),
        (ssn_ok, ("123", "00", "6789"), False),
    ],
)
def test_checksums(fn: object, args: tuple[str, ...], ok: bool) -> None:
    assert fn(*args) is ok  # type: ignore[operator]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mobile: 07700 900461", [("phone", "07700 900461")]),
        ("Handy 0151 23456789 bitte", [("phone", "0151 23456789")]),
        ("tél 06 12 34 56 78", [("phone", "06 12 34 56 78")]),
        ("call (02) 9876 5432 today", [("phone", "(02) 9876 5432")]),
        ("電話 03-1234-5678", [("phone", "03-1234-5678")]),
        ('{"phone": "4155550123"}', [("phone", "4155550123")]),
        ("SSN 123456789 on file", [("us_ssn", "123456789")]),
        ("social security no. 123 45 6789", [("us_ssn", "123 45 6789")]),
        ("iban de89 3704 0044 0532 0130 00", [("iban", "de89 3704 0044 0532 0130 00")]),
        ("card " + FULLWIDTH_CARD, [("credit_card", FULLWIDTH_CARD)]),
    ],
)
def test_national_and_obfuscated_formats(text: str, expected: list[tuple[str, str]]) -> None:
    assert entities(text) == expected


def test_zero_width_characters_inside_an_entity_are_masked_with_it() -> None:
    text = "mail bo\u200bb@exa\u2060mple.com now"
    [f] = DETECT.scan(text)
    assert text[f.start : f.end] == "bo\u200bb@exa\u2060mple.com"


@pytest.mark.parametrize(
    "text",
    [
        "123456789 is not an SSN without a word saying so",
        "call me maybe, order 4155550123",
        "git@github.com:acme/payments.git",
        "use icon@2x.png",
        "pip install requests==2.31.0.1",
        "SKU 4111 1111 1111 1111 restocked",  # Luhn-valid, but a part number by context
        "lat 48.858370, lon 2.294481",
        "date 01/02/2024 - 28/02/2024",
        "gb82 west 1234 5698 7654 33 fails mod-97",
    ],
)
def test_context_rules_keep_lookalikes_clean(text: str) -> None:
    assert entities(text) == []
