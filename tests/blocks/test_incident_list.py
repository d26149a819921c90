"""The `/incident list` answer (bot/blocks/incident_list.py): rows, empty pages, paging values, limits."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from bot.blocks.ids import ActionId, BlockId
from bot.blocks.incident_list import (
    LIST_PAGE_ACTIONS,
    build_incident_list,
    decode_list_page,
    encode_list_page,
    list_fallback_text,
)
from bot.models import Incident

from .conftest import (
    FETCHED,
    NOW,
    PORTAL,
    SEAL,
    TENANT,
    _at,
    assert_no_raw_controls,
    assert_within_limits,
    beta_payload,
    hostile_payload,
    normal_payload,
    sdk_round_trip_blocks,
)

HOSTILE_FILTER = "<!channel> `mine` *high* & <@U123>"


def incident(payload: dict[str, Any], **changes: Any) -> Incident:
    return Incident.model_validate({**payload, **changes})


def unassigned_high() -> Incident:
    return incident(
        normal_payload(),
        id="2972401",
        displayName="Suspicious sign-in from an anonymous IP address",
        assignedTo=None,
        createdDateTime=_at(-600),
    )


def build(rows: list[Incident], **extra: Any) -> list[dict[str, Any]]:
    args: dict[str, Any] = {
        "title": "open, high and medium",
        "page": 0,
        "has_next": False,
        "read_at": FETCHED,
        "seal": SEAL,
        "portal_url": PORTAL,
        "tenant_id": TENANT,
        "filter_text": "status=active severity>=medium",
        "now": NOW,
    }
    return build_incident_list(rows, **{**args, **extra})


def body(rows: list[Incident], **extra: Any) -> dict[str, Any]:
    """The ephemeral answer as the command listener sends it."""
    blocks = build(rows, **extra)
    text = list_fallback_text(extra.get("title", "open, high and medium"), len(rows), extra.get("page", 0))
    return {"response_type": "ephemeral", "text": text, "blocks": blocks}


def _bodies() -> dict[str, dict[str, Any]]:
    normal = [incident(normal_payload()), incident(beta_payload()), unassigned_high()]
    wait = ":hourglass_flowing_sand: Defender asks us to wait 30 s; showing the page read before."
    return {
        "list-normal": body(normal, has_next=True),
        "list-middle-page": body(normal, page=2, has_next=True, note=wait),
        "list-hostile": body([incident(hostile_payload())], title=HOSTILE_FILTER, filter_text=HOSTILE_FILTER),
        "list-empty": body([], title="mine", filter_text="mine"),
        "list-past-the-end": body([], title="mine", filter_text="mine", page=3),
    }


BODIES = _bodies()


def buttons(blocks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The paging buttons by text ("Previous", "Next")."""
    navs = [b for b in blocks if b.get("block_id") == BlockId.LIST_NAV]
    assert len(navs) <= 1
    return {e["text"]["text"]: e for nav in navs for e in nav["elements"]}


def rows_of(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for b in blocks if b["type"] == "section" and "accessory" in b]


@pytest.mark.parametrize("name", sorted(BODIES))
def test_list_matches_golden(name: str, golden: Callable[[str, Any], None]) -> None:
    golden(name, BODIES[name])


@pytest.mark.parametrize("name", sorted(BODIES))
def test_list_is_within_limits_valid_for_slack_sdk_and_mentions_nobody(name: str) -> None:
    assert_within_limits(BODIES[name]["blocks"])
    sdk_round_trip_blocks(BODIES[name]["blocks"])
    assert_no_raw_controls(BODIES[name])


def test_ten_hostile_incidents_stay_within_every_limit() -> None:
    hostile = hostile_payload()
    rows = [incident(hostile, id=str(6600 + n), displayName=hostile["displayName"] * 40) for n in range(12)]
    note = "x" * 5000
    blocks = build(rows, title="t" * 400, filter_text='"\\' * 250, page=5, has_next=True, note=note)
    assert_within_limits(blocks)
    sdk_round_trip_blocks(blocks)
    assert_no_raw_controls(blocks)
    assert len(rows_of(blocks)) == 10  # a page is 10 rows, whatever is handed over
    assert len(blocks) <= 15
    assert all(len(b["text"]["text"]) <= 600 for b in rows_of(blocks))


