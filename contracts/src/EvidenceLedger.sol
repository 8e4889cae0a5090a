// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {IEvidenceLedger} from "./interfaces/IEvidenceLedger.sol";
import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";
import {RecordHashing} from "./libraries/RecordHashing.sol";

/// @title EvidenceLedger
/// @notice Anchors loan records (per record, with every rule checked here; or in Merkle batches
/// anchored by registered gateways), proves batch inclusion, records proven violations of batched
/// records, and revokes or amends records.
/// @dev Record ids are EIP-712 digests under the domain ("LoanEvidenceLedger", "1", chain id, this
/// contract), so a record id names one record on one deployment.
contract EvidenceLedger is IEvidenceLedger, EIP712 {
    /// @dev Bit 0 of `LoanRecord.flags`: legacy (stock) loan (R8).
    uint8 private constant _FLAG_LEGACY = 1;
    uint16 private constant _FULL_SHARE_BPS = 10_000;
    /// @dev Clocks of platforms and chains differ a little; a loan may be dated this far ahead.
    uint64 private constant _MAX_CLOCK_SKEW = 15 minutes;

    IParticipantRegistry private immutable _registry;

    mapping(bytes32 recordId => RecordState) private _records;
    mapping(bytes32 root => Batch) private _batches;
    mapping(bytes32 recordId => bytes4 code) private _violations;
    mapping(bytes32 root => Batch) private _evidenceLogs;
    uint64 private _batchCount;

    /// @param participantRegistry The registry of participants, whitelists and rate policy.
    constructor(IParticipantRegistry participantRegistry) EIP712("LoanEvidenceLedger", "1") {
        _registry = participantRegistry;
    }

    // ------------------------------------------------------------------ anchoring

    /// @inheritdoc IEvidenceLedger
    function anchorLoan(LoanRecord calldata record, bytes[] calldata signatures) external returns (bytes32 recordId) {
        recordId = _loanId(record);
        if (_records[recordId].status != RecordStatus.Unknown) revert EvidenceLedgerDuplicateRecord(recordId);
        _checkLoan(record, signatures, recordId, uint64(block.timestamp));
        _records[recordId] = RecordState(RecordStatus.Anchored, uint64(block.timestamp), 0, 0, bytes32(0));
        emit LoanAnchored(
            recordId,
            record.funderId,
            record.platformId,
            record.guarantorId,
            record.coFunderId,
            record.principal,
            record.aprBps,
            record.issuedAt,
            record.flags
        );
    }

    /// @inheritdoc IEvidenceLedger
    function anchorBatch(bytes32 root, uint32 recordCount) external {
        (uint64 gatewayId, IParticipantRegistry.Role role) = _registry.activeParticipantOf(msg.sender);
        if (role != IParticipantRegistry.Role.Gateway) revert EvidenceLedgerNotGateway(msg.sender);
        if (root == bytes32(0) || recordCount == 0) revert EvidenceLedgerEmptyBatch();
        if (_batches[root].anchoredAt != 0) revert EvidenceLedgerDuplicateBatch(root);
        _batches[root] = Batch(gatewayId, uint64(block.timestamp), uint64(block.number), recordCount);
        ++_batchCount;
        emit BatchAnchored(root, gatewayId, recordCount);
    }

    /// @inheritdoc IEvidenceLedger
    function anchorEvidenceLog(bytes32 root, uint32 entryCount) external {
        (uint64 gatewayId, IParticipantRegistry.Role role) = _registry.activeParticipantOf(msg.sender);
        if (role != IParticipantRegistry.Role.Gateway) revert EvidenceLedgerNotGateway(msg.sender);
        if (root == bytes32(0) || entryCount == 0) revert EvidenceLedgerEmptyBatch();
        if (_evidenceLogs[root].anchoredAt != 0) revert EvidenceLedgerDuplicateEvidenceLog(root);
        _evidenceLogs[root] = Batch(gatewayId, uint64(block.timestamp), uint64(block.number), entryCount);
        emit EvidenceLogAnchored(root, gatewayId, entryCount);
    }

    /// @inheritdoc IEvidenceLedger
    function reportViolation(
        LoanRecord calldata record,
        bytes[] calldata signatures,
        bytes32 root,
        bytes32[] calldata proof
    ) external returns (bytes4 code) {
        bytes32 recordId = _loanId(record);
        Batch memory anchored = _requireIncluded(root, recordId, RecordHashing.hashSignatures(signatures), proof);
        if (_violations[recordId] != bytes4(0)) revert EvidenceLedgerViolationAlreadyReported(recordId);
        // The re-check runs as an external call so its revert data (the custom error of the
        // broken rule) can be caught and recorded as the violation.
        bytes memory reason;
        try this.checkLoan(record, signatures, anchored.anchoredAt) {
            revert EvidenceLedgerNoViolation(recordId);
        } catch (bytes memory data) {
            reason = data;
        }
        // Out-of-gas or a panic carries no rule selector: refuse, so a reporter who starves the
        // call of gas cannot forge a violation.
        if (reason.length < 4 || !_isRuleError(bytes4(reason))) revert EvidenceLedgerCheckFailed(reason);
        code = bytes4(reason);
        _violations[recordId] = code;
        emit ViolationProven(recordId, root, anchored.gatewayId, code, reason, msg.sender);
    }

    // ------------------------------------------------------------------ retirement

    /// @inheritdoc IEvidenceLedger
    function revokeRecord(
        LoanRecord calldata original,
        Inclusion calldata inclusion,
        Retirement calldata retirement,
        bytes[] calldata signatures
    ) external {
        _retire(original, inclusion, retirement, signatures, false);
    }

    /// @inheritdoc IEvidenceLedger
    function amendRecord(
        LoanRecord calldata original,
        Inclusion calldata inclusion,
        Retirement calldata retirement,
        bytes[] calldata signatures
    ) external {
        _retire(original, inclusion, retirement, signatures, true);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IEvidenceLedger
    function checkLoan(LoanRecord calldata record, bytes[] calldata signatures, uint64 at)
        external
        view
        returns (bytes32 recordId)
    {
        recordId = _loanId(record);
        _checkLoan(record, signatures, recordId, at);
    }

    /// @inheritdoc IEvidenceLedger
    function loanRecordId(LoanRecord calldata record) external view returns (bytes32) {
        return _loanId(record);
    }

    /// @inheritdoc IEvidenceLedger
    function retirementDigest(Retirement calldata retirement, bool isAmendment) external view returns (bytes32) {
        return _hashTypedDataV4(RecordHashing.hashRetirement(retirement, isAmendment));
    }

    /// @inheritdoc IEvidenceLedger
    function leafOf(bytes32 recordId, bytes32 signaturesHash) external pure returns (bytes32) {
        return RecordHashing.leaf(recordId, signaturesHash);
    }

    /// @inheritdoc IEvidenceLedger
    function verifyInclusion(bytes32 root, bytes32 recordId, bytes32 signaturesHash, bytes32[] calldata proof)
        external
        view
        returns (bool)
    {
        return _batches[root].anchoredAt != 0
            && MerkleProof.verifyCalldata(proof, root, RecordHashing.leaf(recordId, signaturesHash));
    }

    /// @inheritdoc IEvidenceLedger
    function verifyMultiInclusion(
        bytes32 root,
        bytes32[] calldata leaves,
        bytes32[] calldata proof,
        bool[] calldata proofFlags
    ) external view returns (bool) {
        // An empty set of leaves "verifies" in OpenZeppelin's multiproof; it proves nothing here.
        return leaves.length > 0 && _batches[root].anchoredAt != 0
            && MerkleProof.multiProofVerifyCalldata(proof, proofFlags, root, leaves);
    }

    /// @inheritdoc IEvidenceLedger
    function recordState(bytes32 recordId) external view returns (RecordState memory) {
        return _records[recordId];
    }

    /// @inheritdoc IEvidenceLedger
    function batch(bytes32 root) external view returns (Batch memory) {
        return _batches[root];
    }

    /// @inheritdoc IEvidenceLedger
    function evidenceLog(bytes32 root) external view returns (Batch memory) {
        return _evidenceLogs[root];
    }

    /// @inheritdoc IEvidenceLedger
    function violationOf(bytes32 recordId) external view returns (bytes4) {
        return _violations[recordId];
    }

    /// @inheritdoc IEvidenceLedger
    function batchCount() external view returns (uint64) {
        return _batchCount;
    }

    /// @inheritdoc IEvidenceLedger
    function registry() external view returns (IParticipantRegistry) {
        return _registry;
    }

    // ------------------------------------------------------------------ rules

    /// @dev Every rule of a loan record, in a fixed order; reverts with the first one broken.
    function _checkLoan(LoanRecord calldata r, bytes[] calldata signatures, bytes32 recordId, uint64 at)
        private
        view
    {
        if (r.principal == 0) revert EvidenceLedgerZeroPrincipal();
        if (r.flags & ~_FLAG_LEGACY != 0) revert EvidenceLedgerUnknownFlags(r.flags);
        // Written as a difference so that `at` near 2**64 cannot overflow.
        if (r.issuedAt > at && r.issuedAt - at > _MAX_CLOCK_SKEW) revert EvidenceLedgerIssuedInFuture(r.issuedAt, at);

        uint256 expected = 2 + (r.guarantorId != 0 ? 1 : 0) + (r.coFunderId != 0 ? 1 : 0);
        if (signatures.length != expected) revert EvidenceLedgerSignatureCountMismatch(expected, signatures.length);
        _checkParty(r.platformId, IParticipantRegistry.Role.Platform, recordId, signatures[0], at);
        IParticipantRegistry.InstitutionType funderType =
            _checkParty(r.funderId, IParticipantRegistry.Role.Funder, recordId, signatures[1], at);
        uint256 next = 2;
        if (r.guarantorId != 0) {
            _checkParty(r.guarantorId, IParticipantRegistry.Role.CreditEnhancer, recordId, signatures[next], at);
            ++next;
        }

        // R8: a legacy (stock) loan predates the cutoff, and with it today's caps (R3); it is
        // anchored flagged so the regulator can track its clearance.
        bool legacy = r.flags & _FLAG_LEGACY != 0;
        if (legacy) {
            uint64 cutoff = _registry.legacyCutoffAt(at);
            if (r.issuedAt >= cutoff) revert EvidenceLedgerLegacyAfterCutoff(r.issuedAt, cutoff);
        }
        // R1: partners must be on the funder's whitelist when the loan is issued. Stock predates
        // the lists, so it is cleared only through partners the funder lists when it is anchored:
        // a platform the funder never listed cannot bring in loans dated before the cutoff.
        uint64 listedAt = legacy ? at : r.issuedAt;
        if (!_registry.isWhitelisted(r.funderId, r.platformId, listedAt)) {
            revert EvidenceLedgerPlatformNotWhitelisted(r.funderId, r.platformId);
        }
        if (r.guarantorId != 0 && !_registry.isWhitelisted(r.funderId, r.guarantorId, listedAt)) {
            revert EvidenceLedgerGuarantorNotWhitelisted(r.funderId, r.guarantorId);
        }

        // R6: a co-funding partner carries at least the floor share; R7: it signs too.
        uint32 capBps = _capFor(funderType, r.issuedAt);
        if (r.coFunderId == 0) {
            if (r.coFunderShareBps != 0) revert EvidenceLedgerInvalidCoFunding();
        } else {
            if (r.coFunderId == r.funderId || r.coFunderShareBps >= _FULL_SHARE_BPS) {
                revert EvidenceLedgerInvalidCoFunding();
            }
            IParticipantRegistry.InstitutionType coFunderType =
                _checkParty(r.coFunderId, IParticipantRegistry.Role.Funder, recordId, signatures[next], at);
            uint16 floorBps = _registry.coFundingFloorAt(r.issuedAt);
            if (r.coFunderShareBps < floorBps) {
                revert EvidenceLedgerCoFundingShareBelowFloor(r.coFunderShareBps, floorBps);
            }
            // R1: the co-funder lists the platform and the guarantor too.
            if (!_registry.isWhitelisted(r.coFunderId, r.platformId, listedAt)) {
                revert EvidenceLedgerPlatformNotWhitelisted(r.coFunderId, r.platformId);
            }
            if (r.guarantorId != 0 && !_registry.isWhitelisted(r.coFunderId, r.guarantorId, listedAt)) {
                revert EvidenceLedgerGuarantorNotWhitelisted(r.coFunderId, r.guarantorId);
            }
            // Both lenders' caps bind the loan: the stricter one applies.
            uint32 coFunderCap = _capFor(coFunderType, r.issuedAt);
            if (coFunderCap < capBps) capBps = coFunderCap;
        }

        // R3: the comprehensive cost is within the cap (a flagged stock loan may exceed it).
        if (!legacy && r.aprBps > capBps) revert EvidenceLedgerRateCapExceeded(r.aprBps, capBps);
    }

    /// @dev The participant is active at `at`, has `role`, and signed `digest` with its key of that time.
    function _checkParty(
        uint64 participantId,
        IParticipantRegistry.Role role,
        bytes32 digest,
        bytes calldata signature,
        uint64 at
    ) private view returns (IParticipantRegistry.InstitutionType institutionType) {
        IParticipantRegistry.Epoch memory epoch = _registry.epochAt(participantId, at);
        if (epoch.status != IParticipantRegistry.Status.Active) revert EvidenceLedgerParticipantNotActive(participantId);
        IParticipantRegistry.Role actual;
        (actual, institutionType) = _registry.roleOf(participantId);
        if (actual != role) revert EvidenceLedgerWrongRole(participantId, role);
        (address recovered, ECDSA.RecoverError error,) = ECDSA.tryRecover(digest, signature);
        if (error != ECDSA.RecoverError.NoError || recovered != epoch.signer) {
            revert EvidenceLedgerInvalidSignature(participantId, recovered);
        }
    }

    function _capFor(IParticipantRegistry.InstitutionType institutionType, uint64 at) private view returns (uint32) {
        (bool found, uint32 capBps) = _registry.rateCapAt(institutionType, at);
        if (!found) revert EvidenceLedgerNoRateCap(institutionType);
        return capBps;
    }

    function _isRuleError(bytes4 selector) private pure returns (bool) {
        return selector == EvidenceLedgerZeroPrincipal.selector || selector == EvidenceLedgerUnknownFlags.selector
            || selector == EvidenceLedgerIssuedInFuture.selector
            || selector == EvidenceLedgerSignatureCountMismatch.selector
            || selector == EvidenceLedgerParticipantNotActive.selector || selector == EvidenceLedgerWrongRole.selector
            || selector == EvidenceLedgerInvalidSignature.selector
            || selector == EvidenceLedgerPlatformNotWhitelisted.selector
            || selector == EvidenceLedgerGuarantorNotWhitelisted.selector
            || selector == EvidenceLedgerInvalidCoFunding.selector
            || selector == EvidenceLedgerCoFundingShareBelowFloor.selector
            || selector == EvidenceLedgerNoRateCap.selector || selector == EvidenceLedgerLegacyAfterCutoff.selector
            || selector == EvidenceLedgerRateCapExceeded.selector;
    }

    // ------------------------------------------------------------------ internals

    function _loanId(LoanRecord calldata record) private view returns (bytes32) {
        return _hashTypedDataV4(RecordHashing.hashLoan(record));
    }

    function _requireIncluded(bytes32 root, bytes32 recordId, bytes32 signaturesHash, bytes32[] calldata proof)
        private
        view
        returns (Batch memory anchored)
    {
        anchored = _batches[root];
        if (anchored.anchoredAt == 0) revert EvidenceLedgerUnknownBatch(root);
        bytes32 leaf = RecordHashing.leaf(recordId, signaturesHash);
        if (!MerkleProof.verifyCalldata(proof, root, leaf)) revert EvidenceLedgerInvalidProof(root, leaf);
    }

    function _retire(
        LoanRecord calldata original,
        Inclusion calldata inclusion,
        Retirement calldata retirement,
        bytes[] calldata signatures,
        bool isAmendment
    ) private {
        bytes32 recordId = _loanId(original);
        if (retirement.recordId != recordId) revert EvidenceLedgerRetirementMismatch(recordId, retirement.recordId);
        bytes32 successor = retirement.supersededBy;
        if (isAmendment ? (successor == bytes32(0) || successor == recordId) : successor != bytes32(0)) {
            revert EvidenceLedgerInvalidSuccessor(successor);
        }
        RecordState memory state = _records[recordId];
        if (state.status == RecordStatus.Revoked || state.status == RecordStatus.Superseded) {
            revert EvidenceLedgerRecordAlreadyRetired(recordId);
        }
        if (state.status == RecordStatus.Unknown) {
            if (inclusion.root == bytes32(0)) revert EvidenceLedgerUnknownRecord(recordId);
            state.anchoredAt = _requireIncluded(inclusion.root, recordId, inclusion.signaturesHash, inclusion.proof)
                .anchoredAt;
        }
        bytes32 digest = _hashTypedDataV4(RecordHashing.hashRetirement(retirement, isAmendment));
        if (!_mayRetire(original, digest, signatures)) revert EvidenceLedgerUnauthorizedRetirement(recordId);

        uint64 nowTime = uint64(block.timestamp);
        _records[recordId] = RecordState(
            isAmendment ? RecordStatus.Superseded : RecordStatus.Revoked,
            state.anchoredAt,
            nowTime,
            retirement.reasonCode,
            successor
        );
        if (isAmendment) {
            emit RecordAmended(recordId, successor, retirement.reasonCode, nowTime);
        } else {
            emit RecordRevoked(recordId, retirement.reasonCode, nowTime);
        }
    }

    /// @dev The regulator alone, or the record's platform and funder together (current, active keys).
    function _mayRetire(LoanRecord calldata original, bytes32 digest, bytes[] calldata signatures)
        private
        view
        returns (bool)
    {
        if (signatures.length == 1) {
            return _signedByActive(digest, signatures[0], 0, IParticipantRegistry.Role.Regulator);
        }
        if (signatures.length == 2) {
            return _signedByActive(digest, signatures[0], original.platformId, IParticipantRegistry.Role.Platform)
                && _signedByActive(digest, signatures[1], original.funderId, IParticipantRegistry.Role.Funder);
        }
        return false;
    }

    /// @dev `signature` over `digest` is by the current signer of an active participant with `role`
    /// (and, unless `participantId == 0`, that participant).
    function _signedByActive(bytes32 digest, bytes calldata signature, uint64 participantId, IParticipantRegistry.Role role)
        private
        view
        returns (bool)
    {
        (address recovered, ECDSA.RecoverError error,) = ECDSA.tryRecover(digest, signature);
        if (error != ECDSA.RecoverError.NoError) return false;
        (uint64 id, IParticipantRegistry.Role actual) = _registry.activeParticipantOf(recovered);
        return actual == role && (participantId == 0 || id == participantId);
    }
}
