"""Who may call what (bearer API keys bound to one participant and role), and who sees which loan."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.api.conftest import Env, Party, auth, error_code

CALLERS = ("regulator", "funder", "platform", "credit_enhancer", "auditor", "no_key", "bad_key")
AUTHENTICATED = frozenset(CALLERS[:5])
PUBLIC = frozenset(CALLERS)


@dataclass
class Matrix:
    """Participants of the matrix's own, so allowed calls change nothing the other tests use."""

    env: Env
    keys: dict[str, str | None]
    funder: Party
    platform: Party
    spare: Party  # the target of status changes and of a new whitelist entry
    listed: Party  # on the funder's whitelist, for removal
    record_id: str  # awaiting the matrix funder
    anchored_id: str
    v2_id: str  # anchored, its fee form committed field by field (fee-disclosure/v2)


@pytest.fixture(scope="module")
def matrix(env: Env) -> Matrix:
    funder = env.register("funder", "Matrix Bank", "bank")
    platform = env.register("platform", "Matrix Platform")
    guarantor = env.register("credit_enhancer", "Matrix Guarantor")
    auditor = env.register("auditor", "Matrix Auditor")
    spare = env.register("platform", "Matrix Spare")
    listed = env.register("platform", "Matrix Listed")
    for partner in (platform, guarantor, listed):
        env.whitelist(funder, partner)
    env.gw.service.client.advance_time(2)  # a whitelist period cannot end where it starts
    record_id = env.submit(platform, funder=funder).json()["record_id"]
    anchored_id = env.anchored_loan(platform, funder, guarantor_id=guarantor.id)
    v2 = {"format": "fee-disclosure/v2"}
    v2_id = env.anchored_loan(platform, funder, guarantor_id=guarantor.id, disclosure=v2)
    keys: dict[str, str | None] = {
        "regulator": env.regulator_key,
        "funder": funder.key,
        "platform": platform.key,
        "credit_enhancer": guarantor.key,
        "auditor": auditor.key,
        "no_key": None,
        "bad_key": "lel_this-key-was-never-issued",
    }
    return Matrix(env, keys, funder, platform, spare, listed, record_id, anchored_id, v2_id)


Call = Callable[[Matrix], tuple[str, str, dict[str, Any]]]


def _loan(m: Matrix) -> dict[str, Any]:
    body, _ = m.env.loan_json(funder=m.funder)
    return body


def _prepared(m: Matrix) -> dict[str, Any]:
    body = {k: v for k, v in _loan(m).items() if k != "borrower_id"}
    body["borrower_commitment"] = "0x" + "ab" * 32
    body["issued_at"] = m.env.now()
    return body


#: the status of an allowed call, when it is not 200
CREATED = {"POST /v1/participants": 201, "POST /v1/loans": 202, "POST /v1/loans/batch": 202}

