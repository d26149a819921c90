"""What the API layer makes of an answer: each unreadable field logged once per incident."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from bot.errors import UnreadableAnswer
from bot.graph.api import AnswerReader

FIXTURE = Path(__file__).parent.parent / "data" / "graph" / "incident_2972395.v1.json"


def answer(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FIXTURE.read_text("utf-8"))
    data.update(changes)
    return data


def test_each_unreadable_field_is_logged_once_per_incident_not_per_fetch(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.graph.api")
    reader = AnswerReader()
    for _ in range(3):
        incident = reader.incident(answer(createdDateTime="soon", customTags="VIP"))
        assert incident.unreadable_fields == ("createdDateTime", "customTags")
    reader.incident(answer(id="77", createdDateTime="soon"))
    lines = [r.getMessage().removesuffix("; shown as unknown") for r in caplog.records]
    assert lines == [
        "incident 2972395: field createdDateTime could not be read (datetime_from_date_parsing)",
        "incident 2972395: field customTags could not be read (list_type)",
        "incident 77: field createdDateTime could not be read (datetime_from_date_parsing)",
    ]
    # the value itself (attacker-influenced, any size) is never logged
    assert "soon" not in "\n".join(lines) and "VIP" not in "\n".join(lines)


def test_the_memory_of_what_was_logged_is_bounded() -> None:
    reader = AnswerReader()
    for number in range(AnswerReader.REMEMBERED + 50):
        reader.incident(answer(id=str(number + 1), createdDateTime="soon"))
    assert len(reader.logged) == AnswerReader.REMEMBERED


def test_a_write_answer_that_cannot_be_read_is_none_so_the_incident_is_read_back() -> None:
    reader = AnswerReader()
    assert reader.written({"id": None}) is None
    assert reader.written(answer(createdDateTime="x")) is not None
    with pytest.raises(UnreadableAnswer):
        reader.incident({"value": []})
