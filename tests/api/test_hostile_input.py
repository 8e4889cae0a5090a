"""Hostile values on every route: each is a 4xx with a stable code, and nothing stored changes.

One table over every route with a path, query or body parameter: negative numbers, 0 where an
id is meant, 2^63, 2^64, the unix time of the year 36812 (2^40 s), NUL characters, lone
surrogates, over-long text, and bytes that are not UTF-8 (in a body, a form field, a path and a
query string). Each answer must be 4xx with the code the table names (`ledger.codes
.INPUT_CODES` for refused input), and the database (`Env.db_state`) and the registry on chain
(participants, whitelists, rate policy) must be as they were. The library's own entry points
are held to the same bounds, before any transaction is sent.

Also the bugs of pure input handling found while testing: an own-key platform resubmitting a
loan its funder rejected, `confirm-batch` on a rejected loan, the OpenAPI `$ref`s.
"""

from __future__ import annotations

import json
import re
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from ledger.bounds import TIME_MAX, TIME_MIN
from ledger.codes import INPUT_CODES
from ledger.enums import ParticipantStatus, Role
from ledger.errors import InputError
from ledger.signing import LocalSigner
from tests import backends
from tests.api.conftest import Env, auth, error_code

NUL = "a\x00b"
LONG = "x" * 5_000
YEAR_36812 = 2**40  # unix seconds in the year 36812
HUGE = (2**63, 2**64)
BAD_IDS = (-1, 0, *HUGE)
BAD_TIMES = (-1, 5, TIME_MAX, YEAR_36812, *HUGE)


def chain_state(env: Env) -> str:
    """The registry on chain as the gateway's view has it once brought to the head."""
    registry = env.gw.service.registry
    registry.follow()
    state = registry.registry()
    return repr(
        (
            {pid: (p.name, len(p.epochs)) for pid, p in state.participants.items()},
            state.whitelist,
            state.rate_caps,
            state.lpr,
        )
    )


def stored(env: Env) -> tuple[Any, str]:
    return env.db_state(), chain_state(env)


# ---------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Case:
    name: str
    role: str  # whose key: regulator, bank1 (a funder), p1 (a platform), or none
    send: Callable[[Env, dict[str, str]], httpx.Response]
    code: str
    status: int = 422


def _json(method: str, path: str, body: Any = None, **params: Any) -> Callable[..., httpx.Response]:
    def send(env: Env, headers: dict[str, str]) -> httpx.Response:
        return env.http.request(method, path, json=body, params=params or None, headers=headers)

    return send


def _raw(method: str, path: str, content: bytes) -> Callable[..., httpx.Response]:
    def send(env: Env, headers: dict[str, str]) -> httpx.Response:
        return env.http.request(
            method, path, content=content, headers={**headers, "Content-Type": "application/json"}
        )

    return send


def _loan(route: str = "/v1/loans", **patch: Any) -> Callable[..., httpx.Response]:
    """A consistent loan with `patch` applied (dotted paths into the JSON)."""

    def send(env: Env, headers: dict[str, str]) -> httpx.Response:
        body, _ = env.loan_json()
        for where, value in patch.items():
            *parents, last = where.split("__")
            node: Any = body
            for part in parents:
                node = node[int(part)] if part.isdigit() else node[part]
            node[int(last) if last.isdigit() else last] = value
        if route == "/v1/loans/batch":
            return env.http.post(route, json={"loans": [body]}, headers=headers)
        return env.http.post(route, json=body, headers=headers)

    return send


def _principal(amount: int) -> Callable[..., httpx.Response]:
    """A loan whose schedule repays `amount` (so only the amount's size is wrong)."""

    def send(env: Env, headers: dict[str, str]) -> httpx.Response:
        body, _ = env.loan_json()
        form = body["disclosure"]
        form["schedule"][0]["principal"] += amount - form["principal"]
        form["principal"] = amount
        return env.http.post("/v1/loans", json=body, headers=headers)

    return send


