"""The full incident for one person who may see it: "Show details" on a redacted card, "Show incident"
on an alert card, and a Work Object's flexpane (`entity_details_requested`).

What a conversation with outsiders sees is the redacted card; its full version goes only to the
person who asks, ephemerally or in their own flexpane, after `People.may_read`: a member of our
workspace (never someone from another organisation) in INCIDENT_READERS or INCIDENT_WRITERS, or
anyone of ours while INCIDENT_READERS is unset. Nothing is posted to the conversation.
"""

from __future__ import annotations

import logging

from bot.blocks.bodies import fallback_text
from bot.blocks.entity import details_refusal, incident_details
from bot.errors import BotError
from bot.incidents.explain import explain
from bot.jobs import PresentEntity, ShowDetails
from bot.work.context import Work
from bot.work.places import tell, whisper

logger = logging.getLogger(__name__)


async def show_details(work: Work, job: ShowDetails) -> None:
    """The full card, ephemerally, to a clicker who may read incidents; a refusal to anyone else."""
    ref = job.ref
    our_team = await work.our_team()
    if not await work.people.may_read(job.user_id, team_id=job.user_team, our_team=our_team):
        await tell(work, ref, job.user_id, work.people.reader_refusal_text())
        return
    try:
        snapshot = await work.incidents.get(ref.id)
    except BotError as error:
        await tell(work, ref, job.user_id, explain(error, ref.id, work.settings.azure_tenant_id))
        return
    # Not live and not written down: it is one person's copy, and their Refresh redraws it.
    ctx = work.card_context()
    await whisper(
        work, ref, job.user_id, {"text": fallback_text(snapshot, ctx), "blocks": work.cards(snapshot, ctx)}
    )


async def present_entity(work: Work, job: PresentEntity) -> None:
    """entity.presentDetails: the full entity for a reader, Slack's refusal treatment for anyone else."""
    our_team = await work.our_team()
    if not await work.people.may_read(job.user_id, team_id=None, our_team=our_team):
        refusal = details_refusal(work.people.reader_refusal_text())
        await work.slack.entity_presentDetails(trigger_id=job.trigger_id, error=refusal)
        return
    try:
        snapshot = await work.incidents.get(job.incident_id)
    except BotError as error:
        text = explain(error, job.incident_id, work.settings.azure_tenant_id)
        await work.slack.entity_presentDetails(trigger_id=job.trigger_id, error=details_refusal(text))
        return
    metadata = incident_details(snapshot, work.card_context(unfurl_url=job.url))
    await work.slack.entity_presentDetails(trigger_id=job.trigger_id, metadata=metadata)
