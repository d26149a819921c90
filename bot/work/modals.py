"""Filling a modal that opened at once with "Loading…": the real modal, or a notice saying why not."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.blocks.pending_modals import build_modal_for, build_notice_modal
from bot.errors import BotError
from bot.incidents.explain import explain
from bot.jobs import FillModal
from bot.work.context import Work

logger = logging.getLogger(__name__)

# views.update errors that mean the person has moved on: the modal was closed, or replaced.
_GONE = {"not_found", "hash_conflict", "view_not_found"}


async def fill_modal(work: Work, job: FillModal) -> None:
    """Replace the loading modal: refused before anything is typed, or the modal with the incident."""
    if not await work.people.may_write(job.user_id):
        await _update(
            work, job, build_notice_modal(job.modal, work.seal.seal(job.ref), work.people.refusal_text())
        )
        return
    try:
        snapshot = await work.incidents.get(job.ref.id)
    except BotError as error:
        text = explain(error, job.ref.id, work.settings.azure_tenant_id)
        await _update(work, job, build_notice_modal(job.modal, work.seal.seal(job.ref), text))
        return
    view = build_modal_for(job.modal, work.seal.seal(job.ref), snapshot.incident, job.classification)
    await _update(work, job, view)


async def _update(work: Work, job: FillModal, view: dict[str, Any]) -> None:
    try:
        await work.slack.views_update(view_id=job.view_id, hash=job.view_hash, view=view)
    except SlackApiError as error:
        if error.response.get("error") not in _GONE:
            raise
        logger.info("modal %s was closed or changed before it was filled", job.view_id)
