"""Tokens from Entra through one MSAL app: shared, cached, with readable errors and no leaked secret."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from bot.config.settings import Settings
from bot.errors import AuthError
from bot.graph import build_token_provider
from bot.graph.auth import ClientCredentials, TokenProvider, auth_error_from_msal
from tests.conftest import ApiStack
from tests.fakes import FakeEntra, FakeIncidentApi

MakeStack = Callable[..., ApiStack]
MakeSettings = Callable[..., Settings]
ID = "2972395"
OTHER_GUID = "00000000-0000-0000-0000-0000000000ab"


def write_pem(directory: Path, *, password: bytes | None = None) -> Path:
    """A certificate and its RSA key in one PEM file, the key encrypted when a password is given."""
    leaf = trustme.CA(key_type=trustme.KeyType.RSA).issue_cert(
        "bot.contoso.example", key_type=trustme.KeyType.RSA
    )
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    path = directory / "app.pem"
    path.write_bytes(key_pem + leaf.cert_chain_pems[0].bytes())
    return path


async def refused(make_settings: MakeSettings, **overrides: object) -> AuthError:
    tokens = build_token_provider(make_settings(**overrides))
    with pytest.raises(AuthError) as caught:
        await tokens.token()
    return caught.value


async def test_concurrent_calls_share_one_token_request(
    make_stack: MakeStack, entra: FakeEntra, incident_api: FakeIncidentApi
) -> None:
    stack = make_stack()
    incidents = await asyncio.gather(*(stack.api.get_incident(ID) for _ in range(100)))
    assert {incident.id for incident in incidents} == {ID}
    assert entra.token_requests == 1 and stack.tokens.token_requests == 1
    assert entra.openid_requests == 1
    await stack.api.get_incident("4242")
    assert entra.token_requests == 1 and incident_api.count() == 101


async def test_an_expiring_token_is_renewed(make_settings: MakeSettings, entra: FakeEntra) -> None:
    entra.token_lifetime = 120  # inside MSAL's five-minute refresh margin: every use renews it
    tokens = build_token_provider(make_settings())
    first = await tokens.token()
    second = await tokens.token()
    assert first != second and entra.is_valid_token(second)
    assert entra.token_requests == 2


async def test_wrong_secret_names_aadsts7000215(make_settings: MakeSettings, entra: FakeEntra) -> None:
    error = await refused(make_settings, azure_client_secret="wrong-" + entra.client_secret)
    assert error.code == "AADSTS7000215" and error.error == "invalid_client"
    assert error.reason.startswith("AADSTS7000215: Invalid client secret provided.")
    assert "Trace ID" not in str(error) and "\n" not in str(error)


async def test_wrong_client_id_names_aadsts700016(make_settings: MakeSettings) -> None:
    error = await refused(make_settings, azure_client_id=OTHER_GUID)
    assert error.code == "AADSTS700016"
    assert f"Application with identifier '{OTHER_GUID}' was not found" in error.reason


async def test_unknown_tenant_names_aadsts90002(make_settings: MakeSettings, entra: FakeEntra) -> None:
    error = await refused(make_settings, azure_tenant_id=OTHER_GUID)
    assert error.code == "AADSTS90002"
    assert error.reason.startswith(f"AADSTS90002: Tenant '{OTHER_GUID}' not found.")
    assert entra.token_requests == 0


async def test_token_endpoint_failure_is_an_auth_error_then_recovers(
    make_settings: MakeSettings, entra: FakeEntra
) -> None:
    tokens = build_token_provider(make_settings())
    entra.fail_next(500, retry_after=0)
    with pytest.raises(AuthError, match="identity provider unavailable") as caught:
        await tokens.token()
    assert caught.value.code is None
    assert entra.is_valid_token(await tokens.token())
    assert entra.token_requests == 2


async def test_unreachable_entra_is_an_auth_error(make_settings: MakeSettings) -> None:
    error = await refused(make_settings, azure_authority_host="https://localhost:1")
    assert "identity provider unavailable" in str(error)


async def test_the_api_refusing_a_revoked_token_is_an_auth_error(
    make_stack: MakeStack, entra: FakeEntra
) -> None:
    stack = make_stack()
    await stack.api.get_incident(ID)
    entra.revoke_all_tokens()
    with pytest.raises(AuthError, match="refused the bot's token") as caught:
        await stack.api.get_incident(ID)
    assert caught.value.code == "InvalidAuthenticationToken" and caught.value.request_id


async def test_the_secret_never_reaches_logs_or_errors(
    make_settings: MakeSettings, make_stack: MakeStack, entra: FakeEntra, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-" + entra.client_secret
    stack = make_stack()
    await stack.api.get_incident(ID)
    token = await stack.tokens.token()
    error = await refused(make_settings, azure_client_secret=wrong)
    entra.fail_next(500, retry_after=0)
    failed = await refused(make_settings)
    texts = [str(error), repr(error), str(failed), repr(error.__cause__), repr(error.__context__)]
    texts += [record.getMessage() for record in caplog.records]
    texts += [repr(record.args) for record in caplog.records]
    assert caplog.records, "expected MSAL and the bot to log something at DEBUG"
    for secret in (entra.client_secret, wrong, token):
        assert not [text for text in texts if secret in text]


async def test_certificate_credentials_send_an_assertion_with_x5t_s256(
    make_settings: MakeSettings, entra: FakeEntra, tmp_path: Path
) -> None:
    path = write_pem(tmp_path)
    tokens = build_token_provider(
        make_settings(azure_client_secret=None, azure_client_certificate_path=str(path))
    )
    assert entra.is_valid_token(await tokens.token())
    assert entra.last_assertion_header is not None and "x5t#S256" in entra.last_assertion_header
    form = entra.token_forms[-1]
    assert "client_secret" not in form
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


async def test_an_encrypted_key_works_with_its_password(
    make_settings: MakeSettings, entra: FakeEntra, tmp_path: Path
) -> None:
    path = write_pem(tmp_path, password=b"pem-passphrase")

    def settings(password: str) -> Settings:
        return make_settings(
            azure_client_secret=None,
            azure_client_certificate_path=str(path),
            azure_client_certificate_password=password,
        )

    assert entra.is_valid_token(await build_token_provider(settings("pem-passphrase")).token())
    assert "x5t#S256" in (entra.last_assertion_header or {})
    with pytest.raises(AuthError, match="could not decrypt key"):
        await build_token_provider(settings("not-it")).token()
    assert entra.token_requests == 1


async def test_an_encrypted_key_without_a_password_is_an_auth_error(
    make_settings: MakeSettings, tmp_path: Path
) -> None:
    path = write_pem(tmp_path, password=b"pem-passphrase")
    await refused(make_settings, azure_client_secret=None, azure_client_certificate_path=str(path))


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "cannot read certificate"), (b"-----BEGIN CERTIFICATE-----\nAA\n-----END CERTIFICATE-----\n",
                                        "must hold the certificate and its private key")],
)  # fmt: skip
async def test_an_unusable_certificate_file_is_an_auth_error(
    tmp_path: Path, entra: FakeEntra, content: bytes | None, message: str
) -> None:
    path = tmp_path / "app.pem"
    if content is not None:
        path.write_bytes(content)
    credentials = ClientCredentials(
        authority=entra.authority, client_id=entra.client_id, scope="https://graph.microsoft.com/.default",
        certificate_path=path,
    )  # fmt: skip
    with pytest.raises(AuthError, match=message):
        await TokenProvider(credentials).token()
    assert entra.token_requests == 0


def test_msal_errors_become_a_code_and_a_first_line() -> None:
    error = auth_error_from_msal(
        {
            "error": "invalid_client",
            "error_description": "AADSTS7000222: The provided client secret keys are expired. "
            "Trace ID: 1 Correlation ID: 2\r\nmore lines",
        }
    )
    assert (error.code, error.error) == ("AADSTS7000222", "invalid_client")
    assert error.reason == "AADSTS7000222: The provided client secret keys are expired."
    bare = auth_error_from_msal({"error": "temporarily_unavailable"})
    assert (bare.code, bare.reason, str(bare)) == (None, "temporarily_unavailable", "temporarily_unavailable")
    assert str(AuthError("refused", code="AADSTS1")) == "AADSTS1: refused"