def test_a_row_shows_marker_portal_link_title_and_details() -> None:
    row = rows_of(build([incident(normal_payload())]))[0]
    first, second = row["text"]["text"].split("\n")
    url = f"{PORTAL}/incidents/2972395?tid={TENANT}"
    assert first == (
        f":red_circle: <{url}|Incident 2972395> · "
        "*Multi-stage incident involving Initial access &amp; Lateral movement on one…*"
    )
    assert (
        second == "High · Active · opened <!date^1700000000^{ago}|2023-11-14 22:13 UTC> · alice@contoso.com"
    )
    assert row["accessory"]["action_id"] == ActionId.LIST_SHOW
    assert row["accessory"]["text"]["text"] == "Show"
    assert SEAL.open(row["accessory"]["value"]).id == "2972395"


def test_an_unassigned_incident_says_so() -> None:
    row = rows_of(build([incident(beta_payload())]))[0]
    assert row["text"]["text"].endswith("Medium · In progress · opened <!date^1700000300^{ago}|"
                                        "2023-11-14 22:18 UTC> · _Unassigned_")  # fmt: skip


def test_the_hostile_incident_is_escaped_and_linked_to_the_configured_portal_only() -> None:
    text = rows_of(build([incident(hostile_payload())]))[0]["text"]["text"]
    # cut to 80 characters once escaped, never inside an entity; `*` cannot end the bold early
    assert " · *&lt;!channel&gt; ∗bold∗ &lt;@U123&gt; &lt;https://evil.example|click&gt;…*\n" in text
    assert " · active&lt;!here&gt; · " in text  # a status the bot does not know, as sent but escaped
    assert "&lt;!channel&gt; &lt;@U123&gt;@evil.example" in text
    assert "evil.example/incidents" not in text
    assert f"<{PORTAL}/incidents/6666?tid={TENANT}|Incident 6666>" in text


def test_an_id_that_is_not_one_gets_no_link_and_no_button() -> None:
    blocks = build([incident(normal_payload(), id="12<!here>|x")])
    row = blocks[1]
    assert "accessory" not in row
    assert row["text"]["text"].startswith(":red_circle: Incident 12&lt;!here&gt;|x · ")
    assert_no_raw_controls(blocks)


def test_unreadable_fields_are_unknown_not_unassigned() -> None:
    row = incident(normal_payload(), assignedTo=None, createdDateTime=None)
    row = row.model_copy(update={"unreadable_fields": ("status", "severity", "assignedTo")})
    text = rows_of(build([row]))[0]["text"]["text"]
    assert text.split("\n")[1] == "_unknown_ severity · _unknown_ status · assignee _unknown_"


def test_an_empty_page_says_nothing_matches_the_filter() -> None:
    blocks = build([], filter_text="mine high")
    assert blocks[1]["text"]["text"] == ":mag: No incidents match `mine high`."
    assert build([], filter_text="  ")[1]["text"]["text"] == ":mag: No incidents match this list."
    later = build([], filter_text="mine", page=2)
    assert later[1]["text"]["text"] == ":mag: No more incidents match `mine`."
    assert set(buttons(later)) == {"Previous"}


def test_the_header_names_the_list_and_the_footer_when_it_was_read() -> None:
    blocks = build([incident(normal_payload())], title="mine\n<!here>", page=1, has_next=True)
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Incidents: mine <!here>", "emoji": False},
    }
    footer = blocks[2]["elements"][0]["text"]
    assert footer == ":shield: Read from Defender <!date^1700005800^{date_short_pretty} {time}|" \
        "2023-11-14 23:50 UTC>, 23 min old · page 2"  # fmt: skip
    fresh = build([], read_at=NOW - timedelta(seconds=20))
    assert fresh[2]["elements"][0]["text"].endswith("|2023-11-15 00:13 UTC>")


def test_the_note_follows_the_footer() -> None:
    blocks = build([], note="Defender asks us to wait 30 s; showing the page read at 23:50.")
    assert blocks[3] == {
        "type": "context",
        "elements": [
            {"type": "mrkdwn", "text": "Defender asks us to wait 30 s; showing the page read at 23:50."}
        ],
    }
    assert len(build([], note="  ")) == len(build([]))


def test_the_note_is_escaped_like_any_outside_text() -> None:
    note = ":warning: Defender is unavailable: <!channel> <https://evil.example|sign in> & retry"
    shown = build([], note=note)[3]["elements"][0]["text"]
    escaped = "&lt;!channel&gt; &lt;https://evil.example|sign in&gt; &amp; retry"
    assert shown == f":warning: Defender is unavailable: {escaped}"


