// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IParticipantRegistry} from "./IParticipantRegistry.sol";

/// @title Evidence ledger of loan records
/// @notice Anchors loan records signed by every party, one by one (the contract checks the 助贷
/// rules itself) or as Merkle roots of batches (a registered gateway checked them off chain; any
/// batched record can be re-checked here and a broken rule recorded as a proven violation).
/// Records can be revoked or amended (superseded with a link) by their signers or the regulator.
interface IEvidenceLedger {
    /// @notice A loan origination as anchored. Nothing personal: the borrower is a keyed, salted
    /// commitment; documents are SHA-256 digests. Amounts in fen, rates in basis points.
    /// @dev `aprBps` is the comprehensive annualized cost as nominal IRR (periodic rate x periods
    /// per year, Regulation Z Appendix J actuarial method) with every fee folded in (R2, R4).
    /// `coFunderId == 0` means the funder lends alone; then `coFunderShareBps` must be 0.
    /// Bit 0 of `flags` marks a legacy (stock) loan (R8): issued before the regulator's legacy
    /// cutoff, it is exempt from the whitelist (R1) and cap (R3) checks and stays flagged.
    struct LoanRecord {
        bytes32 agreementDigest;
        bytes32 disclosureDigest;
        bytes32 borrowerCommitment;
        uint64 funderId;
        uint64 platformId;
        uint64 guarantorId;
        uint64 coFunderId;
        uint16 coFunderShareBps;
        uint128 principal;
        uint32 aprBps;
        uint32 termDays;
        uint64 issuedAt;
        uint8 flags;
    }

    /// @notice Retires a record: a revocation (`supersededBy == 0`) or an amendment that points to
    /// the record replacing it.
    struct Retirement {
        bytes32 recordId;
        bytes32 supersededBy;
        uint16 reasonCode;
        uint64 retiredAt;
    }

    /// @notice Where an already-anchored record is: `root == 0` for per-record anchoring; else
    /// the batch root, the hash of the record's signatures and the Merkle proof of its leaf.
    struct Inclusion {
        bytes32 root;
        bytes32 signaturesHash;
        bytes32[] proof;
    }

    /// @notice Life cycle of a record as far as the contract knows it.
    /// @dev Batched records are `Unknown` to the contract until revoked, amended or reported.
    enum RecordStatus {
        Unknown,
        Anchored,
        Revoked,
        Superseded
    }

    /// @notice What the contract keeps about a record.
    struct RecordState {
        RecordStatus status;
        uint64 anchoredAt;
        uint64 retiredAt;
        uint16 reasonCode;
        bytes32 supersededBy;
    }

    /// @notice A batch of records anchored as one Merkle root.
    struct Batch {
        uint64 gatewayId;
        uint64 anchoredAt;
        uint64 blockNumber;
        uint32 recordCount;
    }

    // ------------------------------------------------------------------ errors