ROUTES: dict[str, tuple[Call, frozenset[str]]] = {
    "POST /v1/participants": (
        lambda m: ("POST", "/v1/participants", {"json": {"role": "auditor", "name": "Extra"}}),
        frozenset({"regulator"}),
    ),
    "GET /v1/participants": (lambda m: ("GET", "/v1/participants", {}), AUTHENTICATED),
    "PUT /v1/participants/{id}/status": (
        lambda m: (
            "PUT",
            f"/v1/participants/{m.spare.id}/status",
            {"json": {"status": "active"}},
        ),
        frozenset({"regulator"}),
    ),
    "PUT /v1/policy/rate-caps/{type}": (
        lambda m: ("PUT", "/v1/policy/rate-caps/bank", {"json": {"cap_bps": 2400}}),
        frozenset({"regulator"}),
    ),
    "PUT /v1/policy/lpr": (
        lambda m: ("PUT", "/v1/policy/lpr", {"json": {"lpr_bps": 300}}),
        frozenset({"regulator"}),
    ),
    "PUT /v1/whitelist/{id}": (
        lambda m: ("PUT", f"/v1/whitelist/{m.spare.id}", {}),
        frozenset({"funder"}),
    ),
    "DELETE /v1/whitelist/{id}": (
        lambda m: ("DELETE", f"/v1/whitelist/{m.listed.id}", {}),
        frozenset({"funder"}),
    ),
    "GET /v1/whitelists": (lambda m: ("GET", "/v1/whitelists", {}), AUTHENTICATED),
    "POST /v1/loans": (
        lambda m: ("POST", "/v1/loans", {"json": _loan(m)}),
        frozenset({"platform"}),
    ),
    "POST /v1/loans/batch": (
        lambda m: ("POST", "/v1/loans/batch", {"json": {"loans": [_loan(m)]}}),
        frozenset({"platform"}),
    ),
    "POST /v1/loans/confirm-batch": (
        lambda m: ("POST", "/v1/loans/confirm-batch", {"json": {"record_ids": [m.anchored_id]}}),
        frozenset({"funder"}),
    ),
    "POST /v1/loans/{id}/confirm": (
        lambda m: ("POST", f"/v1/loans/{m.anchored_id}/confirm", {}),
        frozenset({"funder"}),
    ),
    "GET /v1/loans/{id}/signing": (
        lambda m: ("GET", f"/v1/loans/{m.anchored_id}/signing", {}),
        AUTHENTICATED,
    ),
    "POST /v1/loans/{id}/sign": (  # the matrix's parties each signed it: a repeat
        lambda m: ("POST", f"/v1/loans/{m.anchored_id}/sign", {}),
        frozenset({"funder", "platform", "credit_enhancer"}),
    ),
    "POST /v1/loans/{id}/reject": (
        lambda m: ("POST", f"/v1/loans/{m.record_id}/reject", {"json": {"reason": "matrix"}}),
        frozenset({"funder"}),
    ),
    "GET /v1/loans/{id}": (lambda m: ("GET", f"/v1/loans/{m.anchored_id}", {}), AUTHENTICATED),
    "GET /v1/loans/{id}/receipt": (
        lambda m: ("GET", f"/v1/loans/{m.anchored_id}/receipt", {}),
        AUTHENTICATED,
    ),
    "GET /v1/loans/{id}/evidence": (  # the regulator and the loan's parties (its guarantor too)
        lambda m: ("GET", f"/v1/loans/{m.anchored_id}/evidence", {}),
        frozenset({"regulator", "funder", "platform", "credit_enhancer"}),
    ),
    "POST /v1/verify": (
        lambda m: (
            "POST",
            "/v1/verify",
            {
                "json": {
                    "receipt": m.env.http.get(
                        f"/v1/loans/{m.anchored_id}/receipt", headers=auth(m.env.regulator_key)
                    ).json()
                }
            },
        ),
        PUBLIC,
    ),
    "GET /v1/loans/{id}/disclosure": (
        lambda m: ("GET", f"/v1/loans/{m.v2_id}/disclosure?fields=/fees", {}),
        frozenset({"regulator", "funder", "platform", "credit_enhancer"}),
    ),
    "POST /v1/verify/disclosure": (
        lambda m: (
            "POST",
            "/v1/verify/disclosure",
            {
                "json": {
                    "disclosure": m.env.http.get(
                        f"/v1/loans/{m.v2_id}/disclosure?fields=/principal",
                        headers=auth(m.env.regulator_key),
                    ).json()
                }
            },
        ),
        PUBLIC,
    ),
    "POST /v1/loans/prepare": (
        lambda m: ("POST", "/v1/loans/prepare", {"json": _prepared(m)}),
        frozenset({"platform"}),
    ),
    "GET /v1/regulator/loans": (
        lambda m: ("GET", "/v1/regulator/loans", {}),
        frozenset({"regulator"}),
    ),
    "GET /v1/regulator/loans (csv)": (
        lambda m: ("GET", "/v1/regulator/loans?format=csv", {}),
        frozenset({"regulator"}),
    ),
    "GET /v1/regulator/chain-loans": (
        lambda m: ("GET", "/v1/regulator/chain-loans", {}),
        frozenset({"regulator"}),
    ),
    "GET /v1/regulator/stats": (
        lambda m: ("GET", "/v1/regulator/stats", {}),
        frozenset({"regulator"}),
    ),
    "GET /v1/regulator/violations": (
        lambda m: ("GET", "/v1/regulator/violations", {}),
        frozenset({"regulator"}),
    ),
    "GET /healthz": (lambda m: ("GET", "/healthz", {}), PUBLIC),
    "GET /metrics": (lambda m: ("GET", "/metrics", {}), PUBLIC),
    "GET /docs": (lambda m: ("GET", "/docs", {}), PUBLIC),
    "GET /openapi.json": (lambda m: ("GET", "/openapi.json", {}), PUBLIC),
}


