"""Every field of a receipt is checked or listed as unverified: the receipt schema's fields equal
the coverage table, and editing any checked field of a genuine receipt fails the check the table
names. Receipts of the previous format still verify, with their unbound fields listed."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from ledger.receipts import Receipt, ReceiptV1
from ledger.timestamps import EntryPromiseV1
from ledger.verify import verify_receipt
from ledger.verify.fields import FIELD_CHECKS, UNVERIFIED_FIELDS, schema_fields
from tests.forgery.world import World

Json = dict[str, Any]


def test_schema_fields_equal_the_coverage_table() -> None:
    fields = schema_fields(Receipt.model_json_schema(mode="serialization"))
    assert set(FIELD_CHECKS).isdisjoint(UNVERIFIED_FIELDS)
    missing = fields - set(FIELD_CHECKS) - UNVERIFIED_FIELDS
    stale = (set(FIELD_CHECKS) | UNVERIFIED_FIELDS) - fields
    assert not missing, f"fields nobody checks or lists as unverified: {sorted(missing)}"
    assert not stale, f"the coverage table names fields the receipt no longer has: {sorted(stale)}"


def _flip(value: str) -> str:
    raw = bytearray(bytes.fromhex(value[2:]))
    raw[-1] ^= 1
    return "0x" + raw.hex()


def _changed(value: Any) -> Any:
    """The same kind of value, different."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        if value.startswith("0x") and len(value) > 2:
            try:
                return _flip(value)
            except ValueError:
                pass
        return value + "x"
    if isinstance(value, dict):
        out = copy.deepcopy(value)
        key = sorted(out)[0]
        out[key] = _changed(out[key])
        return out
    if isinstance(value, list):
        return [_changed(value[0]), *value[1:]] if value else ["0x" + "00" * 32]
    raise AssertionError(f"no mutation for {value!r}")


def _edit(data: Json, path: str) -> bool:
    """Changes the value at `path` (`[]`: the first item); False if the receipt has none."""
    parts = path.replace("[]", ".[]").split(".")
    node: Any = data
    for part in parts[:-1]:
        if part == "[]":
            if not node:
                return False
            node = node[0]
        else:
            node = node.get(part)
        if node is None:
            return False
    last = parts[-1]
    if last == "[]":
        if not node:
            return False
        node[0] = _changed(node[0])
        return True
    if node.get(last) is None:
        return False
    node[last] = _changed(node[last])
    return True


@pytest.mark.parametrize("path", sorted(FIELD_CHECKS))
def test_editing_any_checked_field_fails_its_check(world: World, path: str) -> None:
    edited = 0
    for name in ("batch-a0", "per-record"):
        data = world.json(name)
        if not _edit(data, path):
            continue
        edited += 1
        report = None
        try:
            report = verify_receipt(
                data,
                world.client,
                trust=world.trust,
                document=world.documents[name],
                raise_on_failure=False,
            )
        except Exception as exc:  # not a well-formed receipt any more: refused at `format`
            assert getattr(exc, "check", None) == "format", exc
            continue
        assert not report.ok, (path, name)
        assert FIELD_CHECKS[path] in report.failed, (path, name, report.failed)
    assert edited, f"{path}: no genuine receipt carries it"


def test_unverified_fields_change_nothing_and_are_listed(world: World) -> None:
    data = world.json("batch-a0")
    data["unsigned"]["document_location"] = "https://attacker.example/agreement.pdf"
    data["unsigned"]["document_erased"] = {"erased_at": 1, "requested_by": 9, "ordered_by": 9}
    report = verify_receipt(data, world.client, trust=world.trust)
    assert report.ok
    assert report.unverified == sorted(UNVERIFIED_FIELDS)


def _as_v1(world: World, name: str) -> Json:
    """What the previous release issued for the same record: format v1, provenance as strings,
    the document's location beside its digest, and a v1 promise signed by the gateway's key."""
    data = world.json(name)
    data["format"] = "loan-evidence-receipt/v1"
    unsigned = data.pop("unsigned")
    data["document"]["location"] = unsigned["document_location"]
    provenance = data["provenance"]
    data["provenance"] = {
        "submitted_by": str(provenance["submitted_by"]),
        "source_system": provenance["source_system"],
        "gateway": str(provenance["gateway_id"]),
    }
    promise = {
        k: v for k, v in data["entry_timestamp"]["promise"].items() if k != "metadata_digest"
    }
    promise["format"] = "entry-timestamp/v1"
    key = world.env.gw.service.gateway_key
    data["entry_timestamp"] = key.sign(EntryPromiseV1.model_validate(promise)).model_dump(
        mode="json"
    )
    return data


def test_receipts_of_the_previous_format_still_verify_with_their_gaps_listed(
    world: World,
) -> None:
    v1 = _as_v1(world, "batch-a0")
    assert ReceiptV1.model_validate(v1)
    report = verify_receipt(
        v1, world.client, trust=world.trust, document=world.documents["batch-a0"]
    )
    assert report.ok and report.format == "loan-evidence-receipt/v1"
    assert {"provenance", "document.media_type", "document.size", "document.location"} <= set(
        report.unverified
    )
    # an edited v1 provenance is not caught (nothing binds it) — and the report says so
    v1["provenance"]["source_system"] = "edited"
    again = verify_receipt(v1, world.client, trust=world.trust)
    assert again.ok and "provenance" in again.unverified
    # but a v1 batch receipt still needs a valid promise, and its record is still signed
    v1["record"]["principal"] += 1
    assert (
        "record_id"
        in verify_receipt(v1, world.client, trust=world.trust, raise_on_failure=False).failed
    )
    assert json.loads(json.dumps(v1))  # plain JSON throughout