    /// @notice The record is already anchored (or retired) under `recordId`.
    error EvidenceLedgerDuplicateRecord(bytes32 recordId);
    /// @notice A participant named in the record is not registered or not active (suspended).
    error EvidenceLedgerParticipantNotActive(uint64 participantId);
    /// @notice A participant named in the record does not have the role its place needs.
    error EvidenceLedgerWrongRole(uint64 participantId, IParticipantRegistry.Role expected);
    /// @notice `actual` signatures were given where the record's parties need `expected`.
    error EvidenceLedgerSignatureCountMismatch(uint256 expected, uint256 actual);
    /// @notice The signature for participant `participantId` is missing, malformed or by `recovered`.
    error EvidenceLedgerInvalidSignature(uint64 participantId, address recovered);
    /// @notice The platform was not on a funder's whitelist when the loan was issued (R1).
    /// @param funderId The funder (lead or co-funder) whose whitelist lacks the platform.
    /// @param platformId The platform.
    error EvidenceLedgerPlatformNotWhitelisted(uint64 funderId, uint64 platformId);
    /// @notice The guarantor was not on a funder's whitelist when the loan was issued (R1).
    /// @param funderId The funder (lead or co-funder) whose whitelist lacks the guarantor.
    /// @param guarantorId The guarantor.
    error EvidenceLedgerGuarantorNotWhitelisted(uint64 funderId, uint64 guarantorId);
    /// @notice The comprehensive annualized cost exceeds the funder type's cap (R3).
    error EvidenceLedgerRateCapExceeded(uint32 aprBps, uint32 capBps);
    /// @notice No rate cap was ever set for the funder's institution type.
    error EvidenceLedgerNoRateCap(IParticipantRegistry.InstitutionType institutionType);
    /// @notice A loan issued at or after the legacy cutoff cannot be anchored as legacy stock (R8).
    error EvidenceLedgerLegacyAfterCutoff(uint64 issuedAt, uint64 cutoff);
    /// @notice The co-funding partner's share is below the floor (R6).
    error EvidenceLedgerCoFundingShareBelowFloor(uint16 shareBps, uint16 floorBps);
    /// @notice Co-funding fields are inconsistent (share without partner, share of 100% or more,
    /// the funder co-funding with itself).
    error EvidenceLedgerInvalidCoFunding();
    /// @notice The loan is dated after the time it is checked at (beyond the allowed clock skew):
    /// a future date could pick up a cap or whitelist entry scheduled for later.
    error EvidenceLedgerIssuedInFuture(uint64 issuedAt, uint64 at);
    /// @notice Only bit 0 (legacy) of `flags` is defined.
    error EvidenceLedgerUnknownFlags(uint8 flags);
    /// @notice A loan needs a positive principal.
    error EvidenceLedgerZeroPrincipal();
    /// @notice `caller` is not the current signer of an active registered gateway.
    error EvidenceLedgerNotGateway(address caller);
    /// @notice A batch needs a non-zero root and at least one record.
    error EvidenceLedgerEmptyBatch();
    /// @notice The root was anchored before.
    error EvidenceLedgerDuplicateBatch(bytes32 root);
    /// @notice No batch was anchored with this root.
    error EvidenceLedgerUnknownBatch(bytes32 root);
    /// @notice An evidence log batch with this root was anchored before.
    /// @param root The Merkle root of the evidence log entries.
    error EvidenceLedgerDuplicateEvidenceLog(bytes32 root);
    /// @notice The Merkle proof does not lead from the record's leaf to the root.
    error EvidenceLedgerInvalidProof(bytes32 root, bytes32 leaf);
    /// @notice The record was never anchored per record (and no batch inclusion was given).
    error EvidenceLedgerUnknownRecord(bytes32 recordId);
    /// @notice The re-check of a batched record found every rule kept.
    error EvidenceLedgerNoViolation(bytes32 recordId);
    /// @notice A violation of this record was already recorded.
    error EvidenceLedgerViolationAlreadyReported(bytes32 recordId);
    /// @notice The re-check failed in a way that is not a rule (for example, out of gas).
    error EvidenceLedgerCheckFailed(bytes reason);
    /// @notice The record is already revoked or superseded.
    error EvidenceLedgerRecordAlreadyRetired(bytes32 recordId);
    /// @notice The retirement does not name the record given.
    error EvidenceLedgerRetirementMismatch(bytes32 expected, bytes32 actual);
    /// @notice A revocation needs `supersededBy == 0`; an amendment needs a non-zero successor
    /// different from the record itself.
    error EvidenceLedgerInvalidSuccessor(bytes32 supersededBy);
    /// @notice The retirement is signed neither by the regulator nor by the record's platform and funder.
    error EvidenceLedgerUnauthorizedRetirement(bytes32 recordId);

    // ------------------------------------------------------------------ events

