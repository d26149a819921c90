"""Prometheus metrics of one bot process (prometheus-client), served at GET /metrics.

Each bot has its own registry, so several bots in one process (tests) do not collide. Values
that live elsewhere (tokens fetched, budget left, Redis state, queue backlog) are read at
scrape time through `watch`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Reading = Callable[[], dict[str, float]]
AsyncReading = Callable[[], Awaitable[dict[str, float]]]


class _ScrapeTime(Collector):
    def __init__(self) -> None:
        self.sources: list[tuple[str, str, str, str, Reading]] = []

    def collect(self) -> Iterable[Metric]:
        for name, documentation, kind, label, read in self.sources:
            family: CounterMetricFamily | GaugeMetricFamily
            if kind == "counter":
                family = CounterMetricFamily(name, documentation, labels=[label] if label else [])
            else:
                family = GaugeMetricFamily(name, documentation, labels=[label] if label else [])
            for key, value in read().items():
                family.add_metric([key] if label else [], value)
            yield family


class Metrics:
    """The bot's counters and histograms."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # label names by family, for the catalogue test (prometheus_client keeps them private)
        self.label_names: dict[str, tuple[str, ...]] = {}
        self.slack_requests = self._counter(
            "incident_bot_slack_requests",
            "Slack requests handled, by surface and outcome",
            ["surface", "outcome"],
        )
        self.rejected_requests = self._counter(
            "incident_bot_rejected_requests",
            "Requests turned away before Bolt: signature, unreadable, too_large, slow_body (to "
            "/slack/events); slow_header (a connection closed for a late request head)",
            ["reason"],
        )
        self.api_requests = self._counter(
            "incident_bot_api_requests",
            "Incident API requests, by endpoint and HTTP status",
            ["endpoint", "status"],
        )
        self.api_seconds = self._histogram(
            "incident_bot_api_request_seconds",
            "Incident API request latency, by endpoint",
            ["endpoint"],
            buckets=(0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8),
        )
        self.cache = self._counter(
            "incident_bot_cache",
            "Incident reads by cache result (hit, miss, stale)",
            ["result"],
        )
        self.jobs = self._counter(
            "incident_bot_jobs",
            "Queued jobs by kind and outcome (done, retried, dead)",
            ["kind", "outcome"],
        )
        self.slack_request_seconds = self._histogram(
            "incident_bot_slack_request_seconds",
            "Time from a Slack request reaching Bolt to its answer (the ack), by surface",
            ["surface"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0),
        )
        self.slack_ratelimited = self._counter(
            "incident_bot_slack_ratelimited",
            "Slack Web API calls answered 429 (each waited out for its Retry-After)",
        )
        self._scrape = _ScrapeTime()
        self.registry.register(self._scrape)
        self._async_sources: list[tuple[AsyncReading, dict[str, float]]] = []

    def _counter(self, name: str, documentation: str, labels: list[str] | None = None) -> Counter:
        self.label_names[name] = tuple(labels or ())
        return Counter(name, documentation, labels or (), registry=self.registry)

    def _histogram(
        self, name: str, documentation: str, labels: list[str], *, buckets: tuple[float, ...]
    ) -> Histogram:
        self.label_names[name] = tuple(labels)
        return Histogram(name, documentation, labels, registry=self.registry, buckets=buckets)

    def watch(
        self, name: str, documentation: str, read: Reading, *, kind: str = "gauge", label: str = ""
    ) -> None:
        """Report `read()` at every scrape: {label value: number} ({"": n} without a label)."""
        self._scrape.sources.append((name, documentation, kind, label, read))

    def watch_async(self, name: str, documentation: str, read: AsyncReading, *, label: str = "") -> None:
        """A gauge whose values need I/O (e.g. the budget in Redis): read before each scrape."""
        last: dict[str, float] = {}
        self._async_sources.append((read, last))
        self.watch(name, documentation, lambda: last, label=label)

    def watch_backlog(self, read: AsyncReading) -> None:
        """The intake's backlog at every scrape: `read()` gives {queued, working, dead: count}."""
        self.watch_async(
            "incident_bot_jobs_backlog",
            "Jobs queued and not yet taken, being worked, and dead-lettered (on Redis: all replicas)",
            read,
            label="state",
        )

    def api_call(self, endpoint: str, status: str, seconds: float) -> None:
        self.api_requests.labels(endpoint, status).inc()
        self.api_seconds.labels(endpoint).observe(seconds)

    async def render(self) -> bytes:
        """The Prometheus text exposition, after reading the sources that need I/O."""
        for read, last in self._async_sources:
            try:
                values = await read()
            except Exception:  # a scrape must not fail because Redis is down; keep the last values
                continue
            last.clear()
            last.update(values)
        return generate_latest(self.registry)
