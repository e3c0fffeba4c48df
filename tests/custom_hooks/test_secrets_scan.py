"""Secret detector: each kind found (and only its secret part), prose left alone."""

from __future__ import annotations

import pytest

from custom_hooks._secrets_scan import SecretDetector, shannon_entropy

DETECT = SecretDetector()

OPENAI = "sk-proj-" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY"
AWS = "AKIAIOSFODNN7EXAMPLE"
GITHUB = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
SLACK = "xoxb-" + "1234567890-0987654321-AbCdEfGhIjKlMnOp"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nabc+/=\n-----END RSA PRIVATE KEY-----"


def found(text: str) -> list[tuple[str, str]]:
    return [(f.entity, text[f.start : f.end]) for f in DETECT.scan(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"my key is {OPENAI}.", [("openai_key", OPENAI)]),
        (f"aws_access_key_id={AWS}", [("aws_access_key", AWS)]),
        (f"token {GITHUB}", [("github_token", GITHUB)]),
        (f"slack: {SLACK}", [("slack_token", SLACK)]),
        (f"cookie {JWT} end", [("jwt", JWT)]),
        (
            f"Authorization: Bearer {'x' * 8}Zq81.Lm_2-9PQrsT",
            [("bearer_token", f"Bearer {'x' * 8}Zq81.Lm_2-9PQrsT")],
        ),
        (f"key file:\n{PEM}\ndone", [("private_key", PEM)]),
        (
            "DATABASE_URL=postgres://app:s3cr3t-Pa55@db.internal:5432/app",
            [("connection_string", "postgres://app:s3cr3t-Pa55@db.internal:5432")],
        ),
        ('{"api_key": "q7Zt9LmX2vB8nK4pR6sW"}', [("generic_api_key", "q7Zt9LmX2vB8nK4pR6sW")]),
        ("OPENAI_API_KEY=Zx81kq0LmN2Bv7Tc9WqE", [("generic_api_key", "Zx81kq0LmN2Bv7Tc9WqE")]),
        ("client_secret: 'p9Lq2Wm8Xz4Rt7Vb'", [("generic_api_key", "p9Lq2Wm8Xz4Rt7Vb")]),
    ],
)
def test_detects(text: str, expected: list[tuple[str, str]]) -> None:
    assert found(text) == expected


def test_unterminated_private_key_is_masked_to_the_end_of_the_base64() -> None:
    text = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nAAAA"
    assert found(text) == [("private_key", text)]


@pytest.mark.parametrize(
    "text",
    [
        "Use a bearer token in the Authorization header.",
        "Set api_key = your-key-here in the config",  # low entropy
        "password: changeme",
        "The task-runner skipped 12 tasks",  # 'sk-' inside a word
        "Visit https://example.com:8443/path?x=1 or http://user@host/",
        "See ASKING for details; AKIA is the prefix of AWS key ids",
        "Die Anmeldung erfolgt mit Benutzername und Passwort.",
        "La clé d'API se trouve dans les paramètres du compte.",
        "La contraseña debe tener al menos 12 caracteres.",
        "APIキーは設定画面で確認できます。",
        "请在设置中查看您的API密钥。",
        "api_key = [REDACTED_OPENAI_KEY]",
        "self.api_key = self.settings.api_key_value",
        "api_key: os.environ/OPENAI_API_KEY",
        "GATEWAY_STORE_URL=postgresql+asyncpg://gw:pw@db/gw",
        "postgres://user:<password>@host/db",
    ],
)
def test_prose_passes(text: str) -> None:
    assert found(text) == []


def test_entropy() -> None:
    assert shannon_entropy("aaaaaaaa") == 0.0
    assert shannon_entropy("q7Zt9LmX2vB8nK4p") > 3.5


def test_entity_selection() -> None:
    only_aws = SecretDetector(frozenset({"aws_access_key"}))
    assert [f.entity for f in only_aws.scan(f"{OPENAI} {AWS}")] == ["aws_access_key"]
    with pytest.raises(ValueError):
        SecretDetector(frozenset({"nope"}))