def _loan_form(field: bytes) -> Callable[..., httpx.Response]:
    def send(env: Env, headers: dict[str, str]) -> httpx.Response:
        return env.http.post("/v1/loans", files={"submission": (None, field)}, headers=headers)

    return send


def _record(method: str, tail: str, body: Any = None) -> Callable[..., httpx.Response]:
    """A request about the shared awaiting-funder record."""

    def send(env: Env, headers: dict[str, str]) -> httpx.Response:
        path = f"/v1/loans/{_pending(env)}{tail}"
        return env.http.request(method, path, json=body, headers=headers)

    return send


_PENDING: dict[int, str] = {}


def _pending(env: Env) -> str:
    """A loan of p1 awaiting bank1's approval (one per gateway)."""
    if id(env) not in _PENDING:
        r = env.submit(env["p1"])
        assert r.status_code == 202, r.text
        _PENDING[id(env)] = r.json()["record_id"]
    return _PENDING[id(env)]


def _cases() -> list[Case]:
    cases: list[Case] = []
    add = cases.append
    # ---- participants and policy (regulator)
    for bad in BAD_IDS:
        add(
            Case(
                f"status-of-participant-{bad}",
                "regulator",
                _json("PUT", f"/v1/participants/{bad}/status", {"status": "suspended"}),
                "VALUE_OUT_OF_RANGE",
            )
        )
    add(
        Case(
            "participant-name-nul",
            "regulator",
            _json("POST", "/v1/participants", {"role": "platform", "name": NUL}),
            "TEXT_NUL",
        )
    )
    add(
        Case(
            "participant-name-surrogate",
            "regulator",
            _raw("POST", "/v1/participants", b'{"role": "platform", "name": "a\\ud800"}'),
            "INVALID_UTF8",
        )
    )
    add(
        Case(
            "participant-name-too-long",
            "regulator",
            _json("POST", "/v1/participants", {"role": "platform", "name": LONG}),
            "TEXT_TOO_LONG",
        )
    )
    add(
        Case(
            "participant-name-not-utf8",
            "regulator",
            _raw("POST", "/v1/participants", b'{"role": "platform", "name": "\xff\xfe"}'),
            "INVALID_UTF8",
        )
    )
    for bad in BAD_TIMES:
        add(
            Case(
                f"lpr-effective-{bad}",
                "regulator",
                _json("PUT", "/v1/policy/lpr", {"lpr_bps": 310, "effective_from": bad}),
                "TIME_OUT_OF_RANGE",
            )
        )
        add(
            Case(
                f"rate-cap-effective-{bad}",
                "regulator",
                _json("PUT", "/v1/policy/rate-caps/bank", {"cap_bps": 2400, "effective_from": bad}),
                "TIME_OUT_OF_RANGE",
            )
        )
    for bad in (-1, 0, *HUGE):
        add(
            Case(
                f"lpr-bps-{bad}",
                "regulator",
                _json("PUT", "/v1/policy/lpr", {"lpr_bps": bad}),
                "VALUE_OUT_OF_RANGE",
            )
        )
        add(
            Case(
                f"lpr-multiple-{bad}",
                "regulator",
                _json("PUT", "/v1/policy/rate-caps/trust", {"lpr_multiple_bps": bad}),
                "VALUE_OUT_OF_RANGE",
            )
        )
    # ---- whitelists (funder)
    for bad in BAD_IDS:
        add(
            Case(
                f"whitelist-add-{bad}",
                "bank1",
                _json("PUT", f"/v1/whitelist/{bad}"),
                "VALUE_OUT_OF_RANGE",
            )
        )
        add(
            Case(
                f"whitelist-remove-{bad}",
                "bank1",
                _json("DELETE", f"/v1/whitelist/{bad}"),
                "VALUE_OUT_OF_RANGE",
            )
        )
        add(
            Case(
                f"whitelists-of-{bad}",
                "p1",
                _json("GET", "/v1/whitelists", funder_id=bad),
                "VALUE_OUT_OF_RANGE",
            )
        )
    for bad in BAD_TIMES:
        add(
            Case(
                f"whitelist-add-from-{bad}",
                "bank1",
                _json("PUT", "/v1/whitelist/7", {"effective_from": bad}),
                "TIME_OUT_OF_RANGE",
            )
        )
        add(
            Case(
                f"whitelist-remove-until-{bad}",
                "bank1",
                _json("DELETE", "/v1/whitelist/7", effective_until=bad),
                "TIME_OUT_OF_RANGE",
            )
        )
    # ---- loans (platform)
    for route in ("/v1/loans", "/v1/loans/prepare", "/v1/loans/batch"):
        short = route.rsplit("/", 1)[-1]
        for bad in BAD_IDS:
            add(
                Case(
                    f"{short}-funder-{bad}", "p1", _loan(route, funder_id=bad), "VALUE_OUT_OF_RANGE"
                )
            )
        for bad in (-1, *HUGE):
            add(
                Case(
                    f"{short}-guarantor-{bad}",
                    "p1",
                    _loan(route, guarantor_id=bad),
                    "VALUE_OUT_OF_RANGE",
                )
            )
        for bad in BAD_TIMES:
            add(
                Case(
                    f"{short}-issued-{bad}", "p1", _loan(route, issued_at=bad), "TIME_OUT_OF_RANGE"
                )
            )
        add(Case(f"{short}-source-nul", "p1", _loan(route, source_system=NUL), "TEXT_NUL"))
        add(Case(f"{short}-source-long", "p1", _loan(route, source_system=LONG), "TEXT_TOO_LONG"))
        add(Case(f"{short}-borrower-nul", "p1", _loan(route, borrower_id=NUL), "TEXT_NUL"))
        add(Case(f"{short}-lender-nul", "p1", _loan(route, disclosure__lender=NUL), "TEXT_NUL"))
        add(
            Case(
                f"{short}-statement-long",
                "p1",
                _loan(route, disclosure__no_other_charges_statement=LONG),
                "TEXT_TOO_LONG",
            )
        )
        add(
            Case(
                f"{short}-disbursed-1999",
                "p1",
                _loan(route, disclosure__disbursed_on="1999-12-31"),
                "TIME_OUT_OF_RANGE",
            )
        )
        add(
            Case(
                f"{short}-due-9999",
                "p1",
                _loan(route, disclosure__schedule__0__due="9999-12-31"),
                "TIME_OUT_OF_RANGE",
            )
        )
        add(
            Case(
                f"{short}-confirmed-year-1900",
                "p1",
                _loan(route, disclosure__confirmation__confirmed_at="1900-01-01T00:00:00Z"),
                "TIME_OUT_OF_RANGE",
            )
        )
        add(
            Case(
                f"{short}-collector-id-huge",
                "p1",
                _loan(
                    route,
                    disclosure__fees=[
                        {
                            "name": "service",
                            "category": "service",
                            "timing": "upfront",
                            "collector": "P",
                            "collector_participant_id": 2**63,
                            "charges": [{"on": "2026-01-01", "amount": 1}],
                        }
                    ],
                ),
                "VALUE_OUT_OF_RANGE",
            )
        )
    for bad in (2**63, 2**64, 2**128):
        add(Case(f"loans-principal-{bad}", "p1", _principal(bad), "VALUE_OUT_OF_RANGE"))
    add(
        Case(
            "loans-body-not-utf8",
            "p1",
            _raw("POST", "/v1/loans", b'{"x": "\xc3\x28"}'),
            "INVALID_UTF8",
        )
    )
    add(
        Case(
            "loans-form-field-not-utf8",
            "p1",
            _loan_form(b'{"source_system": "\xff"}'),
            "INVALID_UTF8",
        )
    )
    add(
        Case(
            "loans-surrogate",
            "p1",
            _raw("POST", "/v1/loans/batch", b'{"loans": [{"source_system": "\\udfff"}]}'),
            "INVALID_UTF8",
        )
    )
    # ---- co-signing, rejection, retirement, status, receipts
    for tail, method, body, role in (
        ("/confirm", "POST", None, "bank1"),
        ("/sign", "POST", None, "bank1"),
        ("/signing", "GET", None, "p1"),
        ("/reject", "POST", {"reason": "no"}, "bank1"),
        ("/revoke", "POST", {"reason_code": 1}, "regulator"),
        ("", "GET", None, "p1"),
        ("/receipt", "GET", None, "p1"),
        ("/document", "GET", None, "p1"),
        ("/erasure", "POST", {"reason": "r", "reference": "x"}, "p1"),
        ("/erasure", "GET", None, "p1"),
        ("/erasure/approval", "POST", None, "bank1"),
        ("/evidence-log", "GET", None, "p1"),
        ("/borrower-opening", "GET", None, "p1"),
        ("/evidence", "GET", None, "p1"),
    ):
        for bad, code in (
            ("%00", "INVALID_INPUT"),
            ("0x%FF", "INVALID_UTF8"),
            ("-1", "INVALID_INPUT"),
        ):
            add(
                Case(
                    f"record{tail.replace('/', '-')}-{bad}",
                    role,
                    _json(method, f"/v1/loans/{bad}{tail}", body),
                    code,
                )
            )
    add(Case("reject-reason-nul", "bank1", _record("POST", "/reject", {"reason": NUL}), "TEXT_NUL"))
    for field, value, code in (
        ("reason", NUL, "TEXT_NUL"),
        ("reason", LONG, "TEXT_TOO_LONG"),
        ("reference", NUL, "TEXT_NUL"),
        ("reference", LONG, "TEXT_TOO_LONG"),
        ("reason", "", "INVALID_INPUT"),
    ):
        body = {"reason": "r", "reference": "x", field: value}
        add(
            Case(
                f"erasure-{field}-{code}",
                "p1",
                _record("POST", "/erasure", body),
                code,
            )
        )
    grant = {"auditor_id": 1, "record_ids": ["0x" + "ab" * 32], "valid_from": 1_800_000_000}
    grant["valid_until"] = 1_800_000_100
    for field, value, code in (
        ("auditor_id", -1, "VALUE_OUT_OF_RANGE"),
        ("auditor_id", 2**64, "VALUE_OUT_OF_RANGE"),
        ("record_ids", [], "INVALID_INPUT"),
        ("record_ids", ["0x" + NUL * 64], "INVALID_INPUT"),
        ("record_ids", ["0x" + "ab" * 32] * 1001, "INVALID_INPUT"),
        *(("valid_from", t, "TIME_OUT_OF_RANGE") for t in BAD_TIMES),
        ("valid_until", -1, "TIME_OUT_OF_RANGE"),
        ("surplus", 1, "INVALID_INPUT"),
    ):
        add(
            Case(
                f"grant-{field}-{code}-{len(str(value))}",
                "bank1",
                _json("POST", "/v1/grants", {**grant, field: value}),
                code,
            )
        )
    for bad in BAD_IDS:
        add(
            Case(
                f"grant-revoke-{bad}",
                "bank1",
                _json("DELETE", f"/v1/grants/{bad}"),
                "VALUE_OUT_OF_RANGE",
            )
        )
    for tail in ("/sign", "/confirm"):
        add(
            Case(
                f"record{tail.replace('/', '-')}-signature-nul",
                "bank1",
                _record("POST", tail, {"signature": "0x" + NUL * 130}),
                "INVALID_INPUT",
            )
        )
    add(
        Case(
            "reject-reason-long",
            "bank1",
            _record("POST", "/reject", {"reason": LONG}),
            "TEXT_TOO_LONG",
        )
    )
    for bad in (-1, 2**16, *HUGE):
        add(
            Case(
                f"revoke-reason-{bad}",
                "regulator",
                _record("POST", "/revoke", {"reason_code": bad}),
                "VALUE_OUT_OF_RANGE",
            )
        )
    add(
        Case(
            "amend-successor-nul",
            "regulator",
            _record("POST", "/amend", {"reason_code": 1, "superseded_by": "0x" + "\x00" * 64}),
            "INVALID_INPUT",
        )
    )
    for route, role in (("/v1/loans/confirm-batch", "bank1"), ("/v1/loans/receipts", "p1")):
        add(
            Case(
                f"{route}-nul-id",
                role,
                _json("POST", route, {"record_ids": [NUL]}),
                "INVALID_INPUT",
            )
        )
    # ---- the caller's own loans, a batch, long-polling a status
    for bad in BAD_IDS:
        add(
            Case(
                f"own-loans-funder-{bad}",
                "p1",
                _json("GET", "/v1/loans", funder_id=bad),
                "VALUE_OUT_OF_RANGE",
            )
        )
    for bad in (-1, TIME_MAX + 1, *HUGE):
        add(
            Case(
                f"own-loans-issued-{bad}",
                "p1",
                _json("GET", "/v1/loans", issued_from=bad),
                "TIME_OUT_OF_RANGE",
            )
        )
    for bad in (-1, 0, *HUGE):
        add(
            Case(
                f"own-loans-limit-{bad}",
                "p1",
                _json("GET", "/v1/loans", limit=bad),
                "VALUE_OUT_OF_RANGE",
            )
        )
    for bad in ("-1", "31", "inf", "nan", "1e308"):
        add(Case(f"status-wait-{bad}", "p1", _record("GET", f"?wait={bad}"), "VALUE_OUT_OF_RANGE"))
    for bad, code in (("%00", "INVALID_INPUT"), ("0x%FF", "INVALID_UTF8"), ("-1", "INVALID_INPUT")):
        add(Case(f"batch-root-{bad}", "p1", _json("GET", f"/v1/batches/{bad}"), code))
    for bad, code in (("%00", "INVALID_INPUT"), ("0x%FF", "INVALID_UTF8"), ("-1", "INVALID_INPUT")):
        add(
            Case(
                f"record-disclosure-{bad}",
                "p1",
                _json("GET", f"/v1/loans/{bad}/disclosure", fields="/fees"),
                code,
            )
        )
    for bad, code in (("x" * 10_001, "TEXT_TOO_LONG"), ("a%00b", "TEXT_NUL")):
        add(
            Case(
                f"record-disclosure-fields-{code}",
                "p1",
                _record("GET", f"/disclosure?fields={bad}"),
                code,
            )
        )
    # ---- verification (anyone)
    opening = {"id_type": "resident-id", "id_number": "1", "key": "0x" + "11" * 32}
    for name, given, code in (
        ("odd-key", {**opening, "key": "0x" + "1" * 65, "salt": "0x" + "22" * 16}, "INVALID_INPUT"),
        ("short-salt", {**opening, "salt": "0x" + "22" * 15}, "INVALID_INPUT"),
        ("id-nul", {**opening, "id_number": NUL, "salt": "0x" + "22" * 16}, "TEXT_NUL"),
        ("id-blank", {**opening, "id_number": "\u3000", "salt": "0x" + "22" * 16}, "INVALID_INPUT"),
    ):
        body = {"commitment": "0x" + "00" * 32, "opening": given}
        add(
            Case(
                f"verify-commitment-{name}",
                "none",
                _json("POST", "/v1/verify/commitment", body),
                code,
            )
        )
    add(
        Case(
            "verify-disclosure-not-a-disclosure",
            "none",
            _json("POST", "/v1/verify/disclosure", {"disclosure": {"fields": []}}),
            "INVALID_INPUT",
        )
    )
    add(
        Case(
            "verify-disclosure-not-utf8",
            "none",
            _raw("POST", "/v1/verify/disclosure", b'{"disclosure": "\xff"}'),
            "INVALID_UTF8",
        )
    )
    add(
        Case(
            "verify-digest-nul",
            "none",
            _json("POST", "/v1/verify", {"receipt": {}, "document_sha256": NUL}),
            "INVALID_INPUT",
        )
    )
    add(
        Case(
            "verify-not-utf8",
            "none",
            _raw("POST", "/v1/verify", b'{"receipt": "\xff"}'),
            "INVALID_UTF8",
        )
    )
    # ---- regulator queries
    for route in ("/v1/regulator/loans", "/v1/regulator/stats"):
        short = route.rsplit("/", 1)[-1]
        filters: tuple[tuple[tuple[str, ...], tuple[int, ...], str], ...] = (
            (("funder_id", "platform_id", "guarantor_id"), BAD_IDS, "VALUE_OUT_OF_RANGE"),
            (
                ("issued_from", "issued_to"),
                (-1, TIME_MAX + 1, YEAR_36812, *HUGE),
                "TIME_OUT_OF_RANGE",
            ),
            (("apr_min_bps", "apr_max_bps"), (-1, 2**32, *HUGE), "VALUE_OUT_OF_RANGE"),
        )
        for names, bads, code in filters:
            for name in names:
                for bad in bads:
                    send = _json("GET", route, **{name: bad})
                    add(Case(f"{short}-{name}-{bad}", "regulator", send, code))
        add(Case(f"{short}-rule-nul", "regulator", _json("GET", route, rule=NUL), "INVALID_INPUT"))
        add(
            Case(
                f"{short}-query-not-utf8",
                "regulator",
                _json("GET", f"{route}?rule=%FF%FE"),
                "INVALID_UTF8",
            )
        )
    for route in ("/v1/regulator/loans", "/v1/regulator/chain-loans"):
        add(
            Case(
                f"{route}-cursor-nul",
                "regulator",
                _json("GET", route, cursor=NUL),
                "INVALID_CURSOR",
            )
        )
        for bad in (-1, 0, *HUGE):
            add(
                Case(
                    f"{route}-limit-{bad}",
                    "regulator",
                    _json("GET", route, limit=bad),
                    "VALUE_OUT_OF_RANGE",
                )
            )
    return cases


