"""Verifying receipts against the document and the chain, link by link, trusting no gateway.

Start from a trust root (`ledger.trust.TrustRoot`): the deployment the auditor trusts. Then

    report = verify_receipt(receipt, client, trust=trust)          # one receipt, live reads
    verifier = Verifier(SnapshotChainFacts.load(...), trust)       # many, from one snapshot
    summary = verify_many(paths, client, trust=trust)              # a directory or a JSONL file

`verify_receipt` raises `VerificationError` (with `.check`) at the first failure unless asked
for the whole report (`raise_on_failure=False`). The checks are listed in
`ledger.verify.checks`; which check vouches for which receipt field is `ledger.verify.fields`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from web3 import Web3

from ledger.chain.client import ChainClient
from ledger.disclosure_proofs import Disclosure
from ledger.receipts import AnyReceipt, parse_receipt
from ledger.trust import TrustRoot
from ledger.verify.checks import CHECK_NAMES
from ledger.verify.facts import ChainFacts, LiveChainFacts, SnapshotChainFacts
from ledger.verify.report import CheckResult, DeploymentUsed, VerificationReport
from ledger.verify.verifier import Verifier

__all__ = [
    "CHECK_NAMES",
    "ChainFacts",
    "CheckResult",
    "DeploymentUsed",
    "LiveChainFacts",
    "SnapshotChainFacts",
    "VerificationReport",
    "Verifier",
    "connect",
    "facts_for",
    "verify_receipt",
]


def facts_for(client: ChainClient, trust: TrustRoot) -> LiveChainFacts:
    """Live facts of the trusted deployment (its registry, or the one its ledger reads)."""
    if trust.registry is not None:
        return LiveChainFacts(client, trust.registry, trust.ledger)
    return LiveChainFacts.for_ledger(client, trust.ledger)


def verify_receipt(
    receipt: AnyReceipt | dict[str, Any] | bytes | str,
    client: ChainClient,
    *,
    trust: TrustRoot | None,
    document: Path | bytes | None = None,
    document_sha256: str | None = None,
    raise_on_failure: bool = True,
    facts: ChainFacts | None = None,
    fields: Disclosure | None = None,
) -> VerificationReport:
    """Verifies one receipt against `trust`, reading the chain through `client` (or `facts`).

    `trust=None` must be said explicitly: the receipt is then checked only against the
    deployment it names itself, and the report says it was not pinned. `fields`: a selective
    disclosure of the record's fee form, checked as `disclosure_fields`."""
    parsed = parse_receipt(receipt)
    if facts is None:
        if trust is not None:
            facts = facts_for(client, trust)
        else:
            facts = LiveChainFacts(client, parsed.anchor.registry, parsed.anchor.ledger)
    return Verifier(facts, trust).verify(
        parsed,
        document=document,
        document_sha256=document_sha256,
        raise_on_failure=raise_on_failure,
        fields=fields,
    )


def connect(rpc_url: str) -> ChainClient:
    """A client for `ledger verify --rpc URL`."""
    return ChainClient(Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30})))
