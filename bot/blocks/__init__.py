"""Pure Block Kit builders for the bot's Slack surfaces: incident cards (messages, ephemeral
answers, unfurls), modals and small messages. No I/O: models in, JSON-able dicts out."""

from bot.blocks.bodies import (
    SURFACES,
    Surface,
    block_kit_builder_url,
    card_context_for,
    ephemeral_card_body,
    ephemeral_error_body,
    message_card_body,
    unfurl_body,
    unfurl_error_body,
)
from bot.blocks.ids import ActionId, BlockId, CallbackId
from bot.blocks.incident import (
    CardContext,
    build_incident_card,
    card_fallback_text,
    incident_url,
    portal_link,
)
from bot.blocks.messages import (
    build_error_blocks,
    build_loading_blocks,
    build_not_found_text,
    build_notice_blocks,
    build_sample_data_note,
    build_usage_blocks,
    build_usage_text,
)
from bot.blocks.modals import (
    build_assign_modal,
    build_comment_modal,
    build_resolve_modal,
    build_tags_modal,
    determination_block_id,
    modal_errors,
    parse_determination_value,
    parse_new_tags,
    resulting_tags,
)
from bot.blocks.refs import IncidentRef, is_response_url, is_safe_url
from bot.blocks.seal import CardOutOfDate, CardSeal
from bot.blocks.text import escape_mrkdwn, mrkdwn_cut, slack_date, truncate

__all__ = [
    "SURFACES",
    "ActionId",
    "BlockId",
    "CallbackId",
    "CardContext",
    "CardOutOfDate",
    "CardSeal",
    "IncidentRef",
    "Surface",
    "block_kit_builder_url",
    "build_assign_modal",
    "build_comment_modal",
    "build_error_blocks",
    "build_incident_card",
    "build_loading_blocks",
    "build_not_found_text",
    "build_notice_blocks",
    "build_resolve_modal",
    "build_sample_data_note",
    "build_tags_modal",
    "build_usage_blocks",
    "build_usage_text",
    "card_context_for",
    "card_fallback_text",
    "determination_block_id",
    "ephemeral_card_body",
    "ephemeral_error_body",
    "escape_mrkdwn",
    "incident_url",
    "is_response_url",
    "is_safe_url",
    "message_card_body",
    "modal_errors",
    "mrkdwn_cut",
    "parse_determination_value",
    "parse_new_tags",
    "portal_link",
    "resulting_tags",
    "slack_date",
    "truncate",
    "unfurl_body",
    "unfurl_error_body",
]
