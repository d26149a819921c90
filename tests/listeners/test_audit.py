"""The audit log: one structured `bot.audit` record per write, and no secret in any log record."""

from __future__ import annotations

import logging

import pytest

from bot.blocks.ids import ActionId
from tests.conftest import CLIENT_SECRET
from tests.listeners.conftest import READER, SlackWorld
from tests.listeners.test_actions import INCIDENT, click, more
from tests.listeners.test_views import comment_values, modal, resolve_values, submission
from tests.world import BOT_TOKEN, SIGNING_SECRET, WRITER

AUDIT_FIELDS = ("slack_user", "email", "action", "incident_id", "fields", "result", "request_id")


def audit_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "bot.audit"]


def described(record: logging.LogRecord) -> dict[str, object]:
    return {name: getattr(record, name, "<missing>") for name in AUDIT_FIELDS}


async def test_each_write_is_one_audit_record(world: SlackWorld, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bot.audit")
    await world.interact(click(world, "message", ActionId.ASSIGN_ME))
    await world.interact(submission(await modal(world, "comment"), comment_values("Noted.")))
    values = resolve_values("truePositive", "truePositive:malware", "Done.")
    await world.interact(submission(await modal(world, "resolve"), values, view_id="V0VIEW0002"))
    await world.settle()

    records = sorted((described(r) for r in audit_records(caplog)), key=lambda d: str(d["action"]))
    for record in records:
        assert record["request_id"] != "<missing>"
        record.pop("request_id")
    assert records == [
        {
            "slack_user": WRITER,
            "email": "jane@contoso.com",
            "action": "assign_me",
            "incident_id": INCIDENT,
            "fields": ["assignedTo"],
            "result": "ok",
        },
        {
            "slack_user": WRITER,
            "email": "jane@contoso.com",
            "action": "comment",
            "incident_id": INCIDENT,
            "fields": ["comment"],
            "result": "ok",
        },
        {
            "slack_user": WRITER,
            "email": "jane@contoso.com",
            "action": "resolve",
            "incident_id": INCIDENT,
            "fields": ["classification", "determination", "resolvingComment", "status"],
            "result": "ok",
        },
    ]


async def test_a_successful_write_logs_the_api_request_id(
    world: SlackWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.audit")
    await world.interact(click(world, "message", ActionId.ASSIGN_ME))
    await world.settle()
    [record] = audit_records(caplog)
    assert record.result == "ok"  # type: ignore[attr-defined]
    assert isinstance(record.request_id, str)  # type: ignore[attr-defined]
    assert len(record.request_id) >= 32  # type: ignore[attr-defined]  # the fake answers a uuid4


async def test_a_failed_write_logs_the_api_request_id(
    world: SlackWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.audit")
    world.api.fail_next(403, method="PATCH")
    await world.interact(click(world, "message", more(ActionId.IN_PROGRESS)))
    await world.settle()
    [record] = audit_records(caplog)
    assert record.result == "failed"  # type: ignore[attr-defined]
    assert record.action == "in_progress"  # type: ignore[attr-defined]
    assert isinstance(record.request_id, str)  # type: ignore[attr-defined]
    assert len(record.request_id) >= 32  # type: ignore[attr-defined]


async def test_a_failed_write_and_a_refusal_are_audited(
    world: SlackWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.audit")
    world.api.fail_next(403, method="PATCH")
    values = resolve_values("truePositive", "truePositive:malware", "Done.")
    await world.interact(submission(await modal(world, "resolve"), values))
    await world.interact(click(world, "message", ActionId.ASSIGN_ME, user=READER))
    await world.settle()
    failed, refused = sorted(audit_records(caplog), key=lambda r: str(r.result))  # type: ignore[attr-defined]
    assert (failed.result, failed.action) == ("failed", "resolve")  # type: ignore[attr-defined]
    assert failed.fields == ["classification", "comment", "determination"]  # type: ignore[attr-defined]
    assert failed.request_id  # type: ignore[attr-defined]  # of the refused PATCH
    assert (refused.result, refused.slack_user, refused.action) == ("refused", READER, "assign_me")  # type: ignore[attr-defined]


async def test_no_secret_reaches_any_log_record(world: SlackWorld, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    world.api.fail_next(403, method="POST")  # errors are logged too
    await world.interact(click(world, "message", ActionId.ASSIGN_ME))
    await world.interact(submission(await modal(world, "comment"), comment_values("Secret-free.")))
    await world.interact(click(world, "message", ActionId.ASSIGN_ME, user=READER))
    await world.settle()

    bearer = {r.headers["Authorization"][7:] for r in world.api.requests}
    assert bearer  # the Graph access token the bot used
    secrets = [BOT_TOKEN, CLIENT_SECRET, SIGNING_SECRET, *bearer]
    assert audit_records(caplog)
    formatter = logging.Formatter()
    for record in caplog.records:
        trace = formatter.formatException(record.exc_info) if record.exc_info else ""
        everything = " ".join([record.getMessage(), trace, *(repr(v) for v in vars(record).values())])
        for secret in secrets:
            assert secret not in everything, f"{record.name}: {record.getMessage()[:200]}"
