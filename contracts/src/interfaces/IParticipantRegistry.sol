// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title Participant registry of the loan evidence ledger
/// @notice Who may take part (funders, platforms, credit-enhancement providers, auditors, gateways,
/// regulators), with which signing key at which time; each funder's whitelist of partners (R1);
/// and the regulator's rate policy (R3). Everything that changes keeps its history, because
/// evidence is judged by the rules and keys in force when it was made.
interface IParticipantRegistry {
    /// @notice What a participant does in the 助贷 market.
    enum Role {
        None,
        Funder,
        Platform,
        CreditEnhancer,
        Auditor,
        Gateway,
        Regulator
    }

    /// @notice Kind of licensed institution; funders' rate caps depend on it (R3).
    enum InstitutionType {
        None,
        Bank,
        Trust,
        ConsumerFinance,
        SmallLoan,
        Other
    }

    /// @notice Whether a participant may act. `None` means "not registered (at that time)".
    enum Status {
        None,
        Active,
        Suspended
    }

    /// @notice The fixed facts about a participant.
    struct Participant {
        Role role;
        InstitutionType institutionType;
        uint64 registeredAt;
        string name;
    }

    /// @notice The mutable state of a participant from `validFrom` until the next epoch.
    /// @dev Every change of signer, gateway key or status appends an epoch, so any past state can
    /// be looked up (`epochAt`) when old signatures and old gateway promises are verified.
    struct Epoch {
        address signer;
        bytes32 ed25519PublicKey;
        Status status;
        uint64 validFrom;
    }

    /// @notice One period during which a partner was on a funder's whitelist.
    /// @dev `validUntil == 0` means the period is still open.
    struct WhitelistPeriod {
        uint64 validFrom;
        uint64 validUntil;
    }

    /// @notice A per-loan cap on the comprehensive annualized cost, in basis points: `capBps`, or,
    /// when `lprMultipleBps` is not 0, that multiple of the one-year LPR in force (4 x LPR = 40,000).
    struct RateCap {
        uint32 capBps;
        uint64 effectiveFrom;
        uint32 lprMultipleBps;
    }

    /// @notice A policy value (co-funding floor in bps, or legacy cutoff as unix time) from `effectiveFrom`.
    struct PolicyEntry {
        uint64 value;
        uint64 effectiveFrom;
    }

    /// @notice The one-year Loan Prime Rate, in basis points.
    struct LprEntry {
        uint32 lprBps;
        uint64 effectiveFrom;
    }

    // ------------------------------------------------------------------ errors

    /// @notice `participantId` is not registered.
    error RegistryUnknownParticipant(uint64 participantId);
    /// @notice The role `None` cannot be registered.
    error RegistryInvalidRole();
    /// @notice Funders need an institution type, because rate caps depend on it.
    error RegistryInstitutionTypeRequired(uint64 participantId);
    /// @notice A signer must be a non-zero address.
    error RegistryInvalidSigner();
    /// @notice `signer` is already bound to participant `participantId` (addresses are never reused).
    error RegistrySignerInUse(address signer, uint64 participantId);
    /// @notice A gateway must register the Ed25519 key it signs entry timestamps with.
    error RegistryEd25519KeyRequired();
    /// @notice The requested status is not Active or Suspended.
    error RegistryInvalidStatus();
    /// @notice `caller` is neither the regulator nor the current signer of `participantId`.
    error RegistryUnauthorized(address caller, uint64 participantId);
    /// @notice `caller` is not the current signer of an active funder.
    error WhitelistCallerNotActiveFunder(address caller);
    /// @notice Only platforms and credit-enhancement providers can be whitelisted.
    error WhitelistInvalidPartner(uint64 partnerId);
    /// @notice `partnerId` is already on (or already scheduled onto) the funder's whitelist.
    error WhitelistAlreadyListed(uint64 funderId, uint64 partnerId);
    /// @notice `partnerId` is not on the funder's whitelist.
    error WhitelistNotListed(uint64 funderId, uint64 partnerId);
    /// @notice Whitelist history cannot be rewritten: `at` lies before the current block time `nowTime`.
    error WhitelistBackdatedChange(uint64 at, uint64 nowTime);
    /// @notice A removal cannot take effect before the open period began.
    error WhitelistRemovalBeforeStart(uint64 at, uint64 validFrom);
    /// @notice A cap must be positive and at most 1,000,000 bps.
    error RatePolicyInvalidRate(uint32 bps);
    /// @notice Policy history cannot be rewritten: `at` lies before the current block time `nowTime`.
    error RatePolicyBackdatedChange(uint64 at, uint64 nowTime);
    /// @notice Entries must take effect in order: `at` lies before the last entry's `lastEffectiveFrom`.
    error RatePolicyOutOfOrder(uint64 at, uint64 lastEffectiveFrom);
    /// @notice Rate caps apply to funders' institution types only.
    error RatePolicyInvalidInstitutionType();

    // ------------------------------------------------------------------ events

