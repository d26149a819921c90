"""Where a link was shared and what its unfurl may show there: classify, the policy, UNFURL_DETAIL.

The conversations.info answers are Slack's documented examples (tests/data/slack/
conversations_info_<kind>.json, each naming its source), of workspace T12345ABCDE.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.config.unfurl import ConversationKind, Detail, UnfurlPolicy, parse_unfurl_detail, strictest
from bot.incidents.audience import COMPOSER, classify, link_conversation

SLACK_DATA = Path(__file__).parent.parent / "data" / "slack"
OUR_TEAM = "T12345ABCDE"  # context_team_id of Slack's examples
THEIR_TEAM = "T0FABRIKAM"
K = ConversationKind


def channel_of(kind: str) -> dict[str, Any]:
    """The `channel` object of tests/data/slack/conversations_info_<kind>.json (a fresh copy)."""
    answer = json.loads((SLACK_DATA / f"conversations_info_{kind}.json").read_text(encoding="utf-8"))
    assert answer["ok"] is True and answer["_source"].startswith(("Slack", "The", "A "))
    return copy.deepcopy(answer["channel"])


def with_(kind: str, **changes: Any) -> dict[str, Any]:
    return {**channel_of(kind), **changes}


# ---- classify ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("example", "kind"),
    [
        ("public", K.PUBLIC),
        ("private", K.PRIVATE),
        ("dm", K.DM),
        ("group_dm", K.GROUP_DM),
        ("shared", K.SHARED),
    ],
)
def test_slacks_documented_answers_classify_as_their_kind(example: str, kind: ConversationKind) -> None:
    assert classify(channel_of(example), our_team=OUR_TEAM) is kind


@pytest.mark.parametrize(
    ("info", "why"),
    [
        (with_("public", is_ext_shared=True, is_shared=True), "Slack Connect public channel"),
        (with_("private", is_ext_shared=True, is_shared=True), "Slack Connect private channel"),
        (with_("public", is_org_shared=True, is_shared=True), "shared across the Enterprise org"),
        (with_("public", is_pending_ext_shared=True), "Slack Connect invitation pending"),
        (with_("public", pending_connected_team_ids=[THEIR_TEAM]), "invitation pending to a team"),
        (with_("public", pending_shared=[THEIR_TEAM]), "pending share"),
        (with_("public", shared_team_ids=[OUR_TEAM, THEIR_TEAM]), "another team named, flags unset"),
        (with_("public", connected_team_ids=[THEIR_TEAM]), "connected to an external team"),
        (with_("public", internal_team_ids=[OUR_TEAM, "T0OTHERWS"]), "another workspace of the org"),
        (with_("public", conversation_host_id=THEIR_TEAM), "hosted by another team"),
        (with_("public", is_shared=True, shared_team_ids=[]), "is_shared, teams not named"),
        (with_("dm", is_ext_shared=True), "Slack Connect DM"),
        (with_("group_dm", connected_team_ids=[THEIR_TEAM]), "group DM with another organisation"),
        (with_("public", is_ext_shared="yes"), "unreadable flag"),
        (with_("public", shared_team_ids="T12345ABCDE"), "unreadable team list"),
    ],
)
def test_sharing_outside_the_workspace_wins_over_every_kind(info: dict[str, Any], why: str) -> None:
    assert classify(info, our_team=OUR_TEAM) is K.SHARED, why


def test_is_shared_naming_only_our_team_is_not_shared_outside() -> None:
    info = with_("public", is_shared=True, shared_team_ids=[OUR_TEAM], internal_team_ids=[OUR_TEAM])
    assert classify(info, our_team=OUR_TEAM) is K.PUBLIC


def test_the_kind_is_relative_to_our_workspace() -> None:
    """Slack's public #general of T12345ABCDE, seen from another workspace, is shared with it."""
    assert classify(channel_of("public"), our_team=THEIR_TEAM) is K.SHARED
    assert classify(channel_of("shared"), our_team=THEIR_TEAM) is K.SHARED


