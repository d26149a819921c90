"""Slack bot for Microsoft 365 Defender incidents."""

__version__ = "0.1.0"
