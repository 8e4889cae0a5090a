"""Hypothesis strategies shared by the test suites."""

from __future__ import annotations

from hypothesis import strategies as st

from ledger.records import LoanRecord

bytes32_hex = st.binary(min_size=32, max_size=32).map(lambda b: "0x" + b.hex())

#: Any loan record the ABI types admit (not only valid ones): for hashing round trips.
loan_records = st.builds(
    LoanRecord,
    agreement_digest=bytes32_hex,
    disclosure_digest=bytes32_hex,
    borrower_commitment=bytes32_hex,
    funder_id=st.integers(0, 2**64 - 1),
    platform_id=st.integers(0, 2**64 - 1),
    guarantor_id=st.integers(0, 2**64 - 1),
    co_funder_id=st.integers(0, 2**64 - 1),
    co_funder_share_bps=st.integers(0, 2**16 - 1),
    principal=st.integers(0, 2**128 - 1),
    apr_bps=st.integers(0, 2**32 - 1),
    term_days=st.integers(0, 2**32 - 1),
    issued_at=st.integers(0, 2**64 - 1),
    flags=st.integers(0, 255),
)
