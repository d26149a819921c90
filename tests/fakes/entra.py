"""A fake Microsoft Entra ID token service, served over real TLS on 127.0.0.1.

MSAL refuses plain-http authorities, so the fake carries a throwaway CA (trustme) whose
PEM file the client trusts through ``verify=`` or ``REQUESTS_CA_BUNDLE``.  It answers the
two requests MSAL Python makes for the client-credentials flow when it is built with
``instance_discovery=False``:

* ``GET  /<tenant>/v2.0/.well-known/openid-configuration`` (once, in the app constructor)
* ``POST /<tenant>/oauth2/v2.0/token`` (only when MSAL's token cache misses)

Error bodies copy Entra's shape (``error``, ``error_description`` starting with the AADSTS
code, ``error_codes``, ``timestamp``, ``trace_id``, ``correlation_id``, ``error_uri``) because
MSAL hands that dict back to the caller unchanged and the bot logs/inspects it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import secrets
import shutil
import ssl
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import trustme
from aiohttp import web

_JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass
class _Fault:
    status: int
    remaining: int
    retry_after: int | None


class FakeEntra:
    """OAuth2 client-credentials token endpoint for one tenant and one application."""

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        ca: trustme.CA | None = None,
        token_lifetime: int = 3599,
    ) -> None:
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_lifetime = token_lifetime
        self.ca = ca or trustme.CA()
        self.latency = 0.0
        self.token_requests = 0
        self.openid_requests = 0
        self.issued_tokens: set[str] = set()
        self.last_scope: str | None = None
        self.last_assertion_header: dict[str, Any] | None = None
        # Every request as (method, path with query), so tests can assert what MSAL fetched.
        self.requests: list[tuple[str, str]] = []
        # Decoded form of every token POST, for checks on what the client sent.
        self.token_forms: list[dict[str, str]] = []
        self._expiry: dict[str, float] = {}
        self._faults: list[_Fault] = []
        self._tmpdir = Path(tempfile.mkdtemp(prefix="fake-entra-"))
        self.ca_bundle_path = str(self._tmpdir / "ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_bundle_path)
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        server_cert = self.ca.issue_cert("127.0.0.1", "localhost")
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_cert.configure_cert(ctx)
        app = web.Application(middlewares=[self._record])
        app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", self._openid)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        # A request parked in `latency` must not hold teardown for aiohttp's default 60 s.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=ctx).start()
        self._port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            _abort_connections(self._runner)
            await self._runner.cleanup()
            self._runner = None
        shutil.rmtree(self._tmpdir, ignore_errors=True)

    async def __aenter__(self) -> FakeEntra:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # ---- public helpers --------------------------------------------------------------------

    @property
    def authority_host(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeEntra is not started")
        # "localhost" rather than the IP: the certificate names both, and this is the form
        # an operator would type into an authority setting.
        return f"https://localhost:{self._port}"

    @property
    def authority(self) -> str:
        return f"{self.authority_host}/{self.tenant_id}"

    @property
    def token_endpoint(self) -> str:
        return f"{self.authority}/oauth2/v2.0/token"

    def is_valid_token(self, token: str) -> bool:
        expiry = self._expiry.get(token)
        return expiry is not None and time.monotonic() < expiry

    def revoke_all_tokens(self) -> None:
        """Make every issued token invalid, as after a secret rotation (API answers 401)."""
        self._expiry.clear()

    def fail_next(self, status: int, count: int = 1, *, retry_after: int | None = None) -> None:
        """Answer the next ``count`` token POSTs with ``status`` (e.g. 500, 503, 429).

        MSAL replays a 429/5xx answer from its own throttle cache for Retry-After seconds
        (5 when absent) without calling again; ``retry_after=0`` lets a retry reach the fake.
        """
        self._faults.append(_Fault(status, count, retry_after))

    # ---- handlers --------------------------------------------------------------------------

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path_qs))
        if self.latency:
            await asyncio.sleep(self.latency)
        resp: web.StreamResponse = await handler(request)
        return resp

    async def _openid(self, request: web.Request) -> web.Response:
        self.openid_requests += 1
        tenant = request.match_info["tenant"]
        if tenant != self.tenant_id:
            return self._tenant_not_found(tenant)
        base = self.authority
        doc = {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{self.authority_host}/{tenant}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "tid", "ver"],
            "kerberos_endpoint": f"{base}/kerberos",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }
        return web.json_response(doc)

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.token_forms.append(form)
        tenant = request.match_info["tenant"]
        if self._faults:
            fault = self._faults[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.pop(0)
            return self._scripted_failure(fault)
        if tenant != self.tenant_id:
            return self._tenant_not_found(tenant)
        if form.get("grant_type") != "client_credentials":
            return self._error(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{form.get('grant_type', '')}'.",
            )
        client_id = form.get("client_id", "")
        if client_id != self.client_id:
            return self._error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{self.tenant_id}'. This can happen if the application has not been installed "
                "by the administrator of the tenant or consented to by any user in the tenant. "
                "You may have sent your authentication request to the wrong tenant.",
            )
        denied = self._check_credential(form)
        if denied is not None:
            return denied
        scope = form.get("scope", "")
        self.last_scope = scope
        if not scope or not all(s.endswith("/.default") for s in scope.split()):
            return self._error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows "
                "must have a scope value with /.default suffixed to the resource identifier "
                "(application ID URI).",
            )
        token = secrets.token_urlsafe(48)
        self.issued_tokens.add(token)
        self._expiry[token] = time.monotonic() + self.token_lifetime
        return web.json_response(
            {
                "token_type": "Bearer",
                "expires_in": self.token_lifetime,
                "ext_expires_in": self.token_lifetime,
                "access_token": token,
            }
        )

    def _check_credential(self, form: dict[str, str]) -> web.Response | None:
        if "client_secret" in form:
            if secrets.compare_digest(form["client_secret"], self.client_secret):
                return None
            return self._error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request "
                "is the client secret value, not the client secret ID, for a secret added to "
                f"app '{self.client_id}'.",
            )
        if form.get("client_assertion_type") == _JWT_BEARER and "client_assertion" in form:
            parsed = _decode_jwt(form["client_assertion"])
            if parsed is not None:
                header, payload = parsed
                self.last_assertion_header = header
                if payload.get("iss") == self.client_id and payload.get("sub") == self.client_id:
                    return None
            return self._error(
                401,
                "invalid_client",
                700027,
                "Client assertion failed signature validation, or its iss/sub claims do not "
                "name the application.",
            )
        return self._error(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )

    def _tenant_not_found(self, tenant: str) -> web.Response:
        return self._error(
            400,
            "invalid_tenant",
            90002,
            f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and "
            "are signing into the correct cloud. Check with your subscription administrator, "
            "this may happen if there are no active subscriptions for the tenant.",
        )

    def _scripted_failure(self, fault: _Fault) -> web.Response:
        if fault.status == 429:
            resp = self._error(429, "temporarily_unavailable", 50196, "Too many requests.")
        elif fault.status >= 500:
            text = "The server is temporarily unable to service your request. Please retry."
            resp = self._error(fault.status, "temporarily_unavailable", 50168, text)
        else:
            resp = self._error(fault.status, "invalid_request", 90000, "Scripted failure.")
        if fault.retry_after is not None or fault.status == 429:
            resp.headers["Retry-After"] = str(1 if fault.retry_after is None else fault.retry_after)
        return resp

    @staticmethod
    def _error(status: int, error: str, code: int, text: str) -> web.Response:
        trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        body = {
            "error": error,
            "error_description": f"AADSTS{code}: {text} Trace ID: {trace_id} "
            f"Correlation ID: {correlation_id} Timestamp: {stamp}",
            "error_codes": [code],
            "timestamp": stamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"https://login.microsoftonline.com/error?code={code}",
        }
        return web.json_response(body, status=status)


def _abort_connections(runner: web.AppRunner) -> None:
    """Drop open keep-alive connections before cleanup.

    A TLS transport closed the polite way waits for the peer's close_notify; a synchronous
    client (requests inside MSAL) idling on a pooled socket never sends one, so the transport
    would outlive the event loop and trip ResourceWarning, which this project treats as an error.
    """
    server = runner.server
    for conn in server.connections if server is not None else []:
        if conn.transport is not None:
            conn.transport.abort()


def _decode_jwt(token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Split a compact JWS into header and payload; None when it is not well formed.

    The signature is not checked: the fake only needs to know that MSAL built an assertion
    for the right application, and checking it would mean registering certificates.
    """
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        return None
    try:
        header, payload = (json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))) for p in parts[:2])
    except (ValueError, binascii.Error):
        return None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        return None
    return header, payload
