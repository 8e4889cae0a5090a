"""JSON-facing entry point of the APR engine.

Input::

    {"advances": [{"date": "2026-01-15", "amount": "5000.00"}],
     "payments": [{"date": "2026-02-15", "amount": "440.00"}, ...],
     "unit_period": "1M",            # optional: "<m>M" | "SM" | "<k>W" | "<n>D"; inferred if absent
     "term_start": "2026-01-15",     # optional: App J (b)(2), defaults to the first advance
     "fees": [{"name": "guarantee", "amount": "100.00", "date": "2026-01-15",
               "timing": "upfront"}]}  # optional: folded per fold_fees (needs one advance)

An amount is a decimal string in major units with at most 2 decimals, or ``"amount_minor"`` with
an integer of minor units instead. Output: see `AprResult.as_dict`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date

from ledger.apr.engine import compute_apr
from ledger.apr.fees import Fee, FeeTiming, fold_fees
from ledger.apr.model import (
    MAX_AMOUNT_MINOR,
    MAX_FLOWS,
    CashFlow,
    CashFlows,
    UnitPeriod,
    parse_amount,
)
from ledger.errors import AprError

__all__ = ["apr_from_json"]

_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_TOP_KEYS = frozenset({"advances", "payments", "unit_period", "term_start", "fees"})
_FLOW_KEYS = frozenset({"date", "amount", "amount_minor"})
_FEE_KEYS = frozenset({"name", "date", "amount", "amount_minor", "timing"})


def _fail(message: str) -> AprError:
    return AprError(message, code="APR_INVALID_INPUT")


def _object(value: object, where: str, allowed: frozenset[str]) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise _fail(f"{where} must be an object, got {type(value).__name__}")
    unknown = sorted(str(key) for key in value if key not in allowed)
    if unknown:
        raise _fail(f"{where} has unknown field(s) {', '.join(unknown)}")
    return value


def _date(value: object, where: str) -> date:
    if not isinstance(value, str) or not _DATE.match(value):
        raise _fail(f"{where} must be a date string YYYY-MM-DD, got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _fail(f"{where} is not a calendar date: {value!r}") from None


def _amount(item: Mapping[str, object], where: str) -> int:
    if ("amount" in item) == ("amount_minor" in item):
        raise _fail(f"{where} needs exactly one of amount (string) or amount_minor (integer)")
    if "amount" in item:
        raw = item["amount"]
        if not isinstance(raw, str):
            raise _fail(f"{where}.amount must be a string like '5000.00', got {raw!r}")
        try:
            return parse_amount(raw)
        except AprError as exc:
            raise _fail(f"{where}.amount: {exc.message}") from None
    minor = item["amount_minor"]
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise _fail(f"{where}.amount_minor must be an integer, got {minor!r}")
    if not 0 < minor <= MAX_AMOUNT_MINOR:
        raise _fail(f"{where}.amount_minor must be positive (and at most {MAX_AMOUNT_MINOR})")
    return minor


def _flows(data: Mapping[str, object], key: str) -> tuple[CashFlow, ...]:
    raw = data.get(key)
    if not isinstance(raw, list):
        raise _fail(f"{key} must be a list of {{date, amount}} objects")
    if not raw:
        raise AprError(
            f"{key} is empty", code="APR_NO_ADVANCE" if key == "advances" else "APR_NO_PAYMENTS"
        )
    if len(raw) > MAX_FLOWS:
        raise _fail(f"{key} has more than {MAX_FLOWS} entries")
    out: list[CashFlow] = []
    for index, entry in enumerate(raw):
        where = f"{key}[{index}]"
        item = _object(entry, where, _FLOW_KEYS)
        if "date" not in item:
            raise _fail(f"{where} has no date")
        out.append(CashFlow(_date(item["date"], f"{where}.date"), _amount(item, where)))
    return tuple(out)


def _fees(raw: object) -> tuple[Fee, ...]:
    if not isinstance(raw, list):
        raise _fail("fees must be a list of {name, amount, date, timing} objects")
    out: list[Fee] = []
    for index, entry in enumerate(raw):
        where = f"fees[{index}]"
        item = _object(entry, where, _FEE_KEYS)
        missing = sorted({"name", "date", "timing"} - set(item))
        if missing:
            raise _fail(f"{where} is missing {', '.join(missing)}")
        name, timing = item["name"], item["timing"]
        if not isinstance(name, str):
            raise _fail(f"{where}.name must be a string")
        if timing not in {t.value for t in FeeTiming}:
            raise _fail(f"{where}.timing must be one of {', '.join(t.value for t in FeeTiming)}")
        assert isinstance(timing, str)
        out.append(
            Fee(name, _amount(item, where), _date(item["date"], f"{where}.date"), FeeTiming(timing))
        )
    return tuple(out)


def apr_from_json(data: Mapping[str, object]) -> dict[str, str | int | bool]:
    """Compute the APR of a JSON cash-flow description (see module docstring).

    Returns ``apr_nominal``/``apr_effective`` (percent strings, 4 decimals), ``*_bps`` (int),
    ``periodic_rate`` (decimal fraction per unit-period), ``unit_period``,
    ``unit_periods_per_year``, ``unit_period_inferred``, ``regular``,
    ``tolerance_percentage_points`` and ``method``. Raises `AprError` on malformed input.
    """
    body = _object(data, "input", _TOP_KEYS)
    advances = _flows(body, "advances")
    payments = _flows(body, "payments")
    unit: UnitPeriod | None = None
    if body.get("unit_period") is not None:
        raw_unit = body["unit_period"]
        if not isinstance(raw_unit, str):
            raise _fail(f"unit_period must be a string, got {raw_unit!r}")
        unit = UnitPeriod.parse(raw_unit)
    term_start = (
        _date(body["term_start"], "term_start") if body.get("term_start") is not None else None
    )
    if body.get("fees") is not None:
        fees = _fees(body["fees"])
        if len(advances) != 1:
            raise _fail(
                "fees can only be folded into a loan with exactly one advance (the principal)"
            )
        if term_start is not None and term_start != advances[0].on:
            raise _fail("with fees, term_start must be the disbursement date (or omitted)")
        flows = fold_fees(advances[0].amount, advances[0].on, payments, fees, unit_period=unit)
    else:
        flows = CashFlows(advances, payments, term_start=term_start, unit_period=unit)
    result = compute_apr(flows).as_dict()
    result["unit_period_inferred"] = unit is None
    return result
