"""Live cards benchmark: a quiet hour of polling, a bulk change redrawn, and what 5,000 records cost.

Run from the repository root: `.venv/bin/python -m benchmarks.live_cards` (`--quick` for a short
check). The fakes run in this process (pinned to CPU 0), the bot as a child process (`python -m
bot`, HTTP mode, memory cache, pinned to CPU 1), its stderr in a log file. For each database (SQLite
file, fresh PostgreSQL database on 127.0.0.1:5432) and for each pacing (`LIVE_SLACK_CALLS_PER_MINUTE`
unset, i.e. 50 a minute per method, and 0), with a fresh world, database, seed and bot:

- seed: `--incidents` copies of incident 2972395 (last updated a day ago) and `--cards` live cards
  over them (of each 5: 3 unfurls, 2 bot messages), their versions, and the watermark a minute ago;
- (a) the first run only: `--quiet-polls` poll intervals with nothing changing: list calls, bot CPU
  per poll, detail GETs and Slack calls;
- (b) `--changed` incidents changed at once: change → each card's redraw (p50/p95/max), Slack calls
  per card, detail GETs per incident, list calls; and one `link_shared` sent meanwhile (a new
  unfurl, whose job queues behind the redraws);
- (c) database size, the bot's peak RSS (VmHWM).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg

from benchmarks.harness import World, median, percentile, table, world
from benchmarks.warm_path import OTHERS_CPU, cpu, peak_rss_mb, pin
from bot.state.database import Database
from bot.state.live_cards import CardPlace, LiveCardStore, NewCard
from bot.watch.watcher import SKEW, SWEEP_EVERY
from tests.fakes import FIXTURE_DIR, TENANT_ID, RecordedRequest, SlackCall
from tests.world import BotProcess, SlackSender, free_port, link_shared, wait_until

Row = tuple[str, str, str, bool | None]
Key = tuple[str, ...]  # how a Slack call names a card: (method, channel, ts[, url])
FIRST_ID = 800_000
PG_ADMIN = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "database": "postgres"}
PROBE_INCIDENT, PROBE_TS = "2972395", "1799999999.000001"
DETAIL = "/v1.0/security/incidents/"
AFTER = 3  # poll intervals watched after the last redraw, for late or repeated calls


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def link(incident_id: str) -> str:
    return f"https://security.microsoft.com/incidents/{incident_id}?tid={TENANT_ID}"


def graph_time(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"  # Graph's seven fractional digits


def is_list(r: RecordedRequest) -> bool:
    return r.method == "GET" and r.path.endswith("/security/incidents") and "$filter" in r.query


def polls(requests: list[RecordedRequest]) -> tuple[int, int]:
    """(list calls, polls): a poll's first page has no $skiptoken."""
    lists = [r for r in requests if is_list(r)]
    return len(lists), sum(1 for r in lists if "$skiptoken" not in r.query)


def card_keys(call: SlackCall) -> list[Key]:
    args = call.args
    if call.method == "chat.update":
        return [("chat.update", str(args.get("channel")), str(args.get("ts")))]
    if call.method == "chat.unfurl" and isinstance(args.get("unfurls"), dict):
        return [
            ("chat.unfurl", str(args.get("channel")), str(args.get("ts")), url) for url in args["unfurls"]
        ]
    return []


def put_incidents(w: World, count: int) -> dict[str, datetime]:
    """`count` copies of 2972395 (ids 800000…), last updated a day ago: their versions. The other
    fixtures go: incident 7001 is stamped 2027, and a stamp in the future keeps the watermark at the
    watcher's clock (`min(newest, now)`), which is not what a Defender tenant does."""
    for other in [i for i in w.api.incidents["v1.0"] if i != PROBE_INCIDENT]:
        del w.api.incidents["v1.0"][other]
    base = json.loads((FIXTURE_DIR / "incident_2972395.v1.json").read_text())
    when = datetime.now(UTC) - timedelta(days=1)
    versions = {}
    for n in range(count):
        incident_id = str(FIRST_ID + n)
        w.api.put("v1.0", {**base, "id": incident_id, "lastUpdateDateTime": graph_time(when)})
        versions[incident_id] = when
    return versions


