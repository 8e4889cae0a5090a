// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";

/// @title ParticipantRegistry
/// @notice Participants and their key history, funders' whitelists (R1) and rate policy (R3, R6, R8).
/// @dev Administered by accounts holding `REGULATOR_ROLE`. Funders manage their own whitelists
/// from their current signing address. History is append-only: nothing can be backdated.
contract ParticipantRegistry is IParticipantRegistry, AccessControl {
    /// @notice Accounts allowed to administer participants and rate policy.
    bytes32 public constant REGULATOR_ROLE = keccak256("REGULATOR_ROLE");

    /// @dev Caps above 10,000% are certainly a typo.
    uint32 private constant _MAX_RATE_BPS = 1_000_000;
    /// @dev 100 x the LPR: far beyond any cap, small enough that `lpr * multiple` cannot overflow.
    uint32 private constant _MAX_LPR_MULTIPLE_BPS = 1_000_000;

    uint64 private _participantCount;
    mapping(uint64 participantId => Participant) private _participants;
    mapping(uint64 participantId => Epoch[]) private _epochs;
    mapping(address signer => uint64 participantId) private _participantIdOf;

    mapping(uint64 funderId => mapping(uint64 partnerId => WhitelistPeriod[])) private _whitelist;

    mapping(InstitutionType institutionType => RateCap[]) private _rateCaps;
    LprEntry[] private _lpr;
    // Policy values keep their history: violations of batched records are judged by the rules in
    // force when the loan was issued or the batch anchored, not by today's.
    PolicyEntry[] private _coFundingFloors;
    PolicyEntry[] private _legacyCutoffs;

    /// @param regulator The first regulator account (gets `REGULATOR_ROLE` and the admin role).
    /// @param initialCoFundingFloorBps Minimum co-funding share (3,000 bps under the 2021 notice).
    /// @param initialLegacyCutoff Time from which no loan may be anchored as legacy stock.
    constructor(address regulator, uint16 initialCoFundingFloorBps, uint64 initialLegacyCutoff) {
        _grantRole(DEFAULT_ADMIN_ROLE, regulator);
        _grantRole(REGULATOR_ROLE, regulator);
        if (initialCoFundingFloorBps == 0 || initialCoFundingFloorBps >= 10_000) {
            revert RatePolicyInvalidRate(initialCoFundingFloorBps);
        }
        // Genesis entries take effect at time 0: they govern every earlier loan.
        _coFundingFloors.push(PolicyEntry(initialCoFundingFloorBps, 0));
        _legacyCutoffs.push(PolicyEntry(initialLegacyCutoff, 0));
    }

    // ------------------------------------------------------------------ participants

    /// @inheritdoc IParticipantRegistry
    function registerParticipant(
        Role role,
        InstitutionType institutionType,
        address signer,
        bytes32 ed25519PublicKey,
        string calldata name
    ) external onlyRole(REGULATOR_ROLE) returns (uint64 participantId) {
        if (role == Role.None) revert RegistryInvalidRole();
        if (role == Role.Gateway && ed25519PublicKey == bytes32(0)) revert RegistryEd25519KeyRequired();
        participantId = ++_participantCount;
        if (role == Role.Funder && institutionType == InstitutionType.None) {
            revert RegistryInstitutionTypeRequired(participantId);
        }
        _bindSigner(participantId, signer);
        _participants[participantId] = Participant(role, institutionType, uint64(block.timestamp), name);
        _epochs[participantId].push(Epoch(signer, ed25519PublicKey, Status.Active, uint64(block.timestamp)));
        emit ParticipantRegistered(participantId, role, institutionType, signer, ed25519PublicKey, name);
    }

    /// @inheritdoc IParticipantRegistry
    function setParticipantStatus(uint64 participantId, Status status) external onlyRole(REGULATOR_ROLE) {
        if (status == Status.None) revert RegistryInvalidStatus();
        Epoch memory next = _current(participantId);
        next.status = status;
        _appendEpoch(participantId, next);
        emit ParticipantStatusChanged(participantId, status);
    }

    /// @inheritdoc IParticipantRegistry
    function rotateSigner(uint64 participantId, address newSigner) external {
        Epoch memory next = _current(participantId);
        _requireRegulatorOrSelf(participantId, next.signer);
        address previous = next.signer;
        _bindSigner(participantId, newSigner);
        next.signer = newSigner;
        _appendEpoch(participantId, next);
        emit SignerRotated(participantId, previous, newSigner);
    }

    /// @inheritdoc IParticipantRegistry
    function rotateEd25519Key(uint64 participantId, bytes32 newKey) external {
        Epoch memory next = _current(participantId);
        _requireRegulatorOrSelf(participantId, next.signer);
        if (newKey == bytes32(0)) revert RegistryEd25519KeyRequired();
        bytes32 previous = next.ed25519PublicKey;
        next.ed25519PublicKey = newKey;
        _appendEpoch(participantId, next);
        emit Ed25519KeyRotated(participantId, previous, newKey);
    }

    /// @inheritdoc IParticipantRegistry
    function participant(uint64 participantId) external view returns (Participant memory) {
        _requireKnown(participantId);
        return _participants[participantId];
    }

    /// @inheritdoc IParticipantRegistry
    function currentEpoch(uint64 participantId) external view returns (Epoch memory) {
        return _current(participantId);
    }

    /// @inheritdoc IParticipantRegistry
    function epochAt(uint64 participantId, uint64 at) public view returns (Epoch memory) {
        Epoch[] storage history = _epochs[participantId];
        // Newest first: lookups are nearly always about recent times.
        for (uint256 i = history.length; i > 0; --i) {
            if (history[i - 1].validFrom <= at) return history[i - 1];
        }
        return Epoch(address(0), bytes32(0), Status.None, 0);
    }

    /// @inheritdoc IParticipantRegistry
    function epochs(uint64 participantId) external view returns (Epoch[] memory) {
        return _epochs[participantId];
    }

    /// @inheritdoc IParticipantRegistry
    function roleOf(uint64 participantId) external view returns (Role role, InstitutionType institutionType) {
        Participant storage p = _participants[participantId];
        return (p.role, p.institutionType);
    }

    /// @inheritdoc IParticipantRegistry
    function activeParticipantOf(address signer) external view returns (uint64 participantId, Role role) {
        participantId = _participantIdOf[signer];
        if (participantId == 0) return (0, Role.None);
        Epoch[] storage history = _epochs[participantId];
        Epoch storage current = history[history.length - 1];
        if (current.signer != signer || current.status != Status.Active) return (0, Role.None);
        return (participantId, _participants[participantId].role);
    }

    /// @inheritdoc IParticipantRegistry
    function participantIdOf(address signer) external view returns (uint64) {
        return _participantIdOf[signer];
    }

    /// @inheritdoc IParticipantRegistry
    function participantCount() external view returns (uint64) {
        return _participantCount;
    }

    // ------------------------------------------------------------------ whitelists (R1)

    /// @inheritdoc IParticipantRegistry
    function addToWhitelist(uint64 partnerId, uint64 effectiveFrom) external {
        uint64 funderId = _requireActiveFunderCaller();
        Role partnerRole = _participants[partnerId].role;
        if (partnerRole != Role.Platform && partnerRole != Role.CreditEnhancer) {
            revert WhitelistInvalidPartner(partnerId);
        }
        uint64 from = _notBackdated(effectiveFrom, true);
        WhitelistPeriod[] storage periods = _whitelist[funderId][partnerId];
        uint256 n = periods.length;
        // A new period may only start once the previous one has ended.
        if (n > 0 && (periods[n - 1].validUntil == 0 || periods[n - 1].validUntil > from)) {
            revert WhitelistAlreadyListed(funderId, partnerId);
        }
        periods.push(WhitelistPeriod(from, 0));
        emit WhitelistEntryAdded(funderId, partnerId, from);
    }

    /// @inheritdoc IParticipantRegistry
    function removeFromWhitelist(uint64 partnerId, uint64 effectiveUntil) external {
        uint64 funderId = _requireActiveFunderCaller();
        uint64 until = _notBackdated(effectiveUntil, true);
        WhitelistPeriod[] storage periods = _whitelist[funderId][partnerId];
        uint256 n = periods.length;
        if (n == 0 || periods[n - 1].validUntil != 0) revert WhitelistNotListed(funderId, partnerId);
        if (until < periods[n - 1].validFrom) revert WhitelistRemovalBeforeStart(until, periods[n - 1].validFrom);
        periods[n - 1].validUntil = until;
        emit WhitelistEntryRemoved(funderId, partnerId, until);
    }

    /// @inheritdoc IParticipantRegistry
    function isWhitelisted(uint64 funderId, uint64 partnerId, uint64 at) external view returns (bool) {
        WhitelistPeriod[] storage periods = _whitelist[funderId][partnerId];
        for (uint256 i = periods.length; i > 0; --i) {
            WhitelistPeriod storage p = periods[i - 1];
            if (p.validFrom <= at) return p.validUntil == 0 || at < p.validUntil;
        }
        return false;
    }

    /// @inheritdoc IParticipantRegistry
    function whitelistHistory(uint64 funderId, uint64 partnerId) external view returns (WhitelistPeriod[] memory) {
        return _whitelist[funderId][partnerId];
    }

    // ------------------------------------------------------------------ rate policy (R3, R6, R8)

    /// @inheritdoc IParticipantRegistry
    function setRateCap(InstitutionType institutionType, uint32 capBps, uint64 effectiveFrom)
        external
        onlyRole(REGULATOR_ROLE)
    {
        if (capBps == 0 || capBps > _MAX_RATE_BPS) revert RatePolicyInvalidRate(capBps);
        uint64 from = _pushRateCap(institutionType, RateCap(capBps, effectiveFrom, 0));
        emit RateCapSet(institutionType, capBps, from);
    }

    /// @inheritdoc IParticipantRegistry
    function setRateCapAsLprMultiple(InstitutionType institutionType, uint32 lprMultipleBps, uint64 effectiveFrom)
        external
        onlyRole(REGULATOR_ROLE)
    {
        if (lprMultipleBps == 0 || lprMultipleBps > _MAX_LPR_MULTIPLE_BPS) revert RatePolicyInvalidRate(lprMultipleBps);
        uint64 from = _pushRateCap(institutionType, RateCap(0, effectiveFrom, lprMultipleBps));
        emit RateCapLinkedToLpr(institutionType, lprMultipleBps, from);
    }

    /// @dev Appends a cap entry (not backdated, in order); returns its effective time.
    function _pushRateCap(InstitutionType institutionType, RateCap memory cap) private returns (uint64 from) {
        if (institutionType == InstitutionType.None) revert RatePolicyInvalidInstitutionType();
        RateCap[] storage caps = _rateCaps[institutionType];
        from = _notBackdated(cap.effectiveFrom, false);
        if (caps.length > 0 && from < caps[caps.length - 1].effectiveFrom) {
            revert RatePolicyOutOfOrder(from, caps[caps.length - 1].effectiveFrom);
        }
        cap.effectiveFrom = from;
        caps.push(cap);
    }

    /// @inheritdoc IParticipantRegistry
    function setLpr(uint32 lprBps, uint64 effectiveFrom) external onlyRole(REGULATOR_ROLE) {
        if (lprBps == 0 || lprBps > _MAX_RATE_BPS) revert RatePolicyInvalidRate(lprBps);
        uint64 from = _notBackdated(effectiveFrom, false);
        if (_lpr.length > 0 && from < _lpr[_lpr.length - 1].effectiveFrom) {
            revert RatePolicyOutOfOrder(from, _lpr[_lpr.length - 1].effectiveFrom);
        }
        _lpr.push(LprEntry(lprBps, from));
        emit LprSet(lprBps, from);
    }

    /// @inheritdoc IParticipantRegistry
    function setCoFundingFloor(uint16 floorBps) external onlyRole(REGULATOR_ROLE) {
        if (floorBps == 0 || floorBps >= 10_000) revert RatePolicyInvalidRate(floorBps);
        _coFundingFloors.push(PolicyEntry(floorBps, uint64(block.timestamp)));
        emit CoFundingFloorSet(floorBps, uint64(block.timestamp));
    }

    /// @inheritdoc IParticipantRegistry
    function setLegacyCutoff(uint64 cutoff) external onlyRole(REGULATOR_ROLE) {
        _legacyCutoffs.push(PolicyEntry(cutoff, uint64(block.timestamp)));
        emit LegacyCutoffSet(cutoff, uint64(block.timestamp));
    }

    /// @inheritdoc IParticipantRegistry
    function rateCapAt(InstitutionType institutionType, uint64 at) external view returns (bool found, uint32 capBps) {
        RateCap[] storage caps = _rateCaps[institutionType];
        uint256 n = caps.length;
        if (n == 0) return (false, 0);
        RateCap storage cap = caps[0];
        for (uint256 i = n; i > 0; --i) {
            if (caps[i - 1].effectiveFrom <= at) {
                cap = caps[i - 1];
                break;
            }
        }
        if (cap.lprMultipleBps == 0) return (true, cap.capBps);
        // Linked to the LPR: no LPR in force, no cap (loans are refused with NoRateCap).
        uint256 lpr = _lprAt(at);
        if (lpr == 0) return (false, 0);
        uint256 linked = lpr * cap.lprMultipleBps / 10_000;
        return (true, linked > _MAX_RATE_BPS ? _MAX_RATE_BPS : uint32(linked));
    }

    /// @inheritdoc IParticipantRegistry
    function rateCapHistory(InstitutionType institutionType) external view returns (RateCap[] memory) {
        return _rateCaps[institutionType];
    }

    /// @inheritdoc IParticipantRegistry
    function lprAt(uint64 at) external view returns (uint32) {
        return _lprAt(at);
    }

    function _lprAt(uint64 at) private view returns (uint32) {
        for (uint256 i = _lpr.length; i > 0; --i) {
            if (_lpr[i - 1].effectiveFrom <= at) return _lpr[i - 1].lprBps;
        }
        return 0;
    }

    /// @inheritdoc IParticipantRegistry
    function coFundingFloorBps() external view returns (uint16) {
        return uint16(_coFundingFloors[_coFundingFloors.length - 1].value);
    }

    /// @inheritdoc IParticipantRegistry
    function coFundingFloorAt(uint64 at) external view returns (uint16) {
        return uint16(_policyAt(_coFundingFloors, at));
    }

    /// @inheritdoc IParticipantRegistry
    function legacyCutoff() external view returns (uint64) {
        return _legacyCutoffs[_legacyCutoffs.length - 1].value;
    }

    /// @inheritdoc IParticipantRegistry
    function legacyCutoffAt(uint64 at) external view returns (uint64) {
        return _policyAt(_legacyCutoffs, at);
    }

    // ------------------------------------------------------------------ internals

    /// @dev The entry in force at `at`; the genesis entry (effective at 0) always matches.
    function _policyAt(PolicyEntry[] storage entries, uint64 at) private view returns (uint64) {
        for (uint256 i = entries.length; i > 0; --i) {
            if (entries[i - 1].effectiveFrom <= at) return entries[i - 1].value;
        }
        return entries[0].value;
    }

    function _requireKnown(uint64 participantId) private view {
        if (participantId == 0 || participantId > _participantCount) {
            revert RegistryUnknownParticipant(participantId);
        }
    }

    function _current(uint64 participantId) private view returns (Epoch memory) {
        _requireKnown(participantId);
        Epoch[] storage history = _epochs[participantId];
        return history[history.length - 1];
    }

    function _appendEpoch(uint64 participantId, Epoch memory next) private {
        next.validFrom = uint64(block.timestamp);
        _epochs[participantId].push(next);
    }

    function _bindSigner(uint64 participantId, address signer) private {
        if (signer == address(0)) revert RegistryInvalidSigner();
        uint64 holder = _participantIdOf[signer];
        if (holder != 0) revert RegistrySignerInUse(signer, holder);
        _participantIdOf[signer] = participantId;
    }

    function _requireRegulatorOrSelf(uint64 participantId, address currentSigner) private view {
        if (msg.sender != currentSigner && !hasRole(REGULATOR_ROLE, msg.sender)) {
            revert RegistryUnauthorized(msg.sender, participantId);
        }
    }

    function _requireActiveFunderCaller() private view returns (uint64 funderId) {
        funderId = _participantIdOf[msg.sender];
        if (funderId == 0 || _participants[funderId].role != Role.Funder) {
            revert WhitelistCallerNotActiveFunder(msg.sender);
        }
        Epoch[] storage history = _epochs[funderId];
        Epoch storage current = history[history.length - 1];
        if (current.signer != msg.sender || current.status != Status.Active) {
            revert WhitelistCallerNotActiveFunder(msg.sender);
        }
    }

    /// @dev 0 means "now"; anything earlier than now is refused so history cannot be rewritten.
    function _notBackdated(uint64 at, bool isWhitelist) private view returns (uint64) {
        uint64 nowTime = uint64(block.timestamp);
        if (at == 0) return nowTime;
        if (at < nowTime) {
            if (isWhitelist) revert WhitelistBackdatedChange(at, nowTime);
            revert RatePolicyBackdatedChange(at, nowTime);
        }
        return at;
    }
}