def test_legacy_private_channels_and_group_flags() -> None:
    legacy = with_("private", id="G0LEGACY", is_channel=False, is_group=True, is_private=True)
    assert classify(legacy, our_team=OUR_TEAM) is K.PRIVATE
    legacy_group_object = {"id": "G123456", "name": "secretplans", "is_group": "true", "is_mpim": False}
    assert classify(legacy_group_object, our_team=OUR_TEAM) is K.PRIVATE  # "true" as group-object shows it
    mpim_as_group = with_("group_dm", is_group=True, is_private=True)
    assert classify(mpim_as_group, our_team=OUR_TEAM) is K.GROUP_DM


@pytest.mark.parametrize(
    "info",
    [
        {},
        {"id": "C1"},  # no flags at all
        {"channel": channel_of("public")},  # the envelope instead of the channel
        with_("public", id=None),
        with_("public", is_channel="maybe"),
        with_("public", is_channel=False),
    ],
)
def test_what_cannot_be_read_is_unknown(info: dict[str, Any]) -> None:
    assert classify(info, our_team=OUR_TEAM) is K.UNKNOWN


def test_without_our_team_nothing_is_known() -> None:
    assert classify(channel_of("private"), our_team="") is K.UNKNOWN


# ---- the policy ----------------------------------------------------------------------------------

DEFAULTS = {
    K.DM: Detail.FULL,
    K.GROUP_DM: Detail.FULL,
    K.PRIVATE: Detail.FULL,
    K.PUBLIC: Detail.REDACTED,
    K.SHARED: Detail.REDACTED,
    K.UNKNOWN: Detail.REDACTED,
}


def test_default_policy() -> None:
    policy = UnfurlPolicy()
    assert {kind: policy.decide(kind, sharer_external=False) for kind in K} == DEFAULTS
    assert parse_unfurl_detail("") == policy
    assert parse_unfurl_detail(" , ") == policy


def test_strictness_order() -> None:
    assert Detail.NONE.strictness > Detail.REDACTED.strictness > Detail.FULL.strictness
    assert strictest([Detail.FULL, Detail.NONE, Detail.REDACTED]) is Detail.NONE
    assert strictest([Detail.FULL, Detail.REDACTED]) is Detail.REDACTED
    assert strictest([]) is Detail.FULL


def test_a_sharer_from_another_organisation_gets_at_least_what_shared_gets() -> None:
    policy = UnfurlPolicy()
    assert policy.decide(K.PRIVATE, sharer_external=True) is Detail.REDACTED
    assert policy.decide(K.DM, sharer_external=True) is Detail.REDACTED
    strict = parse_unfurl_detail("shared=none")
    for kind in K:
        assert strict.decide(kind, sharer_external=True) is Detail.NONE
    assert strict.decide(K.PRIVATE, sharer_external=False) is Detail.FULL


def test_unknown_is_the_strictest_configured_and_never_full() -> None:
    assert parse_unfurl_detail("shared=none").decide(K.UNKNOWN, sharer_external=False) is Detail.NONE
    assert parse_unfurl_detail("dm=none").detail(K.UNKNOWN) is Detail.NONE
    everything_full = parse_unfurl_detail("public=full,shared=full,private=full,dm=full,group_dm=full")
    assert everything_full.detail(K.PUBLIC) is Detail.FULL
    assert everything_full.detail(K.UNKNOWN) is Detail.REDACTED
    assert parse_unfurl_detail("unknown=none").detail(K.UNKNOWN) is Detail.NONE
    with pytest.raises(ValueError, match="unknown=full is not allowed"):
        parse_unfurl_detail("unknown=full")
    with pytest.raises(ValueError, match="unknown=full is not allowed"):
        UnfurlPolicy(unknown=Detail.FULL)


