"""The committed receipt JSON Schemas (v1 and v2) are the ones the models generate, and real
receipts satisfy them.

Regenerate after changing a receipt model:

    python3 -c "import json; from ledger.receipts import receipt_json_schema as s, schema_path as p;
    [p(v).write_text(json.dumps(s(v), indent=2, sort_keys=True) + '\\n') for v in (1, 2)]"
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from ledger.receipts import RECEIPT_FORMAT, Receipt, receipt_json_schema, schema_path

SCHEMA_PATH = schema_path(2)


def _generated_text(version: int) -> str:
    return json.dumps(receipt_json_schema(version), indent=2, sort_keys=True) + "\n"


@pytest.mark.parametrize("version", [1, 2])
def test_committed_schema_equals_the_generated_schema(version: int) -> None:
    path = schema_path(version)
    assert path.is_file(), f"{path} is missing: regenerate it (see this module's docstring)"
    committed = path.read_text(encoding="utf-8")
    assert committed == _generated_text(version), (
        "receipt schema is stale: regenerate it (see this module's docstring)"
    )


def test_schema_identity_and_shape() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith("/receipt-v2.schema.json")
    assert SCHEMA_PATH.name == "receipt-v2.schema.json" and SCHEMA_PATH.parent.name == "schemas"
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert {"record", "record_id", "typed_data", "signatures", "document", "anchor"} <= set(
        schema["required"]
    )
    assert schema["properties"]["format"]["const"] == RECEIPT_FORMAT
    assert {
        "Anchor",
        "Leaf",
        "LoanRecord",
        "PartySignature",
        "DocumentRef",
        "SignedEntryTimestamp",
    } <= set(schema["$defs"])


def _validator() -> Any:
    try:
        import jsonschema
    except ImportError:  # the equality test above still guards the file
        pytest.skip("jsonschema is not installed")
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_real_receipts_validate_against_the_committed_schema(
    batch_receipts: list[Receipt], per_record_receipt: Receipt
) -> None:
    validator = _validator()
    for receipt in [*batch_receipts, per_record_receipt]:
        errors = [e.message for e in validator.iter_errors(json.loads(receipt.to_json()))]
        assert errors == []


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.pop("anchor"),
        lambda d: d.__setitem__("extra", 1),
        lambda d: d.__setitem__("format", "loan-evidence-receipt/v3"),
        lambda d: d.__setitem__("record_id", d["record_id"].upper().replace("0X", "0x")),
        lambda d: d["signatures"][0].__setitem__("signature", d["signatures"][0]["signature"][:-2]),
        lambda d: d["signatures"][0].__setitem__("role", "borrower"),
        lambda d: d["record"].__setitem__("principal", "1200000"),
        lambda d: d["anchor"].__setitem__("mode", "sidechain"),
        lambda d: d["anchor"].__setitem__("block_number", -1),
        lambda d: d["entry_timestamp"].__setitem__("signature", "0x" + "00" * 63),
    ],
    ids=[
        "missing-anchor",
        "extra-field",
        "format",
        "uppercase-hex",
        "short-signature",
        "role",
        "string-principal",
        "mode",
        "negative-block",
        "short-timestamp-signature",
    ],
)
def test_malformed_receipts_fail_the_schema(
    batch_receipts: list[Receipt], mutate: Callable[[dict[str, Any]], None]
) -> None:
    validator = _validator()
    data = json.loads(batch_receipts[0].to_json())
    mutate(data)
    assert list(validator.iter_errors(data)), "the schema accepted a malformed receipt"
    # the model refuses the same receipts
    with pytest.raises(ValueError):
        Receipt.model_validate(data)
