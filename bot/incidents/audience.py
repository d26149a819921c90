"""Who can read a conversation, and how much of an incident an unfurl may show there. Pure: no I/O.

An unfurl is seen by everyone in the conversation, so what it shows depends on the kind of
conversation (`classify`, from a `conversations.info` answer) and on who shared the link; the
policy (`bot.config.unfurl`, `UNFURL_DETAIL`) maps each kind to a detail.

What Slack says, and what this module relies on:

- A conversation object's `is_ext_shared` means "part of a Shared Channel with a remote
  organization. Your app should make sure the data it shares in such a channel is appropriate for
  both workspaces" (`is_shared` is then true too); `is_shared` means shared between several
  workspaces in some way; `is_org_shared` means shared between workspaces of one Enterprise
  organization; `is_pending_ext_shared` and `pending_connected_team_ids` a Slack Connect invitation
  not yet accepted (the history, this unfurl included, is readable by the other organisation once it
  is); `shared_team_ids`, `connected_team_ids`, `internal_team_ids` and `conversation_host_id` name
  the teams. https://docs.slack.dev/reference/objects/conversation-object and
  https://docs.slack.dev/reference/objects/channel-object
- A `link_shared` event for a link typed into the message composer (`source: composer`) carries
  `channel: "COMPOSER"`: "not any particular channel for the message"
  (https://api.slack.com/changelog/2021-08-changes-to-unfurls). So a composer preview never says
  where the message will go, and gets `ConversationKind.UNKNOWN`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.config.unfurl import ConversationKind

COMPOSER = "COMPOSER"  # the `channel` of a link_shared event from the message composer


def link_conversation(event: Mapping[str, Any]) -> str | None:
    """The conversation a `link_shared` event's links are in, or None when the event does not name
    one: a composer preview (`source: composer`, `channel: COMPOSER`), or no channel at all."""
    channel = event.get("channel")
    if event.get("source") == "composer" or not isinstance(channel, str) or channel in ("", COMPOSER):
        return None
    return channel


# ---- classify ------------------------------------------------------------------------------------

_SHARED_FLAGS = ("is_ext_shared", "is_org_shared", "is_pending_ext_shared", "is_global_shared")
_TEAM_LISTS = ("shared_team_ids", "connected_team_ids", "internal_team_ids", "connected_limited_team_ids")
_PENDING_LISTS = ("pending_connected_team_ids", "pending_shared")


def _yes(value: Any) -> bool:
    """A Slack boolean: true (JSON true, 1, or the text "true" of some legacy objects)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value == 1
    return isinstance(value, str) and value.strip().lower() == "true"


def _no(value: Any) -> bool:
    """Explicitly false, or absent. Anything unreadable is neither yes nor no."""
    if value is None or isinstance(value, bool):
        return value is not True
    if isinstance(value, int):
        return value == 0
    return isinstance(value, str) and value.strip().lower() in ("false", "")


def _team_ids(value: Any) -> list[str] | None:
    """A list of team ids; None when the value is not a list (absent or unreadable)."""
    if not isinstance(value, list):
        return None
    return [str(team) for team in value if team not in (None, "")]


def is_shared_outside(info: Mapping[str, Any], *, our_team: str) -> bool:
    """Whether anyone outside our workspace can read the conversation, or soon will. Unreadable
    flags count as shared."""
    for flag in _SHARED_FLAGS:
        if not _no(info.get(flag)):
            return True
    for name in _TEAM_LISTS:
        teams = _team_ids(info.get(name))
        if teams is None:
            if name in info:  # present but not a list: cannot tell
                return True
            continue
        if any(team != our_team for team in teams):
            return True
    for name in _PENDING_LISTS:
        pending = info.get(name)
        if pending is not None and (not isinstance(pending, list) or _team_ids(pending)):
            return True
    host = info.get("conversation_host_id")
    if host not in (None, "") and host != our_team:
        return True
    shared = info.get("is_shared")
    if _yes(shared):
        # "shared in some way between multiple workspaces": shared unless every team named is ours
        named = [team for name in _TEAM_LISTS for team in _team_ids(info.get(name)) or []]
        return not named or any(team != our_team for team in named)
    return not _no(shared)


def classify(info: Mapping[str, Any], *, our_team: str) -> ConversationKind:
    """The kind of a `conversations.info` `channel` object, for the workspace `our_team` (auth.test's
    `team_id`). Sharing outside the workspace wins over everything (a DM or a private channel can be
    a Slack Connect one); anything the bot cannot read is `unknown`."""
    if not isinstance(info, Mapping) or not isinstance(info.get("id"), str) or not our_team:
        return ConversationKind.UNKNOWN
    if is_shared_outside(info, our_team=our_team):
        return ConversationKind.SHARED
    if _yes(info.get("is_im")):
        return ConversationKind.DM
    if _yes(info.get("is_mpim")):
        return ConversationKind.GROUP_DM
    # is_group: private channels made before March 2021 (ids G…); is_private is then true too
    if _yes(info.get("is_private")) or _yes(info.get("is_group")):
        return ConversationKind.PRIVATE
    if (
        _yes(info.get("is_channel"))
        and _no(info.get("is_private"))
        and _no(info.get("is_im"))
        and _no(info.get("is_mpim"))
    ):
        return ConversationKind.PUBLIC
    return ConversationKind.UNKNOWN
