"""Who clicked: their name and e-mail from Slack (cached), and whether they may change incidents."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from slack_sdk.web.async_client import AsyncWebClient

from bot.state.shared_cache import Cache
from bot.state.singleflight import SingleFlight

logger = logging.getLogger(__name__)

NOT_CONFIGURED = (
    "Changing incidents from Slack is not enabled in this workspace yet: an admin must set "
    "INCIDENT_WRITERS to the Slack user (U…) or user-group (S…) ids allowed to do it."
)
NOT_ALLOWED = (
    "You are not allowed to change incidents from Slack. Ask an admin to add you to INCIDENT_WRITERS."
)
NOT_A_READER = (
    "You are not allowed to see incident details from Slack. Ask an admin to add you to INCIDENT_READERS."
)

PROFILE_TTL = 3600
GROUP_TTL = 300


@dataclass(frozen=True)
class Person:
    """A Slack user as Defender should see them in comments and audit lines."""

    user_id: str
    name: str
    email: str | None
    team_id: str | None = None  # the person's own workspace (users.info), another org's in Slack Connect

    @property
    def signature(self) -> str:
        """'Jane Doe (jane@contoso.com) via Slack', appended to what they write in Defender."""
        who = f"{self.name} ({self.email})" if self.email else f"{self.name} (Slack user {self.user_id})"
        return f"{who} via Slack"


class People:
    """Slack profiles and the INCIDENT_WRITERS and INCIDENT_READERS checks, cached in the shared cache."""

    def __init__(
        self,
        slack: AsyncWebClient,
        cache: Cache,
        *,
        writers: list[str],
        everyone_writes: bool,
        readers: list[str] | None = None,
    ) -> None:
        self._slack = slack
        self._cache = cache
        self._writer_users = {w for w in writers if not w.startswith("S")}
        self._writer_groups = [w for w in writers if w.startswith("S")]
        self._everyone_writes = everyone_writes
        self._reader_users = {r for r in readers or [] if not r.startswith("S")}
        self._reader_groups = [r for r in readers or [] if r.startswith("S")]
        # Two clicks at once check the cache before either has filled it: join them instead.
        self._profiles: SingleFlight[str, Person] = SingleFlight()
        self._groups: SingleFlight[str, frozenset[str]] = SingleFlight()

    @property
    def writers_configured(self) -> bool:
        return self._everyone_writes or bool(self._writer_users or self._writer_groups)

    def writes_without_asking(self, user_id: str) -> bool:
        """True when the person may write and no Slack call is needed to know it (named in
        INCIDENT_WRITERS, or demo); False means "ask `may_write`", not "may not"."""
        return self._everyone_writes or user_id in self._writer_users

    def refusal_text(self) -> str:
        """Why a person may not write, and what an admin would set."""
        return NOT_ALLOWED if self.writers_configured else NOT_CONFIGURED

    def reads_without_asking(self, user_id: str) -> bool:
        """True when the person may read and no Slack call is needed to know it (INCIDENT_READERS
        unset, or naming them, or a named writer); False means "ask `may_read`", not "may not"."""
        return self.everyone_reads or user_id in self._reader_users or self.writes_without_asking(user_id)

    @property
    def everyone_reads(self) -> bool:
        """INCIDENT_READERS unset: every member of our workspace may read."""
        return not (self._reader_users or self._reader_groups)

    async def may_read(self, user_id: str, *, team_id: str | None, our_team: str | None) -> bool:
        """Whether the person may see an incident in full: a member of our workspace (never of another
        organisation's: `team_id` as the event says, else users.info's) who is in INCIDENT_READERS
        or INCIDENT_WRITERS (or anyone of ours when INCIDENT_READERS is unset)."""
        if not our_team:
            return False  # who "we" are is not known: nobody can be told apart from an outsider
        team = team_id or (await self.person(user_id)).team_id
        if team != our_team:
            return False
        if self.reads_without_asking(user_id):
            return True
        for group in self._reader_groups:
            if user_id in await self._group_members(group):
                return True
        return await self.may_write(user_id)

    async def person(self, user_id: str) -> Person:
        """Name and e-mail from users.info (needs users:read and users:read.email)."""
        return await self._profiles.run(user_id, lambda: self._lookup_person(user_id))

    async def _lookup_person(self, user_id: str) -> Person:
        key = f"person:{user_id}"
        cached = await self._cache.get(key)
        if cached is not None:
            data = json.loads(cached)
            if "team_id" in data:  # written by a release that kept the team
                return Person(user_id, data["name"], data["email"], data["team_id"])
        response = await self._slack.users_info(user=user_id)
        user = response.get("user") or {}
        profile = user.get("profile") or {}
        name = (
            profile.get("real_name")
            or profile.get("display_name")
            or user.get("real_name")
            or user.get("name")
            or user_id
        )
        email = profile.get("email") or None
        team = user.get("team_id") or profile.get("team") or None
        kept = {"name": name, "email": email, "team_id": team}
        await self._cache.set(key, json.dumps(kept), ttl=PROFILE_TTL)
        return Person(user_id, str(name), str(email) if email else None, str(team) if team else None)

    @staticmethod
    def reader_refusal_text() -> str:
        return NOT_A_READER

    async def may_write(self, user_id: str) -> bool:
        """True for users named in INCIDENT_WRITERS or in one of its user groups (demo: everyone)."""
        if self._everyone_writes or user_id in self._writer_users:
            return True
        for group in self._writer_groups:
            if user_id in await self._group_members(group):
                return True
        return False

    async def _group_members(self, group_id: str) -> frozenset[str]:
        return await self._groups.run(group_id, lambda: self._lookup_group(group_id))

    async def _lookup_group(self, group_id: str) -> frozenset[str]:
        key = f"usergroup:{group_id}"
        cached = await self._cache.get(key)
        if cached is not None:
            return frozenset(json.loads(cached))
        response = await self._slack.usergroups_users_list(usergroup=group_id)
        members = [str(u) for u in response.get("users") or []]
        await self._cache.set(key, json.dumps(members), ttl=GROUP_TTL)
        return frozenset(members)