CASES = _cases()


def _key(env: Env, role: str) -> dict[str, str]:
    if role == "none":
        return {}
    return auth(env.regulator_key if role == "regulator" else env[role].key)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_value_is_refused_and_changes_nothing(env: Env, case: Case) -> None:
    _pending(env)
    before = stored(env)
    r = case.send(env, _key(env, case.role))
    assert r.status_code == case.status, (case.name, r.status_code, r.text)
    assert error_code(r) == case.code, (case.name, r.text)
    assert stored(env) == before, case.name


def test_every_route_with_parameters_is_in_the_table(
    env: Env, figures: Callable[[str], None]
) -> None:
    """A new route (or a new parameter on one) needs its hostile values here."""
    document = env.http.get("/openapi.json").json()
    seen = " ".join(c.name for c in CASES)
    expected = {
        "/v1/participants": "participant-name",
        "/v1/participants/{participant_id}/status": "status-of-participant",
        "/v1/policy/rate-caps/{institution_type}": "rate-cap",
        "/v1/policy/lpr": "lpr-",
        "/v1/whitelist/{partner_id}": "whitelist-add",
        "/v1/whitelists": "whitelists-of",
        "/v1/loans": "loans-",
        "/v1/loans/prepare": "prepare-",
        "/v1/loans/batch": "batch-",
        "/v1/loans/confirm-batch": "confirm-batch",
        "/v1/loans/receipts": "/v1/loans/receipts",
        "/v1/loans/{record_id}/confirm": "record-confirm",
        "/v1/loans/{record_id}/sign": "record-sign-",
        "/v1/loans/{record_id}/signing": "record-signing-",
        "/v1/loans/{record_id}/reject": "reject-reason",
        "/v1/loans/{record_id}/revoke": "revoke-reason",
        "/v1/loans/{record_id}/amend": "amend-",
        "/v1/loans/{record_id}": "record-",
        "/v1/loans/{record_id}/receipt": "record-receipt",
        "/v1/loans/{record_id}/document": "record-document",
        "/v1/loans/{record_id}/erasure": "erasure-",
        "/v1/loans/{record_id}/erasure/approval": "record-erasure-approval",
        "/v1/loans/{record_id}/evidence-log": "record-evidence-log",
        "/v1/grants": "grant-auditor_id",
        "/v1/grants/{grant_id}": "grant-revoke",
        "/v1/loans/{record_id}/evidence": "record-evidence",
        "/v1/verify": "verify-",
        "/v1/loans/{record_id}/disclosure": "record-disclosure-",
        "/v1/verify/disclosure": "verify-disclosure-",
        "/v1/verify/commitment": "verify-commitment-",
        "/v1/loans/{record_id}/borrower-opening": "record-borrower-opening",
        "/v1/regulator/loans": "loans-funder_id",
        "/v1/regulator/chain-loans": "chain-loans-limit",
        "/v1/regulator/stats": "stats-",
        "/v1/batches/{root}": "batch-root",
    }
    for path, operations in document["paths"].items():
        takes_input = any(
            op.get("parameters") or op.get("requestBody") for op in operations.values()
        )
        if not takes_input or path == "/v1/verify/batch":  # receipts are verified, not stored
            continue
        assert path in expected, f"{path} takes input: add its hostile values to the table"
        assert expected[path] in seen, path
    codes = Counter(c.code for c in CASES)
    figures(
        f"hostile input [{backends.BACKEND}]: {len(CASES)} cases (one test each: its 4xx code,"
        f" stored state compared before and after) over {len(expected)} routes; by code: "
        + ", ".join(f"{code} {n}" for code, n in codes.most_common())
    )


