"""Clients of Microsoft's incident APIs and of Entra, and how they are built from Settings."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from bot import __version__
from bot.config.settings import Settings
from bot.graph.alerts import (
    DEFENDER_ALERT_PERMISSIONS,
    GRAPH_ALERT_PERMISSIONS,
    AlertApi,
    DefenderAlertApi,
    GraphAlertApi,
)
from bot.graph.api import (
    DEFENDER_PERMISSIONS,
    GRAPH_PERMISSIONS,
    DefenderIncidentApi,
    GraphIncidentApi,
    IncidentApi,
)
from bot.graph.auth import BearerAuth, ClientCredentials, TokenProvider
from bot.graph.transport import ApiTransport, Permissions, RetryPolicy
from bot.state.budget import ApiBudget

__all__ = [
    "AlertApi",
    "ApiTransport",
    "ClientCredentials",
    "DefenderAlertApi",
    "DefenderIncidentApi",
    "GraphAlertApi",
    "GraphIncidentApi",
    "IncidentApi",
    "TokenProvider",
    "build_alert_api",
    "build_http_client",
    "build_incident_api",
    "build_token_provider",
]


def build_token_provider(settings: Settings) -> TokenProvider:
    """The process's one MSAL-backed token provider."""
    assert settings.azure_tenant_id and settings.azure_client_id  # checked by Settings
    credentials = ClientCredentials(
        authority=f"{settings.authority_host}/{settings.azure_tenant_id}",
        client_id=settings.azure_client_id,
        scope=settings.api_scope,
        client_secret=(
            settings.azure_client_secret.get_secret_value() if settings.azure_client_secret else None
        ),
        certificate_path=settings.azure_client_certificate_path,
        certificate_password=(
            settings.azure_client_certificate_password.get_secret_value()
            if settings.azure_client_certificate_password
            else None
        ),
    )
    return TokenProvider(credentials)


def build_http_client(settings: Settings, tokens: TokenProvider) -> httpx.AsyncClient:
    """The process's one long-lived HTTP client for the incident API (honours SSL_CERT_FILE)."""
    return httpx.AsyncClient(
        auth=BearerAuth(tokens),
        timeout=httpx.Timeout(settings.incident_api_timeout, connect=5.0),
        limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
        headers={
            "User-Agent": f"incident-bot/{__version__}",
            "Accept": "application/json",
            # Without it Graph hides newer enum members such as awaitingAction.
            "Prefer": "include-unknown-enum-members",
        },
    )


Observe = Callable[[str, str, float], None]


def _transport(
    settings: Settings,
    http: httpx.AsyncClient,
    permissions: Permissions,
    budget: ApiBudget | None,
    observe: Observe | None,
) -> ApiTransport:
    """One transport per API client, all with the configured retries and the one shared budget."""
    policy = RetryPolicy(retries=settings.incident_api_retries, deadline=settings.incident_api_deadline)
    return ApiTransport(http, permissions=permissions, policy=policy, budget=budget, observe=observe)


def build_incident_api(
    settings: Settings,
    http: httpx.AsyncClient,
    *,
    budget: ApiBudget | None = None,
    observe: Observe | None = None,
) -> IncidentApi:
    """The configured backend over the shared HTTP client, within the shared API budget."""
    if settings.incident_api == "defender":
        transport = _transport(settings, http, DEFENDER_PERMISSIONS, budget, observe)
        return DefenderIncidentApi(transport, settings.defender_url)
    transport = _transport(settings, http, GRAPH_PERMISSIONS, budget, observe)
    return GraphIncidentApi(transport, settings.graph_url)


def build_alert_api(
    settings: Settings,
    http: httpx.AsyncClient,
    *,
    budget: ApiBudget | None = None,
    observe: Observe | None = None,
) -> AlertApi:
    """The configured backend's alert reader, over the same HTTP client and within the same budget
    as incidents (an alert read is one more request to the same tenant's API). Its transport names
    the alert permission on a 403, so the operator is told which consent is missing."""
    if settings.incident_api == "defender":
        transport = _transport(settings, http, DEFENDER_ALERT_PERMISSIONS, budget, observe)
        return DefenderAlertApi(transport, settings.defender_url)
    transport = _transport(settings, http, GRAPH_ALERT_PERMISSIONS, budget, observe)
    return GraphAlertApi(transport, settings.graph_url)
