"""The words of the filter language (`bot.models.filters`): splitting command text into terms and
reading each term's values. Pure: no I/O.

The text comes from a slash command, so it is what a person typed through Slack: `<`, `>` and `&`
arrive HTML-escaped, autocorrect may turn quotes into curly ones, and anything may be pasted in. It
is bounded before it is read, and a control character is refused rather than dropped, so what is
stored is exactly what was read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import TypeVar

from bot.models.enums import Classification, Determination, Severity, Status

Group = tuple[str, ...]  # the values of one term, any of which will do

MAX_FILTER_CHARS = 500
MAX_TERMS = 20
# From least to most severe: what `severity>=X` counts along. `unknown` (and any value Defender adds
# later) has no place in it, so no comparison matches it.
SEVERITY_ORDER = (Severity.INFORMATIONAL, Severity.LOW, Severity.MEDIUM, Severity.HIGH)
OPEN_STATUSES = frozenset({Status.ACTIVE, Status.IN_PROGRESS, Status.AWAITING_ACTION})
MIN_REMINDER = timedelta(minutes=1)
MAX_REMINDER = timedelta(days=7)

# C0 and C1 controls and the bidi controls. Tab, newline and CR are whitespace between terms.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_ENTITIES = ("&amp;", "&lt;", "&gt;")
_QUOTES = frozenset('"“”')
_TERM = re.compile(r"([A-Za-z][A-Za-z_-]*)(>=|<=|=|>|<)(.*)", re.DOTALL)
_DURATION = re.compile(r"(?:([0-9]{1,4})d)?(?:([0-9]{1,5})h)?(?:([0-9]{1,6})m)?(?:([0-9]{1,7})s)?", re.I)
_SHOWN_CHARS = 40


class FilterError(ValueError):
    """Filter text that cannot be read. The message is one line for the person who typed it: the
    word that is wrong and what could be written instead."""


def shown(word: str) -> str:
    """A word quoted for an error message, cut short: the message stays one readable line."""
    return repr(word if len(word) <= _SHOWN_CHARS else word[:_SHOWN_CHARS] + "…")


@dataclass(frozen=True)
class Term:
    """One word of the text: `key op values` (`severity>=high`), or a bare word (key "", op "")."""

    word: str  # as typed (quotes removed), for messages
    key: str  # lower case, `_` for `-`
    op: str
    values: tuple[str, ...]


def unescape(text: str) -> str:
    """Undo Slack's escaping of command text (`&lt;`, `&gt;`, `&amp;`, and only those; `&amp;` last,
    so a typed `&gt;` stays `&gt;`)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def split_terms(text: str) -> list[Term]:
    """The terms of `text`, bounded: at most MAX_FILTER_CHARS characters and MAX_TERMS terms, no
    control characters. Double quotes keep spaces inside a value: `tag="Defender Experts"`."""
    text = unescape(text)
    if len(text) > MAX_FILTER_CHARS:
        raise FilterError(f"the filter is {len(text)} characters long; at most {MAX_FILTER_CHARS} are read")
    if any(entity in text for entity in _ENTITIES):
        # It would be unescaped again when the stored text is read back: write the character itself.
        raise FilterError("the filter has an HTML entity (an escaped &, < or >); type the character itself")
    control = _CONTROL.search(text)
    if control:
        raise FilterError(f"the filter has a control character (U+{ord(control.group()):04X}); retype it")
    words: list[str] = []
    current: list[str] | None = None  # None between words; a word may be empty (`""`)
    quoted = False
    for char in text:
        if char.isspace() and not quoted:
            if current is not None:
                words.append("".join(current))
            current = None
            continue
        current = current if current is not None else []
        if char in _QUOTES:
            quoted = not quoted
        else:
            current.append(char)
    if quoted:
        raise FilterError(f'a quote is not closed in {shown("".join(current or []))}; close it with "')
    if current is not None:
        words.append("".join(current))
    if len(words) > MAX_TERMS:
        raise FilterError(f"the filter has {len(words)} terms; at most {MAX_TERMS} are read")
    return [_term(word) for word in words]


