"""What every job and change is built on: frozen pydantic models that name every field they take."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.blocks.refs import is_response_url

TEAM = r"^[TE][A-Z0-9]{2,}$"  # a workspace (T…) or an Enterprise organisation (E…)
CHANNEL = r"^[CDG][A-Z0-9]{2,30}$"


class Model(BaseModel):
    """Frozen, and no field it does not name: a stored job is read exactly as it was written."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class JobBase(Model):
    """Every job: its schema version and the person it is for (or done on behalf of)."""

    v: Literal[1] = 1  # JOB_VERSION
    user_id: str = Field(pattern=r"^[UW][A-Z0-9]{2,}$")


def checked_response_url(value: str) -> str:
    """A field validator's check: a URL the bot may answer through (bot.blocks.refs.is_response_url)."""
    if not is_response_url(value):
        raise ValueError("not a response_url")
    return value