def test_every_code_of_the_table_is_a_stable_input_code() -> None:
    for case in CASES:
        assert case.code in INPUT_CODES or case.code == "INVALID_CURSOR", case.name


# ---------------------------------------------------------------------- the library


def test_library_entry_points_check_bounds_before_the_chain(env: Env) -> None:
    service = env.gw.service
    pending = _pending(env)
    before = stored(env)
    calls: list[tuple[Callable[[], Any], str]] = [
        (lambda: service.register_participant(Role.PLATFORM, NUL), "TEXT_NUL"),
        (lambda: service.register_participant(Role.PLATFORM, LONG), "TEXT_TOO_LONG"),
        (
            lambda: service.register_participant(Role.PLATFORM, "x", signer_address="0x1"),
            "INVALID_INPUT",
        ),
        (
            lambda: service.set_participant_status(-1, ParticipantStatus.SUSPENDED),
            "VALUE_OUT_OF_RANGE",
        ),
        (
            lambda: service.set_participant_status(2**64, ParticipantStatus.SUSPENDED),
            "VALUE_OUT_OF_RANGE",
        ),
        (lambda: service.set_lpr(310, YEAR_36812), "TIME_OUT_OF_RANGE"),
        (lambda: service.set_lpr(2**40), "VALUE_OUT_OF_RANGE"),
        (lambda: service.set_rate_cap(Role.FUNDER, 2400, 2**64), "TIME_OUT_OF_RANGE"),  # type: ignore[arg-type]
        (lambda: service.whitelist_add(env["bank1"].id, -1), "VALUE_OUT_OF_RANGE"),
        (lambda: service.whitelist_remove(env["bank1"].id, 7, -1), "TIME_OUT_OF_RANGE"),
    ]
    for call, code in calls:
        with pytest.raises(InputError) as caught:
            call()
        assert caught.value.code == code, caught.value
    caller = service.authenticate(env["bank1"].key)
    for call, code in [
        (lambda: service.reject_loan(caller, pending, NUL), "TEXT_NUL"),
        (lambda: service.confirm_loan(caller, "0x\x00"), "INVALID_INPUT"),
        (lambda: service.status(caller, "\x00"), "INVALID_INPUT"),
        (lambda: service.retire(caller, pending, -1), "VALUE_OUT_OF_RANGE"),
    ]:
        with pytest.raises(InputError) as caught:
            call()
        assert caught.value.code == code, caught.value
    assert stored(env) == before