    /// @notice A participant was registered by the regulator.
    event ParticipantRegistered(
        uint64 indexed participantId,
        Role indexed role,
        InstitutionType institutionType,
        address signer,
        bytes32 ed25519PublicKey,
        string name
    );
    /// @notice A participant's status changed (suspended or reactivated).
    event ParticipantStatusChanged(uint64 indexed participantId, Status status);
    /// @notice A participant's signing address was replaced; the old one stays in the history.
    event SignerRotated(uint64 indexed participantId, address indexed previousSigner, address indexed newSigner);
    /// @notice A gateway's Ed25519 key was replaced; the old one stays in the history.
    event Ed25519KeyRotated(uint64 indexed participantId, bytes32 previousKey, bytes32 newKey);
    /// @notice A funder put a partner on its whitelist from `validFrom`.
    event WhitelistEntryAdded(uint64 indexed funderId, uint64 indexed partnerId, uint64 validFrom);
    /// @notice A funder took a partner off its whitelist from `validUntil`.
    event WhitelistEntryRemoved(uint64 indexed funderId, uint64 indexed partnerId, uint64 validUntil);
    /// @notice The regulator set the per-loan cap for an institution type.
    event RateCapSet(InstitutionType indexed institutionType, uint32 capBps, uint64 effectiveFrom);
    /// @notice The regulator linked the cap of `institutionType` to the LPR from `effectiveFrom`.
    event RateCapLinkedToLpr(InstitutionType indexed institutionType, uint32 lprMultipleBps, uint64 effectiveFrom);
    /// @notice The regulator recorded the one-year LPR.
    event LprSet(uint32 lprBps, uint64 effectiveFrom);
    /// @notice The regulator set the minimum share of a co-funding partner (R6) from `effectiveFrom`.
    event CoFundingFloorSet(uint16 floorBps, uint64 effectiveFrom);
    /// @notice The regulator set the date after which no loan may be anchored as legacy stock (R8),
    /// in force from `effectiveFrom`.
    event LegacyCutoffSet(uint64 cutoff, uint64 effectiveFrom);

    // ------------------------------------------------------------------ participants

    /// @notice Registers a participant. Regulator only.
    /// @param role What the participant does; not `None`.
    /// @param institutionType Required for funders (rate caps depend on it); informational otherwise.
    /// @param signer The secp256k1 address whose EIP-712 signatures speak for the participant.
    /// @param ed25519PublicKey The Ed25519 key a gateway signs entry timestamps with (gateways only).
    /// @param name The institution's public name (never a natural person's).
    /// @return participantId The new participant's id, counting from 1.
    function registerParticipant(
        Role role,
        InstitutionType institutionType,
        address signer,
        bytes32 ed25519PublicKey,
        string calldata name
    ) external returns (uint64 participantId);

    /// @notice Suspends or reactivates a participant. Regulator only.
    /// @param participantId The participant.
    /// @param status `Active` or `Suspended`.
    function setParticipantStatus(uint64 participantId, Status status) external;

    /// @notice Replaces a participant's signing address. The regulator or the current signer.
    /// @param participantId The participant.
    /// @param newSigner The new address; never used by any participant before.
    function rotateSigner(uint64 participantId, address newSigner) external;

    /// @notice Replaces a gateway's Ed25519 key. The regulator or the gateway's current signer.
    /// @param participantId The gateway.
    /// @param newKey The new 32-byte Ed25519 public key.
    function rotateEd25519Key(uint64 participantId, bytes32 newKey) external;

    /// @notice The fixed facts about a participant.
    /// @param participantId The participant.
    /// @return The participant (reverts if unknown).
    function participant(uint64 participantId) external view returns (Participant memory);

    /// @notice The participant's state now.
    /// @param participantId The participant.
    /// @return The current epoch (reverts if unknown).
    function currentEpoch(uint64 participantId) external view returns (Epoch memory);

    /// @notice The participant's state at time `at`.
    /// @param participantId The participant.
    /// @param at A unix time.
    /// @return The epoch in force at `at`; all zero (status `None`) before registration.
    function epochAt(uint64 participantId, uint64 at) external view returns (Epoch memory);

    /// @notice Every state the participant has had, oldest first.
    /// @param participantId The participant.
    /// @return The epochs.
    function epochs(uint64 participantId) external view returns (Epoch[] memory);

    /// @notice The role and institution type of a participant, without its name (cheap to call).
    /// @param participantId The participant.
    /// @return role The role (`None` if unknown).
    /// @return institutionType The institution type.
    function roleOf(uint64 participantId) external view returns (Role role, InstitutionType institutionType);

    /// @notice The participant whose current, active signer is `signer`.
    /// @param signer An address.
    /// @return participantId The participant (0 if `signer` is not the current signer of an active participant).
    /// @return role Its role (`None` if 0).
    function activeParticipantOf(address signer) external view returns (uint64 participantId, Role role);

    /// @notice The participant an address was ever bound to as signer (0 if none).
    /// @param signer An address.
    /// @return The participant id.
    function participantIdOf(address signer) external view returns (uint64);

