"""The dashboard (deploy/grafana/incident-bot.json) and the alert rules (deploy/prometheus/rules.yaml)
name only metrics the bot exports, and those metrics follow Prometheus' naming conventions.

The catalogue is the bot's own registry, built in-process the way a running bot builds it: Metrics()
(bot/metrics.py), the scrape-time sources of bot.services._watch (tokens, Redis fallback, API
budget) and bot.watch.watch_metrics (live cards), then rendered with generate_latest.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import Metrics
from bot.services import _watch
from bot.state.budget import MemoryBudget
from bot.state.cache import build_cache
from bot.state.intake import MemoryIntake
from bot.state.pace import KeyedPaces, Paces
from bot.watch import watch_metrics
from bot.watch.watcher import WatchStats

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "incident-bot.json"
RULES = ROOT / "deploy" / "prometheus" / "rules.yaml"
NAME = re.compile(r"\bincident_bot_[a-z0-9_]+")

# Every label of every family, pinned: a new label is a review decision (cardinality), not a side effect.
EXPECTED_LABELS = {
    "incident_bot_slack_requests": {"surface", "outcome"},
    "incident_bot_rejected_requests": {"reason"},
    "incident_bot_api_requests": {"endpoint", "status"},
    "incident_bot_api_request_seconds": {"endpoint"},
    "incident_bot_cache": {"result"},
    "incident_bot_jobs": {"kind", "outcome"},
    "incident_bot_token_requests": set(),
    "incident_bot_redis_degraded": set(),
    "incident_bot_api_budget_remaining": {"bucket"},
    "incident_bot_live_polls": set(),
    "incident_bot_live_changes": set(),
    "incident_bot_live_cards_redrawn": set(),
    "incident_bot_live_lag_seconds": set(),
    "incident_bot_live_leader": set(),
    "incident_bot_slack_request_seconds": {"surface"},
    "incident_bot_slack_ratelimited": set(),
    "incident_bot_slack_pace_wait_seconds": {"pace"},
    "incident_bot_jobs_backlog": {"state"},
}
# Labels whose values grow without bound: one series per incident, person, conversation, message.
UNBOUNDED = re.compile(
    r"(^|_)(id|ids|incident|alert|user|users|channel|team|workspace|message|ts|thread|url|email|upn|"
    r"tenant|trigger|correlation|request)(_|$)"
)
UNIT_WORDS = re.compile(r"(latency|duration|time|delay|lag|age|size|length)")
UNITS = ("_seconds", "_bytes", "_ratio")


class Catalogue:
    def __init__(self, text: str, labels: dict[str, set[str]]) -> None:
        self.types: dict[str, str] = {}
        self.series: set[str] = set()  # the sample names a scrape can hold
        for family in text_string_to_metric_families(text):
            self.types[family.name] = family.type
            suffixes = {
                "counter": ("_total", "_created"),
                "histogram": ("_bucket", "_sum", "_count", "_created"),
                "summary": ("", "_sum", "_count", "_created"),
            }.get(family.type, ("",))
            if not family.samples:  # a labelled family before its first sample: its sample names
                self.series.update(family.name + suffix for suffix in suffixes)
            for sample in family.samples:
                self.series.add(sample.name)
                labels.setdefault(family.name, set()).update(set(sample.labels) - {"le", "quantile"})
        self.labels = labels


async def _nothing(_delivery: object) -> None:
    return None


async def build() -> Catalogue:
    metrics = Metrics()
    cache = build_cache("redis://127.0.0.1:1/0")  # a FallbackCache; never connected here
    try:
        _watch(metrics, SimpleNamespace(token_requests=0), MemoryBudget(), cache)  # type: ignore[arg-type]
        paces: dict[str, Paces] = {"method": KeyedPaces(0), "channel": KeyedPaces(0)}
        watch_metrics(metrics, SimpleNamespace(stats=WatchStats()), lambda: 0, paces=paces)  # type: ignore[arg-type]
        metrics.watch_backlog(MemoryIntake(_nothing, on_dead=_nothing).backlog)
        text = (await metrics.render()).decode()
    finally:
        await cache.close()
    labels = {name: set(names) for name, names in metrics.label_names.items()}
    return Catalogue(text, labels)


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return asyncio.run(build())


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("expr", "query", "definition") and isinstance(value, str):
                    found.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(dashboard)
    return found


def rule_expressions() -> list[str]:
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


@pytest.mark.parametrize("source", ["dashboard", "rules"])
def test_every_referenced_metric_is_exported(catalogue: Catalogue, source: str) -> None:
    expressions = dashboard_expressions() if source == "dashboard" else rule_expressions()
    assert expressions
    names = {name for expression in expressions for name in NAME.findall(expression)}
    assert names, f"the {source} names no metric"
    missing = sorted(names - catalogue.series)
    assert not missing, f"{source} names metrics the bot does not export: {missing}"


def test_the_catalogue_is_the_expected_one(catalogue: Catalogue) -> None:
    """Every family exported, with its labels; the test fails first when the bot's metrics change."""
    # prometheus_client writes a label-less counter's creation time as a gauge family of its own
    exported = {name for name in catalogue.types if not name.endswith("_created")}
    assert exported == set(EXPECTED_LABELS)
    for name, labels in EXPECTED_LABELS.items():
        assert catalogue.labels.get(name, set()) == labels, name


