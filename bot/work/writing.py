"""Jobs that change incidents (comment, assign, resolve, tags) — registered in `register`."""

from __future__ import annotations

from bot.work import Work


def register(work: Work) -> None:
    """Writes arrive with the actions issue; nothing to register yet."""
