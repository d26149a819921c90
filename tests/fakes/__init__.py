"""Real local servers standing in for Microsoft Entra ID, the incident APIs and Slack."""

from tests.fakes.entra import FakeEntra
from tests.fakes.incident_api import FIXTURE_DIR, FakeIncidentApi, Flavor, RecordedRequest
from tests.fakes.slack_api import FakeSlackApi, SlackCall

# The tenant every fixture in tests/data/graph belongs to (tenantId, aadTenantId, ?tid= links).
TENANT_ID = "b3c1b5fc-828c-45fa-a1e1-10d74f6d6e9c"

__all__ = [
    "FIXTURE_DIR",
    "TENANT_ID",
    "FakeEntra",
    "FakeIncidentApi",
    "FakeSlackApi",
    "Flavor",
    "RecordedRequest",
    "SlackCall",
]
