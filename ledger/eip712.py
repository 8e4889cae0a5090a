"""EIP-712 typed data of the ledger's records, identical to `contracts/src/libraries/RecordHashing.sol`.

Hashing is done by hand for speed (all fields are static ABI types, so each is one 32-byte
word); `typed_data()` gives the standard EIP-712 JSON so any wallet library can sign the same
digest (a test checks eth-account agrees).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ledger.hashing import checksum_address, keccak256
from ledger.records import LoanRecord, Retirement

__all__ = [
    "AMENDMENT_FIELDS",
    "AMENDMENT_TYPE",
    "DOMAIN_NAME",
    "DOMAIN_VERSION",
    "LOAN_RECORD_FIELDS",
    "LOAN_RECORD_TYPE",
    "REVOCATION_FIELDS",
    "REVOCATION_TYPE",
    "Domain",
    "loan_record_id",
    "loan_struct_hash",
    "retirement_digest",
    "retirement_struct_hash",
    "signatures_hash",
    "typed_data",
]

DOMAIN_NAME = "LoanEvidenceLedger"
DOMAIN_VERSION = "1"

LOAN_RECORD_FIELDS: tuple[tuple[str, str, str], ...] = (
    # (EIP-712 name, ABI type, Python attribute)
    ("agreementDigest", "bytes32", "agreement_digest"),
    ("disclosureDigest", "bytes32", "disclosure_digest"),
    ("borrowerCommitment", "bytes32", "borrower_commitment"),
    ("funderId", "uint64", "funder_id"),
    ("platformId", "uint64", "platform_id"),
    ("guarantorId", "uint64", "guarantor_id"),
    ("coFunderId", "uint64", "co_funder_id"),
    ("coFunderShareBps", "uint16", "co_funder_share_bps"),
    ("principal", "uint128", "principal"),
    ("aprBps", "uint32", "apr_bps"),
    ("termDays", "uint32", "term_days"),
    ("issuedAt", "uint64", "issued_at"),
    ("flags", "uint8", "flags"),
)
REVOCATION_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("recordId", "bytes32", "record_id"),
    ("reasonCode", "uint16", "reason_code"),
    ("revokedAt", "uint64", "retired_at"),
)
AMENDMENT_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("recordId", "bytes32", "record_id"),
    ("supersededBy", "bytes32", "superseded_by"),
    ("reasonCode", "uint16", "reason_code"),
    ("amendedAt", "uint64", "retired_at"),
)


def _type_string(name: str, fields: tuple[tuple[str, str, str], ...]) -> str:
    return f"{name}({','.join(f'{abi} {n}' for n, abi, _ in fields)})"


LOAN_RECORD_TYPE = _type_string("LoanRecord", LOAN_RECORD_FIELDS)
REVOCATION_TYPE = _type_string("Revocation", REVOCATION_FIELDS)
AMENDMENT_TYPE = _type_string("Amendment", AMENDMENT_FIELDS)
_LOAN_TYPEHASH = keccak256(LOAN_RECORD_TYPE.encode())
_REVOCATION_TYPEHASH = keccak256(REVOCATION_TYPE.encode())
_AMENDMENT_TYPEHASH = keccak256(AMENDMENT_TYPE.encode())
_DOMAIN_TYPEHASH = keccak256(
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)


def _word(value: Any, abi: str) -> bytes:
    if abi == "bytes32":
        return bytes.fromhex(value[2:])
    return int(value).to_bytes(32, "big")


def _struct_hash(typehash: bytes, fields: tuple[tuple[str, str, str], ...], obj: Any) -> bytes:
    return keccak256(typehash + b"".join(_word(getattr(obj, attr), abi) for _, abi, attr in fields))


@dataclass(frozen=True)
class Domain:
    """The EIP-712 domain of one EvidenceLedger deployment."""

    chain_id: int
    verifying_contract: str
    separator: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        address = checksum_address(self.verifying_contract)
        object.__setattr__(self, "verifying_contract", address)
        separator = keccak256(
            _DOMAIN_TYPEHASH
            + keccak256(DOMAIN_NAME.encode())
            + keccak256(DOMAIN_VERSION.encode())
            + self.chain_id.to_bytes(32, "big")
            + bytes(12)
            + bytes.fromhex(address[2:])
        )
        object.__setattr__(self, "separator", separator)

    def digest(self, struct_hash: bytes) -> bytes:
        """keccak256("\\x19\\x01" ‖ domainSeparator ‖ structHash)."""
        return keccak256(b"\x19\x01" + self.separator + struct_hash)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": self.chain_id,
            "verifyingContract": self.verifying_contract,
        }


def loan_struct_hash(record: LoanRecord) -> bytes:
    """EIP-712 hashStruct of a loan record."""
    return _struct_hash(_LOAN_TYPEHASH, LOAN_RECORD_FIELDS, record)


def loan_record_id(record: LoanRecord, domain: Domain) -> bytes:
    """The record id: the EIP-712 digest every party signs."""
    return domain.digest(loan_struct_hash(record))


def retirement_struct_hash(retirement: Retirement) -> bytes:
    """EIP-712 hashStruct of a revocation or an amendment (by `superseded_by`)."""
    if retirement.is_amendment:
        return _struct_hash(_AMENDMENT_TYPEHASH, AMENDMENT_FIELDS, retirement)
    return _struct_hash(_REVOCATION_TYPEHASH, REVOCATION_FIELDS, retirement)


def retirement_digest(retirement: Retirement, domain: Domain) -> bytes:
    """The digest the signers of a revocation or amendment sign."""
    return domain.digest(retirement_struct_hash(retirement))


def signatures_hash(signatures: list[bytes]) -> bytes:
    """keccak256(abi.encode(bytes[])): the commitment to a batched record's signatures."""
    head = (32).to_bytes(32, "big") + len(signatures).to_bytes(32, "big")
    offsets = b""
    tails = b""
    offset = 32 * len(signatures)
    for signature in signatures:
        offsets += offset.to_bytes(32, "big")
        padded = signature + bytes(-len(signature) % 32)
        tails += len(signature).to_bytes(32, "big") + padded
        offset += 32 + len(padded)
    return keccak256(head + offsets + tails)


def typed_data(obj: LoanRecord | Retirement, domain: Domain) -> dict[str, Any]:
    """Standard EIP-712 JSON (for eth-account, ethers, MetaMask...) of a record."""
    if isinstance(obj, LoanRecord):
        name, fields = "LoanRecord", LOAN_RECORD_FIELDS
    elif obj.is_amendment:
        name, fields = "Amendment", AMENDMENT_FIELDS
    else:
        name, fields = "Revocation", REVOCATION_FIELDS
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            name: [{"name": n, "type": abi} for n, abi, _ in fields],
        },
        "primaryType": name,
        "domain": domain.as_dict(),
        "message": {n: getattr(obj, attr) for n, _, attr in fields},
    }
