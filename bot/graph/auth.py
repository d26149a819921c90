"""Client-credential tokens from Microsoft Entra through one MSAL app per process.

MSAL is synchronous and its constructor already does network I/O (it fetches the
authority's OpenID configuration), so both run in a worker thread. MSAL's token cache is
the point of keeping one app: it reuses a token until five minutes before expiry and, when
a refresh fails, keeps serving the token it has while that is still valid.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msal
import msal.exceptions

from bot.errors import AuthError

logger = logging.getLogger(__name__)

_AADSTS = re.compile(r"AADSTS\d+")
_PEM_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)
# Renew our fast-path copy this long before expiry; MSAL itself refreshes earlier.
_EXPIRY_MARGIN = 300.0


@dataclass(frozen=True)
class ClientCredentials:
    """Who the bot is to Entra: tenant, client id and a secret or a PEM certificate."""

    authority: str
    client_id: str
    scope: str
    client_secret: str | None = None
    certificate_path: Path | None = None
    certificate_password: str | None = None

    def msal_credential(self) -> str | dict[str, str]:
        """The `client_credential` argument MSAL expects."""
        if self.client_secret:
            return self.client_secret
        if self.certificate_path is None:
            raise AuthError("no client secret or certificate configured")
        try:
            pem = self.certificate_path.read_text()
        except OSError as exc:
            raise AuthError(f"cannot read certificate {self.certificate_path}: {exc.strerror}") from None
        certificate = _PEM_CERTIFICATE.search(pem)
        if certificate is None or "PRIVATE KEY-----" not in pem:
            raise AuthError(f"{self.certificate_path} must hold the certificate and its private key in PEM")
        encrypted = "ENCRYPTED PRIVATE KEY-----" in pem or "Proc-Type: 4,ENCRYPTED" in pem
        if encrypted and not self.certificate_password:
            raise AuthError(
                f"the private key in {self.certificate_path} is encrypted: "
                "set AZURE_CLIENT_CERTIFICATE_PASSWORD"
            )
        # With public_certificate and no thumbprint MSAL (>=1.35) signs with the SHA-256 thumbprint.
        credential = {"private_key": pem, "public_certificate": certificate.group(0)}
        if self.certificate_password:
            credential["passphrase"] = self.certificate_password
        return credential


def auth_error_from_msal(result: dict[str, Any]) -> AuthError:
    """An AuthError with the AADSTS code and the first sentence of Entra's description."""
    description = str(result.get("error_description") or result.get("error") or "token request failed")
    match = _AADSTS.search(description)
    code = match.group(0) if match else None
    first_line = description.splitlines()[0]
    reason = first_line.split(" Trace ID:")[0].strip()
    return AuthError(reason, code=code, error=str(result.get("error") or "") or None)


class TokenProvider:
    """Async access tokens for one scope; concurrent misses make one token request."""

    def __init__(self, credentials: ClientCredentials, *, verify: bool | str = True) -> None:
        self._credentials = credentials
        self._verify = verify
        self._app: msal.ConfidentialClientApplication | None = None
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._expires_at = 0.0  # when to ask MSAL again (a margin before expiry)
        self._expires_real = 0.0  # when the token stops working
        self.token_requests = 0  # calls that reached MSAL (not every one goes to Entra)

    def _build_app(self) -> msal.ConfidentialClientApplication:
        try:
            return msal.ConfidentialClientApplication(
                self._credentials.client_id,
                client_credential=self._credentials.msal_credential(),
                authority=self._credentials.authority,
                # Talk to the configured host only: no discovery call to login.microsoftonline.com.
                instance_discovery=False,
                verify=self._verify,
                timeout=10,
            )
        except ValueError as exc:
            # MSAL raises ValueError for an authority it cannot load; Entra's own reason
            # (e.g. AADSTS90002 tenant not found) is in the exception it chained from.
            detail = f"{exc} {exc.__context__ or ''}"
            code = _aadsts_in(detail)
            reason = _entra_reason(str(exc.__context__ or "")) if code else _first_sentence(str(exc))
            raise AuthError(reason, code=code) from None

    def _acquire_blocking(self) -> dict[str, Any]:
        try:
            if self._app is None:
                self._app = self._build_app()
            result: dict[str, Any] = self._app.acquire_token_for_client(scopes=[self._credentials.scope])
        except (OSError, msal.exceptions.MsalServiceError) as exc:
            # requests' connection errors are OSErrors; MSAL raises MsalServiceError on an HTTP 5xx
            raise AuthError(f"identity provider unavailable ({type(exc).__name__})") from None
        except (TypeError, ValueError) as exc:
            # MSAL signing the client assertion with a key it cannot use (e.g. a wrong passphrase)
            raise AuthError(f"cannot sign with the configured certificate ({type(exc).__name__})") from None
        return result

    async def token(self) -> str:
        """A valid access token, from our copy, MSAL's cache, or Entra."""
        if self._token and time.monotonic() < self._expires_at:
            return self._token
        async with self._lock:
            if self._token and time.monotonic() < self._expires_at:
                return self._token
            self.token_requests += 1
            try:
                result = await asyncio.to_thread(self._acquire_blocking)
            except AuthError as outage:
                return self._last_valid_token(outage)
            if "access_token" not in result:
                error = auth_error_from_msal(result)
                if error.error in ("temporarily_unavailable", "server_error") or not error.code:
                    return self._last_valid_token(error)
                logger.warning("token request refused: %s", error)
                raise error
            self._token = str(result["access_token"])
            lifetime = float(result.get("expires_in") or 0)
            now = time.monotonic()
            self._expires_at = now + max(0.0, lifetime - _EXPIRY_MARGIN)
            self._expires_real = now + lifetime
            return self._token

    def _last_valid_token(self, error: AuthError) -> str:
        """Entra is down: keep using the token we have until it really expires."""
        if self._token and time.monotonic() < self._expires_real - 5:
            logger.warning(
                "identity provider unavailable (%s): using the current token until it expires", error
            )
            return self._token
        raise error


def _aadsts_in(text: str) -> str | None:
    match = _AADSTS.search(text)
    return match.group(0) if match else None


def _entra_reason(text: str) -> str:
    """'AADSTS90002: Tenant 'x' not found.' out of an error text that quotes Entra's JSON."""
    match = re.search(r"AADSTS\d+:[^\\\"\n]*", text)
    return match.group(0).split(" Trace ID:")[0].strip() if match else _first_sentence(text)


def _first_sentence(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "identity provider refused the request"


class BearerAuth(httpx.Auth):
    """httpx auth that adds the bot's bearer token to every request."""

    def __init__(self, tokens: TokenProvider) -> None:
        self._tokens = tokens

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = f"Bearer {await self._tokens.token()}"
        yield request
