"""Bodies built to crash the parser, sent to the real gateway process: every one is refused with
a 4xx and a stable code, and the process stays alive and answers `/healthz`.

The original crash: 100,000 nested arrays in a 200 KB body killed `ledger serve` with SIGSEGV in
`_json` (the Ethereum libraries had raised the recursion limit to 100,000), with or without an
API key, because the body is parsed before the caller is authenticated.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ledger.limits import MAX_JSON_DEPTH, MAX_JSON_ELEMENTS
from ledger.testing import loan_submission
from tests.process.gateway_process import GatewayProcess, auth, bank_and_platform

pytestmark = pytest.mark.slow

DEEP = 100_000


def _arrays(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _objects(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def _mixed(depth: int) -> bytes:
    return b'[{"a":' * (depth // 2) + b"0" + b"}]" * (depth // 2)


def _unclosed(depth: int) -> bytes:
    return b"[" * depth


BODIES: dict[str, bytes] = {
    "arrays 100k": _arrays(DEEP),
    "objects 100k": _objects(DEEP),
    "mixed 100k": _mixed(DEEP),
    "arrays 1 MB": _arrays(512 * 1024),
    "unclosed 100k": _unclosed(DEEP),
    "inside a loan": b'{"loans": [' + _arrays(DEEP) + b"]}",
    "just too deep": _arrays(MAX_JSON_DEPTH + 1),
    "too many values": b"[" + b"0," * MAX_JSON_ELEMENTS + b"0]",
    "a 100,000-digit number": b'{"funder_id": ' + b"9" * 100_000 + b"}",
    "100,000-digit numbers in a batch": b'{"loans": [' + b",".join([b"9" * 100_000] * 20) + b"]}",
}

ROUTES = ("/v1/loans/batch", "/v1/participants", "/v1/loans", "/v1/loans/prepare", "/v1/verify")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    # the upload limit as an operator sets it (the default, 256 MiB, would take the 100 MB
    # upload below): LEDGER_MAX_UPLOAD_BYTES
    server = GatewayProcess(
        tmp_path_factory.mktemp("hostile") / "gw",
        env={"LEDGER_MAX_UPLOAD_BYTES": str(50 * 1024 * 1024)},
    )
    try:
        yield server
    finally:
        server.stop()


def _assert_alive(server: GatewayProcess, http: httpx.Client) -> None:
    assert server.alive(), server.log.read_text()[-3000:]
    assert http.get("/healthz").status_code == 200


def _chunks(body: bytes) -> Iterator[bytes]:
    for start in range(0, len(body), 64 * 1024):
        yield body[start : start + 64 * 1024]


@pytest.mark.parametrize("name", list(BODIES))
def test_nested_bodies_are_refused_and_the_process_survives(
    gateway: GatewayProcess, name: str
) -> None:
    body = BODIES[name]
    regulator = gateway.regulator_key()
    seen: list[tuple[str, str, int, str]] = []
    with httpx.Client(base_url=gateway.base, timeout=60) as http:
        before = http.get("/v1/participants", headers=auth(regulator)).json()
        for route in ROUTES:
            for key in (None, regulator, "lel_not-a-key"):
                for chunked in (False, True):
                    content: bytes | Iterator[bytes] = _chunks(body) if chunked else body
                    r = http.post(
                        route,
                        content=content,
                        headers={**auth(key), "Content-Type": "application/json"},
                    )
                    code = r.json()["error"]["code"]
                    seen.append((route, str(key)[:8], r.status_code, code))
                    assert 400 <= r.status_code < 500, seen[-1]
                    assert code in {
                        "JSON_TOO_DEEP",
                        "JSON_TOO_MANY_ELEMENTS",
                        "INVALID_INPUT",
                        "PAYLOAD_TOO_LARGE",
                        "JSON_NUMBER_TOO_LONG",
                    }, seen[-1]
                    _assert_alive(gateway, http)
        assert http.get("/v1/participants", headers=auth(regulator)).json() == before


@pytest.mark.parametrize("field", ["submission", "receipt"])
def test_nested_json_in_a_multipart_field_is_refused(gateway: GatewayProcess, field: str) -> None:
    route = "/v1/loans" if field == "submission" else "/v1/verify"
    regulator = gateway.regulator_key()
    with httpx.Client(base_url=gateway.base, timeout=60) as http:
        for body in (_arrays(DEEP), _objects(DEEP)):
            for key in (None, regulator):
                r = http.post(
                    route,
                    files={field: (None, body.decode()), "document": ("a.pdf", b"%PDF-1.7")},
                    headers=auth(key),
                )
                assert 400 <= r.status_code < 500, r.text[:300]
                _assert_alive(gateway, http)


def test_the_original_crash_body_is_refused_before_authentication(gateway: GatewayProcess) -> None:
    """Exactly the reported request: no key, 200 KB of `[`/`]`, to the batch route."""
    with httpx.Client(base_url=gateway.base, timeout=60) as http:
        r = http.post(
            "/v1/loans/batch", content=_arrays(DEEP), headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 422
        assert r.json()["error"]["code"] == "JSON_TOO_DEEP"
        _assert_alive(gateway, http)


def _platform(gateway: GatewayProcess, http: httpx.Client) -> tuple[dict[str, Any], dict[str, Any]]:
    return bank_and_platform(http, gateway.regulator_key())


def _own_loans(http: httpx.Client, key: str) -> list[Any]:
    r = http.get("/v1/loans", headers=auth(key))
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def test_a_chunked_body_cut_off_by_the_limit_stores_nothing(gateway: GatewayProcess) -> None:
    """A valid loan followed by 60 MB of whitespace, sent chunked (no Content-Length): 413, and
    the loan is not stored; a multipart upload of 100 MB whose submission comes first: 413, and
    neither the loan nor its document is stored."""
    with httpx.Client(base_url=gateway.base, timeout=120) as http:
        bank, platform = _platform(gateway, http)
        key = platform["api_key"]
        now = int(http.get("/healthz").json()["time"])
        body, doc = loan_submission(bank["participant"]["id"], now)
        before = _own_loans(http, key)

        def padded() -> Iterator[bytes]:
            yield json.dumps(body).encode()
            for _ in range(60):
                yield b" " * (1024 * 1024)

        r = http.post(
            "/v1/loans", content=padded(), headers={**auth(key), "Content-Type": "application/json"}
        )
        assert r.request.headers.get("transfer-encoding") == "chunked"
        assert r.status_code == 413, r.text
        assert r.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"

        boundary = "drill-boundary"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="submission"\r\n\r\n'
            f"{json.dumps(body)}\r\n--{boundary}\r\nContent-Disposition: form-data;"
            f' name="agreement"; filename="a.pdf"\r\nContent-Type: application/pdf\r\n\r\n'
        ).encode()

        def upload() -> Iterator[bytes]:
            yield head + doc
            for _ in range(100):
                yield b"x" * (1024 * 1024)
            yield f"\r\n--{boundary}--\r\n".encode()

        r = http.post(
            "/v1/loans",
            content=upload(),
            headers={**auth(key), "Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        assert r.request.headers.get("transfer-encoding") == "chunked"
        assert r.status_code == 413, r.text
        assert r.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
        _assert_alive(gateway, http)
        assert _own_loans(http, key) == before
        # the same loan, sent whole, is accepted: it was refused for its size alone
        ok = http.post("/v1/loans", json=body, headers=auth(key))
        assert ok.status_code == 202, ok.text
        assert len(_own_loans(http, key)) == len(before) + 1