#: refusals that name what is missing rather than the role: an auditor may read with a grant
REFUSALS = {
    ("GET /v1/loans/{id}/disclosure", "auditor"): "GRANT_REQUIRED",
    ("GET /v1/loans/{id}/evidence", "auditor"): "GRANT_REQUIRED",
}


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route", list(ROUTES))
def test_authorization_matrix(matrix: Matrix, route: str, caller: str) -> None:
    build, allowed = ROUTES[route]
    method, path, kwargs = build(matrix)
    if route == "GET /healthz":
        matrix.env.gw.service.anchor_pending()  # a stale queue would make it 503
    before = matrix.env.db_state() if caller not in allowed else None
    r = matrix.env.http.request(method, path, headers=auth(matrix.keys[caller]), **kwargs)
    if caller in allowed:
        assert r.status_code == CREATED.get(route, 200), r.text
        if route == "POST /v1/loans/batch":
            assert r.json()["accepted"] == 1, r.text
    elif caller in ("no_key", "bad_key"):
        assert r.status_code == 401, r.text
        assert error_code(r) == "UNAUTHENTICATED"
        assert matrix.env.db_state() == before
    else:
        assert r.status_code == 403, r.text
        assert error_code(r) == REFUSALS.get((route, caller), "ROLE_FORBIDDEN")
        assert matrix.env.db_state() == before


@pytest.mark.parametrize(
    "header",
    [
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": "token-without-scheme"},
        {"X-Api-Key": "anything"},
    ],
)
def test_malformed_authorization_headers_are_401(env: Env, header: dict[str, str]) -> None:
    r = env.http.get("/v1/participants", headers=header)
    assert r.status_code == 401, r.text
    assert error_code(r) == "UNAUTHENTICATED"


def test_allowed_calls_really_succeed(matrix: Matrix) -> None:
    """The matrix's allowed requests are real ones: each succeeds for its role."""
    m, env = matrix, matrix.env
    k = m.keys
    assert env.http.get("/v1/whitelists", headers=auth(k["credit_enhancer"])).status_code == 200
    r = env.http.get(f"/v1/loans/{m.anchored_id}/receipt", headers=auth(k["auditor"]))
    assert r.status_code == 200 and r.json()["record_id"] == m.anchored_id
    r = env.http.post(
        "/v1/loans/confirm-batch",
        json={"record_ids": [m.anchored_id]},
        headers=auth(k["funder"]),
    )
    assert r.status_code == 200 and r.json()["results"][0]["status"] == "anchored"


# ---------------------------------------------------------------------- visibility


@pytest.fixture(scope="module")
def loans(env: Env) -> dict[str, str]:
    """`full`: p1 -> bank1 with guarantor g1 and co-funder bank2; `plain`: p2 -> bank1; both
    anchored. `pending`: p1 -> bank2, awaiting its funder."""
    full = env.queued_loan(
        env["p1"],
        env["bank1"],
        guarantor_id=env["g1"].id,
        co_funder_id=env["bank2"].id,
        co_funder_share_bps=4000,
    )
    plain = env.queued_loan(env["p2"], env["bank1"])
    env.gw.service.anchor_pending()
    pending = env.submit(env["p1"], funder=env["bank2"]).json()["record_id"]
    return {"full": full, "plain": plain, "pending": pending}


