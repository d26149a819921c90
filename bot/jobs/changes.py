"""The changes a person can make to an incident from Slack, as the write job carries them.

Every text a person typed (a comment, an assignee, tags) reaches Defender without control or bidi
characters: the models clean it as they are built, in the listener and again when a worker reads
the stored job.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from bot.jobs.base import Model
from bot.models import Classification, Determination
from bot.models.text import clean_text


class WriteOp(StrEnum):
    """The changes a person can make to an incident from Slack."""

    COMMENT = "comment"
    ASSIGN_ME = "assign_me"
    ASSIGN = "assign"
    UNASSIGN = "unassign"
    REOPEN = "reopen"
    IN_PROGRESS = "in_progress"
    TAGS = "tags"
    EDIT_TAGS = "edit_tags"
    RESOLVE = "resolve"


class _Written(Model):
    """A change carrying text a person typed: it reaches Defender without control or bidi characters."""

    @model_validator(mode="before")
    @classmethod
    def _clean(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        return {key: _cleaned(value) if key != "op" else value for key, value in data.items()}


class AddComment(_Written):
    op: Literal[WriteOp.COMMENT] = WriteOp.COMMENT
    text: str = Field(min_length=1)


class AssignToMe(Model):
    op: Literal[WriteOp.ASSIGN_ME] = WriteOp.ASSIGN_ME


class AssignTo(_Written):
    op: Literal[WriteOp.ASSIGN] = WriteOp.ASSIGN
    assignee: str = Field(min_length=3, max_length=320)


class Unassign(Model):
    op: Literal[WriteOp.UNASSIGN] = WriteOp.UNASSIGN


class Reopen(Model):
    op: Literal[WriteOp.REOPEN] = WriteOp.REOPEN


class StartProgress(Model):
    op: Literal[WriteOp.IN_PROGRESS] = WriteOp.IN_PROGRESS


class SetTags(_Written):
    op: Literal[WriteOp.TAGS] = WriteOp.TAGS
    tags: tuple[str, ...]


class EditTags(_Written):
    """The tags modal's answer: which offered tags stay ticked, and the new ones typed. Applied to
    the incident's tags as they are when the job runs, so nobody's tags are lost in between."""

    op: Literal[WriteOp.EDIT_TAGS] = WriteOp.EDIT_TAGS
    kept: tuple[str, ...]
    added: str | None = None


class Resolve(_Written):
    op: Literal[WriteOp.RESOLVE] = WriteOp.RESOLVE
    classification: Classification
    determination: Determination
    comment: str = ""


Change = Annotated[
    AddComment | AssignToMe | AssignTo | Unassign | Reopen | StartProgress | SetTags | EditTags | Resolve,
    Field(discriminator="op"),
]


def _cleaned(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list | tuple):
        return type(value)(clean_text(v) if isinstance(v, str) else v for v in value)
    return value
