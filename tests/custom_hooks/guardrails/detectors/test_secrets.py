"""Secret detector: each kind found (and only its secret part), prose left alone."""

from __future__ import annotations

import pytest

from custom_hooks.guardrails.detectors.secrets import SecretDetector, shannon_entropy

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


def _rand(n: int, alphabet: str = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789") -> str:
    return "".join(alphabet[(i * 7 + 3) % len(alphabet)] for i in range(n))


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("GITLAB_TOKEN=glpat-" + _rand(20), "gitlab_token"),
        (
            "https://hooks.slack.com/services/T0"
            + _rand(8).upper()
            + "/B0"
            + _rand(8).upper()
            + "/"
            + _rand(24),
            "slack_webhook",
        ),
        ("the live key is sk_live_" + _rand(24) + " ok", "stripe_key"),
        ("key=AIza" + _rand(35), "google_api_key"),
        ("hf_" + _rand(34), "huggingface_token"),
        ("npm_" + _rand(36), "npm_token"),
        ("SG." + _rand(22) + "." + _rand(43), "sendgrid_key"),
        ("sk-ant-api03-" + _rand(90), "anthropic_key"),
        (
            "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF"
            + _rand(40)
            + "\n-----END PGP PRIVATE KEY BLOCK-----",
            "private_key",
        ),
        ("AccountName=x;AccountKey=" + _rand(86) + "==;EndpointSuffix=core.windows.net", "azure_storage_key"),
        ("jdbc:mysql://db:3306/shop?user=shop&password=" + _rand(14), "connection_string"),
        ("aws_secret_access_key = " + _rand(40), "aws_secret_key"),
        ("github_pat_" + _rand(22) + "_" + _rand(59), "github_token"),
        ("token ghp\u200b_" + _rand(36), "github_token"),
    ],
)
def test_detects_provider_formats(text: str, kind: str) -> None:
    assert [f.entity for f in DETECT.scan(text)] == [kind]


def test_masks_the_original_characters_of_an_obfuscated_key() -> None:
    text = "key sk_live_" + _rand(10) + "\u200b" + _rand(14) + " end"
    [f] = DETECT.scan(text)
    assert text[f.start : f.end].startswith("sk_live_") and "\u200b" in text[f.start : f.end]
    assert text[f.end :] == " end"


@pytest.mark.parametrize(
    "text",
    [
        "commit 3f2a9c1e5b7d4c3e8a6f1d2e3f4a5b6c7d8e9f01 fixed it",
        "uuid 5f0c2a1e-9b7d-4c3e-8a6f-1d2e3f4a5b6c",
        "Stripe live keys start with sk_live_ and test keys with sk_test_.",
        "The key looks like sk_live_xxxxxxxxxxxxxxxxxxxxxxxx",
        "AKIAXXXXXXXXXXXXXXXX is the placeholder",
        "jdbc:postgresql://localhost:5432/app?user=app",
        "AccountKey=<storage-account-key>",
        "password: ********",
    ],
)
def test_hashes_and_placeholders_pass(text: str) -> None:
    assert found(text) == []
