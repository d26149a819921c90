"""Sealed card values (bot/blocks/seal.py): what the bot drew opens, nothing else does."""

from __future__ import annotations

import json

import pytest

from bot.blocks.ids import ActionId
from bot.blocks.refs import IncidentRef
from bot.blocks.seal import CardOutOfDate, CardSeal, out_of_date_text

SEAL = CardSeal("one-signing-secret")
PLACE = IncidentRef(
    id="2972395",
    channel="C05SOCINC01",
    ts="1700003700.001900",
    response_url="https://hooks.slack.com/actions/T123456/1/abc",
)


def test_a_sealed_ref_opens_to_itself_with_short_keys() -> None:
    value = SEAL.value(PLACE)
    data = json.loads(value)
    assert set(data) == {"v", "id", "channel", "ts", "response_url", "s"} and len(data["s"]) == 22
    assert SEAL.open(value) == PLACE
    assert SEAL.seal(PLACE).value == value and SEAL.seal(PLACE).id == "2972395"
    assert IncidentRef(id=42).id == "42"


def tampered(field: str, new: str) -> str:
    data = json.loads(SEAL.value(PLACE))
    data[field] = new
    return json.dumps(data, separators=(",", ":"))


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("", None),
        ("2972395", None),
        ("not json", None),
        ("[]", None),
        ("{" * 10_000, None),
        ('{"v":1}', None),
        ('{"v":1,"id":"2972395"}', "2972395"),  # a card of the release before sealed values
        ('{"v":2,"id":"2972395","s":"AAAAAAAAAAAAAAAAAAAAAA"}', "2972395"),  # another format version
        ('{"v":1,"id":"12a","s":"AAAAAAAAAAAAAAAAAAAAAA"}', None),
        ('{"v":1,"id":"1234567890123456789012345678901234567890"}', None),  # a 40-digit id
        ('{"v":1,"id":"../../security/incidents/1"}', None),
        (tampered("id", "1"), "1"),  # another incident
        (tampered("channel", "C0OTHER"), "2972395"),
        (tampered("response_url", "https://evil.example/x"), "2972395"),
        (tampered("s", "B" * 22), "2972395"),
        (CardSeal("another-apps-secret").value(PLACE), "2972395"),
    ],
)
def test_anything_the_bot_did_not_seal_is_out_of_date(text: str, hint: str | None) -> None:
    with pytest.raises(CardOutOfDate) as raised:
        SEAL.open(text)
    assert raised.value.incident_id == hint


def test_non_strings_are_out_of_date() -> None:
    for value in (None, 7, {"v": 1}):
        with pytest.raises(CardOutOfDate):
            SEAL.open(value)


def test_button_values_fit_and_drop_an_oversized_unfurl_url() -> None:
    assert SEAL.open(SEAL.button_value("1")) == IncidentRef(id="1")
    url = "https://security.microsoft.com/incidents/1?x=" + "a" * 1990
    assert SEAL.open(SEAL.button_value("1", url)) == IncidentRef(id="1")
    assert len(SEAL.button_value("1", "https://security.microsoft.com/incidents/1?tid=x")) <= 2000


def test_overflow_values_open_to_their_action_and_incident_only() -> None:
    value = SEAL.option_value(ActionId.TAGS, "2972395")
    assert value.startswith("incident-tags:2972395:") and len(value) <= 150
    assert SEAL.open_option(value) == (ActionId.TAGS, "2972395")
    forged = value.replace("incident-tags", "incident-unassign")
    for bad, hint in (
        ("incident-tags:2972395", "2972395"),  # the release before sealed values
        ("incident-tags:abc", None),
        ("nope:1", "1"),
        (forged, "2972395"),
        (value.replace(":2972395:", ":1:"), "1"),
        ("", None),
    ):
        with pytest.raises(CardOutOfDate) as raised:
            SEAL.open_option(bad)
        assert raised.value.incident_id == hint, bad


def test_the_answer_names_the_command_that_gives_a_current_card() -> None:
    assert "`/incident 2972395` again" in out_of_date_text(CardOutOfDate("2972395"))
    assert "`/incident <id>` again" in out_of_date_text(CardOutOfDate())
    assert "nothing was done" in out_of_date_text(CardOutOfDate())
