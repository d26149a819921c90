"""Summaries of alert evidence: Graph `evidence[]` items and legacy `devices[]`/`entities[]`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

_GRAPH_TYPE_PREFIX = "#microsoft.graph.security."


def _first(item: Mapping[str, Any], *paths: str) -> str | None:
    """The first non-empty string found at any dotted path."""
    for path in paths:
        value: Any = item
        for part in path.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return None


def _user(item: Mapping[str, Any]) -> str | None:
    upn = _first(item, "userAccount.userPrincipalName", "userPrincipalName")
    if upn:
        return upn
    name = _first(item, "userAccount.accountName", "accountName")
    domain = _first(item, "userAccount.domainName", "domainName")
    if name and domain:
        return f"{domain}\\{name}"
    return name or _first(item, "userAccount.displayName", "displayName")


def _process(item: Mapping[str, Any]) -> str | None:
    name = _first(item, "imageFile.fileName", "fileName")
    pid = _first(item, "processId")
    if name and pid:
        return f"{name} (pid {pid})"
    return name or _first(item, "processCommandLine")


def _file(item: Mapping[str, Any]) -> str | None:
    return _first(item, "fileDetails.fileName", "fileName", "fileDetails.sha256", "sha256")


Describe = Callable[[Mapping[str, Any]], str | None]

# kind of evidence → (summary field, how to describe one item)
_GRAPH_KINDS: dict[str, tuple[str, Describe]] = {
    "deviceEvidence": ("devices", lambda i: _first(i, "deviceDnsName", "hostName", "mdeDeviceId")),
    "userEvidence": ("users", _user),
    "mailboxEvidence": (
        "mailboxes",
        lambda i: _first(i, "primaryAddress", "mailboxAddress", "userAccount.userPrincipalName"),
    ),
    "ipEvidence": ("ips", lambda i: _first(i, "ipAddress")),
    "urlEvidence": ("urls", lambda i: _first(i, "url")),
    "fileEvidence": ("files", _file),
    "processEvidence": ("processes", _process),
}
_LEGACY_KINDS = {
    "user": "userEvidence",
    "mailbox": "mailboxEvidence",
    "ip": "ipEvidence",
    "url": "urlEvidence",
    "file": "fileEvidence",
    "process": "processEvidence",
}

SUMMARY_FIELDS = ("devices", "users", "mailboxes", "ips", "urls", "files", "processes")


def _add(summary: dict[str, list[str]], field: str, value: str | None) -> None:
    if value and value not in summary[field]:
        summary[field].append(value)


def summarize_graph_evidence(items: Iterable[Any]) -> dict[str, list[str]]:
    """Group Graph alert evidence by kind, each value once, in the order seen."""
    summary: dict[str, list[str]] = {name: [] for name in SUMMARY_FIELDS}
    for item in items:
        if not isinstance(item, Mapping):
            continue
        kind = str(item.get("@odata.type", "")).removeprefix(_GRAPH_TYPE_PREFIX)
        if kind in _GRAPH_KINDS:
            field, describe = _GRAPH_KINDS[kind]
            _add(summary, field, describe(item))
    return summary


def summarize_legacy_evidence(devices: Iterable[Any], entities: Iterable[Any]) -> dict[str, list[str]]:
    """Group the legacy Defender API's devices and entities by kind."""
    summary: dict[str, list[str]] = {name: [] for name in SUMMARY_FIELDS}
    for device in devices:
        if isinstance(device, Mapping):
            _add(summary, "devices", _first(device, "deviceDnsName", "mdatpDeviceId"))
    for entity in entities:
        if not isinstance(entity, Mapping):
            continue
        kind = _LEGACY_KINDS.get(str(entity.get("entityType", "")).lower())
        if kind is None:
            continue
        field, describe = _GRAPH_KINDS[kind]
        _add(summary, field, describe(entity))
    return summary