def _term(word: str) -> Term:
    found = _TERM.fullmatch(word)
    if not found:
        return Term(word, "", "", ())
    key, op, rest = found.groups()
    values = tuple(value.strip() for value in rest.split(","))
    if not any(values):
        raise FilterError(f"{shown(word)} has no value after {op}, e.g. {example(key.lower(), op)}")
    if not all(values):
        raise FilterError(f"{shown(word)} has an empty value between commas")
    return Term(word, key.lower().replace("-", "_"), op, values)


_EXAMPLES = {
    "severity": "medium",
    "status": "active",
    "tag": "VIP",
    "assignee": "alice@contoso.com",
    "source": "microsoftDefenderForEndpoint",
    "classification": "truePositive",
    "determination": "malware",
    "updates": "thread",
    "remind": "30m",
    "remind_active": "4h",
}

E = TypeVar("E", bound=StrEnum)


def _folded(name: str) -> str:
    """`in_progress`, `In-Progress` and `inProgress` are one name."""
    return name.casefold().replace("_", "").replace("-", "")


def choices(members: tuple[E, ...] | type[E]) -> str:
    return ", ".join(member.value for member in members)


def member(term: Term, value: str, members: tuple[E, ...] | type[E], what: str) -> E:
    """The member `value` names (case, `_` and `-` ignored), or FilterError naming it and the choices."""
    for candidate in members:
        if _folded(candidate.value) == _folded(value):
            return candidate
    raise FilterError(f"unknown {what} {shown(value)} in {shown(term.word)}; choose from {choices(members)}")


def severities(term: Term) -> frozenset[Severity]:
    """The severities a `severity` term allows: `=` any of a list, a comparison along SEVERITY_ORDER."""
    named = [member(term, value, SEVERITY_ORDER, "severity") for value in term.values]
    if term.op == "=":
        return frozenset(named)
    if len(named) > 1:
        raise FilterError(
            f"{shown(term.word)}: {term.op} compares with one severity, e.g. severity{term.op}medium"
        )
    rank = SEVERITY_ORDER.index(named[0])
    ranks = {
        ">=": range(rank, 4),
        ">": range(rank + 1, 4),
        "<=": range(rank + 1),
        "<": range(rank),
    }[term.op]
    allowed = frozenset(SEVERITY_ORDER[r] for r in ranks)
    if not allowed:
        raise FilterError(f"{shown(term.word)} matches no severity; severities go {choices(SEVERITY_ORDER)}")
    return allowed


def example(key: str, op: str = "=") -> str:
    """`tag=VIP`: a term of `key` written right, for messages."""
    key = key.replace("-", "_")
    return f"{key.replace('_', '-')}{op}{_EXAMPLES.get(key, 'x')}"


def only_equals(term: Term) -> None:
    if term.op != "=":
        raise FilterError(
            f"{shown(term.word)}: {term.key.replace('_', '-')} takes = only, e.g. {example(term.key)}"
        )


def distinct(values: tuple[str, ...]) -> tuple[str, ...]:
    """Each value once (case ignored, the first spelling kept), in a stable order: canonical text."""
    kept: dict[str, str] = {}
    for value in values:
        kept.setdefault(value.casefold(), value)
    return tuple(kept[key] for key in sorted(kept))


def duration(term: Term) -> timedelta:
    """`30m`, `2h`, `1h30m`, `90s`, `1d`: between MIN_REMINDER and MAX_REMINDER."""
    only_equals(term)
    value = term.values[0]
    found = _DURATION.fullmatch(value) if len(term.values) == 1 else None
    if not found or not any(found.groups()):
        raise FilterError(f"{shown(term.word)} is not a duration; write e.g. 30m, 2h, 1h30m or 1d")
    days, hours, minutes, seconds = (int(part or 0) for part in found.groups())
    length = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if not MIN_REMINDER <= length <= MAX_REMINDER:
        raise FilterError(
            f"{shown(term.word)}: a reminder comes after 1m at the soonest and 7d at the latest"
        )
    return length


