"""Which incidents a channel subscription posts, and which `/incident list` shows: the filter
language. Pure: no I/O.

A filter is space-separated terms, all of which must hold (`high active tag=VIP`). One language
serves both commands so that a list shows what a subscription with the same words would post. A
filter is stored as its canonical `text`: it reads back to the same filter, and the same filter
typed two ways is stored (and shown) one way. Graph can narrow `GET /security/incidents`
by status, severity and assignee; `graph_filter` says that part, and `matches` checks the whole
filter locally, because Graph's answer is only narrowed, never trusted to be exact.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from bot.models.enums import Classification, Determination, Severity, Status
from bot.models.filter_terms import (
    OPEN_STATUSES,
    SEVERITY_ORDER,
    FilterError,
    Group,
    Term,
    any_of,
    distinct,
    duration,
    example,
    humanized,
    meet,
    meet_flag,
    meet_names,
    member,
    merge_groups,
    only_equals,
    ordered,
    severities,
    severity_text,
    shown,
    split_terms,
    spoken,
    term_text,
)
from bot.models.incident import Incident

__all__ = [
    "FILTER_USAGE",
    "FilterError",
    "IncidentFilter",
    "SubscriptionOptions",
    "describe",
    "parse_filter",
    "parse_subscription",
]


@dataclass(frozen=True)
class IncidentFilter:
    """Terms that must all hold. None (or no groups) is "any"; a set or group is "any of these"."""

    severities: frozenset[Severity] | None = None
    statuses: frozenset[Status] | None = None
    classifications: frozenset[Classification] | None = None
    determinations: frozenset[Determination] | None = None
    assigned: bool | None = None  # True: someone, False: nobody
    assignees: Group | None = None  # any of these (case ignored); implies assigned
    tags: tuple[Group, ...] = ()  # every group must have a tag of the incident (custom or system)
    sources: tuple[Group, ...] = ()  # every group must name a source of one of its alerts

    def matches(self, incident: Incident) -> bool:
        """Whether the incident passes every term. Values Defender adds later (a new severity or
        status) match no term that names values; case never matters."""
        assignee = (incident.assigned_to or "").strip().casefold()
        tags = {tag.strip().casefold() for tag in (*incident.custom_tags, *incident.system_tags)}
        sources = {
            source.strip().casefold()
            for alert in incident.alerts
            for source in (alert.service_source, alert.detection_source)
            if source
        }
        return (
            _within(incident.severity, self.severities)
            and _within(incident.status, self.statuses)
            and _within(incident.classification, self.classifications)
            and _within(incident.determination, self.determinations)
            and (self.assigned is None or bool(assignee) == self.assigned)
            and (self.assignees is None or assignee in {name.casefold() for name in self.assignees})
            and all(any(tag.casefold() in tags for tag in group) for group in self.tags)
            and all(any(source.casefold() in sources for source in group) for group in self.sources)
        )

    @property
    def text(self) -> str:
        """The filter in canonical form: terms in a fixed order, values sorted; `""` is everything.
        For a parsed filter, `parse_filter(f.text) == f`: what is stored reads back the same."""
        terms: list[str] = []
        if self.severities is not None:
            terms.append(severity_text(self.severities))
        if self.statuses is not None:
            terms.append(
                "active" if self.statuses == OPEN_STATUSES else term_text("status", ordered(self.statuses))
            )
        for key, chosen in (("classification", self.classifications), ("determination", self.determinations)):
            if chosen is not None:
                terms.append(term_text(key, ordered(chosen)))
        if self.assignees is not None:
            terms.append(term_text("assignee", self.assignees))
        elif self.assigned is not None:
            terms.append("assigned" if self.assigned else "unassigned")
        terms += [term_text("tag", group) for group in self.tags]
        terms += [term_text("source", group) for group in self.sources]
        return " ".join(terms)

    def graph_filter(self) -> str | None:
        """The OData `$filter` of `GET /security/incidents` that narrows to this filter's status and
        severity, or None when neither is set. The assignee is matched here, not by Graph: Defender
        keeps a UPN as it was typed (`KaiC@…`) while Slack's e-mail is lower-case, and Graph's `eq`
        on strings is not documented as case-blind. It asks for `awaitingAction`, an evolvable
        member: send `Prefer: include-unknown-enum-members`."""
        parts = []
        if self.statuses is not None:
            parts.append(any_of("status", ordered(self.statuses)))
        if self.severities is not None:
            parts.append(any_of("severity", ordered(self.severities)))
        return " and ".join(parts) or None

    def _and(self, other: IncidentFilter, word: str) -> IncidentFilter:
        """Both filters at once; FilterError naming `word` when together they can match nothing."""
        assigned = meet_flag(self.assigned, other.assigned, word)
        assignees = meet_names(self.assignees, other.assignees, word)  # each comes with assigned=True
        return IncidentFilter(
            severities=meet(self.severities, other.severities, "severity", word),
            statuses=meet(self.statuses, other.statuses, "status", word),
            classifications=meet(self.classifications, other.classifications, "classification", word),
            determinations=meet(self.determinations, other.determinations, "determination", word),
            assigned=assigned,
            assignees=assignees,
            tags=merge_groups(self.tags, other.tags),
            sources=merge_groups(self.sources, other.sources),
        )


def _within(value: str, allowed: frozenset[str] | None) -> bool:
    return allowed is None or str(value) in allowed


_OPTION_KEYS = ("updates", "remind", "remind_active")
_BARE_SEVERITIES = {severity.value: severity for severity in SEVERITY_ORDER}
_BARE = (*reversed(_BARE_SEVERITIES), "active", "assigned", "unassigned")
_KEYS = ("severity", "status", "tag", "assignee", "source", "classification", "determination")


def parse_filter(text: str) -> IncidentFilter:
    """The filter `text` says (Slack-escaped or not); FilterError names the first word it cannot
    read and what could be written instead. `""` is every incident."""
    return _filter_of(split_terms(text))


def _filter_of(terms: list[Term]) -> IncidentFilter:
    found = IncidentFilter()
    for term in terms:
        found = found._and(_one(term), term.word)
    return found


def _one(term: Term) -> IncidentFilter:
    """The filter of one term."""
    word, key = term.word.lower(), term.key
    if not key:
        if word in _BARE_SEVERITIES:
            start = SEVERITY_ORDER.index(_BARE_SEVERITIES[word])
            return IncidentFilter(severities=frozenset(SEVERITY_ORDER[start:]))
        if word in ("assigned", "unassigned"):
            return IncidentFilter(assigned=word == "assigned")
        if word == "active":
            return IncidentFilter(statuses=OPEN_STATUSES)
        raise FilterError(
            f"unknown filter word {shown(term.word)}; write one of {', '.join(_BARE)} "
            f"or key=value with key one of {', '.join(_KEYS)}"
        )
    if key == "severity":
        return IncidentFilter(severities=severities(term))
    if key in _OPTION_KEYS:
        raise FilterError(f"{shown(term.word)} is a subscription option; here only filter terms are read")
    if key not in _KEYS:
        raise FilterError(f"unknown filter key {shown(term.word)}; choose from {', '.join(_KEYS)}")
    only_equals(term)
    if key == "status":
        return IncidentFilter(
            statuses=frozenset(member(term, value, Status, "status") for value in term.values)
        )
    if key == "classification":
        return IncidentFilter(
            classifications=frozenset(member(term, v, Classification, key) for v in term.values)
        )
    if key == "determination":
        return IncidentFilter(
            determinations=frozenset(member(term, v, Determination, key) for v in term.values)
        )
    if key == "assignee":
        return IncidentFilter(assigned=True, assignees=distinct(term.values))
    if key == "tag":
        return IncidentFilter(tags=(distinct(term.values),))
    return IncidentFilter(sources=(distinct(term.values),))


@dataclass(frozen=True)
class SubscriptionOptions:
    """What a subscription does besides choosing incidents: post updates in the incident's thread
    (or not), and remind the channel of an incident left unassigned, or left open, too long."""

    updates: Literal["thread", "none"] = "thread"
    remind_unassigned: timedelta | None = None  # remind=30m
    remind_active: timedelta | None = None  # remind-active=4h

    @property
    def text(self) -> str:
        """The options that differ from the defaults, in canonical form (`""`: all defaults)."""
        words = [] if self.updates == "thread" else [f"updates={self.updates}"]
        for key, length in (("remind", self.remind_unassigned), ("remind-active", self.remind_active)):
            if length is not None:
                words.append(f"{key}={_compact(length)}")
        return " ".join(words)


@functools.lru_cache(maxsize=4096)  # the router reads every subscription for every changed incident
def parse_subscription(text: str) -> tuple[IncidentFilter, SubscriptionOptions]:
    """`/incident subscribe` text: filter terms and the options `updates=thread|none`, `remind=30m`
    (unassigned that long) and `remind-active=4h` (open that long), each option at most once."""
    terms, options = [], dict[str, Term]()
    for term in split_terms(text):
        if term.key not in _OPTION_KEYS:
            terms.append(term)
        elif term.key in options:
            raise FilterError(f"{shown(term.word)}: {term.key.replace('_', '-')} is given twice; keep one")
        else:
            options[term.key] = term
    updates: Literal["thread", "none"] = "thread"
    if "updates" in options:
        term = options["updates"]
        only_equals(term)
        if term.values[0].lower() not in ("thread", "none") or len(term.values) > 1:
            raise FilterError(
                f"unknown updates {shown(term.values[0])} in {shown(term.word)}; choose from thread, none"
            )
        updates = "none" if term.values[0].lower() == "none" else "thread"
    remind, remind_active = (duration(options[key]) if key in options else None for key in _OPTION_KEYS[1:])
    return _filter_of(terms), SubscriptionOptions(updates, remind, remind_active)


def _compact(length: timedelta) -> str:
    """`1h30m`: a duration as `remind=` reads it."""
    return spoken(length).replace(" min", "m").replace(" ", "")


def describe(incidents: IncidentFilter, options: SubscriptionOptions) -> str:
    """One line for people: which incidents, then what the subscription does. Safe in mrkdwn: the
    typed values' `&`, `<` and `>` are escaped, so a tag cannot become a mention or a link."""
    parts: list[str] = []
    if incidents.severities is not None:
        parts.append(_severity_words(incidents.severities))
    if incidents.statuses is not None:
        open_ = incidents.statuses == OPEN_STATUSES
        parts.append("status open" if open_ else "status " + _or(ordered(incidents.statuses), humanized))
    for name, chosen in (
        ("classification", incidents.classifications),
        ("determination", incidents.determinations),
    ):
        if chosen is not None:
            parts.append(f"{name} {_or(ordered(chosen), humanized)}")
    if incidents.assignees is not None:
        parts.append("assigned to " + _or(incidents.assignees))
    elif incidents.assigned is not None:
        parts.append("assigned" if incidents.assigned else "unassigned")
    parts += ["tag " + _or(group) for group in incidents.tags]
    parts += ["source " + _or(group) for group in incidents.sources]
    sections = [", ".join(parts) or "every incident"]
    sections.append("updates in thread" if options.updates == "thread" else "no updates")
    if options.remind_unassigned is not None:
        sections.append(f"remind after {spoken(options.remind_unassigned)} unassigned")
    if options.remind_active is not None:
        sections.append(f"remind after {spoken(options.remind_active)} open")
    line = " · ".join(sections)
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _or(values: Group, say: Callable[[str], str] = str) -> str:
    return " or ".join(say(value) for value in values)


