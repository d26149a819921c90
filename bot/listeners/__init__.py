"""Thin Bolt listeners: ack, parse, hand the work to the intake (or answer inline), done."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.listeners import actions, commands, events, views


def register(app: AsyncApp) -> None:
    """Register every listener once (Bolt appends on each call)."""
    commands.register(app)
    events.register(app)
    actions.register(app)
    views.register(app)
