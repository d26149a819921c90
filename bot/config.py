"""Settings, read once from the environment (pydantic-settings) and passed down explicitly."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.budget import BudgetLimits
from bot.clouds import CLOUDS, Cloud, CloudName
from bot.errors import ConfigError

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_TENANT_DOMAIN = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
_SLACK_PRINCIPAL = re.compile(r"[UWS][A-Z0-9]{2,}")


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _checked_url(value: str | None, *, allow_loopback_http: bool = True) -> str | None:
    """An https URL without a trailing slash (http only to this machine, for local fakes)."""
    if value is None:
        return None
    parts = urlsplit(value.strip())
    loopback_http = allow_loopback_http and parts.scheme == "http" and _is_loopback(parts.hostname)
    if not parts.hostname or (parts.scheme != "https" and not loopback_http):
        raise ValueError("must be an https:// URL, e.g. https://graph.microsoft.com/v1.0")
    if parts.query or parts.fragment:
        raise ValueError("must not carry a query or fragment")
    return value.strip().rstrip("/")


class Settings(BaseSettings):
    """Everything the bot reads from its environment. Built once at start."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", hide_input_in_errors=True)

    # Microsoft Entra app registration
    azure_tenant_id: str | None = Field(None, description="directory (tenant) id, a GUID")
    azure_client_id: str | None = Field(None, description="application (client) id, a GUID")
    azure_client_secret: SecretStr | None = Field(None, description="client secret value")
    azure_client_certificate_path: Path | None = Field(
        None, description="PEM file holding the certificate and its private key"
    )
    azure_client_certificate_password: SecretStr | None = Field(None, description="PEM passphrase")
    azure_authority_host: str | None = Field(
        None, description="identity host, e.g. https://login.microsoftonline.com"
    )
    # Incident API
    incident_api: Literal["graph", "defender"] = Field("graph", description="graph or defender")
    incident_source: Literal["api", "demo"] = Field("api", description="api, or demo for sample data")
    incident_cloud: CloudName = Field("global", description="global, usgov, usgovdod or china")
    graph_base_url: str | None = Field(
        None, description="Graph root with version, e.g. https://graph.microsoft.com/v1.0"
    )
    defender_api_url: str | None = Field(
        None, description="legacy API root, e.g. https://api.security.microsoft.com"
    )
    defender_portal_url: str | None = Field(
        None, description="portal root, e.g. https://security.microsoft.com"
    )
    incident_api_timeout: float = Field(10.0, gt=0, description="seconds for one API request")
    incident_api_retries: int = Field(4, ge=0, le=10, description="retries of throttled or failed requests")
    incident_api_deadline: float = Field(20.0, gt=0, description="seconds for one call, retries included")
    incident_api_budget: BudgetLimits = Field(
        default_factory=BudgetLimits,
        description='JSON, e.g. {"get_per_minute": 60}: requests per minute/hour the bot allows itself',
    )
    # Cache
    cache_url: str = Field("memory://", description="memory:// or redis://host:port/db")
    incident_cache_ttl: int = Field(60, ge=1, description="seconds a fetched incident is reused")
    redis_retry_seconds: float = Field(5.0, gt=0, description="how often to try Redis again while it is down")
    # Work after the ack
    intake_claim_idle_seconds: float = Field(
        8.0, gt=0, description="seconds a job may go without its replica's heartbeat before another takes it"
    )
    intake_max_attempts: int = Field(5, ge=1, le=50, description="tries before a job is dead-lettered")
    intake_concurrency: int = Field(32, ge=1, le=1000, description="jobs worked at once per replica")
    shutdown_seconds: float = Field(20.0, gt=0, description="on SIGTERM, time to finish work in flight")
    # Slack
    slack_bot_token: SecretStr | None = Field(None, description="xoxb-… bot token")
    slack_signing_secret: SecretStr | None = Field(None, description="signing secret (HTTP mode)")
    slack_app_token: SecretStr | None = Field(None, description="xapp-… app token: Socket Mode")
    slack_api_url: str = Field("https://slack.com/api/", description="Slack Web API root")
    host: str = Field("0.0.0.0", description="HTTP mode listen address")
    port: int = Field(3000, ge=0, le=65535, description="HTTP mode listen port (0: any free port)")
    incident_writers: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="comma-separated Slack user (U…) and user-group (S…) ids"
    )
    # Logs
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="log level")
    log_format: Literal["text", "json"] = Field("text", description="text or json")

    @field_validator("azure_tenant_id")
    @classmethod
    def _tenant(cls, value: str | None) -> str | None:
        if value is not None and not (_GUID.fullmatch(value) or _TENANT_DOMAIN.fullmatch(value)):
            raise ValueError(
                "must be a GUID like 72f988bf-86f1-41af-91ab-2d7cd011db47 or contoso.onmicrosoft.com"
            )
        return value

    @field_validator("azure_client_id")
    @classmethod
    def _client(cls, value: str | None) -> str | None:
        if value is not None and not _GUID.fullmatch(value):
            raise ValueError("must be a GUID like 00000000-0000-0000-0000-000000000000")
        return value

    @field_validator("azure_authority_host", "graph_base_url", "defender_api_url", "defender_portal_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _checked_url(value)

    @field_validator("slack_api_url")
    @classmethod
    def _slack_url(cls, value: str) -> str:
        checked = _checked_url(value, allow_loopback_http=True) or value
        return checked + "/"

    @field_validator("cache_url")
    @classmethod
    def _cache(cls, value: str) -> str:
        scheme = urlsplit(value).scheme
        if scheme not in ("memory", "redis", "rediss"):
            raise ValueError("must be memory:// or redis://host:6379/0")
        return value

    @field_validator("incident_writers", mode="before")
    @classmethod
    def _writers(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        for item in value or []:
            if not _SLACK_PRINCIPAL.fullmatch(str(item)):
                raise ValueError(f"{item!r} is not a Slack user (U…) or user-group (S…) id")
        return value

    @model_validator(mode="after")
    def _credentials(self) -> Settings:
        if self.incident_source == "demo":
            return self
        missing = [
            name.upper() for name in ("azure_tenant_id", "azure_client_id") if getattr(self, name) is None
        ]
        if not self.azure_client_secret and not self.azure_client_certificate_path:
            missing.append("AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH")
        if missing:
            raise ValueError(
                "the incident API needs "
                + ", ".join(missing)
                + " (or start with --demo / INCIDENT_SOURCE=demo for sample data)"
            )
        return self

    # Derived values: explicit settings win over the cloud preset.
    @property
    def cloud(self) -> Cloud:
        return CLOUDS[self.incident_cloud]

    @property
    def authority_host(self) -> str:
        return self.azure_authority_host or self.cloud.authority_host

    @property
    def graph_url(self) -> str:
        return self.graph_base_url or self.cloud.graph_root + "/v1.0"

    @property
    def defender_url(self) -> str:
        return self.defender_api_url or self.cloud.defender_api

    @property
    def portal_url(self) -> str:
        return self.defender_portal_url or self.cloud.portal

    @property
    def portal_host(self) -> str:
        """Host name of the Defender portal, the one whose links are unfurled."""
        return urlsplit(self.portal_url).hostname or ""

    @property
    def api_root(self) -> str:
        """Root URL of the configured incident API."""
        return self.graph_url if self.incident_api == "graph" else self.defender_url

    @property
    def api_scope(self) -> str:
        """OAuth scope: the API root's origin + /.default."""
        parts = urlsplit(self.api_root)
        return f"{parts.scheme}://{parts.netloc}/.default"


def load_settings(**overrides: Any) -> Settings:
    """Build Settings from the environment (and overrides), or raise ConfigError naming each bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            where = "_".join(str(part) for part in error["loc"]).upper()
            message = str(error["msg"]).removeprefix("Value error, ")
            lines.append(f"{where}: {message}" if where else message)
        raise ConfigError("invalid settings: " + "; ".join(lines)) from None
