"""The jobs that tell channels and people about incidents unasked: subscriptions, their threads and
reminders, `/incident list` and App Home."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator

from bot.jobs.base import CHANNEL, JobBase, checked_response_url
from bot.models import validate_incident_id

MAX_FILTER_CHARS = 600


class RouteIncident(JobBase):
    """The watcher saw an incident change while channels subscribe: post it once in each channel
    whose subscription it now matches, and reply in the threads of the posts it already has."""

    kind: Literal["route"] = "route"
    user_id: str = Field("", max_length=40)  # nobody asked: the watcher
    incident_id: str
    version: datetime | None = None

    @field_validator("incident_id")
    @classmethod
    def _id(cls, value: str) -> str:
        return validate_incident_id(value)


class RemindPost(JobBase):
    """A posted incident still unassigned (or still open) after its subscription's period: one
    reply in its thread for this period (`slot`), none once it is assigned or resolved."""

    kind: Literal["remind"] = "remind"
    user_id: str = Field("", max_length=40)
    post_id: int = Field(ge=1)
    slot: int = Field(ge=1)  # which reminder of the post this is: the once-only key
    at: datetime | None = None  # when the watcher found it due (its clock decides, not the worker's)


class ManageSubscriptions(JobBase):
    """`/incident subscribe|subscriptions|unsubscribe|mute …` in a channel, answered ephemerally."""

    kind: Literal["subscriptions"] = "subscriptions"
    op: Literal["subscribe", "list", "unsubscribe", "mute"]
    channel_id: str = Field(pattern=CHANNEL)
    argument: str = Field("", max_length=MAX_FILTER_CHARS)
    response_url: str

    _url = field_validator("response_url")(checked_response_url)


class ListIncidents(JobBase):
    """`/incident list [mine|unassigned|active|high|<filter>]` and its Next / Previous: one page."""

    kind: Literal["list"] = "list"
    filter_text: str = Field("", max_length=MAX_FILTER_CHARS)
    page: int = Field(0, ge=0, le=1000)
    response_url: str
    replace: bool = False  # a page turned: the new page replaces the one clicked

    _url = field_validator("response_url")(checked_response_url)


class PublishHome(JobBase):
    """`app_home_opened`: the person's App Home, published at most once a minute."""

    kind: Literal["home"] = "home"


class ChannelLeft(JobBase):
    """The bot is no longer in a channel (removed, archived): its subscriptions pause, and the
    people who made them are told."""

    kind: Literal["channel_left"] = "channel_left"
    user_id: str = Field("", max_length=40)
    channel_id: str = Field(pattern=CHANNEL)
    reason: str = Field("channel_left", max_length=64)