def test_parse_the_documented_example() -> None:
    policy = parse_unfurl_detail("public=redacted,shared=none,private=full")
    assert policy == UnfurlPolicy(public=Detail.REDACTED, shared=Detail.NONE, private=Detail.FULL)
    assert parse_unfurl_detail("  Public = REDACTED ,SHARED=none ,, private=full ") == policy
    assert parse_unfurl_detail(policy.describe()).describe() == policy.describe()
    assert policy.describe() == (
        "dm=full,group_dm=full,private=full,public=redacted,shared=none,unknown=none"
    )


KIND_CHOICES = "dm, group_dm, private, public, shared, unknown"
DETAIL_CHOICES = "full, redacted, none"


@pytest.mark.parametrize(
    ("text", "named", "choices"),
    [
        ("secret=full", "'secret'", KIND_CHOICES),
        ("im=full", "'im'", KIND_CHOICES),
        ("public=hidden", "'hidden'", DETAIL_CHOICES),
        ("public=", "''", DETAIL_CHOICES),
        ("public", "'public'", KIND_CHOICES),
        ("public=full,public=none", "'public' is given twice", "give each kind once"),
    ],
)
def test_parse_errors_name_the_bad_word_and_the_choices(text: str, named: str, choices: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_unfurl_detail(text)
    assert named in str(caught.value)
    assert choices in str(caught.value)


def test_policy_values_must_be_details() -> None:
    with pytest.raises(TypeError):
        UnfurlPolicy(public="full")  # type: ignore[arg-type]


policies = st.builds(
    UnfurlPolicy,
    dm=st.sampled_from(Detail),
    group_dm=st.sampled_from(Detail),
    private=st.sampled_from(Detail),
    public=st.sampled_from(Detail),
    shared=st.sampled_from(Detail),
    unknown=st.sampled_from([Detail.REDACTED, Detail.NONE]),
)


@given(policies)
def test_unknown_and_outsiders_never_see_more(policy: UnfurlPolicy) -> None:
    unknown = policy.decide(K.UNKNOWN, sharer_external=False)
    assert unknown is not Detail.FULL
    for kind in K:
        inside = policy.decide(kind, sharer_external=False)
        outside = policy.decide(kind, sharer_external=True)
        assert unknown.strictness >= inside.strictness
        assert outside.strictness >= max(inside.strictness, policy.detail(K.SHARED).strictness)
    assert parse_unfurl_detail(policy.describe()).describe() == policy.describe()


# ---- which conversation a link_shared event names ------------------------------------------------


def test_a_posted_link_names_its_channel() -> None:
    envelope = json.loads((SLACK_DATA / "link_shared.json").read_text(encoding="utf-8"))
    assert link_conversation(envelope["event"]) == "C0SOC"


def test_a_composer_preview_names_no_conversation() -> None:
    """The payload Slack documents for a link typed into the composer
    (https://api.slack.com/changelog/2021-08-changes-to-unfurls)."""
    composer = {
        "type": "link_shared",
        "channel": "COMPOSER",
        "is_bot_user_member": True,
        "user": "Uxxxxxxx",
        "message_ts": "Uxxxxxxx-909b5454-75f8-4ac4-b325-1b40e230bbd8-gryl3kb80b3wm49ihzoo35fyqoq08n2y",
        "unfurl_id": "Uxxxxxxx-909b5454-75f8-4ac4-b325-1b40e230bbd8-gryl3kb80b3wm49ihzoo35fyqoq08n2y",
        "source": "composer",
        "links": [{"domain": "example.com", "url": "https://example.com/12345"}],
    }
    assert link_conversation(composer) is None
    assert link_conversation({**composer, "channel": "C0SOC"}) is None  # source: composer says enough
    assert link_conversation({**composer, "source": None}) is None  # channel COMPOSER says enough
    assert composer["channel"] == COMPOSER
    assert link_conversation({"type": "link_shared"}) is None
    assert UnfurlPolicy().decide(K.UNKNOWN, sharer_external=False) is Detail.REDACTED
