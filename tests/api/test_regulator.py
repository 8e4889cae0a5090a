"""Regulator routes over HTTP: filters, cursor pages, CSV, statistics and violations."""

from __future__ import annotations

import csv
import io
from fractions import Fraction

from tests.api.conftest import Env, auth, error_code


def _get(env: Env, path: str) -> dict:  # type: ignore[type-arg]
    r = env.http.get(path, headers=auth(env.regulator_key))
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_loans_filters_pages_and_csv(env: Env) -> None:
    ids = {env.anchored_loan(funder=env["bank1"]) for _ in range(3)}
    env.anchored_loan(funder=env["bank2"])
    bank1 = env["bank1"].id
    seen: list[str] = []
    cursor = None
    for _ in range(100):  # bounded walk over every page
        query = f"/v1/regulator/loans?funder_id={bank1}&status=anchored&limit=2" + (
            f"&cursor={cursor}" if cursor else ""
        )
        page = _get(env, query)
        seen += [item["record_id"] for item in page["items"]]
        assert all(item["funder_id"] == bank1 for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert ids <= set(seen) and len(seen) == len(set(seen))
    r = env.http.get(
        f"/v1/regulator/loans?funder_id={bank1}&format=csv", headers=auth(env.regulator_key)
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {row["record_id"] for row in rows} >= ids


def test_apr_range_filter_and_bad_ranges(env: Env) -> None:
    cheap = env.anchored_loan(monthly_rate=Fraction(5, 1000))
    apr = env.status(cheap)["apr_bps"]
    items = _get(env, f"/v1/regulator/loans?apr_min_bps={apr}&apr_max_bps={apr}&limit=1000")[
        "items"
    ]
    assert cheap in {i["record_id"] for i in items} and all(i["apr_bps"] == apr for i in items)
    r = env.http.get(
        "/v1/regulator/loans?apr_min_bps=2000&apr_max_bps=1000", headers=auth(env.regulator_key)
    )
    assert r.status_code == 422 and error_code(r) == "INVALID_INPUT"
    r = env.http.get("/v1/regulator/loans?cursor=not-a-cursor", headers=auth(env.regulator_key))
    assert r.status_code == 422


def test_stats_counts_anchored_loans_per_institution_type(env: Env) -> None:
    env.anchored_loan(funder=env["bank1"])
    report = _get(env, "/v1/regulator/stats?group_by=institution_type&period=quarter")
    text = str(report)
    assert "bank" in text and "count" in text
    assert "24_percent" in text or "2400" in text


def test_violations_report_shape_and_refusals_store_nothing(env: Env) -> None:
    before = _get(env, "/v1/regulator/violations")
    over = env.submit(env["p1"], monthly_rate=Fraction(25, 1000))
    assert over.status_code == 422 and error_code(over) == "RATE_CAP_EXCEEDED"
    report = _get(env, "/v1/regulator/violations")
    assert {"proven", "proven_count", "legacy_awaiting_clearance", "rejected_at_submission"} <= set(
        report
    )
    assert report["proven_count"] == len(report["proven"]) == 0
    # a loan refused at submission is not stored, so it changes no count
    assert report["rejected_at_submission"] == before["rejected_at_submission"]


def test_platforms_and_funders_list_their_own_loans(env: Env) -> None:
    mine = {env.anchored_loan(platform=env["p1"], funder=env["bank1"]) for _ in range(3)}
    other = env.anchored_loan(platform=env["p2"], funder=env["bank2"])
    queued = env.queued_loan(platform=env["p1"], funder=env["bank1"])
    for party in ("p1", "bank1"):
        seen: list[str] = []
        cursor = None
        for _ in range(50):
            r = env.http.get(
                "/v1/loans?limit=2" + (f"&cursor={cursor}" if cursor else ""),
                headers=auth(env[party].key),
            )
            assert r.status_code == 200, r.text
            seen += [item["record_id"] for item in r.json()["items"]]
            cursor = r.json()["next_cursor"]
            if cursor is None:
                break
        assert mine | {queued} <= set(seen) and other not in seen
        assert len(seen) == len(set(seen))
    r = env.http.get("/v1/loans?status=anchored&limit=1000", headers=auth(env["p1"].key))
    assert queued not in {i["record_id"] for i in r.json()["items"]}
    r = env.http.get("/v1/loans?limit=0", headers=auth(env["p1"].key))
    assert r.status_code == 422 and error_code(r) == "VALUE_OUT_OF_RANGE"
    r = env.http.get("/v1/loans?cursor=nonsense", headers=auth(env["p1"].key))
    assert r.status_code == 422 and error_code(r) == "INVALID_CURSOR"


def test_batch_status_and_long_poll(env: Env) -> None:
    record_id = env.queued_loan()
    pending = env.http.get(f"/v1/loans/{record_id}?wait=0.3", headers=auth(env.regulator_key))
    assert pending.status_code == 200 and pending.json()["status"] == "queued"
    env.gw.service.anchor_pending()
    done = env.http.get(f"/v1/loans/{record_id}?wait=5", headers=auth(env.regulator_key))
    assert done.json()["status"] == "anchored"
    root = done.json()["batch_root"]
    batch = env.http.get(f"/v1/batches/{root}", headers=auth(env["p1"].key))
    assert batch.status_code == 200, batch.text
    assert batch.json()["size"] >= 1 and batch.json()["visible_records"] >= 1
    for wait, code in (
        ("-1", "VALUE_OUT_OF_RANGE"),
        ("31", "VALUE_OUT_OF_RANGE"),
        ("soon", "INVALID_INPUT"),
    ):
        r = env.http.get(f"/v1/loans/{record_id}?wait={wait}", headers=auth(env.regulator_key))
        assert r.status_code == 422 and error_code(r) == code
    r = env.http.get("/v1/batches/0x" + "0" * 64, headers=auth(env.regulator_key))
    assert r.status_code == 404 and error_code(r) == "BATCH_NOT_FOUND"
    r = env.http.get("/v1/batches/0xzz", headers=auth(env.regulator_key))
    assert r.status_code == 422 and error_code(r) == "INVALID_INPUT"
