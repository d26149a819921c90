"""What the incident service hands to the Slack side: an incident plus how it was obtained."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from bot.models.incident import Incident


class IncidentSnapshot(BaseModel):
    """An incident as fetched (or served from cache), with where it came from."""

    model_config = ConfigDict(frozen=True)

    incident: Incident
    fetched_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    # ids followed through `redirected` incidents to reach this one, oldest first (e.g. ["4242"])
    merged_from: tuple[str, ...] = ()
    # served from cache because the API throttled or failed
    stale: bool = False

    def age_seconds(self, now: datetime | None = None) -> float:
        """Seconds since the API last answered for this incident."""
        return max(0.0, ((now or datetime.now(UTC)) - self.fetched_at).total_seconds())

    def shows(self, change: datetime) -> bool:
        """Whether this copy has the change stamped `change` (Defender's lastUpdateDateTime)."""
        seen = self.incident.last_update_date_time
        return seen is not None and seen >= change