def test_bounds_admit_their_ends(env: Env) -> None:
    """The ends of the ranges are accepted (on PostgreSQL too): 0 and 2100-01-01 in a filter,
    the largest id and rate the INTEGER columns hold."""
    r = env.http.get(
        "/v1/regulator/loans",
        params={"issued_from": 0, "issued_to": TIME_MAX, "apr_max_bps": 2**31 - 1},
        headers=auth(env.regulator_key),
    )
    assert r.status_code == 200, r.text
    r = env.http.get(
        "/v1/regulator/stats",
        params={"issued_from": TIME_MIN, "funder_id": 2**31 - 1},
        headers=auth(env.regulator_key),
    )
    assert r.status_code == 200, r.text


# ---------------------------------------------------------------------- bugs found while testing


def _sign(signer: LocalSigner, digest: bytes) -> str:
    return "0x" + signer.sign_digest(digest).hex()


def test_own_key_platform_resubmitting_a_rejected_loan(env: Env) -> None:
    """The same signed record after the funder refused it: 409 RECORD_EXISTS (submit it anew,
    with another issue time), not a 500 from the primary key."""
    own = LocalSigner.generate()
    platform = env.register("platform", "Own-key Resubmitter", signer_address=own.address)
    env.whitelist(env["bank1"], platform)
    body, _ = env.loan_json()
    body = {k: v for k, v in body.items() if k != "borrower_id"}
    body["borrower_commitment"] = "0x" + secrets.token_bytes(32).hex()
    prepared = env.http.post("/v1/loans/prepare", json=body, headers=auth(platform.key))
    assert prepared.status_code == 200, prepared.text
    record_id = prepared.json()["record_id"]
    signed = dict(body, platform_signature=_sign(own, bytes.fromhex(record_id[2:])))
    r = env.post_loan(platform.key, signed)
    assert r.status_code == 202, r.text
    r = env.http.post(
        f"/v1/loans/{record_id}/reject", json={"reason": "KYC"}, headers=auth(env["bank1"].key)
    )
    assert r.status_code == 200, r.text
    before = stored(env)
    for _ in range(2):
        r = env.post_loan(platform.key, signed)
        assert r.status_code == 409, r.text
        assert error_code(r) == "RECORD_EXISTS"
        r = env.http.post("/v1/loans/batch", json={"loans": [signed]}, headers=auth(platform.key))
        assert r.status_code == 202, r.text
        assert r.json()["accepted"] == 0
        assert r.json()["results"][0]["error"]["code"] == "RECORD_EXISTS"
    assert stored(env) == before


