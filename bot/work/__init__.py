"""Work done after Slack was acked: each job type has its handler, all idempotent under redelivery.

A delivery from the intake is parsed into its typed job (`bot.jobs.parse_job`) and dispatched by
type with `match`, so a job type without a handler here is a mypy error, not a dropped job.
"""

from __future__ import annotations

import logging
from typing import assert_never

from bot.jobs import (
    ChannelLeft,
    FillModal,
    Job,
    JobUnreadable,
    ListIncidents,
    ManageSubscriptions,
    PresentEntity,
    PublishHome,
    RefreshCard,
    RefreshLiveCards,
    RemindPost,
    RouteIncident,
    ShareIncident,
    ShowAlertIncident,
    ShowDetails,
    ShowIncident,
    TellOutOfDate,
    UnfurlLinks,
    WriteIncident,
    parse_job,
    reply_address,
)
from bot.state.intake import Delivery, GiveUp
from bot.work import channels, details, live, modals, notices, reading, routing, subscribe, telling, writing
from bot.work.context import Work

__all__ = ["Delivery", "Work", "handle", "on_dead"]

logger = logging.getLogger(__name__)

UNREADABLE = (
    "Sorry, your request could not be finished: the bot was upgraded while it waited. "
    "Nothing was changed; please do it again."
)


async def handle(work: Work, delivery: Delivery) -> None:
    """Do the job a delivery holds."""
    job = _read(delivery)
    match job:
        case ShowIncident():
            await reading.show_incident(work, job)
        case ShareIncident():
            await reading.share_incident(work, job, delivery)
        case UnfurlLinks():
            await reading.unfurl_links(work, job)
        case RefreshCard():
            await writing.refresh(work, job)
        case WriteIncident():
            await writing.write(work, job, delivery)
        case FillModal():
            await modals.fill_modal(work, job)
        case TellOutOfDate():
            await notices.tell_out_of_date(work, job)
        case RefreshLiveCards():
            await live.refresh_live_cards(work, job, delivery)
        case ShowDetails():
            await details.show_details(work, job)
        case PresentEntity():
            await details.present_entity(work, job)
        case ShowAlertIncident():
            await reading.show_alert_incident(work, job)
        case RouteIncident():
            await routing.route_incident(work, job)
        case RemindPost():
            await telling.remind(work, job)
        case ManageSubscriptions():
            await subscribe.manage_subscriptions(work, job)
        case ListIncidents():
            await telling.list_incidents(work, job)
        case PublishHome():
            await telling.publish_home(work, job)
        case ChannelLeft():
            await channels.channel_left(work, job)
        case _:
            assert_never(job)


async def on_dead(work: Work, delivery: Delivery) -> None:
    """The job failed every try: tell the person, where the job says who and where."""
    try:
        job = parse_job(delivery.kind, delivery.payload)
    except JobUnreadable:
        # A job of an older release that this one cannot read: tell the person if it says where.
        if (address := reply_address(delivery.payload)) is not None:
            await work.respond(address, {"response_type": "ephemeral", "replace_original": False,
                                         "text": UNREADABLE})  # fmt: skip
        return
    match job:
        case ShowIncident() | ShareIncident() | ShowAlertIncident():
            await reading.tell_gave_up(work, job)
        case WriteIncident():
            await writing.gave_up(work, job)
        case RefreshLiveCards():
            await live.gave_up(work, job)
        case UnfurlLinks() | RefreshCard() | FillModal() | TellOutOfDate() | ShowDetails() | PresentEntity():
            return
        case (
            RouteIncident()
            | RemindPost()
            | PublishHome()
            | ChannelLeft()
            | ManageSubscriptions()
            | ListIncidents()
        ):
            return  # the next poll routes again; a person asks again


def _read(delivery: Delivery) -> Job:
    try:
        return parse_job(delivery.kind, delivery.payload)
    except JobUnreadable as error:
        logger.error("job %s cannot be read: %s", delivery.id, error)
        raise GiveUp(str(error)) from None