def plan_cards(ids: list[str], cards: int) -> dict[CardPlace, str]:
    """Card c goes to incident c % len(ids); of each incident's cards, 3 in 5 are unfurls."""
    places: dict[CardPlace, str] = {}
    for c in range(cards):
        n, k = c % len(ids), c // len(ids)
        channel = f"C0BENCH{n % 50}"
        if k % 5 < 3:  # an unfurl in a message of its own
            place = CardPlace("unfurl", channel, f"{1_700_000_000 + n}.{k:06d}", link(ids[n]))
        else:  # a message the bot posted
            place = CardPlace("message", channel, f"{1_710_000_000 + n}.{k:06d}")
        places[place] = ids[n]
    return places


def place_key(place: CardPlace) -> Key:
    if place.surface == "unfurl":
        return ("chat.unfurl", str(place.channel), str(place.ts), str(place.url))
    return ("chat.update", str(place.channel), str(place.ts))


async def seed(url: str, places: dict[CardPlace, str], versions: dict[str, datetime]) -> int:
    database = Database.open(url)
    try:
        await database.migrate()
        store = LiveCardStore(database)
        now = datetime.now(UTC)
        cards = [NewCard(i, i, p, "seed", now, now + timedelta(days=7)) for p, i in places.items()]
        await store.remember_many(cards)
        await store.set_versions(versions)
        await store.set_watermark(now - timedelta(minutes=1), now=now)
        return await store.size()
    finally:
        await database.close()


Sizer = Callable[[], Awaitable[str]]


async def admin(statement: str) -> None:
    connection = await asyncpg.connect(**PG_ADMIN, timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def database(kind: str, folder: Path) -> AsyncIterator[tuple[str, Sizer]]:
    """(URL, how big it is now) of a new SQLite file or PostgreSQL database, dropped afterwards."""
    if kind == "sqlite":
        path = folder / f"live-{secrets.token_hex(3)}.db"

        async def file_size() -> str:
            parts = [path, path.with_name(path.name + "-wal")]
            sizes = [p.stat().st_size if p.exists() else 0 for p in parts]
            return f"{sum(sizes) / 1e6:.2f} MB (file {sizes[0] / 1e6:.2f} + WAL {sizes[1] / 1e6:.2f})"

        yield f"sqlite:///{path}", file_size
        return
    name = f"incident_bot_bench_{secrets.token_hex(4)}"
    await admin(f'CREATE DATABASE "{name}"')

    async def pg_size() -> str:
        connection = await asyncpg.connect(**{**PG_ADMIN, "database": name}, timeout=10)
        try:
            total = await connection.fetchval("SELECT pg_database_size(current_database())")
            tables = await connection.fetchval(
                "SELECT sum(pg_total_relation_size(t))::bigint FROM unnest("
                "ARRAY['live_cards', 'incident_versions', 'watch_state']::regclass[]) AS t"
            )
        finally:
            await connection.close()
        return f"{total / 1e6:.2f} MB (the three tables {tables / 1e6:.2f} MB)"

    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}", pg_size
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def start_bot(env: dict[str, str], log: Path) -> BotProcess:
    """tests.world.BotProcess, started with its stderr in `log`."""
    bot = BotProcess(env, free_port())
    full = {**os.environ, **env, "PORT": str(bot.port), "HOST": "127.0.0.1"}
    with log.open("ab") as stderr:
        # BENCH_PROFILE=<file>: the bot runs under cProfile, its statistics written there at exit
        profile = os.environ.get("BENCH_PROFILE")
        command = ["-m", "cProfile", "-o", profile, "-m", "bot"] if profile else ["-m", "bot"]
        bot.process = process = await asyncio.create_subprocess_exec(
            sys.executable, *command, env=full, stdin=asyncio.subprocess.DEVNULL, stderr=stderr
        )
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"http://127.0.0.1:{bot.port}/healthz") as response:
                    if response.status == 200:
                        return bot
            if process.returncode is not None:
                raise RuntimeError(f"bot exited with {process.returncode}; see {log}")
            await asyncio.sleep(0.05)
    raise TimeoutError(f"bot did not answer /healthz; see {log}")