def test_confirm_batch_on_a_rejected_loan_is_counted_rejected(env: Env) -> None:
    r = env.submit(env["p1"])
    record_id = r.json()["record_id"]
    key = auth(env["bank1"].key)
    r = env.http.post(f"/v1/loans/{record_id}/reject", json={"reason": "no"}, headers=key)
    assert r.status_code == 200, r.text
    before = stored(env)
    r = env.http.post("/v1/loans/confirm-batch", json={"record_ids": [record_id]}, headers=key)
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["accepted"], out["rejected"]) == (0, 1), out
    assert out["results"][0]["error"]["code"] == "NOT_AWAITING_FUNDER"
    r = env.http.post(f"/v1/loans/{record_id}/confirm", headers=key)
    assert r.status_code == 409 and error_code(r) == "NOT_AWAITING_FUNDER"
    assert stored(env) == before
    assert env.status(record_id)["status"] == "rejected"


def test_openapi_references_resolve(env: Env) -> None:
    """Every `$ref` of the document (the bodies of `POST /v1/loans` included) names a
    component that exists, and no `$defs` is left inside it."""
    document = env.http.get("/openapi.json").json()
    text = json.dumps(document)
    assert '"$defs"' not in text
    refs = set(re.findall(r'"\$ref": "([^"]+)"', text))
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[-1] in document["components"]["schemas"], ref
    body = document["paths"]["/v1/loans"]["post"]["requestBody"]["content"]
    assert body["application/json"]["schema"] == {"$ref": "#/components/schemas/LoanSubmission"}