    /// @notice A loan record was checked and anchored by itself.
    event LoanAnchored(
        bytes32 indexed recordId,
        uint64 indexed funderId,
        uint64 indexed platformId,
        uint64 guarantorId,
        uint64 coFunderId,
        uint128 principal,
        uint32 aprBps,
        uint64 issuedAt,
        uint8 flags
    );
    /// @notice A gateway anchored the Merkle root of a batch of records.
    event BatchAnchored(bytes32 indexed root, uint64 indexed gatewayId, uint32 recordCount);
    /// @notice A gateway anchored the Merkle root of a batch of evidence log entries (who read
    /// which document, granted which auditor, erased what).
    event EvidenceLogAnchored(bytes32 indexed root, uint64 indexed gatewayId, uint32 entryCount);
    /// @notice A batched record was shown to break rule `code` (the selector of the custom error
    /// the re-check raised; `reason` is the whole error).
    event ViolationProven(
        bytes32 indexed recordId, bytes32 indexed root, uint64 indexed gatewayId, bytes4 code, bytes reason, address reporter
    );
    /// @notice A record was revoked.
    event RecordRevoked(bytes32 indexed recordId, uint16 reasonCode, uint64 retiredAt);
    /// @notice A record was amended: superseded by `supersededBy`.
    event RecordAmended(bytes32 indexed recordId, bytes32 indexed supersededBy, uint16 reasonCode, uint64 retiredAt);

    // ------------------------------------------------------------------ functions

    /// @notice Checks a loan record against every rule and anchors it by itself.
    /// @dev Anyone may submit: the parties' signatures are the authorization. Reverts with the
    /// custom error of the first rule broken.
    /// @param record The loan record.
    /// @param signatures EIP-712 signatures of the platform, the funder, then the guarantor (if
    /// any), then the co-funder (if any).
    /// @return recordId The record's EIP-712 digest.
    function anchorLoan(LoanRecord calldata record, bytes[] calldata signatures) external returns (bytes32 recordId);

    /// @notice Anchors the Merkle root of a batch of records checked off chain. Gateways only.
    /// @param root The OpenZeppelin StandardMerkleTree root over the batch's leaves.
    /// @param recordCount How many records the batch holds.
    function anchorBatch(bytes32 root, uint32 recordCount) external;

    /// @notice Anchors the Merkle root of a batch of evidence log entries (document reads,
    /// auditor grants, erasures), so that who looked at what is itself evidence. Gateways only.
    /// @param root The OpenZeppelin StandardMerkleTree root over the entries' digests (bytes32).
    /// @param entryCount How many entries the batch holds.
    function anchorEvidenceLog(bytes32 root, uint32 entryCount) external;

    /// @notice Re-checks a batched record and records a proven violation if it breaks a rule.
    /// @dev Reverts with `EvidenceLedgerNoViolation` if every rule was kept. The rules are those
    /// in force when the batch was anchored (whitelists and caps at the loan's issue time).
    /// @param record The loan record.
    /// @param signatures The signatures committed in the leaf.
    /// @param root The batch root.
    /// @param proof The Merkle proof of the record's leaf.
    /// @return code The selector of the custom error that names the broken rule.
    function reportViolation(
        LoanRecord calldata record,
        bytes[] calldata signatures,
        bytes32 root,
        bytes32[] calldata proof
    ) external returns (bytes4 code);

    /// @notice Revokes an anchored record (per-record or batched).
    /// @param original The record being revoked.
    /// @param inclusion Where the record was anchored.
    /// @param retirement The revocation (`supersededBy == 0`).
    /// @param signatures The regulator's signature alone, or the platform's and the funder's.
    function revokeRecord(
        LoanRecord calldata original,
        Inclusion calldata inclusion,
        Retirement calldata retirement,
        bytes[] calldata signatures
    ) external;

