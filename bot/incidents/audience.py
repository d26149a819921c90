"""Who can read a conversation, and how much of an incident an unfurl may show there. Pure: no I/O.

An unfurl is seen by everyone in the conversation, so what it shows depends on the kind of
conversation (`classify`, from a `conversations.info` answer) and on who shared the link. The
policy (`UNFURL_DETAIL`, `parse_unfurl_detail`) maps each kind to a `Detail`; whatever the bot
cannot place (a failed lookup, a composer preview) gets the strictest detail configured, never
`full`.

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

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

COMPOSER = "COMPOSER"  # the `channel` of a link_shared event from the message composer


class ConversationKind(StrEnum):
    """Where a link was shared, as far as who can read it goes."""

    DM = "dm"  # a direct message (im) between people of our organisation
    GROUP_DM = "group_dm"  # a group direct message (mpim), everyone from our organisation
    PRIVATE = "private"  # a private channel of our organisation
    PUBLIC = "public"  # a public channel: anyone in the workspace can read it
    SHARED = "shared"  # shared with other workspaces or organisations (Slack Connect, org-shared)
    UNKNOWN = "unknown"  # the lookup failed, or a composer preview: could be any of the above


class Detail(StrEnum):
    """How much of an incident an unfurl shows."""

    FULL = "full"
    REDACTED = "redacted"
    NONE = "none"

    @property
    def strictness(self) -> int:
        """none > redacted > full."""
        return _STRICTNESS[self]


_STRICTNESS = {Detail.FULL: 0, Detail.REDACTED: 1, Detail.NONE: 2}


def strictest(details: Iterable[Detail]) -> Detail:
    """The strictest of `details` (`full` for none at all)."""
    return max(details, key=lambda detail: detail.strictness, default=Detail.FULL)


@dataclass(frozen=True)
class UnfurlPolicy:
    """What an unfurl shows in each kind of conversation (`UNFURL_DETAIL`).

    `unknown` is not a free choice: a conversation the bot could not place may be public or shared,
    so it gets the strictest of all the values here, and at least `redacted`. Setting `unknown`
    can only make it stricter still.
    """

    dm: Detail = Detail.FULL
    group_dm: Detail = Detail.FULL
    private: Detail = Detail.FULL
    public: Detail = Detail.REDACTED
    shared: Detail = Detail.REDACTED
    unknown: Detail = Detail.REDACTED

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, Detail):
                raise TypeError(f"UnfurlPolicy.{field.name} must be a Detail, not {value!r}")
        if self.unknown is Detail.FULL:
            raise ValueError(_UNKNOWN_NEVER_FULL)

    def detail(self, kind: ConversationKind) -> Detail:
        """The configured detail of a kind; for `unknown`, the strictest of every value, never `full`."""
        if kind is ConversationKind.UNKNOWN:
            return strictest([Detail.REDACTED, *(getattr(self, k.value) for k in ConversationKind)])
        configured: Detail = getattr(self, kind.value)
        return configured

    def decide(self, kind: ConversationKind, *, sharer_external: bool) -> Detail:
        """What an unfurl shows in a conversation of `kind`. A link shared by someone from another
        organisation gets at least what a shared conversation gets, wherever it was shared."""
        detail = self.detail(kind)
        if sharer_external:
            detail = strictest([detail, self.detail(ConversationKind.SHARED)])
        return detail

    def describe(self) -> str:
        """The policy in `UNFURL_DETAIL` form, every kind spelled out (for logs and `doctor`)."""
        return ",".join(f"{kind.value}={self.detail(kind).value}" for kind in ConversationKind)


_KIND_NAMES = frozenset(kind.value for kind in ConversationKind)
_KINDS = ", ".join(kind.value for kind in ConversationKind)
_DETAILS = ", ".join(detail.value for detail in Detail)
_UNKNOWN_NEVER_FULL = (
    "unknown=full is not allowed: a conversation the bot could not look up may be public or shared "
    f"with another organisation (choose one of {Detail.REDACTED.value}, {Detail.NONE.value})"
)


def parse_unfurl_detail(text: str) -> UnfurlPolicy:
    """`UNFURL_DETAIL`, e.g. `public=redacted,shared=none,private=full`: kinds not named keep their
    defaults; an empty text is the default policy. Raises ValueError naming the word it cannot read
    and the choices."""
    chosen: dict[str, Detail] = {}
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep:
            raise ValueError(f"{item!r} is not kind=detail (e.g. public=redacted); kinds: {_KINDS}")
        kind = key.lower()
        if kind not in _KIND_NAMES:
            raise ValueError(f"unknown conversation kind {key!r} in {item!r}; choose from {_KINDS}")
        if kind in chosen:
            raise ValueError(f"{key!r} is given twice; give each kind once")
        try:
            chosen[kind] = Detail(value.lower())
        except ValueError:
            raise ValueError(f"unknown detail {value!r} for {key}; choose from {_DETAILS}") from None
    if chosen.get(ConversationKind.UNKNOWN.value) is Detail.FULL:
        raise ValueError(_UNKNOWN_NEVER_FULL)
    return UnfurlPolicy(**chosen)


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
