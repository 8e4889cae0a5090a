"""Bounded input types, in one place: what every route, filter and library entry point accepts.

Each integer is bounded by the tighter of what the contracts hold (`uint64` ids and times,
`uint32` rates, `uint16` reason codes) and what the database holds (participant ids are SQL
`INTEGER` columns, amounts and times `BIGINT`); times and dates by sane years; text has no NUL
(PostgreSQL refuses it), no lone surrogate (no UTF-8 exists for it) and a bounded length. So a
value out of range is refused with a 422 and a stable code (`ledger.codes.INPUT_CODES`) before
anything reaches web3 or the database. docs/decisions.md says why each bound is where it is.

- Types for pydantic models, FastAPI parameters and `TypeAdapter`s: `ParticipantId`,
  `OptionalParticipantId` (0 = none), `UnixTime`, `EffectiveTime` (0 = now), `TimeBound`
  (filters: 0 up to `TIME_MAX`), `Date`, `UtcDatetime`, `Bps32`, `StoredBps`, `ReasonCode`, `Amount`,
  `RecordId`, `Digest32`, `CleanText` (with the field's `max_length`).
- `check(value, Type, name)`: the same check for a library entry point (`InputError`).
- `input_error(errors)`: the `InputError` (stable code, sentence) of a pydantic
  `ValidationError`'s `errors()`, as the gateway answers every refused request.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from functools import cache
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, Field, TypeAdapter, ValidationError, WithJsonSchema
from pydantic_core import PydanticCustomError

from ledger.errors import InputError
from ledger.limits import INT64_MAX

__all__ = [
    "DATE_MAX",
    "DATE_MIN",
    "ID_MAX",
    "INT32_MAX",
    "TIME_MAX",
    "TIME_MIN",
    "Address",
    "Amount",
    "Bps32",
    "CleanText",
    "Date",
    "Digest32",
    "EffectiveTime",
    "OptionalParticipantId",
    "ParticipantId",
    "ReasonCode",
    "RecordId",
    "StoredBps",
    "Text",
    "TimeBound",
    "UnixTime",
    "UtcDatetime",
    "check",
    "check_text",
    "input_code",
    "input_error",
]

INT32_MAX = 2**31 - 1
"""SQL INTEGER (on PostgreSQL 32 bits): the participant id columns."""

ID_MAX = INT32_MAX
"""Largest participant id: the contract's `uint64` ids are counted from 1, the database's
columns hold 31 bits."""

TIME_MIN = 946_684_800
"""2000-01-01T00:00:00Z: the earliest unix time accepted (an issue date, an effective date)."""

TIME_MAX = 4_102_444_800
"""2100-01-01T00:00:00Z: times must come before it (filters may name it as their end)."""

DATE_MIN = date(2000, 1, 1)
"""Earliest calendar date in a fee disclosure."""

DATE_MAX = date(2150, 12, 31)
"""Latest calendar date in a fee disclosure: the schedule of a loan issued before 2100 with a
term of up to 50 years."""

_BPS32_MAX = 2**32 - 1
_REASON_MAX = 2**16 - 1

# pydantic error types of our own, and the stable code each is reported with
_OUT_OF_RANGE = "ledger_out_of_range"
_TIME_OUT_OF_RANGE = "ledger_time_out_of_range"
_TEXT_NUL = "ledger_text_nul"
_TEXT_ENCODING = "ledger_text_encoding"

_CODES = {
    _OUT_OF_RANGE: "VALUE_OUT_OF_RANGE",
    "greater_than": "VALUE_OUT_OF_RANGE",
    "greater_than_equal": "VALUE_OUT_OF_RANGE",
    "less_than": "VALUE_OUT_OF_RANGE",
    "less_than_equal": "VALUE_OUT_OF_RANGE",
    _TIME_OUT_OF_RANGE: "TIME_OUT_OF_RANGE",
    _TEXT_NUL: "TEXT_NUL",
    _TEXT_ENCODING: "INVALID_UTF8",
    "string_too_long": "TEXT_TOO_LONG",
    "string_unicode": "INVALID_UTF8",  # pydantic's JSON parser on a lone surrogate escape
}


def _bounded(low: int, high: int, kind: str, what: str, *, zero: bool = False) -> AfterValidator:
    """A validator letting an integer in [low, high] (or 0, if `zero`) through; else the error
    type `kind`."""
    allowed = f"0 or {low}..{high}" if zero else f"{low}..{high}"

    def bounded(value: int) -> int:
        if (zero and value == 0) or low <= value <= high:
            return value
        raise PydanticCustomError(
            kind, "{what} must be {allowed}", {"what": what, "allowed": allowed}
        )

    return AfterValidator(bounded)


def _schema(low: int, high: int, *, zero: bool = False) -> WithJsonSchema:
    bounds = {"type": "integer", "minimum": low, "maximum": high}
    return WithJsonSchema({"oneOf": [{"type": "integer", "const": 0}, bounds]} if zero else bounds)


_ID = "a participant id"
_TIME = "a unix time (2000-2099)"

ParticipantId = Annotated[int, _bounded(1, ID_MAX, _OUT_OF_RANGE, _ID), _schema(1, ID_MAX)]
"""A participant's id: 1 to 2^31 - 1."""

OptionalParticipantId = Annotated[
    int, _bounded(1, ID_MAX, _OUT_OF_RANGE, _ID, zero=True), _schema(1, ID_MAX, zero=True)
]
"""A participant's id, or 0 for none (a loan without guarantor or co-funder)."""