async def quiet(w: World, pid: int, poll: float, count: int) -> list[Row]:
    """(a) Nothing changes for `count` intervals: what the watcher costs."""
    await wait_until(lambda: any(is_list(r) for r in w.api.requests), within=60)  # the first poll
    await asyncio.sleep(poll / 2)
    requests, calls, used, started = len(w.api.requests), len(w.slack.calls), cpu(pid), time.monotonic()
    say(f"  (a) quiet period: {count} polls of {poll:g} s")
    await asyncio.sleep(count * poll)
    used, elapsed = cpu(pid) - used, time.monotonic() - started
    seen = w.api.requests[requests:]
    pages, rounds = polls(seen)
    details = sum(1 for r in seen if r.method == "GET" and r.path.startswith(DETAIL))
    slack = Counter(c.method for c in w.slack.calls[calls:])
    per_interval = pages / (elapsed / poll)
    return [
        (
            "(a) list calls per poll interval, quiet",
            "≤ 1",
            f"{per_interval:.2f} ({pages} in {elapsed:.0f} s, {rounds} polls)",
            per_interval <= 1,
        ),
        ("(a) bot CPU per poll, quiet", "—", f"{used / max(rounds, 1) * 1e3:.1f} ms", None),
        ("(a) detail GETs, quiet", "0", str(details), details == 0),
        ("(a) Slack calls, quiet", "0", ", ".join(f"{m} {n}" for m, n in slack.items()) or "0", not slack),
    ]


