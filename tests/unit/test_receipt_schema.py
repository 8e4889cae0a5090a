"""The committed receipt JSON Schema is the one the model generates, and real receipts satisfy it.

Regenerate after changing the receipt model:

    python3 -c "import json; from ledger.receipts import receipt_json_schema as s, SCHEMA_PATH as p;
    p.write_text(json.dumps(s(), indent=2, sort_keys=True) + '\\n', encoding='utf-8')"
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from ledger.receipts import RECEIPT_FORMAT, SCHEMA_PATH, Receipt, receipt_json_schema


def _generated_text() -> str:
    return json.dumps(receipt_json_schema(), indent=2, sort_keys=True) + "\n"


def test_committed_schema_equals_the_generated_schema() -> None:
    assert SCHEMA_PATH.is_file(), (
        f"{SCHEMA_PATH} is missing: regenerate it (see this module's docstring)"
    )
    committed = SCHEMA_PATH.read_text(encoding="utf-8")
    assert committed == _generated_text(), (
        "receipt schema is stale: regenerate it (see this module's docstring)"
    )


def test_schema_identity_and_shape() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith("/receipt-v1.schema.json")
    assert SCHEMA_PATH.name == "receipt-v1.schema.json" and SCHEMA_PATH.parent.name == "schemas"
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
        lambda d: d.__setitem__("format", "loan-evidence-receipt/v2"),
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