SEES = {
    # who: the loans it may see
    "regulator": {"full", "plain", "pending"},
    "auditor": {"full", "plain", "pending"},
    "p1": {"full", "pending"},
    "p2": {"plain"},
    "p3": set(),
    "bank1": {"full", "plain"},
    "bank2": {"full", "pending"},  # co-funder of `full`, funder of `pending`
    "cf": set(),
    "g1": {"full"},
    "g2": set(),
}


@pytest.mark.parametrize("who", list(SEES))
def test_visibility(env: Env, loans: dict[str, str], who: str) -> None:
    key = auth(env[who].key)
    for name, record_id in loans.items():
        r = env.http.get(f"/v1/loans/{record_id}", headers=key)
        receipt = env.http.get(f"/v1/loans/{record_id}/receipt", headers=key)
        if name in SEES[who]:
            assert r.status_code == 200, (name, r.text)
            assert r.json()["record_id"] == record_id
            if name == "pending":
                assert receipt.status_code == 409 and error_code(receipt) == "NOT_ANCHORED"
            else:
                assert receipt.status_code == 200, receipt.text
                assert receipt.json()["record_id"] == record_id
        else:
            for resp in (r, receipt):
                assert resp.status_code == 404, (name, resp.text)
                assert error_code(resp) == "RECORD_NOT_FOUND"
                # the same answer as for a record that does not exist: nothing leaks
                assert resp.json()["error"]["message"] == f"no record {record_id}"


def test_unknown_record_is_404_for_everyone(env: Env) -> None:
    unknown = "0x" + "cd" * 32
    for who in ("regulator", "auditor", "p1", "bank1"):
        for path in (f"/v1/loans/{unknown}", f"/v1/loans/{unknown}/receipt"):
            r = env.http.get(path, headers=auth(env[who].key))
            assert r.status_code == 404 and error_code(r) == "RECORD_NOT_FOUND"


def test_only_the_funder_may_confirm_or_reject(env: Env, loans: dict[str, str]) -> None:
    pending = loans["pending"]  # bank2 funds it
    with env.nothing_changes():
        for funder in ("bank1", "cf"):
            r = env.http.post(f"/v1/loans/{pending}/confirm", headers=auth(env[funder].key))
            assert r.status_code == 404 and error_code(r) == "RECORD_NOT_FOUND"
            r = env.http.post(
                f"/v1/loans/{pending}/reject", json={"reason": "x"}, headers=auth(env[funder].key)
            )
            assert r.status_code == 404 and error_code(r) == "RECORD_NOT_FOUND"
            r = env.http.post(
                "/v1/loans/confirm-batch",
                json={"record_ids": [pending]},
                headers=auth(env[funder].key),
            )
            assert r.status_code == 200
            assert r.json()["results"][0]["error"]["code"] == "RECORD_NOT_FOUND"
        # the co-funder of a loan is not its funder either
        r = env.http.post(
            f"/v1/loans/{loans['full']}/reject",
            json={"reason": "x"},
            headers=auth(env["bank2"].key),
        )
        assert r.status_code == 404 and error_code(r) == "RECORD_NOT_FOUND"
    assert env.status(pending)["status"] == "awaiting_funder"


def test_whitelist_query_is_readable_by_all_roles(env: Env) -> None:
    for who in ("p1", "g1", "auditor", "bank2"):
        r = env.http.get(f"/v1/whitelists?funder_id={env['bank1'].id}", headers=auth(env[who].key))
        assert r.status_code == 200
        assert {w["funder_id"] for w in r.json()} == {env["bank1"].id}
