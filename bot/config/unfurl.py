"""What an unfurl may show in each kind of conversation (`UNFURL_DETAIL`). Pure: no I/O.

An unfurl is seen by everyone in the conversation, so what it shows depends on the kind of
conversation (`bot.incidents.audience.classify` tells it from a `conversations.info` answer) and on
who shared the link. The policy maps each kind to a `Detail`; whatever the bot cannot place (a
failed lookup, a composer preview) gets the strictest detail configured, never `full`. It lives
with the settings because it is one: read once at start, an unreadable value stops the start.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


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