UnixTime = Annotated[
    int,
    _bounded(TIME_MIN, TIME_MAX - 1, _TIME_OUT_OF_RANGE, _TIME),
    _schema(TIME_MIN, TIME_MAX - 1),
]
"""Unix seconds from 2000-01-01 to before 2100-01-01 (UTC)."""

EffectiveTime = Annotated[
    int,
    _bounded(TIME_MIN, TIME_MAX - 1, _TIME_OUT_OF_RANGE, _TIME, zero=True),
    _schema(TIME_MIN, TIME_MAX - 1, zero=True),
]
"""When a change takes effect: 0 for now, else a `UnixTime`."""

TimeBound = Annotated[
    int,
    _bounded(0, TIME_MAX, _TIME_OUT_OF_RANGE, "a unix time bound (up to 2100)"),
    _schema(0, TIME_MAX),
]
"""An end of a time range in a filter: 0 (the beginning) up to 2100-01-01 itself."""

Bps32 = Annotated[
    int, _bounded(0, _BPS32_MAX, _OUT_OF_RANGE, "basis points (uint32)"), _schema(0, _BPS32_MAX)
]
"""Basis points as the contract holds them (`uint32`)."""

StoredBps = Annotated[
    int,
    _bounded(0, INT32_MAX, _OUT_OF_RANGE, "basis points (as stored: up to 2^31 - 1)"),
    _schema(0, INT32_MAX),
]
"""Basis points compared with a stored rate (`submissions.apr_bps` is SQL INTEGER); a stored
rate is at most its cap, and caps at most 1,000,000."""

ReasonCode = Annotated[
    int, _bounded(0, _REASON_MAX, _OUT_OF_RANGE, "a reason code (uint16)"), _schema(0, _REASON_MAX)
]
"""A retirement's reason code (`uint16`)."""

Amount = Annotated[
    int, _bounded(0, INT64_MAX, _OUT_OF_RANGE, "an amount in fen"), _schema(0, INT64_MAX)
]
"""An amount in minor units (fen) as the database holds it (BIGINT)."""

Address = Annotated[
    str, Field(pattern=r"^0x[0-9a-fA-F]{40}$", description="an Ethereum address: 0x + 40 hex")
]
"""An account address (any case)."""

RecordId = Annotated[
    str,
    Field(pattern=r"^0x[0-9a-fA-F]{64}$", description="a record id: 0x + 64 hex digits"),
]
"""A loan record's id (its EIP-712 digest)."""

Digest32 = Annotated[
    str, Field(pattern=r"^0x[0-9a-fA-F]{64}$", description="32 bytes: 0x + 64 hex digits")
]
"""A 32-byte digest named in a request (a batch's Merkle root)."""


def _date(value: date) -> date:
    if DATE_MIN <= value <= DATE_MAX:
        return value
    raise PydanticCustomError(
        _TIME_OUT_OF_RANGE,
        "dates must fall between {low} and {high}",
        {"low": DATE_MIN.isoformat(), "high": DATE_MAX.isoformat()},
    )


Date = Annotated[date, AfterValidator(_date)]
"""A calendar date from 2000-01-01 to 2150-12-31."""


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("times must carry a time zone (UTC recommended)")
    value = value.astimezone(UTC)
    _date(value.date())
    return value


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
"""A time with a time zone (converted to UTC), on a `Date`."""


def _text(value: str) -> str:
    if "\x00" in value:
        raise PydanticCustomError(_TEXT_NUL, "text must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PydanticCustomError(
            _TEXT_ENCODING, "text must be valid Unicode (a lone surrogate is not)"
        ) from exc
    return value


CleanText = Annotated[str, AfterValidator(_text)]
"""Text without NUL or lone surrogates; give its length with `Field(max_length=...)`."""


@cache
def Text(max_length: int, min_length: int = 0) -> Any:
    """`CleanText` of `min_length` to `max_length` characters, for `check`."""
    return Annotated[
        str, Field(min_length=min_length, max_length=max_length), AfterValidator(_text)
    ]


# ---------------------------------------------------------------------- checking and reporting

T = TypeVar("T")


@cache
def _adapter(kind: Any) -> TypeAdapter[Any]:
    return TypeAdapter(kind)


def check(value: T, kind: Any, name: str) -> T:
    """`value` if it fits the bounded type `kind`; `InputError` (its stable code) if not."""
    try:
        _adapter(kind).validate_python(value, strict=True)
    except ValidationError as exc:
        raise input_error(exc.errors(), prefix=(name,)) from exc
    return value


def check_text(value: str, name: str, max_length: int, min_length: int = 0) -> str:
    """`check(value, Text(max_length, min_length), name)`."""
    return check(value, Text(max_length, min_length), name)


def input_code(error_type: str) -> str:
    """The stable code of one pydantic error type (`INVALID_INPUT` for the generic ones)."""
    return _CODES.get(error_type, "INVALID_INPUT")


def input_error(errors: Sequence[Any], prefix: Sequence[str] = ()) -> InputError:
    """The error of a refused input: its first problem with a specific code (out of range,
    NUL...), else its first problem; its code and where it is."""
    if not errors:
        return InputError("invalid input")
    first = next((e for e in errors if input_code(e.get("type", "")) != "INVALID_INPUT"), errors[0])
    where = ".".join(str(p) for p in (*prefix, *first.get("loc", ())))
    message = str(first.get("msg", "invalid"))
    return InputError(
        f"{where}: {message}" if where else message, code=input_code(first.get("type", ""))
    )