    /// @notice How many participants are registered (ids run from 1 to this number).
    /// @return The count.
    function participantCount() external view returns (uint64);

    // ------------------------------------------------------------------ whitelists (R1)

    /// @notice Puts a platform or credit-enhancement provider on the caller's whitelist.
    /// @dev The caller is the current signer of an active funder. No backdating.
    /// @param partnerId The platform or credit-enhancement provider.
    /// @param effectiveFrom When the entry takes effect; 0 means now.
    function addToWhitelist(uint64 partnerId, uint64 effectiveFrom) external;

    /// @notice Takes a partner off the caller's whitelist.
    /// @dev The caller is the current signer of an active funder. No backdating.
    /// @param partnerId The partner.
    /// @param effectiveUntil When the entry ends; 0 means now.
    function removeFromWhitelist(uint64 partnerId, uint64 effectiveUntil) external;

    /// @notice Whether `partnerId` was on `funderId`'s whitelist at time `at`.
    /// @param funderId The funder.
    /// @param partnerId The partner.
    /// @param at A unix time.
    /// @return True if a whitelist period covers `at`.
    function isWhitelisted(uint64 funderId, uint64 partnerId, uint64 at) external view returns (bool);

    /// @notice Every whitelist period of a funder-partner pair, oldest first.
    /// @param funderId The funder.
    /// @param partnerId The partner.
    /// @return The periods.
    function whitelistHistory(uint64 funderId, uint64 partnerId) external view returns (WhitelistPeriod[] memory);

    // ------------------------------------------------------------------ rate policy (R3, R6, R8)

    /// @notice Sets the per-loan cap of an institution type from `effectiveFrom`. Regulator only.
    /// @param institutionType The funder type the cap applies to.
    /// @param capBps The cap on the comprehensive annualized cost (nominal IRR) in basis points.
    /// @param effectiveFrom When it takes effect; 0 means now. No backdating.
    function setRateCap(InstitutionType institutionType, uint32 capBps, uint64 effectiveFrom) external;

    /// @notice Links the per-loan cap of an institution type to the one-year LPR from `effectiveFrom`:
    /// the cap is then `lprMultipleBps` / 10,000 times the LPR in force at the loan's issue time
    /// (rounded down), and follows every LPR change. Regulator only.
    /// @param institutionType The funder type the cap applies to.
    /// @param lprMultipleBps The multiple in basis points (4 x LPR = 40,000).
    /// @param effectiveFrom When it takes effect; 0 means now. No backdating.
    function setRateCapAsLprMultiple(InstitutionType institutionType, uint32 lprMultipleBps, uint64 effectiveFrom)
        external;

    /// @notice Records the one-year LPR from `effectiveFrom`. Regulator only.
    /// @param lprBps The LPR in basis points (3.00% = 300).
    /// @param effectiveFrom When it takes effect; 0 means now. No backdating.
    function setLpr(uint32 lprBps, uint64 effectiveFrom) external;

    /// @notice Sets the minimum share of a co-funding partner in each co-funded loan. Regulator only.
    /// @param floorBps The floor in basis points of the principal (3,000 = 30%).
    function setCoFundingFloor(uint16 floorBps) external;

    /// @notice Sets the time from which no new loan may be anchored as legacy stock. Regulator only.
    /// @param cutoff A unix time.
    function setLegacyCutoff(uint64 cutoff) external;

    /// @notice The cap for an institution type in force at `at`.
    /// @dev Before the first entry the first entry applies, so stock loans anchored later are
    /// still held to a cap. `found` is false only if no cap was ever set for the type.
    /// @param institutionType The funder type.
    /// @param at A unix time.
    /// @return found Whether a cap exists.
    /// @return capBps The cap in basis points.
    function rateCapAt(InstitutionType institutionType, uint64 at) external view returns (bool found, uint32 capBps);

    /// @notice Every cap an institution type has had, oldest first.
    /// @param institutionType The funder type.
    /// @return The caps.
    function rateCapHistory(InstitutionType institutionType) external view returns (RateCap[] memory);

    /// @notice The LPR in force at `at` (0 if none was recorded yet).
    /// @param at A unix time.
    /// @return The LPR in basis points.
    function lprAt(uint64 at) external view returns (uint32);

    /// @notice The minimum co-funding share in basis points, now.
    /// @return The floor.
    function coFundingFloorBps() external view returns (uint16);

    /// @notice The minimum co-funding share in force at `at` (loans are held to the floor of
    /// their issue time).
    /// @param at A unix time.
    /// @return The floor in basis points.
    function coFundingFloorAt(uint64 at) external view returns (uint16);

    /// @notice The time from which no new loan may be anchored as legacy stock, now.
    /// @return The cutoff (unix time).
    function legacyCutoff() external view returns (uint64);

    /// @notice The legacy cutoff in force at `at` (a batch is judged by the cutoff of its anchoring).
    /// @param at A unix time.
    /// @return The cutoff (unix time).
    function legacyCutoffAt(uint64 at) external view returns (uint64);
}
