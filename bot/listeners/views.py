"""Modal submissions — registered with the actions issue."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp


def register(app: AsyncApp) -> None:
    """No modals yet."""
