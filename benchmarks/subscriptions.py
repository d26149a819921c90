"""Subscriptions benchmark: 200 new incidents posted to 50 subscribed channels, 200 changes replied
in their threads, and App Home opened by 200 people at once, against one bot process.

Run from the repository root: `.venv/bin/python -m benchmarks.subscriptions` (`--poll 5` is
LIVE_POLL_SECONDS). The fakes (FakeEntra, FakeIncidentApi answering after `--latency`, FakeSlackApi)
run in this process (pinned to CPU 0), the bot as a child process (`python -m bot`, HTTP mode,
memory cache, a SQLite file of its own, pinned to CPU 1, its stderr in a log file). Everything
reaches the bot through its signed `/slack/events`.

- Seed: the fixtures are taken out of the fake API (incident 7001 is stamped 2027, and a stamp in
  the future would be listed, and posted, on every poll); 100 subscriptions over 50 channels, two a
  channel, made with Slack-signed `/incident subscribe <filter>` commands by an INCIDENT_WRITER.
  Channels 0–47 belong to 24 teams (`tag=teamNN` plus one of `severity>=high`, `severity>=medium`,
  `tag=VIP`, `status=active`, `unassigned`, …); channels 48 and 49 are team-less (`severity>=high`,
  `tag=VIP`, `high unassigned`, …). Which channels each incident must reach is computed here, by
  this script's own reading of those filters (one post per channel, whichever of its two
  subscriptions matches).
- (a1) 200 incidents created in the same instant in the fake API, just after a watcher poll ended
  (so they wait about a whole poll interval to be listed: the worst case the target allows for):
  creation → each expected post (`chat.postMessage` without `thread_ts`, its metadata naming the
  incident), p50 / p95 / max and the time to the last; Slack calls per expected post (once /
  duplicates / missing / unexpected); detail GETs (`GET …/security/incidents/<id>`) per incident.
- (a2) 200 changes to those incidents in the same instant, again just after a poll (a comment each;
  some assigned, some raised from low to medium, some set in progress): change → each thread reply
  (`thread_ts` of the incident's post in that channel) and each new post (a channel the change made
  it match), the same figures. The parents' redraws (`chat.update`, live cards) are shown apart, as
  information.
- (b) App Home opened by 200 people at once (Slack-signed `app_home_opened` event_callbacks; each
  person is a fake Slack user with an e-mail): list requests at the fake API (`GET
  …/security/incidents`, no id: App Home's listing, page by page, and the watcher's polls apart) and
  event → that person's `views.publish`.

Each run is a fresh world, database and bot. By default there are two: INCIDENT_API_BUDGET unset
(the bot keeps to Defender's documented limits, 100 GETs and 50 lists a minute, so 200 new incidents
in one instant are more GETs than a minute allows), and `lifted` ({"get_per_minute": 1000}), which
shows what the bot does when the GET budget is not the bound. `--budget default|lifted|<JSON>`
(repeatable) chooses the runs.

LIVE_SLACK_CALLS_PER_MINUTE=0 and CHANNEL_POSTS_PER_MINUTE=0 in every run (unless `--paced`): at
the bot's default pace (50 a minute per method, a burst of 20) the parents' redraws after (a2), one
`chat.update` per post, take minutes, and meanwhile each deferred card is queued again at every poll
and its incident read again once its cached copy is a minute old; and posts and replies go one a
second per channel after a burst of 4, so the busiest channel's share (86 of the 371 posts of (a1)
go to one channel) takes as many seconds. `--paced` measures that. The fake Slack neither models
Slack's rate tiers nor answers `users.conversations` (App Home then shows no channel subscriptions).
The bot logs at INFO (`--log-level`) to a file, whose most frequent lines are printed after each
table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import json
import os
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.harness import World, median, percentile, table, world
from benchmarks.live_cards import start_bot, stderr_lines
from benchmarks.warm_path import OTHERS_CPU, cpu, peak_rss_mb, pin
from bot.server import POST_BURST
from tests.fakes import FIXTURE_DIR, RecordedRequest, SlackCall
from tests.world import BotProcess, SlackSender

Row = tuple[str, str, str, bool | None]
Incident = dict[str, Any]
Key = tuple[str, str, str]  # ("post" | "reply", channel, incident id)
FIRST_ID = 9_200_000
TEAMS = 24
DETAIL = re.compile(r"^/v1\.0/security/incidents/(\d+)$")
LISTING = "/v1.0/security/incidents"
SEVERITIES = ("high", "medium", "low", "informational")
OPEN = ("active", "inProgress", "awaitingAction")


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ---- the filters, read by this script ---------------------------------------------------------


def _tags(incident: Incident) -> set[str]:
    tags = (*incident.get("customTags", []), *incident.get("systemTags", []))
    return {str(t).strip().casefold() for t in tags}


TERMS: dict[str, Callable[[Incident], bool]] = {
    "severity>=high": lambda i: i["severity"] == "high",
    "high": lambda i: i["severity"] == "high",
    "severity>=medium": lambda i: i["severity"] in ("medium", "high"),
    "status=active": lambda i: i["status"] == "active",
    "active": lambda i: i["status"] in OPEN,
    "unassigned": lambda i: not (i.get("assignedTo") or "").strip(),
}
TEAM_TERMS = (
    "severity>=high", "severity>=medium", "tag=VIP", "status=active",
    "unassigned", "severity>=medium unassigned", "high active", "status=active tag=VIP",
)  # fmt: skip
OPEN_CHANNELS = (("severity>=high", "tag=VIP"), ("high unassigned", "severity>=medium status=active tag=VIP"))


def matches(text: str, incident: Incident) -> bool:
    """Every term of `text` holds (this benchmark's own reading of the filter language)."""
    for word in text.split():
        if word.startswith("tag="):
            if word.removeprefix("tag=").casefold() not in _tags(incident):
                return False
        elif not TERMS[word](incident):
            return False
    return True


@dataclass(frozen=True)
class Subscription:
    channel: str
    text: str


def plan_subscriptions() -> list[Subscription]:
    """Two per channel: 48 team channels (two per team), then two team-less ones."""
    subscriptions = []
    for c in range(2 * TEAMS):
        team = f"tag=team{c // 2:02d}"
        for k in (2 * c, 2 * c + 1):
            subscriptions.append(Subscription(f"C0SUB{c:02d}", f"{team} {TEAM_TERMS[k % len(TEAM_TERMS)]}"))
    for n, texts in enumerate(OPEN_CHANNELS):
        subscriptions += [Subscription(f"C0SUB{2 * TEAMS + n:02d}", text) for text in texts]
    return subscriptions


def channels_for(subscriptions: list[Subscription], incident: Incident) -> set[str]:
    return {s.channel for s in subscriptions if matches(s.text, incident)}


# ---- incidents --------------------------------------------------------------------------------


def graph_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"  # Graph's seven digits


def new_incident(base: Incident, n: int) -> Incident:
    """Incident n: its team's tag, a severity by block of 24, some VIP, some assigned or in progress."""
    incident = copy.deepcopy(base)
    incident_id = str(FIRST_ID + n)
    now = graph_now()
    tags = [f"team{n % TEAMS:02d}"] + (["VIP"] if n % 5 == 0 else [])
    incident.update(
        id=incident_id, createdDateTime=now, lastUpdateDateTime=now, severity=SEVERITIES[(n // TEAMS) % 4],
        status="inProgress" if n % 7 == 3 else "active", customTags=tags, comments=[],
        assignedTo=f"user{n:03d}@contoso.com" if n % 4 == 1 else None,
        classification="unknown", determination="unknown", redirectIncidentId=None,
        incidentWebUrl=f"https://security.microsoft.com/incidents/{incident_id}",
    )  # fmt: skip
    for alert in incident.get("alerts") or []:
        alert["incidentId"] = incident_id
    return incident


def change_of(n: int, incident: Incident) -> dict[str, Any]:
    """The change made to incident n in (a2): always a comment, and some of the rest."""
    fields: dict[str, Any] = {"comment": f"Benchmark change {n}: host isolated"}
    if n % 3 == 0 and not incident.get("assignedTo"):
        fields["assignedTo"] = f"user{(n + 1) % 200:03d}@contoso.com"
    if n % 2 == 0 and incident["severity"] == "low":
        fields["severity"] = "medium"  # may match channels it did not before: new posts there
    if n % 5 == 2 and incident["status"] == "active":
        fields["status"] = "inProgress"
    return fields


# ---- watching the fakes -----------------------------------------------------------------------


@dataclass
class Tally:
    """What one phase saw at the fake Slack, read with our own index into its calls."""

    scanned: int
    first: dict[Key, float] = field(default_factory=dict)
    count: Counter[Key] = field(default_factory=Counter)
    other: Counter[str] = field(default_factory=Counter)
    updates: Counter[tuple[str, str]] = field(default_factory=Counter)  # chat.update by (channel, ts)
    last_update: float = 0.0

    def scan(self, w: World) -> None:
        calls = w.slack.calls
        end = len(calls)
        for call in calls[self.scanned : end]:
            self._one(w, call)
        self.scanned = end

    def _one(self, w: World, call: SlackCall) -> None:
        args = call.args
        channel = str(args.get("channel") or "")
        if call.method == "chat.update":
            self.updates[(channel, str(args.get("ts")))] += 1
            self.last_update = max(self.last_update, call.time)
            return
        if call.method != "chat.postMessage" or not channel.startswith("C"):
            self.other[call.method if call.method != "chat.postMessage" else "chat.postMessage (DM)"] += 1
            return
        if "thread_ts" in args:
            incident = parent_incident(w, channel, str(args["thread_ts"]))
            key: Key = ("reply", channel, incident or "?")
        else:
            meta = args.get("metadata") or {}
            key = ("post", channel, str((meta.get("event_payload") or {}).get("incident", "?")))
        self.count[key] += 1
        self.first.setdefault(key, call.time)


def parent_incident(w: World, channel: str, ts: str) -> str | None:
    for message in w.slack.history.get(channel, []):
        if message["ts"] == ts and "thread_ts" not in message:
            return str(((message.get("metadata") or {}).get("event_payload") or {}).get("incident"))
    return None


def parents(w: World) -> dict[tuple[str, str], str]:
    """(channel, ts) → incident of every top-level post in the subscribed channels."""
    found = {}
    for channel, messages in w.slack.history.items():
        for message in messages:
            if "thread_ts" not in message:
                payload = (message.get("metadata") or {}).get("event_payload") or {}
                found[(channel, str(message["ts"]))] = str(payload.get("incident"))
    return found


def is_list(r: RecordedRequest) -> bool:
    return r.method == "GET" and r.path == LISTING


def list_counts(requests: list[RecordedRequest]) -> dict[str, tuple[int, int]]:
    """(pages, listings) of the watcher's polls and of the other listings (App Home's, /incident list)."""
    out = {"watcher": (0, 0), "other": (0, 0)}
    for r in requests:
        if not is_list(r):
            continue
        who = "watcher" if "lastUpdateDateTime" in r.query.get("$filter", "") else "other"
        pages, listings = out[who]
        out[who] = (pages + 1, listings + ("$skiptoken" not in r.query))
    return out


def detail_gets(requests: list[RecordedRequest]) -> Counter[str]:
    found: Counter[str] = Counter()
    for r in requests:
        match = DETAIL.match(r.path) if r.method == "GET" else None
        if match:
            found[match.group(1)] += 1
    return found


# ---- the phases -------------------------------------------------------------------------------


async def subscribe_all(w: World, sender: SlackSender, subscriptions: list[Subscription]) -> list[str]:
    """Send each `/incident subscribe`; the answers that are not "Subscribed (#n)"."""
    start = len(w.slack.calls)
    names = {}
    for n, s in enumerate(subscriptions):
        name = f"sub{n}"
        names[f"response_url:{name}"] = s
        answer = await sender.command(f"subscribe {s.text}", w.slack.response_url(name), channel_id=s.channel)
        assert answer.status == 200, answer
    deadline = time.monotonic() + 60
    answers: dict[str, str] = {}
    while len(answers) < len(names) and time.monotonic() < deadline:
        for call in w.slack.calls[start:]:
            if call.method in names:
                answers[call.method] = str(call.args.get("text", ""))
        await asyncio.sleep(0.05)
    return [f"{names[m].channel} {names[m].text}: {answers.get(m, 'no answer')[:80]}"
            for m in names if not answers.get(m, "").startswith("Subscribed (#")]  # fmt: skip


@dataclass
class Phase:
    label: str
    expected: set[Key]
    tally: Tally
    started: float
    changed_at: dict[str, float]
    requests: list[RecordedRequest]
    cpu: float
    settled: float
    timed_out: bool
    every: list[RecordedRequest]  # all the fake API's requests, those before the phase too


async def follow(
    w: World, label: str, expected: set[Key], changed_at: dict[str, float], tally: Tally, pid: int,
    requests_from: int, cpu_from: float, poll: float, within: float, stall: float,
) -> Phase:  # fmt: skip
    """Scan the fake Slack until every expected post/reply came (or `within` s, or none came for
    `stall` s), then two more polls for late or repeated calls."""
    started = min(changed_at.values())
    deadline, shown = started + within, time.monotonic()
    progress, last_progress = 0, time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - last_progress < stall:
        tally.scan(w)
        done = len(expected & tally.first.keys())
        if done == len(expected):
            break
        if done > progress:
            progress, last_progress = done, time.monotonic()
        if time.monotonic() - shown >= 10:
            shown = time.monotonic()
            say(f"      {len(expected & tally.first.keys())}/{len(expected)} after {shown - started:.0f} s")
        await asyncio.sleep(0.1)
    timed_out = not expected <= tally.first.keys()
    if timed_out:
        say(f"      nothing new for {time.monotonic() - last_progress:.0f} s: given up")
    settled = time.monotonic()
    say(f"      {len(expected & tally.first.keys())}/{len(expected)} at {settled - started:.1f} s; "
        f"watching {2 * poll + 2:g} s more")  # fmt: skip
    await asyncio.sleep(2 * poll + 2)
    tally.scan(w)
    return Phase(label, expected, tally, started, changed_at, w.api.requests[requests_from:],
                 cpu(pid) - cpu_from, settled, timed_out, w.api.requests)  # fmt: skip


def phase_rows(p: Phase, poll: float, tag: str, missed: set[Key] | None = None) -> list[Row]:
    t = p.tally
    delays = [t.first[k] - p.changed_at[k[2]] for k in p.expected if k in t.first]
    last = max((t.first[k] for k in p.expected if k in t.first), default=float("nan")) - p.started
    once = sum(1 for k in p.expected if t.count[k] == 1)
    dupes = sum(n - 1 for k, n in t.count.items() if n > 1)
    missing = sorted(p.expected - t.count.keys())
    unexpected = sum(n for k, n in t.count.items() if k not in p.expected)
    actual = sum(t.count.values())
    replies = sum(1 for k in p.expected if k[0] == "reply")
    posts = len(p.expected) - replies
    again = sum(1 for k in p.expected if k in (missed or set()))
    what = f"{posts} posts" + (f" ({again} of them missed in (a1))" if again else "") + f", {replies} replies"
    gets = detail_gets(p.requests)
    ids = set(p.changed_at)
    per = Counter(gets[i] for i in ids)
    strays = sum(n for i, n in gets.items() if i not in ids)
    lists = list_counts(p.requests)
    p95, target = percentile(delays, 95), poll + 10
    spread = ", ".join(f"{n} × {g}" for g, n in sorted(per.items()))
    busiest = Counter(k[1] for k in p.expected).most_common(1)[0] if p.expected else ("—", 0)
    rows: list[Row] = [
        (f"{tag} expected over {len(ids)} incidents: {what}", "—", str(len(p.expected)), None),
        (f"{tag} change → the poll that listed it / first detail GET / first / last post or reply", "—",
         timeline(p), None),
        (f"{tag} change → post/reply p50 / p95 / max", f"p95 ≤ {target:g} s",
         f"{median(delays):.1f} / {p95:.1f} / {max(delays, default=float('nan')):.1f} s",
         p95 <= target and not missing),
        (f"{tag} change → last post/reply", "—",
         f"{last:.1f} s" + (" (stopped: some never came)" if p.timed_out else ""), None),
        (f"{tag} busiest channel: posts+replies there; its pace bound (1 a second after 4)", "—",
         f"{busiest[1]} in {busiest[0]}; {max(busiest[1] - POST_BURST, 0):g} s", None),
        (f"{tag} chat.postMessage: expected / actual (each once)", f"= {len(p.expected)}",
         f"{len(p.expected)} / {actual} ({once} once)", actual == len(p.expected) == once),
        (f"{tag} duplicates / missing / unexpected", "0 / 0 / 0", f"{dupes} / {len(missing)} / {unexpected}",
         dupes == 0 and not missing and unexpected == 0),
        (f"{tag} detail GETs (incidents × GETs each; others)", f"≤ 1 per incident ({len(ids)})",
         f"{sum(gets[i] for i in ids)} ({spread}; {strays})", max(per) <= 1 and strays == 0),
        (f"{tag} list requests until settled + {2 * poll + 2:g} s: watcher pages (polls); others", "—",
         f"{lists['watcher'][0]} ({lists['watcher'][1]}); {lists['other'][0]}", None),
        (f"{tag} other Slack calls", "—",
         ", ".join(f"{m} {n}" for m, n in sorted(t.other.items())) or "0", None),
        (f"{tag} bot CPU", "—", f"{p.cpu:.1f} s", None),
    ]  # fmt: skip
    if missing:
        say(f"  {tag} missing, first 10: {missing[:10]}")
    return rows


async def phase_create(
    w: World, pid: int, subscriptions: list[Subscription], args: argparse.Namespace
) -> tuple[Phase, dict[str, Incident]]:
    base = json.loads((FIXTURE_DIR / "incident_2972395.v1.json").read_text())
    incidents = [new_incident(base, n) for n in range(args.incidents)]
    expected = {("post", c, i["id"]) for i in incidents for c in channels_for(subscriptions, i)}
    say(f"  (a1) {len(incidents)} incidents created at once; {len(expected)} posts expected")
    await just_after_a_poll(w, args.latency, args.poll)
    tally = Tally(len(w.slack.calls))
    requests_from, cpu_from = len(w.api.requests), cpu(pid)
    changed_at = {}
    for incident in incidents:  # no await in between: one instant for the bot
        w.api.put("v1.0", incident)
        changed_at[incident["id"]] = time.monotonic()
    phase = await follow(w, "create", expected, changed_at, tally, pid, requests_from, cpu_from,
                         args.poll, args.timeout, args.stall)  # fmt: skip
    return phase, {i["id"]: i for i in incidents}


async def phase_change(
    w: World,
    pid: int,
    subscriptions: list[Subscription],
    incidents: dict[str, Incident],
    args: argparse.Namespace,
) -> tuple[Phase, int]:
    """Each incident changed once; expected: a reply where it was posted, a post where it now matches
    and was not. Returns the phase and the parent cards (posts) there are to redraw."""
    posted: dict[str, set[str]] = {}
    for (channel, _ts), incident_id in parents(w).items():
        posted.setdefault(incident_id, set()).add(channel)
    await just_after_a_poll(w, args.latency, args.poll)
    tally = Tally(len(w.slack.calls))
    requests_from, cpu_from = len(w.api.requests), cpu(pid)
    changed_at, after = {}, {}
    for n, incident_id in enumerate(incidents):  # one instant again
        after[incident_id] = w.api.change("v1.0", incident_id, **change_of(n, incidents[incident_id]))
        changed_at[incident_id] = time.monotonic()
    expected: set[Key] = set()
    for incident_id, incident in after.items():
        threads = posted.get(incident_id, set())
        expected |= {("reply", c, incident_id) for c in threads}
        expected |= {("post", c, incident_id) for c in channels_for(subscriptions, incident) - threads}
    say(f"  (a2) {len(after)} incidents changed at once; {len(expected)} posts and replies expected")
    phase = await follow(w, "change", expected, changed_at, tally, pid, requests_from, cpu_from,
                         args.poll, args.timeout, args.stall)  # fmt: skip
    return phase, sum(len(v) for v in posted.values())


def timeline(p: Phase) -> str:
    def after(times: list[float]) -> str:
        return f"{min(times) - p.started:.1f}" if times else "—"

    gets = [r.time for r in p.requests if r.method == "GET" and DETAIL.match(r.path)]
    # the poll that listed the change: the last one begun before the first GET (it may have been
    # asked just before the change and answered after it: the fake reads its incidents after its latency)
    begun = [r.time for r in p.every if is_list(r) and "$skiptoken" not in r.query]
    poll = [max([t for t in begun if t < min(gets)], default=min(gets))] if gets else []
    arrived = [p.tally.first[k] for k in p.expected if k in p.tally.first]
    last = f"{max(arrived) - p.started:.1f}" if arrived else "—"
    return f"{after(poll)} / {after(gets)} / {after(arrived)} / {last} s"


def redraw_rows(p: Phase, w: World, threads: int, tag: str) -> list[Row]:
    t = p.tally
    parent_of = parents(w)
    redrawn = {k for k in t.updates if k in parent_of}
    twice = sum(n - 1 for k, n in t.updates.items() if n > 1)
    last = f"{t.last_update - p.started:.1f} s" if t.last_update else "—"
    return [
        (f"{tag} parent cards redrawn (chat.update) within the watch, of {threads}", "— (information)",
         f"{len(redrawn)} (calls {sum(t.updates.values())}, repeated {twice}); last at {last}", None),
    ]  # fmt: skip


def home_event(user: str, n: int) -> dict[str, Any]:
    """An `app_home_opened` event_callback as Slack documents it."""
    now = time.time()
    return {
        "token": "legacy-verification-token", "team_id": "T0001", "api_app_id": "A0BOT",
        "type": "event_callback", "event_id": f"EvHOME{n:04d}", "event_time": int(now),
        "authed_users": ["U0BOT"],
        "event": {"type": "app_home_opened", "user": user, "channel": f"D0HOME{n:03d}", "tab": "home",
                  "event_ts": f"{now:.6f}"},
    }  # fmt: skip


async def phase_home(w: World, bot: BotProcess, pid: int, users: list[str]) -> list[Row]:
    say(f"  (b) App Home opened by {len(users)} people at once")
    scanned, requests_from, cpu_from = len(w.slack.calls), len(w.api.requests), cpu(pid)
    sent_at: dict[str, float] = {}
    bodies = {u: home_event(u, n) for n, u in enumerate(users)}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        sender = SlackSender(http, bot.url)

        async def one(user: str) -> int:
            sent_at[user] = time.monotonic()
            return (await sender.event(bodies[user])).status

        burst = time.monotonic()
        statuses = await asyncio.gather(*(one(u) for u in users))
        acked = time.monotonic() - burst
    published: dict[str, float] = {}
    count: Counter[str] = Counter()
    warned = 0
    deadline = burst + 60
    while time.monotonic() < deadline:
        end = len(w.slack.calls)
        for call in w.slack.calls[scanned:end]:
            if call.method == "views.publish":
                user = str(call.args.get("user_id"))
                count[user] += 1
                published.setdefault(user, call.time)
                warned += ":warning:" in json.dumps(call.args.get("view"))
        scanned = end
        if len(published) >= len(users):
            break
        await asyncio.sleep(0.05)
    last = max(published.values(), default=burst)
    await asyncio.sleep(2)
    for call in w.slack.calls[scanned:]:
        if call.method == "views.publish":
            count[str(call.args.get("user_id"))] += 1
    used = cpu(pid) - cpu_from
    seen = [r for r in w.api.requests[requests_from:] if r.time <= last + 1]
    lists = list_counts(seen)
    delays = [published[u] - sent_at[u] for u in users if u in published]
    from_burst = [published[u] - burst for u in users if u in published]
    home_pages, home_listings = lists["other"]
    extra = sum(n - 1 for n in count.values() if n > 1) + sum(n for u, n in count.items() if u not in sent_at)
    return [
        ("(b) events acked 200 / all acked in", "—",
         f"{sum(s == 200 for s in statuses)} / {acked * 1000:.0f} ms", all(s == 200 for s in statuses)),
        ("(b) App Home listings read (list requests: pages)", "≤ 2",
         f"{home_listings} ({home_pages} pages of ≤ 50)", home_listings <= 2),
        ("(b) list requests, burst → last views.publish + 1 s (App Home pages + watcher pages)", "—",
         f"{home_pages + lists['watcher'][0]} ({home_pages} + {lists['watcher'][0]})", None),
        ("(b) event → views.publish p50 / p95 / max", "—",
         f"{median(delays) * 1000:.0f} / {percentile(delays, 95) * 1000:.0f} / "
         f"{max(delays, default=float('nan')) * 1000:.0f} ms", None),
        ("(b) burst start → views.publish p95 / last", "—",
         f"{percentile(from_burst, 95) * 1000:.0f} / {(last - burst) * 1000:.0f} ms", None),
        ("(b) views.publish: people / calls / repeated / missing", f"{len(users)} each once",
         f"{len(published)} / {sum(count.values())} / {extra} / {len(users) - len(published)}",
         len(published) == len(users) and extra == 0),
        ("(b) homes showing a warning (listing failed)", "0", str(warned), warned == 0),
        ("(b) detail GETs", "0", str(sum(detail_gets(seen).values())), None),
        ("(b) bot CPU, burst → last views.publish + 2 s", "—", f"{used:.2f} s", None),
    ]  # fmt: skip


async def just_after_a_poll(w: World, latency: float, poll: float) -> None:
    """Return once a watcher poll has begun and its last page was answered (no list request for
    `latency` + 0.3 s): a change made now waits about a whole interval for the next poll."""
    start = len(w.api.requests)
    await wait_for_poll(w, start, within=3 * poll + 10)
    while True:
        lists = [r.time for r in w.api.requests[start:] if is_list(r)]
        if time.monotonic() - max(lists) > latency + 0.3:
            return
        await asyncio.sleep(0.02)


async def wait_for_poll(w: World, after: int, within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if any(is_list(r) and "$skiptoken" not in r.query for r in w.api.requests[after:]):
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("the watcher did not poll")


LIFTED = '{"get_per_minute": 1000}'
BUDGETS = {"default": "", "lifted": LIFTED}
UNSET = "unset (the documented limits: 100 GETs, 50 lists a minute)"


def log_summary(log: Path) -> list[str]:
    """The bot's log lines at INFO and above, told apart by their text with numbers masked."""
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    masked = Counter(
        re.sub(r"\d+", "N", re.sub(r"^\S+ \S+ (\w+ \S+) \[[^]]*\] ", r"\1 ", line))[:150] for line in lines
    )
    return [f"    {n} × {text}" for text, n in masked.most_common(10) if not text.startswith("INFO alembic")]


async def one_run(args: argparse.Namespace, run: int, budget: str, folder: Path) -> tuple[list[Row], Path]:
    log = folder / f"bot-{run}.log"
    rows: list[Row] = []
    subscriptions = plan_subscriptions()
    users = [f"U0HOME{n:03d}" for n in range(args.users)]
    say(f"INCIDENT_API_BUDGET={budget or 'default'}")
    async with world(args.latency) as w:
        for other in list(w.api.incidents["v1.0"]):
            del w.api.incidents["v1.0"][other]
        for n, user in enumerate(users):
            profile = {"real_name": f"Analyst {n}", "email": f"user{n:03d}@contoso.com"}
            w.slack.users[user] = {"id": user, "team_id": "T0001", "profile": profile}
        database = folder / f"{log.stem}.db"
        env = {"DATABASE_URL": f"sqlite:///{database}", "CACHE_URL": "memory://",
               "LIVE_POLL_SECONDS": f"{args.poll:g}", "LOG_LEVEL": args.log_level}  # fmt: skip
        if not args.paced:
            env["LIVE_SLACK_CALLS_PER_MINUTE"] = "0"
            env["CHANNEL_POSTS_PER_MINUTE"] = "0"
        if budget:
            env["INCIDENT_API_BUDGET"] = budget
        bot = await start_bot(w.bot_env(**env), log)
        assert bot.pid is not None
        pid = bot.pid
        try:
            pin(pid)
            async with aiohttp.ClientSession() as http:
                refused = await subscribe_all(w, SlackSender(http, bot.url), subscriptions)
            rows.append(("subscriptions made (signed `/incident subscribe`)", f"= {len(subscriptions)}",
                         str(len(subscriptions) - len(refused)), not refused))  # fmt: skip
            for line in refused[:5]:
                say(f"  refused: {line}")
            await wait_for_poll(w, len(w.api.requests), within=3 * args.poll + 10)
            created, incidents = await phase_create(w, pid, subscriptions, args)
            rows += phase_rows(created, args.poll, "(a1)")
            changed, threads = await phase_change(w, pid, subscriptions, incidents, args)
            rows += phase_rows(changed, args.poll, "(a2)", missed=created.expected)
            rows += redraw_rows(changed, w, threads, "(a2)")
            rows += await phase_home(w, bot, pid, users)
            rows.append(("bot peak RSS (VmHWM)", "—", f"{peak_rss_mb(pid):.0f} MB", None))
        finally:
            code = await bot.terminate()
    total, notable = stderr_lines(log)
    rows.append(("bot exit code; log lines (warnings/errors)", "0; —", f"{code}; {total} ({len(notable)})",
                 code == 0))  # fmt: skip
    return rows, log


async def main(args: argparse.Namespace) -> None:
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {OTHERS_CPU})
    folder = Path(tempfile.mkdtemp(prefix="incident-bot-subscriptions-"))
    results = []
    for run, name in enumerate(args.budget or ["default", "lifted"]):
        budget = BUDGETS.get(name, name)
        rows, log = await one_run(args, run, budget, folder)
        results.append((budget, rows, log))
    print(
        f"100 subscriptions over 50 channels; {args.incidents} incidents, then {args.incidents} changes; "
        f"{args.users} people opening App Home; fake API at {args.latency * 1000:.0f} ms; "
        f"LIVE_POLL_SECONDS={args.poll:g}; "
        f"LIVE_SLACK_CALLS_PER_MINUTE and CHANNEL_POSTS_PER_MINUTE "
        f"{'default (50, 60)' if args.paced else '0'}; "
        f"bot on CPU 1, fakes on "
        f"CPU {OTHERS_CPU}; nproc {os.cpu_count()}, Python {sys.version.split()[0]}"
    )
    for budget, rows, log in results:
        print(f"\n### INCIDENT_API_BUDGET {budget or UNSET}\n")
        print(table(rows))
        print(f"\nbot log {log}, most frequent lines:")
        print("\n".join(log_summary(log)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--poll", type=float, default=5.0, help="LIVE_POLL_SECONDS (default 5)")
    parser.add_argument("--incidents", type=int, default=200)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.2, help="fake API latency, seconds")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for a phase's posts")
    parser.add_argument("--stall", type=float, default=60.0, help="seconds with no new post: give up")
    parser.add_argument("--log-level", default="INFO", help="the bot's LOG_LEVEL (its log is a file)")
    parser.add_argument(
        "--paced",
        action="store_true",
        help="keep LIVE_SLACK_CALLS_PER_MINUTE (50) and CHANNEL_POSTS_PER_MINUTE (60)",
    )
    parser.add_argument(
        "--budget", action="append", help="default, lifted or INCIDENT_API_BUDGET JSON; repeat for more runs"
    )
    asyncio.run(main(parser.parse_args()))
