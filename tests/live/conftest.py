"""The bot's real HTTP endpoint and the loopback fakes (tests/listeners/conftest.py), for live cards."""

from tests.listeners.conftest import fake_slack, start_world, world

__all__ = ["fake_slack", "start_world", "world"]