def _severity_words(chosen: frozenset[Severity]) -> str:
    term = severity_text(chosen)
    for op, sign in ((">=", "≥"), ("<=", "≤")):
        if term.startswith(f"severity{op}"):
            return f"severity {sign} {term.removeprefix(f'severity{op}')}"
    return "severity " + _or(ordered(chosen))


FILTER_USAGE = f"""\
*Filters* — terms separated by spaces; an incident must match them all. Case does not matter.
• `high`, `medium`, `low` — severity at least that; `severity=low,medium`, `severity&gt;=medium`, \
`severity&lt;high` (informational &lt; low &lt; medium &lt; high)
• `active` — open: active, in progress or awaiting action; `status=resolved`, `status=active,inProgress`
• `unassigned`, `assigned`, `{example("assignee")}`
• `tag=VIP` (a custom or system tag), `tag=VIP,Finance` (either), `tag="Defender Experts"`
• `{example("source")}` — the service or detection source of any of its alerts
• `{example("classification")}`, `{example("determination")}`
Example: `/incident list high active tag=VIP`
*Subscriptions* also take `updates=thread` or `updates=none`, `remind=30m` (still unassigned after \
30 minutes) and `remind-active=4h` (still open after 4 hours); durations like `90s`, `1h30m`, `1d`.
Example: `/incident subscribe severity&gt;=high active remind=30m`"""
