"""Small chat messages: usage help, errors and notices (ephemeral answers to /incident and clicks).

Each returns either mrkdwn `text` or a short list of blocks; any text that came from outside the
bot (an id someone typed, an API error message) is escaped and cut here.
"""

from __future__ import annotations

from typing import Any

from bot.blocks.text import mrkdwn, mrkdwn_cut, one_line

MESSAGE_CHARS = 2900
TYPED_ID_CHARS = 40


def build_usage_text(command: str = "/incident") -> str:
    """How to use the slash command, as mrkdwn."""
    cmd = mrkdwn_cut(one_line(command), 40)
    return "\n".join(
        [
            "*Show a Microsoft Defender incident in Slack*",
            f"• `{cmd} 2972395`: the incident card, only visible to you, with a button to share it",
            f"• `{cmd} https://security.microsoft.com/incidents/2972395`: the same, from a portal link",
            f"• `{cmd} da637551227677560813_-961444813`: the incident of an alert",
            f"• `{cmd} list [mine|unassigned|active|high|<filter>]`: incidents, 10 a page, only for you",
            f"• `{cmd} subscribe severity>=high status=active [remind=30m]`: post matching incidents in "
            "this channel, their changes in each card's thread",
            f"• `{cmd} subscriptions`, `{cmd} unsubscribe <id>`, `{cmd} mute <incident id>`",
            f"• `{cmd} help`: this message",
            "Paste an incident or alert link in a channel and the bot unfurls it as a card.",
        ]
    )


def build_usage_blocks(command: str = "/incident") -> list[dict[str, Any]]:
    """The usage help as one section block."""
    return [{"type": "section", "text": mrkdwn(build_usage_text(command))}]


def build_error_blocks(message: str) -> list[dict[str, Any]]:
    """An error shown to the user: a warning sign and the (escaped, cut) message."""
    text = mrkdwn_cut(message.strip(), MESSAGE_CHARS) or "Something went wrong."
    return [{"type": "section", "text": mrkdwn(f":warning: {text}")}]


def build_notice_blocks(message: str) -> list[dict[str, Any]]:
    """A neutral notice (e.g. "Incident 123 was assigned to you"), escaped and cut."""
    return [{"type": "section", "text": mrkdwn(mrkdwn_cut(message.strip(), MESSAGE_CHARS) or " ")}]


def build_sample_data_note() -> dict[str, Any]:
    """A context block marking a card as demo data, not an incident of the tenant."""
    text = ":construction: *Sample data*: demo mode, not a real incident from your tenant"
    return {"type": "context", "elements": [mrkdwn(text)]}


def build_not_found_text(incident_id: str, tenant: str | None = None) -> str:
    """ "Incident 123 was not found in tenant …": mrkdwn, the typed id and tenant escaped."""
    shown = mrkdwn_cut(one_line(incident_id), TYPED_ID_CHARS)
    where = f" in tenant {mrkdwn_cut(one_line(tenant), 80)}" if tenant else ""
    return (
        f":mag: Incident {shown} was not found{where}. Check the number, or open it in the Defender portal."
    )


def build_loading_blocks(incident_id: str) -> list[dict[str, Any]]:
    """A placeholder shown while an incident is fetched or updated."""
    shown = mrkdwn_cut(one_line(incident_id), TYPED_ID_CHARS)
    return [{"type": "context", "elements": [mrkdwn(f":hourglass_flowing_sand: Loading incident {shown}…")]}]
