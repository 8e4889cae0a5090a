"""Python EIP-712 hashing is the contract's: same type strings, same digests, wallet-compatible."""

from __future__ import annotations

import re

from eth_account import Account
from eth_account.messages import encode_typed_data
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.chain.compiler import SOURCE_DIR
from ledger.eip712 import (
    AMENDMENT_TYPE,
    LOAN_RECORD_TYPE,
    REVOCATION_TYPE,
    Domain,
    loan_record_id,
    retirement_digest,
    signatures_hash,
    typed_data,
)
from ledger.hashing import keccak256
from ledger.records import LoanRecord, Retirement
from ledger.signing import LocalSigner, recover_address
from tests.strategies import bytes32_hex as bytes32
from tests.strategies import loan_records

DOMAIN = Domain(chain_id=31337, verifying_contract="0x5FbDB2315678afecb367f032d93F642f64180aa3")


def _solidity_type_strings() -> set[str]:
    source = (SOURCE_DIR / "libraries" / "RecordHashing.sol").read_text(encoding="utf-8")
    return set(re.findall(r'keccak256\(\s*"([A-Za-z]+\([^"]*\))"\s*\)', source))


def test_type_strings_equal_the_contract_typehash_strings() -> None:
    assert {LOAN_RECORD_TYPE, REVOCATION_TYPE, AMENDMENT_TYPE} == _solidity_type_strings()


@settings(max_examples=40, deadline=None)
@given(record=loan_records)
def test_loan_digest_equals_eth_account_encode_typed_data(record: LoanRecord) -> None:
    message = encode_typed_data(full_message=typed_data(record, DOMAIN))
    expected = keccak256(b"\x19" + message.version + message.header + message.body)
    assert loan_record_id(record, DOMAIN) == expected


@settings(max_examples=20, deadline=None)
@given(
    record_id=bytes32,
    successor=st.one_of(st.just("0x" + "00" * 32), bytes32),
    reason=st.integers(0, 2**16 - 1),
    at=st.integers(0, 2**64 - 1),
)
def test_retirement_digest_equals_eth_account(
    record_id: str, successor: str, reason: int, at: int
) -> None:
    retirement = Retirement(
        record_id=record_id, superseded_by=successor, reason_code=reason, retired_at=at
    )
    message = encode_typed_data(full_message=typed_data(retirement, DOMAIN))
    expected = keccak256(b"\x19" + message.version + message.header + message.body)
    assert retirement_digest(retirement, DOMAIN) == expected


@settings(max_examples=20, deadline=None)
@given(record=loan_records)
def test_signatures_from_a_wallet_library_recover_to_the_signer(record: LoanRecord) -> None:
    signer = LocalSigner.generate()
    wallet_signature = Account.sign_message(
        encode_typed_data(full_message=typed_data(record, DOMAIN)), signer.private_key
    ).signature
    digest = loan_record_id(record, DOMAIN)
    assert recover_address(digest, bytes(wallet_signature)) == signer.address
    assert signer.sign_digest(digest) == bytes(wallet_signature)  # RFC 6979: deterministic


@settings(max_examples=20, deadline=None)
@given(st.lists(st.binary(min_size=0, max_size=100), max_size=5))
def test_signatures_hash_is_keccak_of_abi_encoded_bytes_array(signatures: list[bytes]) -> None:
    from eth_abi import encode

    assert signatures_hash(signatures) == keccak256(encode(["bytes[]"], [signatures]))