    /// @notice Amends an anchored record: marks it superseded by `retirement.supersededBy`.
    /// @param original The record being amended.
    /// @param inclusion Where the record was anchored.
    /// @param retirement The amendment (`supersededBy` is the replacing record's id).
    /// @param signatures The regulator's signature alone, or the platform's and the funder's.
    function amendRecord(
        LoanRecord calldata original,
        Inclusion calldata inclusion,
        Retirement calldata retirement,
        bytes[] calldata signatures
    ) external;

    /// @notice Runs every rule on a record as of time `at` without changing anything.
    /// @dev Reverts with the custom error of the first rule broken; returns the record id otherwise.
    /// Participants' status and keys are taken at `at`; whitelists and caps at the issue time.
    /// @param record The loan record.
    /// @param signatures The parties' signatures.
    /// @param at The time the record was (or would be) anchored.
    /// @return recordId The record's EIP-712 digest.
    function checkLoan(LoanRecord calldata record, bytes[] calldata signatures, uint64 at)
        external
        view
        returns (bytes32 recordId);

    /// @notice The EIP-712 digest (record id) of a loan record.
    /// @param record The loan record.
    /// @return The digest the parties sign.
    function loanRecordId(LoanRecord calldata record) external view returns (bytes32);

    /// @notice The EIP-712 digest a retirement's signers sign.
    /// @param retirement The revocation or amendment.
    /// @param isAmendment Whether it is an amendment (a different type).
    /// @return The digest.
    function retirementDigest(Retirement calldata retirement, bool isAmendment) external view returns (bytes32);

    /// @notice The Merkle leaf of a batched record (StandardMerkleTree, types bytes32, bytes32).
    /// @param recordId The record id.
    /// @param signaturesHash keccak256(abi.encode(signatures)).
    /// @return The leaf hash.
    function leafOf(bytes32 recordId, bytes32 signaturesHash) external pure returns (bytes32);

    /// @notice Whether a record is included in an anchored batch.
    /// @param root The batch root.
    /// @param recordId The record id.
    /// @param signaturesHash keccak256(abi.encode(signatures)).
    /// @param proof The Merkle proof.
    /// @return True if the batch exists and the proof holds.
    function verifyInclusion(bytes32 root, bytes32 recordId, bytes32 signaturesHash, bytes32[] calldata proof)
        external
        view
        returns (bool);

    /// @notice Whether several leaves are included in an anchored batch (OpenZeppelin multiproof).
    /// @param root The batch root.
    /// @param leaves The leaf hashes, in the order the multiproof expects.
    /// @param proof The multiproof's sibling hashes.
    /// @param proofFlags The multiproof's flags.
    /// @return True if the batch exists, `leaves` is not empty and the multiproof holds.
    function verifyMultiInclusion(
        bytes32 root,
        bytes32[] calldata leaves,
        bytes32[] calldata proof,
        bool[] calldata proofFlags
    ) external view returns (bool);

    /// @notice What the contract keeps about a record.
    /// @param recordId The record id.
    /// @return The state (`Unknown` for a batched record never revoked, amended or reported).
    function recordState(bytes32 recordId) external view returns (RecordState memory);

    /// @notice A batch by its root.
    /// @param root The batch root.
    /// @return The batch (all zero if unknown).
    function batch(bytes32 root) external view returns (Batch memory);

    /// @notice An evidence log batch by its root (`recordCount` holds its entry count).
    /// @param root The root of the evidence log batch.
    /// @return The batch (all zero if unknown).
    function evidenceLog(bytes32 root) external view returns (Batch memory);

    /// @notice The proven violation of a record, if any.
    /// @param recordId The record id.
    /// @return The error selector (0 if none).
    function violationOf(bytes32 recordId) external view returns (bytes4);

    /// @notice How many batches were anchored.
    /// @return The count.
    function batchCount() external view returns (uint64);

    /// @notice The participant registry this ledger reads.
    /// @return The registry.
    function registry() external view returns (IParticipantRegistry);
}