@pytest.mark.parametrize(
    ("page", "has_next", "expected"),
    [
        (0, False, {}),
        (0, True, {"Next": 1}),
        (3, False, {"Previous": 2}),
        (3, True, {"Previous": 2, "Next": 4}),
        (1000, True, {"Previous": 999}),  # no page past 1000
    ],
)
def test_paging_buttons_carry_the_filter_and_the_target_page(
    page: int, has_next: bool, expected: dict[str, int]
) -> None:
    blocks = build([incident(normal_payload())], page=page, has_next=has_next, filter_text="mine\thigh")
    shown = buttons(blocks)
    assert {text: decode_list_page(b["value"]) for text, b in shown.items()} == {
        text: ("mine high", target) for text, target in expected.items()
    }
    ids = [b["action_id"] for b in shown.values()]
    assert len(set(ids)) == len(ids)  # Slack refuses an actions block with a repeated action_id
    assert set(ids) <= set(LIST_PAGE_ACTIONS)
    if shown:
        assert blocks[-1]["block_id"] == BlockId.LIST_NAV


def test_a_filter_too_long_to_carry_turns_paging_off_and_says_so() -> None:
    blocks = build([incident(normal_payload())], page=1, has_next=True, filter_text="x" * 501)
    assert buttons(blocks) == {}
    assert "Paging is off for this list" in json.dumps(blocks)


@pytest.mark.parametrize("filter_text", ["", "mine", '"\\' * 250, "é😀" * 250, "severity>=high"])
@pytest.mark.parametrize("page", [0, 1, 1000])
def test_encode_and_decode_round_trip_within_the_button_value_limit(filter_text: str, page: int) -> None:
    value = encode_list_page(filter_text, page)
    assert len(value) <= 2000 and len(value.encode("utf-16-le")) // 2 <= 2000
    assert decode_list_page(value) == (filter_text, page)


def test_encode_is_compact_json() -> None:
    assert encode_list_page("mine", 2) == '{"f":"mine","p":2}'


@pytest.mark.parametrize(
    ("filter_text", "page"),
    [("x" * 501, 0), ("a\nb", 0), ("a\x00", 0), ("a\u202eb", 0), ("mine", -1), ("mine", 1001)],
)
def test_encode_refuses_what_decode_would(filter_text: str, page: int) -> None:
    with pytest.raises(ValueError):
        encode_list_page(filter_text, page)


# fmt: off
NOT_PAGE_VALUES = [
    None, 2, b'{"f":"mine","p":1}', {"f": "mine", "p": 1},  # not a string
    "", "not json", '{"f":"mine","p":1', "[" * 1990, '{"f":"mine","p":1}' + " " * 2000,  # not JSON, too long
    '["mine",1]', '"mine"', '{"f":"mine"}', '{"p":1}', '{"f":"mine","p":1,"x":0}',  # not the two keys
    '{"f":"mine","p":1,"f":"other"}',  # a repeated key
    '{"f":"mine","p":1001}', '{"f":"mine","p":10000000000000000000000}', '{"f":"mine","p":-1}',
    '{"f":"mine","p":1.0}', '{"f":"mine","p":"1"}', '{"f":"mine","p":true}', '{"f":"mine","p":NaN}',
    '{"f":"mine","p":null}',
    '{"f":1,"p":1}', '{"f":null,"p":1}', '{"f":["mine"],"p":1}',
    '{"f":"a\\u0000b","p":1}', '{"f":"a\\nb","p":1}', '{"f":"a\\u009bb","p":1}', '{"f":"a\\u202eb","p":1}',
    json.dumps({"f": "x" * 501, "p": 1}), json.dumps({"f": "x" * 1990, "p": 1}),
]
# fmt: on


@pytest.mark.parametrize("value", NOT_PAGE_VALUES)
def test_decode_refuses_anything_encode_did_not_make(value: object) -> None:
    assert decode_list_page(value) is None


def test_fallback_text_counts_the_page_and_escapes_the_title() -> None:
    assert list_fallback_text("mine", 3, 0) == "Incidents: mine (3 incidents, page 1)"
    assert list_fallback_text("mine", 1, 2) == "Incidents: mine (1 incident, page 3)"
    assert (
        list_fallback_text("<!here> & co", 0, 0) == "Incidents: &lt;!here&gt; &amp; co (none found, page 1)"
    )
    assert list_fallback_text(" ", 0, 0) == "Incidents: list (none found, page 1)"
