"""Self-tests: the fakes answer real clients (MSAL, httpx, slack_sdk) the way the services do."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msal
import pytest
import pytest_asyncio
import trustme
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from tests.fakes import TENANT_ID, FakeEntra, FakeIncidentApi, FakeSlackApi

CLIENT_ID = "11111111-2222-3333-4444-555555555555"
SECRET = "s3cr3t~value"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"


@pytest_asyncio.fixture
async def entra(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeEntra]:
    async with FakeEntra(tenant_id=TENANT_ID, client_id=CLIENT_ID, client_secret=SECRET) as fake:
        # requests (inside MSAL) lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override a session's
        # verify=, and this environment sets both to the system bundle.
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_bundle_path)
        monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
        yield fake


@pytest_asyncio.fixture
async def api() -> AsyncIterator[FakeIncidentApi]:
    async with FakeIncidentApi(is_valid_token=lambda t: t == "good") as fake:
        fake.load_fixtures()
        yield fake


@pytest_asyncio.fixture
async def slack() -> AsyncIterator[FakeSlackApi]:
    async with FakeSlackApi() as fake:
        yield fake


def _msal_app(entra: FakeEntra, credential: Any, client_id: str = CLIENT_ID) -> Any:
    return msal.ConfidentialClientApplication(
        client_id,
        client_credential=credential,
        authority=f"{entra.authority_host}/{TENANT_ID}",
        instance_discovery=False,
        verify=entra.ca_bundle_path,
    )


# ---- Entra ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_msal_gets_token_then_uses_its_cache(entra: FakeEntra) -> None:
    def two_calls() -> tuple[dict[str, Any], dict[str, Any]]:
        app = _msal_app(entra, SECRET)
        return app.acquire_token_for_client([GRAPH_SCOPE]), app.acquire_token_for_client([GRAPH_SCOPE])

    first, second = await asyncio.to_thread(two_calls)
    assert first["token_source"] == "identity_provider" and first["expires_in"] == 3599
    assert second["token_source"] == "cache" and second["access_token"] == first["access_token"]
    assert entra.is_valid_token(first["access_token"]) and not entra.is_valid_token("forged")
    assert (entra.token_requests, entra.openid_requests, entra.last_scope) == (1, 1, GRAPH_SCOPE)
    assert entra.requests == [
        ("GET", f"/{TENANT_ID}/v2.0/.well-known/openid-configuration"),
        ("POST", f"/{TENANT_ID}/oauth2/v2.0/token"),
    ]
    assert entra.token_forms[0] == {
        "client_id": CLIENT_ID,
        "grant_type": "client_credentials",
        "client_info": "1",
        "client_secret": SECRET,
        "scope": GRAPH_SCOPE,
    }
    entra.revoke_all_tokens()
    assert not entra.is_valid_token(first["access_token"])


@pytest.mark.asyncio
async def test_msal_wrong_secret_and_wrong_client(entra: FakeEntra) -> None:
    wrong_secret = await asyncio.to_thread(
        lambda: _msal_app(entra, "nope").acquire_token_for_client([GRAPH_SCOPE])
    )
    assert wrong_secret["error"] == "invalid_client" and wrong_secret["error_codes"] == [7000215]
    assert wrong_secret["error_description"].startswith("AADSTS7000215: Invalid client secret provided.")
    wrong_app = await asyncio.to_thread(
        lambda: _msal_app(entra, SECRET, client_id="nobody").acquire_token_for_client([GRAPH_SCOPE])
    )
    assert wrong_app["error"] == "unauthorized_client" and wrong_app["error_codes"] == [700016]
    assert "'nobody' was not found in the directory" in wrong_app["error_description"]


@pytest.mark.asyncio
async def test_msal_unknown_tenant_fails_in_constructor(entra: FakeEntra) -> None:
    def build() -> Any:
        return msal.ConfidentialClientApplication(
            CLIENT_ID, client_credential=SECRET, authority=f"{entra.authority_host}/contoso.example",
            instance_discovery=False, verify=entra.ca_bundle_path,
        )  # fmt: skip

    with pytest.raises(ValueError, match="Unable to get authority configuration"):
        await asyncio.to_thread(build)
    assert entra.openid_requests == 1 and entra.token_requests == 0


@pytest.mark.asyncio
async def test_msal_certificate_assertion(entra: FakeEntra) -> None:
    leaf = trustme.CA(key_type=trustme.KeyType.RSA).issue_cert("app.example", key_type=trustme.KeyType.RSA)
    credential = {
        "private_key": leaf.private_key_pem.bytes().decode(),
        "public_certificate": leaf.cert_chain_pems[0].bytes().decode(),
    }
    result = await asyncio.to_thread(
        lambda: _msal_app(entra, credential).acquire_token_for_client([GRAPH_SCOPE])
    )
    assert "access_token" in result
    assert entra.last_assertion_header is not None
    assert entra.last_assertion_header["alg"] == "PS256" and "x5t#S256" in entra.last_assertion_header
    assert "client_secret" not in entra.token_forms[-1]


@pytest.mark.asyncio
async def test_msal_replays_5xx_from_its_throttle_cache(entra: FakeEntra) -> None:
    app = await asyncio.to_thread(_msal_app, entra, SECRET)

    def acquire() -> dict[str, Any]:
        result: dict[str, Any] = app.acquire_token_for_client([GRAPH_SCOPE])
        return result

    entra.fail_next(500)  # no Retry-After: MSAL serves this answer itself for the next 5 s
    for _ in range(2):
        with pytest.raises(msal.exceptions.MsalServiceError, match="HTTP Error: 500"):
            await asyncio.to_thread(acquire)
    assert entra.token_requests == 1
    other = await asyncio.to_thread(_msal_app, entra, SECRET)
    entra.fail_next(503, retry_after=0)  # Retry-After: 0 keeps it out of the throttle cache
    with pytest.raises(msal.exceptions.MsalServiceError):
        await asyncio.to_thread(other.acquire_token_for_client, [GRAPH_SCOPE])
    assert "access_token" in await asyncio.to_thread(other.acquire_token_for_client, [GRAPH_SCOPE])
    assert entra.token_requests == 3


@pytest.mark.asyncio
async def test_entra_scripted_failures_and_latency(entra: FakeEntra) -> None:
    ctx = ssl.create_default_context()
    entra.ca.configure_trust(ctx)
    form = {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "scope": GRAPH_SCOPE,
    }
    entra.fail_next(503, count=2)
    entra.latency = 0.05
    async with httpx.AsyncClient(verify=ctx) as client:
        answers = [await client.post(entra.token_endpoint, data=form) for _ in range(3)]
        bad_scope = await client.post(entra.token_endpoint, data={**form, "scope": "User.Read"})
    assert [a.status_code for a in answers] == [503, 503, 200]
    assert answers[0].json()["error"] == "temporarily_unavailable"
    assert bad_scope.json()["error_codes"] == [1002012]
    assert entra.token_requests == 4


# ---- incident API -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_graph_get_auth_and_errors(api: FakeIncidentApi) -> None:
    good = {"Authorization": "Bearer good"}
    async with httpx.AsyncClient(base_url=api.graph_v1_url) as client:
        plain = await client.get("/security/incidents/2972395", headers=good)
        expanded = await client.get("/security/incidents/2972395", params={"$expand": "alerts"}, headers=good)
        anonymous = await client.get("/security/incidents/2972395")
        forged = await client.get("/security/incidents/2972395", headers={"Authorization": "Bearer bad"})
        missing = await client.get("/security/incidents/999", headers=good)
        bogus = await client.get("/security/incidents/12%20or%201=1", headers=good)
    assert plain.status_code == 200 and "alerts" not in plain.json()
    assert plain.json()["@odata.context"].endswith("/v1.0/$metadata#security/incidents/$entity")
    assert [a["severity"] for a in expanded.json()["alerts"]] == ["high", "medium", "low"]
    assert anonymous.status_code == 401 and forged.status_code == 401
    assert anonymous.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NotFound"
    assert bogus.status_code == 400 and bogus.json()["error"]["code"] == "BadRequest"
    for resp in (plain, anonymous, missing):
        assert resp.headers["request-id"]
    inner = missing.json()["error"]["innerError"]
    assert inner["request-id"] == missing.headers["request-id"] and inner["date"].endswith("Z")
    assert api.count("GET", "/security/incidents/2972395") == 4


@pytest.mark.asyncio
async def test_graph_faults(api: FakeIncidentApi) -> None:
    api.fail_next(429, retry_after=2)
    api.fail_next(403, path_contains="/beta/")
    api.reset_connection_next()
    async with httpx.AsyncClient(headers={"Authorization": "Bearer good"}) as client:
        throttled = await client.get(api.graph_v1_url + "/security/incidents/2972395")
        forbidden = await client.get(api.graph_beta_url + "/security/incidents/2972395")
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            await client.get(api.graph_v1_url + "/security/incidents/2972395")
        fine = await client.get(api.graph_v1_url + "/security/incidents/2972395")
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "2"
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["message"] == "Insufficient privileges to complete the operation."
    assert fine.status_code == 200 and api.count() == 4


@pytest.mark.asyncio
async def test_graph_list_paging_and_filter(api: FakeIncidentApi) -> None:
    async with httpx.AsyncClient(headers={"Authorization": "Bearer good"}) as client:
        first = (await client.get(api.graph_v1_url + "/security/incidents", params={"$top": "4"})).json()
        second = (await client.get(first["@odata.nextLink"])).json()
        merged = await client.get(
            api.graph_v1_url + "/security/incidents", params={"$filter": "status eq 'redirected'"}
        )
    ids = [i["id"] for i in first["value"] + second["value"]]
    assert sorted(ids) == sorted(["2972395", "4242", "5001", "5002", "7001", "666"])
    assert first["@odata.nextLink"].startswith(api.graph_v1_url + "/security/incidents?$top=4&$skiptoken=")
    assert "@odata.nextLink" not in second and all("alerts" not in i for i in first["value"])
    assert {i["id"] for i in merged.json()["value"]} == {"4242", "5001", "5002"}


@pytest.mark.asyncio
async def test_graph_patch_comment_and_enums(api: FakeIncidentApi) -> None:
    url = api.graph_v1_url + "/security/incidents/2972395"
    async with httpx.AsyncClient(headers={"Authorization": "Bearer good"}) as client:
        changes = {"status": "resolved", "classification": "falsePositive", "determination": "notMalicious"}
        patched = await client.patch(url, json={**changes, "customTags": ["x"]})
        legacy_enum = await client.patch(url, json={"classification": "TruePositive"})
        not_writable = await client.patch(url, json={"severity": "high", "id": "1"})
        body = {"@odata.type": "#microsoft.graph.security.alertComment", "comment": "Seen by the bot"}
        comments = await client.post(url + "/comments", json=body)
        beta_comments = await client.post(
            api.graph_beta_url + "/security/incidents/2972395/comments", json=body
        )
        hidden = await client.get(api.graph_v1_url + "/security/incidents/7001")
        shown = await client.get(
            api.graph_v1_url + "/security/incidents/7001", headers={"Prefer": "include-unknown-enum-members"}
        )
    updated = patched.json()
    assert patched.status_code == 200 and updated["status"] == "resolved" and updated["customTags"] == ["x"]
    assert updated["lastUpdateDateTime"] > "2026" and "alerts" not in updated and "@odata.context" in updated
    assert legacy_enum.status_code == 400 and not_writable.status_code == 400
    assert comments.json()["value"][-1]["createdByDisplayName"] == "Incident Bot (app)"
    assert len(comments.json()["value"]) == 4
    assert set(beta_comments.json()["value"][-1]) == {"comment", "createdBy", "createdTime"}
    assert hidden.json()["status"] == "unknownFutureValue" and shown.json()["status"] == "awaitingAction"
    stored = api.get("v1.0", "2972395")
    assert stored is not None and len(stored["alerts"]) == 3 and stored["classification"] == "falsePositive"


@pytest.mark.asyncio
async def test_defender_legacy_routes(api: FakeIncidentApi) -> None:
    async with httpx.AsyncClient(
        base_url=api.defender_url, headers={"Authorization": "Bearer good"}
    ) as client:
        one = await client.get("/api/incidents/2972395")
        listing = await client.get("/api/incidents", params={"$top": "1"})
        patched = await client.patch(
            "/api/incidents/2972395", json={"status": "Resolved", "comment": "closing", "tags": ["done"]}
        )
        graph_enum = await client.patch("/api/incidents/2972395", json={"status": "resolved"})
    assert one.json()["incidentId"] == 2972395 and len(one.json()["alerts"]) == 3
    assert one.json()["@odata.context"].endswith("/api/$metadata#Incidents/$entity")
    assert listing.json()["value"][0]["incidentId"] == 2972395 and "@odata.nextLink" not in listing.json()
    assert patched.json()["status"] == "Resolved" and patched.json()["tags"] == ["done"]
    assert patched.json()["comments"][-1]["createdBy"] == "Incident Bot (app)"
    assert graph_enum.status_code == 400


# ---- Slack ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_slack_calls_are_recorded_decoded(slack: FakeSlackApi) -> None:
    client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    posted = await client.chat_postMessage(channel="C1", text="hi", blocks=blocks)
    await client.chat_unfurl(channel="C1", ts=posted["ts"], unfurls={"https://x.example": {"blocks": blocks}})
    form = await client.api_call("chat.update", data={"channel": "C1", "ts": posted["ts"], "text": "t",
                                                      "blocks": json.dumps(blocks)})  # fmt: skip
    auth = await client.auth_test()
    slack.users["U1"] = {"id": "U1", "real_name": "Kai", "profile": {"email": "kai@contoso.example"}}
    user = await client.users_info(user="U1")
    assert posted["ts"].startswith("1700000000.") and posted["message"]["blocks"] == blocks
    assert slack.calls_to("chat.unfurl")[0].args["unfurls"]["https://x.example"]["blocks"] == blocks
    assert slack.calls_to("chat.update")[0].args["blocks"] == blocks and form["ts"] == posted["ts"]
    assert auth["user_id"] == "U0BOT" and "links:write" in auth.headers["x-oauth-scopes"]
    assert user["user"]["profile"]["email"] == "kai@contoso.example"
    assert {c.token for c in slack.calls} == {slack.bot_token}
    with pytest.raises(SlackApiError) as unknown:
        await client.users_info(user="U404")
    assert unknown.value.response["error"] == "user_not_found"


@pytest.mark.asyncio
async def test_slack_faults_auth_and_waiting(slack: FakeSlackApi) -> None:
    client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
    slack.fail_next("chat.postMessage", retry_after=3)
    with pytest.raises(SlackApiError) as limited:
        await client.chat_postMessage(channel="C1", text="x")
    assert limited.value.response.status_code == 429
    assert limited.value.response["error"] == "ratelimited"
    assert limited.value.response.headers["Retry-After"] == "3"
    with pytest.raises(SlackApiError) as denied:
        await AsyncWebClient(token="xoxb-wrong", base_url=slack.api_url).auth_test()
    assert denied.value.response["error"] == "invalid_auth"

    waiter = asyncio.create_task(slack.wait_for("chat.postMessage", count=3))
    await client.chat_postMessage(channel="C1", text="y")
    assert not waiter.done()
    await client.chat_postMessage(channel="C1", text="z")
    assert len(await waiter) == 3
    with pytest.raises(AssertionError, match=r"expected 1 x views\.open"):
        await slack.wait_for("views.open", timeout=0.05)

    webhook = AsyncWebhookClient(slack.response_url("cmd1"))
    sent = await webhook.send(text="done", replace_original=True)
    assert sent.status_code == 200
    assert slack.calls_to("response_url:cmd1")[0].args == {"text": "done", "replace_original": True}
