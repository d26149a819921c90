"""What a part shared through Redis does while Redis cannot be reached: it works on its own for a few
seconds before trying Redis again, and says so once when it falls back and once when Redis is back."""

from __future__ import annotations

import logging
import time

RETRY_REDIS_AFTER = 5.0


class RedisRest:
    """The fallback state of one Redis-shared part (the API budget, the Slack paces)."""

    def __init__(self, logger: logging.Logger, *, fell_back: str, back: str) -> None:
        """`fell_back` is logged with the error's type name (%s), `back` as it is."""
        self._logger = logger
        self._fell_back_text = fell_back
        self._back_text = back
        self.until: float | None = None  # time.monotonic() until which Redis is not tried

    def resting(self) -> bool:
        """Working alone for now: Redis failed less than RETRY_REDIS_AFTER seconds ago."""
        return self.until is not None and time.monotonic() < self.until

    def fell_back(self, error: Exception) -> None:
        if self.until is None:
            self._logger.warning(self._fell_back_text, type(error).__name__)
        self.until = time.monotonic() + RETRY_REDIS_AFTER

    def recovered(self) -> None:
        if self.until is not None:
            self.until = None
            self._logger.info(self._back_text)
