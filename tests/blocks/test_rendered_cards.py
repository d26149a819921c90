"""RenderedCards: a card drawn once per snapshot and context, the same card the builder draws."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from bot.blocks.bodies import RenderedCards, ephemeral_card_body
from bot.blocks.incident import CardContext, build_incident_card
from bot.blocks.redacted import build_redacted_card

from .conftest import NOW, context, normal_payload, snapshot


def test_the_same_snapshot_and_context_are_drawn_once_and_equal_the_builders_card() -> None:
    cards = RenderedCards()
    snap, ctx = snapshot(normal_payload()), context(shareable=True)
    first = cards(snap, ctx)
    assert first == build_incident_card(snap, ctx)
    assert cards(snap, dataclasses.replace(ctx, now=NOW + timedelta(minutes=5))) is first  # fresh: no clock
    assert ephemeral_card_body(snap, ctx, cards)["blocks"] is first


def test_another_version_context_or_age_is_drawn_anew() -> None:
    cards = RenderedCards()
    snap = snapshot(normal_payload())
    first = cards(snap, context())
    refreshed = snap.model_copy(update={"fetched_at": snap.fetched_at + timedelta(seconds=30)})
    assert cards(refreshed, context()) is not first
    assert cards(snap, context(shareable=True)) is not first
    assert cards(snap, context(live=True)) is not first
    stale = snap.model_copy(update={"stale": True})
    older = cards(stale, dataclasses.replace(context(), now=NOW + timedelta(minutes=5)))
    later = dataclasses.replace(context(), now=NOW + timedelta(minutes=50))
    assert cards(stale, later) is not older  # a stale card shows its age


def test_the_memory_is_bounded() -> None:
    cards = RenderedCards(size=3)
    snap = snapshot(normal_payload())
    first = cards(snap, context())
    for seconds in range(1, 4):
        cards(snap.model_copy(update={"fetched_at": snap.fetched_at + timedelta(seconds=seconds)}), context())
    assert cards(snap, context()) is not first


def test_the_key_names_every_field_of_the_context() -> None:
    # RenderedCards keys on these fields by name: a new field of CardContext must join its key.
    assert {f.name for f in dataclasses.fields(CardContext)} == {
        "portal_url", "tenant_id", "seal", "sample_data", "unfurl_url", "shareable", "now", "live",
        "redacted", "show_title",
    }  # fmt: skip


def test_a_redacted_context_draws_the_redacted_card_and_never_shares_the_full_ones_blocks() -> None:
    cards = RenderedCards()
    snap = snapshot(normal_payload())
    full = cards(snap, context())
    limited = dataclasses.replace(context(), redacted=True)
    redacted = cards(snap, limited)
    assert redacted is not full
    assert redacted == build_redacted_card(snap, limited, show_title=False)
    titled = cards(snap, dataclasses.replace(context(), redacted=True, show_title=True))
    assert titled == build_redacted_card(snap, context(), show_title=True)
