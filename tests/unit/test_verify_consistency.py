"""A record signed with numbers that contradict its own fee disclosure fails `disclosure`."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ledger.eip712 import loan_record_id
from ledger.errors import VerificationError
from ledger.testing import make_loan, promise, setup_actors
from ledger.trust import TrustRoot
from ledger.verify import verify_receipt


@pytest.mark.parametrize(("field", "delta"), [("principal", 100), ("apr_bps", 1)])
def test_record_contradicting_its_disclosure_fails_the_disclosure_check(
    field: str, delta: int
) -> None:
    actors = setup_actors()
    loan, document = make_loan(actors, "Bank A", "Platform 1")
    record = loan.record.model_copy(update={field: getattr(loan.record, field) + delta})
    record_id = loan_record_id(record, actors.chain.domain)
    signatures = tuple(actors.signers[p].sign_digest(record_id) for p in record.signer_ids())
    inconsistent = promise(
        actors, replace(loan, record=record, record_id=record_id, signatures=signatures)
    )
    batch = actors.chain.anchor_batch(actors.gateway_account, [inconsistent])
    receipt = actors.chain.batch_receipts(batch)[0]
    with pytest.raises(VerificationError) as err:
        verify_receipt(
            receipt,
            actors.client,
            trust=TrustRoot.of_deployment(actors.client, actors.deployment),
            document=document,
        )
    assert err.value.check == "disclosure"
