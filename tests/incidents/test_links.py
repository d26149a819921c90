"""Portal links read as a browser reads them: a link that would take a browser elsewhere is refused."""

from __future__ import annotations

import pytest

from bot.errors import InvalidIncidentId
from bot.incidents.links import parse_command_text, parse_incident_link

HOST = "security.microsoft.com"
TID = "b3c1b5fc-828c-45fa-a1e1-10d74f6d6e9c"


@pytest.mark.parametrize(
    ("url", "incident_id", "tenant"),
    [
        (f"https://{HOST}/incidents/2972395?tid={TID}", "2972395", TID),
        (f"https://{HOST}/incidents/2972395/", "2972395", None),
        (f"https://{HOST}/incident2/2972395/overview?tid={TID}", "2972395", TID),
        (f"https://{HOST}/incident2/2972395/alerts/x-1", "2972395", None),
        (f"https://SECURITY.Microsoft.com/incidents/7?tid={TID}", "7", TID),
        (f"https://{HOST}:443/incidents/7", "7", None),
    ],
)
def test_portal_links_name_their_incident_and_tenant(url: str, incident_id: str, tenant: str | None) -> None:
    link = parse_incident_link(url, HOST)
    assert link is not None and (link.incident_id, link.tenant_id, link.url) == (incident_id, tenant, url)


@pytest.mark.parametrize(
    "url",
    [
        f"https://evil.example\\@{HOST}/incidents/2972395",  # a browser goes to evil.example
        f"https://evil.example\\{HOST}/incidents/2972395",
        f"https://{HOST}\\@evil.example/incidents/2972395",
        f"https://{HOST}/incidents\\2972395",
        f"https://user@{HOST}/incidents/2972395",
        f"https://user:pass@{HOST}/incidents/2972395",
        f"https://{HOST}@evil.example/incidents/2972395",
        f"https://{HOST}:8443/incidents/2972395",
        f"https://{HOST}:bad/incidents/2972395",
        f"https://{HOST}.evil.example/incidents/2972395",
        f"https://evil.example/{HOST}/incidents/2972395",
        f"http://{HOST}/incidents/2972395",
        f"https://{HOST}/incidents/2972395\t",
        f"https://{HOST}/incidents/29\n72395",
        f"https://{HOST}/incidents/2972395\x00",
        f"https://{HOST}/incidents/2972395\u0085",
        f"https://{HOST}/incidents/../incidents/2972395",
        f"https://{HOST}/incidents/2972395abc",
        f"https://{HOST}/alerts/da637",
        "https://[bad/incidents/1",
        f"https://{HOST}/incidents/" + "9" * 21,
        f"https://{HOST}/incidents/1?" + "x" * 3000,
    ],
)
def test_links_a_browser_would_read_otherwise_are_refused(url: str) -> None:
    assert parse_incident_link(url, HOST) is None


def test_the_command_takes_an_id_a_hash_id_or_a_link() -> None:
    assert parse_command_text("2972395", HOST) == "2972395"
    assert parse_command_text("  #2972395 ", HOST) == "2972395"
    assert parse_command_text(f"<https://{HOST}/incidents/2972395?tid={TID}|incident>", HOST) == "2972395"


@pytest.mark.parametrize(
    "text",
    [
        f"https://evil.example\\@{HOST}/incidents/2972395",
        f"<https://user@{HOST}/incidents/1>",
        "12ab",
        "../1",
    ],
)
def test_the_command_refuses_lookalike_links_before_any_request(text: str) -> None:
    with pytest.raises(InvalidIncidentId):
        parse_command_text(text, HOST)
