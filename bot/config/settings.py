"""Settings, read once from the environment (pydantic-settings) and passed down explicitly."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.config.clouds import CLOUDS, Cloud, CloudName
from bot.config.quiet import QuietHours, parse_quiet_hours
from bot.config.unfurl import UnfurlPolicy, parse_unfurl_detail
from bot.config.values import (
    GUID,
    TENANT,
    checked_budget,
    checked_cache_url,
    checked_host,
    checked_token,
    checked_url,
)

_SLACK_PRINCIPAL = re.compile(r"[UWS][A-Z0-9]{2,}")
# The plain forms, and the async-driver forms they stand for (bot.state.database.async_url).
_DATABASE_SCHEMES = ("sqlite", "sqlite+aiosqlite", "postgresql", "postgres", "postgresql+asyncpg")
_URL_EXAMPLES = {
    "azure_authority_host": "https://login.microsoftonline.com",
    "graph_base_url": "https://graph.microsoft.com/v1.0",
    "defender_api_url": "https://api.security.microsoft.com",
    "defender_portal_url": "https://security.microsoft.com",
}


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
    # Settings leave the bucket arithmetic to bot.state.budget: they only check the keys and numbers.
    incident_api_budget: Annotated[dict[str, int], NoDecode] = Field(
        default_factory=dict,
        description='JSON, e.g. {"get_per_minute": 60}: requests per minute/hour the bot allows itself',
    )
    # Cache
    cache_url: str = Field("memory://", description="memory:// or redis://host:port/db")
    incident_cache_ttl: int = Field(60, ge=1, description="seconds a fetched incident is reused")
    redis_retry_seconds: float = Field(5.0, gt=0, description="how often to try Redis again while it is down")
    # Database: the cards posted, so they can be kept up to date
    database_url: str = Field(
        "sqlite:///incident-bot.db",
        description="sqlite:///path (one process) or postgresql://user@host:5432/db (replicas)",
    )
    live_card_days: int = Field(7, ge=1, le=90, description="days a posted card is kept up to date")
    live_poll_seconds: float = Field(60.0, ge=1, description="seconds between checks for changed incidents")
    # Slack documents chat.update and chat.unfurl as Tier 3 ("50+ per minute", bursts allowed), per
    # method; a bulk change (50 incidents resolved at once) is spread to stay under it. 0: no pacing.
    live_slack_calls_per_minute: int = Field(
        50,
        ge=0,
        description="live-card redraws per minute per Slack method (chat.update, chat.unfurl), per replica",
    )
    # chat.postMessage "generally allows posting one message per second per channel" (Slack's rate
    # limits page), short bursts tolerated: a bulk change posting 80 cards into one channel is spread.
    channel_posts_per_minute: int = Field(
        60,
        ge=0,
        description="subscription posts and thread replies per minute per channel, per replica; 0: no pacing",
    )
    # Work after the ack
    intake_claim_idle_seconds: float = Field(
        8.0, gt=0, description="seconds a job may go without its replica's heartbeat before another takes it"
    )
    intake_max_attempts: int = Field(5, ge=1, le=50, description="tries before a job is dead-lettered")
    intake_concurrency: int = Field(32, ge=1, le=1000, description="jobs worked at once per replica")
    # Below Docker's default stop timeout (10 s), so `docker stop` never kills a drain half way.
    shutdown_seconds: float = Field(8.0, gt=0, description="on SIGTERM, time to finish work in flight")
    # HTTP server: a client slower than these holds no socket (slowloris); 408 and the connection closed.
    header_timeout_seconds: float = Field(
        10.0, gt=0, description="seconds a client has to send a request's head (request line and headers)"
    )
    body_timeout_seconds: float = Field(10.0, gt=0, description="seconds to read the body of a Slack request")
    # Slack
    slack_bot_token: SecretStr | None = Field(None, description="xoxb-… bot token")
    slack_signing_secret: SecretStr | None = Field(None, description="signing secret (HTTP mode)")
    slack_app_token: SecretStr | None = Field(None, description="xapp-… app token: Socket Mode")
    slack_api_url: str = Field("https://slack.com/api/", description="Slack Web API root")
    # Only `doctor` uses these: with them it reads the app's unfurl domains (apps.manifest.export).
    slack_config_token: SecretStr | None = Field(None, description="app configuration token (doctor only)")
    slack_app_id: str | None = Field(None, pattern=r"^A[A-Z0-9]{2,}$", description="the app's id A… (doctor)")
    host: str = Field("0.0.0.0", description="HTTP mode listen address")
    port: int = Field(3000, ge=0, le=65535, description="HTTP mode listen port (0: any free port)")
    incident_writers: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="comma-separated Slack user (U…) and user-group (S…) ids"
    )
    incident_readers: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="who may see a redacted card's full version: Slack user and user-group ids",
    )
    # What an unfurl shows where (see bot.config.unfurl and the README's table)
    unfurl_detail: Annotated[UnfurlPolicy, NoDecode] = Field(
        default_factory=UnfurlPolicy, description="per conversation kind: full, redacted or none"
    )
    unfurl_redacted_title: Literal["show", "hide"] = Field(
        "hide", description="whether a redacted card shows the incident's title"
    )
    quiet_hours: Annotated[QuietHours | None, NoDecode] = Field(
        None, description="when subscription reminders keep quiet, e.g. 22:00-07:00 Europe/Berlin"
    )
    unfurl_style: Literal["blocks", "work_object"] = Field(
        "blocks", description="blocks, or work_object once the app has Work Object previews"
    )
    # Logs
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="log level")
    log_format: Literal["text", "json"] = Field("text", description="text or json")

    @field_validator("azure_tenant_id")
    @classmethod
    def _tenant(cls, value: str | None) -> str | None:
        if value is not None and not TENANT.fullmatch(value):
            raise ValueError(
                "must be a GUID like 72f988bf-86f1-41af-91ab-2d7cd011db47 or contoso.onmicrosoft.com"
            )
        return value

    @field_validator("azure_client_id")
    @classmethod
    def _client(cls, value: str | None) -> str | None:
        if value is not None and not GUID.fullmatch(value):
            raise ValueError("must be a GUID like 00000000-0000-0000-0000-000000000000")
        return value

    @field_validator("azure_authority_host", "graph_base_url", "defender_api_url", "defender_portal_url")
    @classmethod
    def _url(cls, value: str | None, info: ValidationInfo) -> str | None:
        return checked_url(value, example=_URL_EXAMPLES[str(info.field_name)])

    @field_validator("slack_api_url")
    @classmethod
    def _slack_url(cls, value: str) -> str:
        return (checked_url(value, example="https://slack.com/api/") or value) + "/"

    @field_validator("slack_bot_token", "slack_app_token")
    @classmethod
    def _slack_token(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        return checked_token(value, str(info.field_name))

    @field_validator("cache_url")
    @classmethod
    def _cache(cls, value: str) -> str:
        return checked_cache_url(value)

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str) -> str:
        scheme, separator, rest = value.strip().partition("://")
        sqlite = scheme.lower().startswith("sqlite")
        well_formed = rest.startswith("/") and rest != "/" if sqlite else bool(rest)
        if not separator or scheme.lower() not in _DATABASE_SCHEMES or not well_formed:
            raise ValueError(
                "must be sqlite:///path/to/incident-bot.db (one process) "
                "or postgresql://user@host:5432/db (replicas)"
            )
        return value.strip()

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        return checked_host(value)

    @field_validator("incident_api_budget", mode="before")
    @classmethod
    def _budget(cls, value: Any) -> dict[str, int]:
        return checked_budget(value)

    @field_validator("quiet_hours", mode="before")
    @classmethod
    def _quiet(cls, value: Any) -> Any:
        return parse_quiet_hours(value) if isinstance(value, str) else value

    @field_validator("unfurl_detail", mode="before")
    @classmethod
    def _unfurl_detail(cls, value: Any) -> Any:
        return parse_unfurl_detail(value) if isinstance(value, str) else value

    @field_validator("incident_writers", "incident_readers", mode="before")
    @classmethod
    def _principals(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        for item in value or []:
            if not _SLACK_PRINCIPAL.fullmatch(str(item)):
                raise ValueError(f"{item!r} is not a Slack user (U…) or user-group (S…) id")
        return value

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
