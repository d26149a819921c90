"""Reading an incident out of an API answer, one field at a time.

An answer is attacker-influenced (titles, comments, evidence) and Microsoft's schema grows, so one
field that does not parse must not cost the whole card. `read_incident` validates the answer as a
whole first: the common case, one pass. When that fails, every field that failed is put back to
"not known" (its default) and every list element that failed is left out; the places are noted and
the answer is validated again. Only an answer without a readable incident id, or one that is not a
JSON object, is unreadable: `UnreadableAnswer`, which asking again cannot fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from bot.errors import InvalidIncidentId, UnreadableAnswer
from bot.models.ids import validate_incident_id
from bot.models.incident import Incident, as_v1_names

# Each round repairs every error pydantic reported; a required field put back to "missing" takes
# one more round (its list element is then left out).
_ROUNDS = 4
_DROPPED = object()
# Top-level fields whose default would say something the answer did not: an unreadable status is
# not "active".
_UNKNOWN_VALUE = {"status": "unknown"}


@dataclass(frozen=True)
class Problem:
    """One place in the answer that could not be read: 'alerts[2].createdDateTime', and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class Reading:
    """The incident as far as it could be read, and the places that could not."""

    incident: Incident
    problems: tuple[Problem, ...] = ()


def read_incident(raw: Any) -> Reading:
    """The incident in `raw` (any of the three API shapes), tolerant field by field."""
    if not isinstance(raw, dict):
        raise UnreadableAnswer("the answer is not a JSON object")
    try:
        return _checked(Reading(Incident.model_validate(raw)))
    except ValidationError as error:
        errors = error.errors()
    except RecursionError:
        raise UnreadableAnswer("the answer is nested too deeply") from None
    data = as_v1_names(raw)
    problems: dict[str, Problem] = {}
    for _ in range(_ROUNDS):
        for found in errors:
            problem = _repair(data, tuple(found["loc"]), found["type"])
            problems.setdefault(problem.path, problem)
        _purge(data)
        try:
            incident = Incident.model_validate(data)
        except ValidationError as error:
            errors = error.errors()
            continue
        fields = tuple(dict.fromkeys(p.path.split(".")[0].split("[")[0] for p in problems.values()))
        incident = incident.model_copy(update={"unreadable_fields": fields})
        return _checked(Reading(incident, tuple(problems.values())))
    raise UnreadableAnswer("the answer does not read as an incident")


def _checked(reading: Reading) -> Reading:
    try:
        validate_incident_id(reading.incident.id)
    except InvalidIncidentId:
        raise UnreadableAnswer("the answer has no readable incident id") from None
    return reading


def _path(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _repair(data: dict[str, Any], loc: tuple[int | str, ...], kind: str) -> Problem:
    """Put the failing place back to its default, or leave out the list element holding it."""
    # The deepest (container, key) of `loc` that exists in the data; what follows is pydantic's
    # own detail (a union member's name, a missing key).
    steps: list[tuple[Any, int | str]] = []
    node: Any = data
    for part in loc:
        in_dict = isinstance(node, dict) and isinstance(part, str) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if not (in_dict or in_list):
            break
        steps.append((node, part))
        node = node[part]
    reached = loc[: len(steps)]
    if kind == "missing" or not steps:
        # A required field: without it the element it belongs to cannot be read at all.
        element = next((i for i in range(len(steps) - 1, -1, -1) if isinstance(steps[i][1], int)), None)
        if element is None:
            raise UnreadableAnswer(f"the answer has no readable {_path(loc) or 'incident'}")
        container, index = steps[element]
        container[index] = _DROPPED
        return Problem(_path(loc[: element + 1]), kind)
    container, key = steps[-1]
    if isinstance(key, int):
        container[key] = _DROPPED
    elif len(steps) == 1 and key in _UNKNOWN_VALUE:
        container[key] = _UNKNOWN_VALUE[key]
    else:
        del container[key]
    return Problem(_path(reached), kind)


def _purge(value: Any) -> None:
    """Take the left-out elements out of every list."""
    if isinstance(value, dict):
        for item in value.values():
            _purge(item)
    elif isinstance(value, list):
        value[:] = [item for item in value if item is not _DROPPED]
        for item in value:
            _purge(item)
