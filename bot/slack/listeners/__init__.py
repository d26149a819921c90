"""Thin Bolt listeners: ack, parse, hand the work to the intake (or answer inline), done."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.slack.listeners import actions, commands, events, views


def register(app: AsyncApp) -> None:
    """Register every listener once (Bolt appends on each call).

    Bolt tries listeners in this order, running each one's matchers: link_shared events, the
    busiest request in a burst, come first.
    """
    events.register(app)
    commands.register(app)
    actions.register(app)
    views.register(app)
