"""Alert links read as a browser reads them (the rules of incident links), and alert ids after
`/incident`: a link a browser would take elsewhere, or whose id is malformed, names no alert."""

from __future__ import annotations

import pytest

from bot.incidents.alert_links import alert_id_in_command, parse_alert_link
from bot.incidents.links import parse_command_text, parse_incident_link

HOST = "security.microsoft.com"
TID = "b3c1b5fc-828c-45fa-a1e1-10d74f6d6e9c"
ALERT = "da637551227677560813_-961444813"
OFFICE = "fa410e4342-4bfc-80a3-9600-08dd53ec811c"
SENTINEL = "50c27011-725c-41d8-9090-efd4c10132c2"


@pytest.mark.parametrize(
    ("url", "alert_id", "tenant"),
    [
        (f"https://{HOST}/alerts/{ALERT}?tid={TID}", ALERT, TID),  # alertWebUrl of Graph's example
        (f"https://{HOST}/alerts/{ALERT}", ALERT, None),
        (f"https://{HOST}/alerts/{ALERT}/", ALERT, None),
        (f"https://SECURITY.Microsoft.com/alerts/{ALERT}?tid={TID}", ALERT, TID),
        (f"https://{HOST}:443/alerts/{ALERT}", ALERT, None),
        (f"https://{HOST}/alerts/{ALERT}?tid={TID}&foo=bar", ALERT, TID),
        (f"https://{HOST}/alerts/{ALERT}?foo=bar#details", ALERT, None),
        (f"https://{HOST}/alerts/{OFFICE}?tid={TID}", OFFICE, TID),
        (f"https://{HOST}/alerts/{SENTINEL}", SENTINEL, None),
    ],
)
def test_alert_links_name_their_alert_and_tenant(url: str, alert_id: str, tenant: str | None) -> None:
    link = parse_alert_link(url, HOST)
    assert link is not None and (link.alert_id, link.tenant_id, link.url) == (alert_id, tenant, url)


@pytest.mark.parametrize(
    "url",
    [
        f"https://evil.example\\@{HOST}/alerts/{ALERT}",  # a browser goes to evil.example
        f"https://evil.example\\{HOST}/alerts/{ALERT}",
        f"https://{HOST}\\@evil.example/alerts/{ALERT}",
        f"https://{HOST}/alerts\\{ALERT}",
        f"https://user@{HOST}/alerts/{ALERT}",
        f"https://user:pass@{HOST}/alerts/{ALERT}",
        f"https://{HOST}@evil.example/alerts/{ALERT}",
        f"https://{HOST}:8443/alerts/{ALERT}",
        f"https://{HOST}:bad/alerts/{ALERT}",
        f"https://{HOST}.evil.example/alerts/{ALERT}",
        f"https://security.microsoft.com.evil.example/alerts/{ALERT}",
        f"https://securitymicrosoft.com/alerts/{ALERT}",
        f"https://evil.example/{HOST}/alerts/{ALERT}",
        f"https://evil.example/alerts/{ALERT}?tid={TID}",
        f"http://{HOST}/alerts/{ALERT}",
        f"javascript://{HOST}/alerts/{ALERT}",
        f"https://{HOST}/alerts/{ALERT}\t",
        f"https://{HOST}/alerts/da6375512276775\n60813_-961444813",
        f"https://{HOST}/alerts/{ALERT}\x00",
        f"https://{HOST}/alerts/{ALERT}\u0085",
        f"https://{HOST}/alerts/../alerts/{ALERT}",
        f"https://{HOST}/alerts/{ALERT}/../../incidents/1",
        f"https://{HOST}/alerts/{ALERT}/details",
        f"https://{HOST}/alerts/{ALERT}%2F..",
        f"https://{HOST}/alerts/%64a637551227677560813_-961444813",  # percent-encoded: not the id as sent
        f"https://{HOST}/alerts/{ALERT};x",
        f"https://{HOST}/alerts/<!channel>",
        f"https://{HOST}/alerts/2972395",  # an incident id is no alert id
        f"https://{HOST}/alerts/",
        f"https://{HOST}/alerts",
        f"https://{HOST}/Alerts/{ALERT}",
        f"https://{HOST}/incidents/2972395",  # an incident link
        f"https://{HOST}//alerts/{ALERT}",
        "https://[bad/alerts/da1_1",
        f"https://{HOST}/alerts/da" + "1" * 200 + "_1",
        f"https://{HOST}/alerts/{ALERT}?" + "x" * 3000,
    ],
)
def test_links_a_browser_would_read_otherwise_or_with_a_bad_id_are_refused(url: str) -> None:
    assert parse_alert_link(url, HOST) is None


def test_alert_links_and_incident_links_are_told_apart() -> None:
    alert_link = f"https://{HOST}/alerts/{ALERT}?tid={TID}"
    incident_link = f"https://{HOST}/incidents/2972395?tid={TID}"
    assert parse_incident_link(alert_link, HOST) is None
    assert parse_alert_link(incident_link, HOST) is None


def test_another_clouds_portal_is_its_own_host() -> None:
    url = f"https://security.microsoft.us/alerts/{ALERT}"
    assert parse_alert_link(url, HOST) is None
    link = parse_alert_link(url, "security.microsoft.us")
    assert link is not None and link.alert_id == ALERT


@pytest.mark.parametrize(
    ("text", "alert_id"),
    [
        (ALERT, ALERT),
        (f"  {ALERT}  ", ALERT),
        (f"#{ALERT}", ALERT),
        (f"https://{HOST}/alerts/{ALERT}?tid={TID}", ALERT),
        (f"<https://{HOST}/alerts/{ALERT}?tid={TID}>", ALERT),  # as Slack escapes a pasted link
        (f"<https://{HOST}/alerts/{ALERT}|the alert>", ALERT),
        (SENTINEL, SENTINEL),
    ],
)
def test_command_text_naming_an_alert(text: str, alert_id: str) -> None:
    assert alert_id_in_command(text, HOST) == alert_id


@pytest.mark.parametrize(
    "text",
    [
        "2972395",  # an incident: for parse_command_text
        "#2972395",
        f"https://{HOST}/incidents/2972395",
        f"https://evil.example\\@{HOST}/alerts/{ALERT}",
        f"https://{HOST}/alerts/{ALERT}/../x",
        f"{ALERT} extra",
        f"{ALERT}/comments",
        "help",
        "",
        "<!channel>",
    ],
)
def test_command_text_naming_no_alert(text: str) -> None:
    assert alert_id_in_command(text, HOST) is None


def test_an_incident_id_after_the_command_is_still_read_as_one() -> None:
    assert alert_id_in_command("2972395", HOST) is None
    assert parse_command_text("2972395", HOST) == "2972395"