async def bulk_change(
    w: World, bot: BotProcess, places: dict[CardPlace, str], changed: list[str], poll: float, label: str
) -> list[Row]:
    """(b) `changed` incidents change at once: every card of theirs redrawn, once."""
    assert bot.pid is not None
    requests, calls, used = len(w.api.requests), len(w.slack.calls), cpu(bot.pid)
    changed_at: dict[str, float] = {}
    for incident_id in changed:  # no await in between: one instant for the bot
        w.api.change("v1.0", incident_id, assignedTo="bench@contoso.com")
        changed_at[incident_id] = time.monotonic()
    owner = {place_key(p): i for p, i in places.items()}
    wanted = {key for key, i in owner.items() if i in changed_at}
    first: dict[Key, float] = {}
    probe_sent: float | None = None
    probe_at: float | None = None
    start = min(changed_at.values())
    scanned, shown, deadline = calls, time.monotonic(), time.monotonic() + poll + 600
    say(f"  (b) {label}: {len(changed)} incidents changed, {len(wanted)} cards to redraw")
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            for call in w.slack.calls[scanned:]:
                for key in card_keys(call):
                    first.setdefault(key, call.time)
                if call.method == "chat.unfurl" and call.args.get("ts") == PROBE_TS:
                    probe_at = call.time
            scanned = len(w.slack.calls)
            if probe_sent is None and first:  # a new unfurl asked while the redraws run
                event = link_shared([link(PROBE_INCIDENT)], event_id="EvLIVEPROBE", message_ts=PROBE_TS)
                probe_sent = time.monotonic()
                await SlackSender(http, bot.url).event(event)
            probe_done = probe_at is not None or time.monotonic() - (probe_sent or 0) > 60
            if wanted <= first.keys() and probe_done:
                break
            if time.monotonic() - shown >= 15:
                shown = time.monotonic()
                done = len(wanted & first.keys())
                say(f"      {done}/{len(wanted)} redrawn after {shown - start:.0f} s")
            await asyncio.sleep(0.05)
    settled = time.monotonic()
    say(f"      {len(wanted & first.keys())}/{len(wanted)} redrawn; {AFTER * poll + 1:g} s for late calls")
    await asyncio.sleep(AFTER * poll + 1)
    used = cpu(bot.pid) - used
    delays = [first[k] - changed_at[owner[k]] for k in wanted if k in first]
    per_card: Counter[Key] = Counter()
    others: Counter[str] = Counter()
    for call in w.slack.calls[calls:]:
        keys = [k for k in card_keys(call) if k in owner]
        per_card.update(keys)
        if not keys:
            others[call.method] += 1
    once = sum(1 for k in wanted if per_card[k] == 1)
    twice = sum(n - 1 for k, n in per_card.items() if k in wanted and n > 1)
    never = sum(1 for k in wanted if per_card[k] == 0)
    stray = sum(n for k, n in per_card.items() if k not in wanted)
    seen = w.api.requests[requests:]
    gets = Counter(
        r.path.removeprefix(DETAIL) for r in seen if r.method == "GET" and r.path.startswith(DETAIL)
    )
    per_incident = Counter(gets[i] for i in changed)
    other_gets = sum(n for i, n in gets.items() if i not in changed_at)
    during, after = (polls([r for r in seen if (r.time < settled) == early]) for early in (True, False))
    p95, target = percentile(delays, 95), poll + 10
    # A sweep lists the bulk change again (ceil(N / 50) pages) for about six minutes.
    pages = -(-len(changed) // 50)
    sweeps = -(-int(time.monotonic() - settled) // int(SWEEP_EVERY.total_seconds()))
    probe = f"{probe_at - probe_sent:.1f} s" if probe_at and probe_sent else "no chat.unfurl"
    spread = ", ".join(f"{n} incidents {g}" for g, n in sorted(per_incident.items()))
    return [
        (
            f"(b) {label}: change → redraw p50 / p95 / max",
            f"p95 ≤ {target:g} s",
            f"{median(delays):.1f} / {p95:.1f} / {max(delays, default=float('nan')):.1f} s",
            never == 0 and p95 <= target,
        ),
        (f"(b) {label}: cards redrawn", f"{len(wanted)}", f"{len(wanted) - never}", never == 0),
        (
            f"(b) {label}: Slack calls for cards (once / duplicates / never)",
            f"= {len(wanted)}, each once",
            f"{sum(per_card.values())} ({once} / {twice} / {never})",
            once == len(wanted) and twice == 0 and stray == 0,
        ),
        (f"(b) {label}: Slack calls for cards of unchanged incidents", "0", str(stray), stray == 0),
        (f"(b) {label}: other Slack calls", "—", ", ".join(f"{m} {n}" for m, n in others.items()), None),
        (
            f"(b) {label}: detail GETs (per changed incident; others: the link_shared's)",
            f"= {len(changed)}, one each",
            f"{sum(gets[i] for i in changed)} ({spread}; {other_gets})",
            set(per_incident) == {1},
        ),
        (
            f"(b) {label}: list calls, change → last redraw; then the next {AFTER * poll + 1:g} s",
            f"then, {SKEW.seconds:g} s past the change: 1 a poll + a sweep's {pages} pages a minute",
            f"{during[0]} in {during[1]} polls; {after[0]} in {after[1]} polls, "
            f"{settled - start:.0f}–{time.monotonic() - start:.0f} s after the change",
            after[0] <= after[1] + sweeps * (pages - 1) if settled - start > SKEW.seconds + poll else None,
        ),
        (
            f"(b) {label}: bot CPU for the change, per card redrawn",
            "—",
            f"{used / max(len(delays), 1) * 1e3:.1f} ms",
            None,
        ),
        (f"(b) {label}: a new link_shared meanwhile: event → chat.unfurl", "—", probe, None),
    ]


def stderr_lines(log: Path) -> tuple[int, list[str]]:
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    return len(lines), [line for line in lines if any(w in line for w in ("WARNING", "ERROR", "Traceback"))]


async def one_run(kind: str, paced: bool, args: argparse.Namespace, folder: Path) -> tuple[list[Row], Path]:
    label = "paced 50/min" if paced else "unpaced"
    log = folder / f"bot-{kind}-{'paced' if paced else 'unpaced'}.log"
    say(f"{kind}, {label}: seeding {args.cards} cards over {args.incidents} incidents")
    rows: list[Row] = []
    async with world(args.latency) as w, database(kind, folder) as (url, size):
        versions = put_incidents(w, args.incidents)
        ids = list(versions)
        places = plan_cards(ids, args.cards)
        stored = await seed(url, places, versions)
        seeded = await size()
        env = {"DATABASE_URL": url, "LIVE_POLL_SECONDS": f"{args.poll:g}", "CACHE_URL": "memory://"}
        if not paced:
            env["LIVE_SLACK_CALLS_PER_MINUTE"] = "0"
        bot = await start_bot(w.bot_env(**env), log)
        assert bot.pid is not None
        try:
            pin(bot.pid)
            if paced:
                rows += await quiet(w, bot.pid, args.poll, args.quiet_polls)
            step = max(1, args.incidents // args.changed)
            changed = ids[::step][: args.changed]
            rows += await bulk_change(w, bot, places, changed, args.poll, label)
            rss = peak_rss_mb(bot.pid)
            rows += [
                (f"(c) {label}: database size, after the seed ({stored} records)", "—", seeded, None),
                (f"(c) {label}: database size at the end, bot running", "—", await size(), None),
                (f"(c) {label}: bot peak RSS (VmHWM)", "< 200 MB", f"{rss:.0f} MB", rss < 200),
            ]
        finally:
            code = await bot.terminate()
    total, notable = stderr_lines(log)
    stderr = f"{code}; {total} ({len(notable)})"
    rows.append((f"{label}: bot exit code; stderr lines (warnings/errors)", "0; —", stderr, code == 0))
    return rows, log


async def main(args: argparse.Namespace) -> None:
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {OTHERS_CPU})
    folder = Path(tempfile.mkdtemp(prefix="incident-bot-live-"))
    results: dict[str, list[Row]] = {}
    logs: list[Path] = []
    for kind in args.db.split(","):
        results[kind] = []
        for paced in (True, False):
            rows, log = await one_run(kind, paced, args, folder)
            results[kind] += rows
            logs.append(log)
    print(
        f"{args.cards} live cards over {args.incidents} incidents, {args.changed} changed at once; "
        f"fake API at {args.latency * 1000:.0f} ms; LIVE_POLL_SECONDS={args.poll:g}; "
        f"bot on CPU 1, fakes on CPU {OTHERS_CPU}"
    )
    for kind, rows in results.items():
        print(f"\n### {kind}\n\n{table(rows)}")
    print(f"\nbot logs in {folder}:")
    for log in logs:
        total, notable = stderr_lines(log)
        distinct = Counter(line[:160] for line in notable)
        print(f"- {log.name}: {total} lines, {len(notable)} warnings/errors")
        for line, n in distinct.most_common(8):
            print(f"    {n} × {line}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cards", type=int, default=5000)
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--changed", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.2, help="fake API latency, seconds")
    parser.add_argument("--poll", type=float, default=5.0, help="LIVE_POLL_SECONDS")
    parser.add_argument("--quiet-polls", type=int, default=12)
    parser.add_argument("--db", default="sqlite,postgresql", help="sqlite, postgresql or both")
    parser.add_argument("--quick", action="store_true", help="1,000 cards over 200 incidents, 20 changed")
    options = parser.parse_args()
    if options.quick:
        options.cards, options.incidents, options.changed, options.quiet_polls = 1000, 200, 20, 4
    asyncio.run(main(options))
