"""Escaping, cutting, dates and labels (bot/blocks/text.py) and the small messages (messages.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.blocks.messages import (
    build_error_blocks,
    build_loading_blocks,
    build_not_found_text,
    build_notice_blocks,
    build_sample_data_note,
    build_usage_blocks,
    build_usage_text,
)
from bot.blocks.text import (
    bold,
    classification_label,
    code_block,
    code_span,
    determination_label,
    escape_mrkdwn,
    mrkdwn_cut,
    one_line,
    plain,
    severity_label,
    severity_marker,
    slack_date,
    status_label,
    truncate,
)
from bot.models import Classification, Determination, Severity, Status

from .conftest import RAW_CONTROLS, sdk_round_trip_blocks

# a `&`, `<` or `>` that is not the start of one of the three entities we produce
_RAW_SPECIAL = re.compile(r"[<>]|&(?!amp;|lt;|gt;)")
_BROKEN_ENTITY_END = re.compile(r"&(a|am|amp|l|lt|g|gt)?…$")


def test_escape_mrkdwn_turns_control_sequences_into_literal_text() -> None:
    text = "<!channel> <@U123> <https://evil.example|click> & friends"
    assert escape_mrkdwn(text) == (
        "&lt;!channel&gt; &lt;@U123&gt; &lt;https://evil.example|click&gt; &amp; friends"
    )


def test_escape_mrkdwn_escapes_existing_entities_again_so_they_show_as_typed() -> None:
    assert escape_mrkdwn("&amp; &lt;") == "&amp;amp; &amp;lt;"


@pytest.mark.parametrize("limit", [0, 1, 2, 5, 10, 11, 50])
def test_truncate_never_exceeds_the_limit(limit: int) -> None:
    text = "hello world, a rather long sentence"
    cut = truncate(text, limit)
    assert len(cut) <= limit
    if limit >= len(text):
        assert cut == text


def test_truncate_ends_with_ellipsis_and_prefers_a_word_boundary() -> None:
    assert truncate("Suspicious PowerShell download cradle", 25) == "Suspicious PowerShell…"
    assert truncate("x" * 40, 10) == "x" * 9 + "…"
    assert truncate("short", 10) == "short"


@pytest.mark.parametrize("limit", range(1, 40))
def test_mrkdwn_cut_fits_after_escaping_and_never_splits_an_entity(limit: int) -> None:
    text = "&<>&&<<>>" * 5
    cut = mrkdwn_cut(text, limit)
    assert len(cut) <= limit
    assert not _RAW_SPECIAL.search(cut)
    assert not _BROKEN_ENTITY_END.search(cut)


def test_mrkdwn_cut_keeps_short_text_whole() -> None:
    assert mrkdwn_cut("a & b", 9) == "a &amp; b"
    assert mrkdwn_cut("a & b", 8).endswith("…")


def test_code_block_cannot_be_closed_by_the_code_it_shows() -> None:
    block = code_block("x == '```' <!channel>\n```\n<@U123> & y", 200)
    assert block.startswith("```\n") and block.endswith("\n```")
    inner = block[4:-4]
    assert "```" not in inner
    assert "&lt;!channel&gt;" in inner and "&lt;@U123&gt;" in inner and "&amp; y" in inner


def test_code_block_respects_its_limit_and_line_budget() -> None:
    block = code_block("| take 1\n" * 500, 300, max_lines=15)
    assert len(block) <= 300
    assert block.count("\n") <= 15 + 2


def test_code_span_is_one_escaped_span() -> None:
    span = code_span("`root`\n<!here>", 40)
    assert span == "`ˋrootˋ &lt;!here&gt;`"
    assert len(code_span("x" * 500, 40)) <= 40


def test_bold_keeps_attacker_asterisks_from_ending_the_bold() -> None:
    assert bold("<@U123> *Mallory*", 80) == "*&lt;@U123&gt; ∗Mallory∗*"
    assert len(bold("&" * 100, 20)) <= 20


def test_slack_date_token_with_utc_fallback() -> None:
    moment = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert slack_date(moment) == "<!date^1700000000^{date_short_pretty} {time}|2023-11-14 22:13 UTC>"


def test_slack_date_treats_naive_times_as_utc_and_converts_others() -> None:
    naive = datetime(2023, 11, 14, 22, 13, 20)
    paris = datetime(2023, 11, 14, 23, 13, 20, tzinfo=timezone(timedelta(hours=1)))
    assert slack_date(naive) == slack_date(paris)


def test_slack_date_escapes_a_given_fallback() -> None:
    token = slack_date(datetime(2023, 1, 1, tzinfo=UTC), "{date}", fallback="<!here>|x")
    assert token == "<!date^1672531200^{date}|&lt;!here&gt;/x>"


@pytest.mark.parametrize(
    ("severity", "marker"),
    [
        (Severity.HIGH, ":red_circle:"),
        (Severity.MEDIUM, ":large_orange_circle:"),
        (Severity.LOW, ":large_yellow_circle:"),
        (Severity.INFORMATIONAL, ":large_blue_circle:"),
        (Severity.UNKNOWN, ":white_circle:"),
        ("catastrophic", ":white_circle:"),
    ],
)
def test_severity_marker(severity: str, marker: str) -> None:
    assert severity_marker(severity) == marker


def test_labels_for_known_and_unknown_values() -> None:
    assert status_label(Status.IN_PROGRESS) == "In progress"
    assert status_label("somethingNew") == "somethingNew"
    assert severity_label(Severity.UNKNOWN) == "Unknown"
    assert classification_label("truePositive") == "True positive"
    assert classification_label(Classification.UNKNOWN) == "Not set"
    assert determination_label(Determination.NOT_ENOUGH_DATA_TO_VALIDATE) == "Not enough data to validate"
    assert determination_label("<!here>") == "<!here>"  # escaped by the caller, where mrkdwn is built


def test_every_enum_member_has_a_human_label() -> None:
    for status in Status:
        assert status_label(status) != status.value
    for classification in Classification:
        assert classification_label(classification) != classification.value
    for determination in Determination:
        if determination not in (Determination.MALWARE, Determination.PHISHING, Determination.OTHER):
            assert determination_label(determination) != determination.value


def test_plain_text_is_cut_and_one_line_but_not_escaped() -> None:
    text = plain("<!channel> & co\nline two " + "x" * 200, 150)
    assert text["type"] == "plain_text"
    assert len(text["text"]) <= 150
    assert text["text"].startswith("<!channel> & co line two")
    assert plain("   ", 10)["text"] == " "  # Slack rejects empty text
    assert one_line(" a \n\t b ") == "a b"


def test_usage_text_names_the_command() -> None:
    text = build_usage_text("/incident")
    assert "`/incident 2972395`" in text
    sdk_round_trip_blocks(build_usage_blocks())


def test_error_and_notice_blocks_escape_and_fit() -> None:
    for blocks in (build_error_blocks("<!channel> " + "&" * 5000), build_notice_blocks("<@U123> " * 900)):
        text = blocks[0]["text"]["text"]
        assert len(text) <= 3000
        assert not any(raw in text for raw in RAW_CONTROLS)
        sdk_round_trip_blocks(blocks)
    assert build_error_blocks("")[0]["text"]["text"] == ":warning: Something went wrong."


def test_not_found_text_escapes_the_typed_id_and_tenant() -> None:
    text = build_not_found_text("<!here>123", "<@U123>")
    assert text.startswith(":mag: Incident &lt;!here&gt;123 was not found in tenant &lt;@U123&gt;")


def test_sample_note_and_loading_blocks_are_valid() -> None:
    sdk_round_trip_blocks([build_sample_data_note(), *build_loading_blocks("2972395")])
    assert "Sample data" in build_sample_data_note()["elements"][0]["text"]
