// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IEvidenceLedger} from "../interfaces/IEvidenceLedger.sol";

/// @title RecordHashing
/// @notice EIP-712 struct hashes of the ledger's typed records, and the batch leaf format.
/// @dev The Python library (`ledger.eip712`) builds the same type strings; a test compares them.
library RecordHashing {
    /// @dev keccak256("LoanRecord(bytes32 agreementDigest,bytes32 disclosureDigest,bytes32 borrowerCommitment,uint64 funderId,uint64 platformId,uint64 guarantorId,uint64 coFunderId,uint16 coFunderShareBps,uint128 principal,uint32 aprBps,uint32 termDays,uint64 issuedAt,uint8 flags)")
    bytes32 internal constant LOAN_RECORD_TYPEHASH = keccak256(
        "LoanRecord(bytes32 agreementDigest,bytes32 disclosureDigest,bytes32 borrowerCommitment,uint64 funderId,uint64 platformId,uint64 guarantorId,uint64 coFunderId,uint16 coFunderShareBps,uint128 principal,uint32 aprBps,uint32 termDays,uint64 issuedAt,uint8 flags)"
    );

    /// @dev keccak256("Revocation(bytes32 recordId,uint16 reasonCode,uint64 revokedAt)")
    bytes32 internal constant REVOCATION_TYPEHASH =
        keccak256("Revocation(bytes32 recordId,uint16 reasonCode,uint64 revokedAt)");

    /// @dev keccak256("Amendment(bytes32 recordId,bytes32 supersededBy,uint16 reasonCode,uint64 amendedAt)")
    bytes32 internal constant AMENDMENT_TYPEHASH =
        keccak256("Amendment(bytes32 recordId,bytes32 supersededBy,uint16 reasonCode,uint64 amendedAt)");

    /// @notice EIP-712 struct hash of a loan record.
    function hashLoan(IEvidenceLedger.LoanRecord calldata r) internal pure returns (bytes32) {
        // Two halves keep the expression within the stack limit without via-IR.
        bytes memory head = abi.encode(
            LOAN_RECORD_TYPEHASH,
            r.agreementDigest,
            r.disclosureDigest,
            r.borrowerCommitment,
            r.funderId,
            r.platformId,
            r.guarantorId
        );
        bytes memory tail =
            abi.encode(r.coFunderId, r.coFunderShareBps, r.principal, r.aprBps, r.termDays, r.issuedAt, r.flags);
        return keccak256(bytes.concat(head, tail));
    }

    /// @notice EIP-712 struct hash of a revocation (`isAmendment == false`) or an amendment.
    function hashRetirement(IEvidenceLedger.Retirement calldata t, bool isAmendment) internal pure returns (bytes32) {
        if (isAmendment) {
            return keccak256(abi.encode(AMENDMENT_TYPEHASH, t.recordId, t.supersededBy, t.reasonCode, t.retiredAt));
        }
        return keccak256(abi.encode(REVOCATION_TYPEHASH, t.recordId, t.reasonCode, t.retiredAt));
    }

    /// @notice keccak256(abi.encode(signatures)): commits a batched record's signatures in its leaf.
    function hashSignatures(bytes[] calldata signatures) internal pure returns (bytes32) {
        return keccak256(abi.encode(signatures));
    }

    /// @notice OpenZeppelin StandardMerkleTree leaf of `[recordId, signaturesHash]` (types bytes32, bytes32).
    function leaf(bytes32 recordId, bytes32 signaturesHash) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(recordId, signaturesHash))));
    }
}
