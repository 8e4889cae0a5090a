"""Loopholes found by probing the rules through the API (issue: rules without loopholes), each
closed at its root: fee collectors off the whitelist, the co-funder's whitelist, the stricter cap on
the computed rate, and records keeping the understated figure."""

from __future__ import annotations

import json
from datetime import date, timedelta
from fractions import Fraction
from typing import Any

from ledger.store import SubmissionRow
from tests.api.conftest import Env, Party, auth, refused


def with_fee(
    body: dict[str, Any], category: str, collector_id: int | None, per_month: int = 100
) -> dict[str, Any]:
    """The submission with a small monthly fee (within the stated rate's tolerance)."""
    out = json.loads(json.dumps(body))
    form = out["disclosure"]
    item: dict[str, Any] = {
        "name": f"{category} fee",
        "category": category,
        "timing": "with_instalment",
        "collector": "someone",
        "charges": [{"on": i["due"], "amount": per_month} for i in form["schedule"]],
    }
    if collector_id is not None:
        item["collector_participant_id"] = collector_id
    form["fees"] = [*form["fees"], item]
    return out


def test_a_guarantee_fee_needs_the_guarantor_on_the_record(env: Env) -> None:
    """A 担保费 collected by a guarantor the funder never listed, with the loan's guarantor left
    empty, was anchored: how credit-enhancement fees are hidden."""
    body, _ = env.loan_json()
    with env.nothing_changes():
        for collector in (env["g2"].id, env["g1"].id, None):
            refused(
                env.post_loan(env["p1"].key, with_fee(body, "guarantee", collector)),
                "FEE_COLLECTOR_NOT_GUARANTOR",
            )
        # insurance and other credit enhancement too
        for category in ("credit_enhancement", "insurance"):
            refused(
                env.post_loan(env["p1"].key, with_fee(body, category, None)),
                "FEE_COLLECTOR_NOT_GUARANTOR",
            )
        # named as the guarantor, it is the guarantor who must be on the whitelist (g2 is not)
        other, _ = env.loan_json(guarantor_id=env["g2"].id)
        refused(
            env.post_loan(env["p1"].key, with_fee(other, "guarantee", env["g2"].id)),
            "GUARANTOR_NOT_WHITELISTED",
        )
    # the guarantor on the record, listed by the funder: accepted
    good, _ = env.loan_json(guarantor_id=env["g1"].id)
    r = env.post_loan(env["p1"].key, with_fee(good, "guarantee", env["g1"].id))
    assert r.status_code == 202, r.text


def test_a_fee_collector_is_a_party_or_a_listed_partner(env: Env) -> None:
    body, _ = env.loan_json()
    with env.nothing_changes():
        refused(
            env.post_loan(env["p1"].key, with_fee(body, "service", env["p3"].id)),
            "FEE_COLLECTOR_NOT_WHITELISTED",
        )
    for collector in (env["p1"], env["bank1"], env["p2"]):  # party, party, partner of bank1
        fresh, _ = env.loan_json()
        r = env.post_loan(env["p1"].key, with_fee(fresh, "service", collector.id))
        assert r.status_code == 202, (collector, r.text)


def test_the_co_funder_must_list_the_platform(env: Env) -> None:
    platform = env.register("platform", "Listed by bank1 only")
    env.whitelist(env["bank1"], platform)
    with env.nothing_changes():
        refused(
            env.submit(platform, co_funder_id=env["bank2"].id, co_funder_share_bps=5000),
            "PLATFORM_NOT_WHITELISTED",
        )
    env.whitelist(env["bank2"], platform)
    r = env.submit(platform, co_funder_id=env["bank2"].id, co_funder_share_bps=5000)
    assert r.status_code == 202, r.text


def test_the_stricter_cap_binds_the_computed_rate(env: Env) -> None:
    """A bank + small-lender loan computing 12.0999 % and stating 12.00 % passed a 12 % cap: the
    computed rate was checked against the lead funder's cap only."""
    reg = auth(env.regulator_key)
    co_funder: Party = env.register("funder", "Small lender", "other")
    env.whitelist(co_funder, env["p1"])
    assert env.http.put(
        "/v1/policy/rate-caps/other", json={"cap_bps": 1200}, headers=reg
    ).is_success
    try:
        body, _ = env.loan_json(
            monthly_rate=Fraction(1_008_325, 100_000_000),
            co_funder_id=co_funder.id,
            co_funder_share_bps=5000,
        )
        assert body["disclosure"]["stated_apr_bps"] == 1210
        body["disclosure"]["stated_apr_bps"] = 1200  # within the 1/8-point tolerance
        with env.nothing_changes():
            refused(env.post_loan(env["p1"].key, body), "RATE_CAP_EXCEEDED")
    finally:
        assert env.http.put(
            "/v1/policy/rate-caps/other", json={"cap_bps": 2400}, headers=reg
        ).is_success


