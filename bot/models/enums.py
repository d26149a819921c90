"""Incident enums in Graph v1.0 spelling, tolerant of values they do not know.

Defender adds enum members over time (`awaitingAction` came with `Prefer:
include-unknown-enum-members`), and the legacy API spells them in PascalCase with older
determination names. A value the bot does not know is kept (camelCased like the rest), never rejected.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, TypeVar

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema


class Status(StrEnum):
    ACTIVE = "active"
    IN_PROGRESS = "inProgress"
    AWAITING_ACTION = "awaitingAction"
    RESOLVED = "resolved"
    REDIRECTED = "redirected"


class Severity(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFORMATIONAL = "informational"
    UNKNOWN = "unknown"


class Classification(StrEnum):
    TRUE_POSITIVE = "truePositive"
    INFORMATIONAL_EXPECTED_ACTIVITY = "informationalExpectedActivity"
    FALSE_POSITIVE = "falsePositive"
    UNKNOWN = "unknown"


class Determination(StrEnum):
    MULTI_STAGED_ATTACK = "multiStagedAttack"
    MALICIOUS_USER_ACTIVITY = "maliciousUserActivity"
    COMPROMISED_ACCOUNT = "compromisedAccount"
    MALWARE = "malware"
    PHISHING = "phishing"
    UNWANTED_SOFTWARE = "unwantedSoftware"
    APT = "apt"
    SECURITY_PERSONNEL = "securityPersonnel"
    SECURITY_TESTING = "securityTesting"
    LINE_OF_BUSINESS_APPLICATION = "lineOfBusinessApplication"
    CONFIRMED_ACTIVITY = "confirmedActivity"
    NOT_MALICIOUS = "notMalicious"
    NOT_ENOUGH_DATA_TO_VALIDATE = "notEnoughDataToValidate"
    OTHER = "other"
    UNKNOWN = "unknown"


# Older names (legacy API and pre-2024 Graph) of the same determinations.
_DETERMINATION_ALIASES = {
    "compromisedUser": "compromisedAccount",
    "clean": "notMalicious",
    "insufficientData": "notEnoughDataToValidate",
    "confirmedUserActivity": "confirmedActivity",
    "notAvailable": "unknown",
}
_SEVERITY_ALIASES = {"unSpecified": "unknown", "unspecified": "unknown"}

# Which determinations Defender accepts with each classification when resolving.
DETERMINATIONS_BY_CLASSIFICATION: dict[Classification, tuple[Determination, ...]] = {
    Classification.TRUE_POSITIVE: (
        Determination.MULTI_STAGED_ATTACK,
        Determination.MALICIOUS_USER_ACTIVITY,
        Determination.COMPROMISED_ACCOUNT,
        Determination.MALWARE,
        Determination.PHISHING,
        Determination.UNWANTED_SOFTWARE,
        Determination.OTHER,
    ),
    Classification.INFORMATIONAL_EXPECTED_ACTIVITY: (
        Determination.SECURITY_TESTING,
        Determination.LINE_OF_BUSINESS_APPLICATION,
        Determination.CONFIRMED_ACTIVITY,
        Determination.OTHER,
    ),
    Classification.FALSE_POSITIVE: (
        Determination.NOT_MALICIOUS,
        Determination.NOT_ENOUGH_DATA_TO_VALIDATE,
        Determination.OTHER,
    ),
}


def camel_value(raw: str) -> str:
    """'TruePositive' → 'truePositive'; values already camelCase are unchanged."""
    raw = raw.strip()
    return raw[:1].lower() + raw[1:]


E = TypeVar("E", bound=StrEnum)


def _parser(enum: type[E], aliases: dict[str, str]) -> Callable[[object], E | str]:
    def parse(value: object) -> E | str:
        if isinstance(value, enum):
            return value
        if not isinstance(value, str):
            raise ValueError(f"{enum.__name__} must be a string")
        name = camel_value(value)
        name = aliases.get(name, name)
        try:
            return enum(name)
        except ValueError:
            # Unknown to this version (or Graph's `unknownFutureValue`): kept, in the same casing.
            return name

    return parse


_AS_STRING = PlainSerializer(str, return_type=str)
_STRING_SCHEMA = WithJsonSchema({"type": "string"})

AnyStatus = Annotated[Status | str, PlainValidator(_parser(Status, {})), _AS_STRING, _STRING_SCHEMA]
AnySeverity = Annotated[
    Severity | str, PlainValidator(_parser(Severity, _SEVERITY_ALIASES)), _AS_STRING, _STRING_SCHEMA
]
AnyClassification = Annotated[
    Classification | str, PlainValidator(_parser(Classification, {})), _AS_STRING, _STRING_SCHEMA
]
AnyDetermination = Annotated[
    Determination | str,
    PlainValidator(_parser(Determination, _DETERMINATION_ALIASES)),
    _AS_STRING,
    _STRING_SCHEMA,
]
