"""Text as the bot keeps it: no control characters and no bidi overrides, other Unicode as it is.

Titles, comments, tags and evidence are attacker-influenced. A NUL, ESC, bell or backspace can
garble a terminal or a log viewer, and the bidi embeddings, overrides and isolates (the "Trojan
Source" characters, U+202A–U+202E and U+2066–U+2069) make text read differently from what it says.
They are dropped from everything read from the API and everything a person writes through the bot.
Tabs and newlines stay: descriptions and comments have paragraphs.
"""

from __future__ import annotations

import re
from typing import Any

_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean_text(text: str) -> str:
    """`text` without C0/C1 controls (tab and newline kept; CR dropped) and bidi controls."""
    if text.isprintable():  # the common case: nothing to look for
        return text
    return _UNSAFE.sub("", text.replace("\r\n", "\n")).replace("\r", "\n")


def clean_strings(value: Any) -> Any:
    """Every string inside a decoded JSON value, cleaned (dict keys too)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(k) if isinstance(k, str) else k: clean_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_strings(item) for item in value]
    return value
