"""Host presets for the Microsoft clouds the bot can run against.

Explicit settings (AZURE_AUTHORITY_HOST, GRAPH_BASE_URL, DEFENDER_API_URL, DEFENDER_PORTAL_URL)
win over these; the presets only fill what was not given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

CloudName = Literal["global", "usgov", "usgovdod", "china"]


@dataclass(frozen=True)
class Cloud:
    authority_host: str
    graph_root: str
    defender_api: str
    portal: str


CLOUDS: dict[str, Cloud] = {
    "global": Cloud(
        authority_host="https://login.microsoftonline.com",
        graph_root="https://graph.microsoft.com",
        defender_api="https://api.security.microsoft.com",
        portal="https://security.microsoft.com",
    ),
    # Microsoft 365 GCC High (L4)
    "usgov": Cloud(
        authority_host="https://login.microsoftonline.us",
        graph_root="https://graph.microsoft.us",
        defender_api="https://api-gov.security.microsoft.us",
        portal="https://security.microsoft.us",
    ),
    # Microsoft 365 DoD (L5)
    "usgovdod": Cloud(
        authority_host="https://login.microsoftonline.us",
        graph_root="https://dod-graph.microsoft.us",
        defender_api="https://api-gov.security.apps.mil",
        portal="https://security.apps.mil",
    ),
    # Microsoft 365 operated by 21Vianet
    "china": Cloud(
        authority_host="https://login.chinacloudapi.cn",
        graph_root="https://microsoftgraph.chinacloudapi.cn",
        defender_api="https://api.security.microsoft.cn",
        portal="https://security.microsoft.cn",
    ),
}