def test_names_follow_prometheus_conventions(catalogue: Catalogue) -> None:
    for name, kind in catalogue.types.items():
        assert re.fullmatch(r"incident_bot_[a-z][a-z0-9_]*[a-z0-9]", name), name
        assert "__" not in name, name
        if kind == "counter":
            assert f"{name}_total" in catalogue.series, name  # exposed as <name>_total
        else:
            assert not name.endswith("_total"), f"{name}: only counters end in _total"
        if kind == "histogram":
            assert name.endswith(UNITS), f"{name}: a histogram names its unit"
        if UNIT_WORDS.search(name.removeprefix("incident_bot_")):
            assert name.endswith(UNITS), f"{name}: a measured quantity ends in its base unit"
        assert not re.search(r"_(milliseconds|ms|minutes|hours|kilobytes|megabytes)(_|$)", name), name


def test_no_unbounded_labels(catalogue: Catalogue) -> None:
    for name, labels in catalogue.labels.items():
        for label in labels:
            assert not UNBOUNDED.search(label), f"{name}{{{label}}}: an unbounded label"


def test_dashboard_shape() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["schemaVersion"] >= 36
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        assert panel["targets"] and all(t["expr"] for t in panel["targets"]), panel["title"]
    exprs = {p["title"]: " ".join(t["expr"] for t in p["targets"]) for p in panels}

    def panel_with(*needles: str) -> bool:
        return any(all(n in e for n in needles) for e in exprs.values())

    assert panel_with("incident_bot_slack_requests_total", "outcome")  # acks
    assert panel_with('incident_bot_jobs_total{outcome="dead"')  # dead letters
    assert panel_with("incident_bot_jobs_total", "by (outcome)")
    assert panel_with("incident_bot_api_requests_total", "by (status)")
    assert panel_with("histogram_quantile(0.99", "incident_bot_api_request_seconds_bucket")
    assert panel_with("incident_bot_api_budget_remaining")
    assert panel_with('incident_bot_cache_total{result="hit"')
    assert panel_with("incident_bot_live_lag_seconds")
    assert panel_with("incident_bot_redis_degraded")


def test_rules_have_for_severity_and_annotations() -> None:
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert {a["alert"] for a in alerts} >= {
        "IncidentBotJobsDeadLettered",
        "IncidentBotApiBudgetExhausted",
        "IncidentBotRedisDegraded",
        "IncidentBotLiveCardsLagging",
    }
    for alert in alerts:
        assert re.fullmatch(r"\d+[smh]", alert["for"]), alert["alert"]
        assert alert["labels"]["severity"] in {"info", "warning", "critical"}, alert["alert"]
        assert alert["annotations"]["summary"] and alert["annotations"]["description"], alert["alert"]
