"""Text as the bot keeps it: no control characters and no bidi overrides, other Unicode as it is.

Titles, comments, tags and evidence are attacker-influenced. A NUL, ESC, bell or backspace can
garble a terminal or a log viewer, and the bidi embeddings, overrides and isolates (the "Trojan
Source" characters, U+202A–U+202E and U+2066–U+2069) make text read differently from what it says.
They are dropped from everything read from the API and everything a person writes through the bot.
Tabs and newlines stay: descriptions and comments have paragraphs.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

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


def _scalar_text(value: Any) -> Any:
    """A number where Graph documents a string is read as its digits (ids and names do arrive so)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _text_or_empty(value: Any) -> Any:
    return "" if value is None else _scalar_text(value)


def _texts(value: Any) -> Any:
    """A collection of strings without its nulls (Graph's schema lets each element be null)."""
    if value is None:
        return []
    if isinstance(value, list):
        return [_scalar_text(item) for item in value if item is not None]
    return value


# A string Graph may send as null: read as "".
Text = Annotated[str, BeforeValidator(_text_or_empty)]
# A string whose absence means something (no assignee, no merge target): null stays None.
OptionalText = Annotated[str | None, BeforeValidator(_scalar_text)]
# Collection(Edm.String): null is empty, null elements are left out.
Texts = Annotated[list[str], BeforeValidator(_texts)]