def test_the_record_keeps_the_computed_rate_not_the_understated_one(env: Env) -> None:
    """Within the tolerance a form may state less than its numbers give; the anchored record
    (and so the regulator's statistics) carries the computed figure."""
    body, _ = env.loan_json(monthly_rate=Fraction(149_999, 10_000_000))  # 17.9999 %
    assert body["disclosure"]["stated_apr_bps"] == 1800
    body["disclosure"]["stated_apr_bps"] = 1790
    r = env.post_loan(env["p1"].key, body)
    assert r.status_code == 202, r.text
    record_id = r.json()["record_id"]
    assert env.status(record_id)["apr_bps"] == 1800
    assert env.confirm(env["bank1"], record_id).status_code == 200
    env.gw.service.anchor_pending()
    receipt = env.http.get(f"/v1/loans/{record_id}/receipt", headers=auth(env.regulator_key))
    assert receipt.json()["record"]["apr_bps"] == 1800
    report = env.http.post("/v1/verify", json={"receipt": receipt.json()}).json()
    assert report["ok"] is True, report


def test_term_days_are_the_schedule_s(env: Env) -> None:
    body, _ = env.loan_json()
    form = body["disclosure"]
    days = (
        date.fromisoformat(form["schedule"][-1]["due"]) - date.fromisoformat(form["disbursed_on"])
    ).days
    with env.nothing_changes():
        refused(env.post_loan(env["p1"].key, {**body, "term_days": days + 30}), "TERM_MISMATCH")
    r = env.post_loan(env["p1"].key, {**body, "term_days": days})
    assert r.status_code == 202, r.text
    fresh, _ = env.loan_json()  # left out: the schedule's
    r = env.post_loan(env["p1"].key, fresh)
    assert r.status_code == 202, r.text
    with env.gw.service.db.session() as s:
        stored = s.get(SubmissionRow, r.json()["record_id"])
        assert stored is not None and json.loads(stored.record_json)["term_days"] == days


def test_a_disclosure_confirmed_long_before_the_loan_is_not_its_disclosure(env: Env) -> None:
    body, _ = env.loan_json(confirmed_before=timedelta(days=31))
    with env.nothing_changes():
        refused(env.post_loan(env["p1"].key, body), "DISCLOSURE_STALE")
    recent, _ = env.loan_json(confirmed_before=timedelta(days=29))
    assert env.post_loan(env["p1"].key, recent).status_code == 202


def test_a_cap_linked_to_the_lpr_moves_with_it(env: Env) -> None:
    """Small-loan companies: 4 x LPR defined once; an LPR change moves the cap, on chain and in
    the gateway's view, with no new cap to set."""
    reg = auth(env.regulator_key)
    lender = env.register("funder", "LPR-linked lender", "other")
    env.whitelist(lender, env["p1"])
    r = env.http.put("/v1/policy/rate-caps/other", json={"lpr_multiple_bps": 40_000}, headers=reg)
    assert r.status_code == 200, r.text
    try:
        body, _ = env.loan_json(funder=lender, monthly_rate=Fraction(1_010, 100_000))  # 12.12 %
        with env.nothing_changes():
            refused(env.post_loan(env["p1"].key, body), "RATE_CAP_EXCEEDED")  # 4 x 3.00 %
        assert env.http.put("/v1/policy/lpr", json={"lpr_bps": 310}, headers=reg).is_success
        body, _ = env.loan_json(funder=lender, monthly_rate=Fraction(1_010, 100_000))
        assert env.post_loan(env["p1"].key, body).status_code == 202  # 4 x 3.10 % = 12.40 %
        both = env.http.put(
            "/v1/policy/rate-caps/other",
            json={"cap_bps": 2400, "lpr_multiple_bps": 40_000},
            headers=reg,
        )
        assert both.status_code == 422
    finally:
        assert env.http.put("/v1/policy/lpr", json={"lpr_bps": 300}, headers=reg).is_success
        assert env.http.put(
            "/v1/policy/rate-caps/other", json={"cap_bps": 2400}, headers=reg
        ).is_success


def test_a_backdated_cap_change_has_its_own_code(env: Env) -> None:
    reg = auth(env.regulator_key)
    past = env.now() - 86_400
    with env.nothing_changes():
        for path, body in (
            ("/v1/policy/rate-caps/other", {"cap_bps": 2000, "effective_from": past}),
            ("/v1/policy/rate-caps/other", {"lpr_multiple_bps": 40_000, "effective_from": past}),
            ("/v1/policy/lpr", {"lpr_bps": 310, "effective_from": past}),
        ):
            refused(env.http.put(path, json=body, headers=reg), "POLICY_BACKDATED")