def humanized(value: str) -> str:
    """`inProgress` → `in progress`: enum values as a sentence writes them."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", value).lower()


def spoken(length: timedelta) -> str:
    """`1 h 30 min`: a duration for people."""
    seconds = int(length.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size} {unit}")
            seconds %= size
    return " ".join(parts)


# Terms together, and terms written back.

K = TypeVar("K", Severity, Status, Classification, Determination)


def meet(mine: frozenset[K] | None, theirs: frozenset[K] | None, what: str, word: str) -> frozenset[K] | None:
    """Two terms of one key: what both allow (`severity>=low severity<=medium`)."""
    if mine is None or theirs is None:
        return theirs if mine is None else mine
    if not mine & theirs:
        raise FilterError(f"{shown(word)} leaves no {what}: another term already rules out the rest")
    return mine & theirs


def meet_names(mine: Group | None, theirs: Group | None, word: str) -> Group | None:
    """Two `assignee=` terms: the names both allow."""
    if mine is None or theirs is None:
        return theirs if mine is None else mine
    folded = {name.casefold() for name in theirs}
    both = tuple(name for name in mine if name.casefold() in folded)
    if not both:
        raise FilterError(f"{shown(word)} leaves no assignee: another term already names someone else")
    return both


def meet_flag(mine: bool | None, theirs: bool | None, word: str) -> bool | None:
    """`assigned` and `unassigned` cannot both hold."""
    if mine is not None and theirs is not None and mine != theirs:
        raise FilterError(
            f"{shown(word)} contradicts another term: assigned, unassigned and assignee= exclude one another"
        )
    return theirs if mine is None else mine


def merge_groups(mine: tuple[Group, ...], theirs: tuple[Group, ...]) -> tuple[Group, ...]:
    """Both terms' groups, each once (case ignored), sorted: `tag=VIP tag=Finance` in one order."""
    kept: dict[tuple[str, ...], Group] = {}
    for group in (*mine, *theirs):
        kept.setdefault(tuple(value.casefold() for value in group), group)
    return tuple(kept[key] for key in sorted(kept))


def ordered(chosen: frozenset[str]) -> Group:
    """Enum values in declaration order (severities least severe first): stable for storage."""
    values = {str(value) for value in chosen}
    universe = [*SEVERITY_ORDER, *Status, *Classification, *Determination]
    return tuple(dict.fromkeys(str(value) for value in universe if str(value) in values))


def term_text(key: str, values: Group) -> str:
    """`tag=VIP,Finance`; in quotes when a value has a space (`tag="Defender Experts"`)."""
    joined = ",".join(values)
    return f'{key}="{joined}"' if any(char.isspace() for char in joined) else f"{key}={joined}"


def severity_text(chosen: frozenset[Severity]) -> str:
    """The shortest term for a set of severities: `severity>=medium`, `severity<=low`, `severity=low,high`."""
    ranks = sorted(SEVERITY_ORDER.index(severity) for severity in chosen)
    if ranks[-1] == len(SEVERITY_ORDER) - 1 and ranks == list(range(ranks[0], len(SEVERITY_ORDER))):
        return f"severity>={SEVERITY_ORDER[ranks[0]].value}"
    if ranks[0] == 0 and ranks == list(range(ranks[-1] + 1)):
        return f"severity<={SEVERITY_ORDER[ranks[-1]].value}"
    return term_text("severity", ordered(chosen))


def any_of(name: str, values: Group) -> str:
    """`(status eq 'active' or status eq 'inProgress')`: OData string literals, `'` doubled."""
    tests = [f"{name} eq '{value.replace(chr(39), chr(39) * 2)}'" for value in values]
    return tests[0] if len(tests) == 1 else "(" + " or ".join(tests) + ")"
