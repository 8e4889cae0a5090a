"""ParticipantRegistry: genesis state, participants, key and status history, AccessControl."""

from __future__ import annotations

from typing import Any

from eth_account import Account

from ledger.chain.client import ContractRevert
from ledger.chain.deploy import GenesisPolicy
from ledger.enums import InstitutionType, ParticipantStatus, Role
from ledger.signing import LocalSigner

from .conftest import DEFAULT_ADMIN_ROLE, REGULATOR_ROLE, ZERO32, ZERO_ADDRESS, Env, selector

ACTIVE, SUSPENDED = int(ParticipantStatus.ACTIVE), int(ParticipantStatus.SUSPENDED)


# ------------------------------------------------------------------------------ genesis


def test_genesis_roles_and_policy(backend: Env) -> None:
    reg = backend.registry
    regulator = backend.regulator_account.address
    assert backend.call(reg.functions.REGULATOR_ROLE()) == REGULATOR_ROLE
    assert backend.call(reg.functions.DEFAULT_ADMIN_ROLE()) == DEFAULT_ADMIN_ROLE
    assert backend.call(reg.functions.hasRole(REGULATOR_ROLE, regulator)) is True
    assert backend.call(reg.functions.hasRole(DEFAULT_ADMIN_ROLE, regulator)) is True
    assert backend.call(reg.functions.hasRole(REGULATOR_ROLE, backend.outsider.address)) is False
    assert backend.call(reg.functions.getRoleAdmin(REGULATOR_ROLE)) == DEFAULT_ADMIN_ROLE
    policy = GenesisPolicy()
    assert backend.call(reg.functions.coFundingFloorBps()) == policy.co_funding_floor_bps == 3000
    assert backend.call(reg.functions.legacyCutoff()) == policy.legacy_cutoff
    now = backend.now()
    for institution in InstitutionType:
        if institution is InstitutionType.NONE:
            assert backend.call(reg.functions.rateCapAt(0, now)) == [False, 0]
            assert backend.call(reg.functions.rateCapHistory(0)) == []
            continue
        assert backend.call(reg.functions.rateCapAt(int(institution), now)) == [True, 2400]
        history = backend.call(reg.functions.rateCapHistory(int(institution)))
        assert len(history) == 1 and history[0][0] == 2400
    assert backend.call(reg.functions.lprAt(now)) == 300
    assert backend.call(reg.functions.participantCount()) == 8
    assert backend.call(backend.ledger.functions.registry()) == backend.deployment.registry


def test_supports_interface(backend: Env) -> None:
    reg = backend.registry
    access_control = bytes.fromhex("7965db0b")
    erc165 = bytes.fromhex("01ffc9a7")
    assert backend.call(reg.functions.supportsInterface(access_control)) is True
    assert backend.call(reg.functions.supportsInterface(erc165)) is True
    assert backend.call(reg.functions.supportsInterface(b"\xff\xff\xff\xff")) is False


def test_cast_is_registered(backend: Env) -> None:
    reg = backend.registry
    for party in backend.parties.values():
        role, institution, registered_at, _name = backend.call(reg.functions.participant(party.id))
        assert (role, institution) == (party.role, party.institution_type)
        assert backend.call(reg.functions.roleOf(party.id)) == [party.role, party.institution_type]
        assert backend.call(reg.functions.participantIdOf(party.address)) == party.id
        assert backend.call(reg.functions.activeParticipantOf(party.address)) == [
            party.id,
            party.role,
        ]
        signer, key, status, valid_from = backend.call(reg.functions.currentEpoch(party.id))
        assert (signer, key, status, valid_from) == (
            party.address,
            party.ed25519_key,
            ACTIVE,
            registered_at,
        )
    assert backend.call(reg.functions.participant(backend.bank.id))[3] == "示例银行股份有限公司"


# ------------------------------------------------------------------------------ registerParticipant


def test_register_participant_event_and_state(backend: Env) -> None:
    reg = backend.registry
    signer = LocalSigner.generate()
    key = bytes(range(32))
    name = "某信托有限责任公司"
    fn = reg.functions.registerParticipant(
        int(Role.FUNDER), int(InstitutionType.TRUST), signer.address, key, name
    )
    assert backend.call(fn, backend.regulator) == 9  # the id it would get (static call)
    receipt = backend.transact(backend.regulator, fn)
    at = backend.block_time(receipt)
    assert backend.event(receipt, reg, "ParticipantRegistered") == {
        "participantId": 9,
        "role": int(Role.FUNDER),
        "institutionType": int(InstitutionType.TRUST),
        "signer": signer.address,
        "ed25519PublicKey": key,
        "name": name,
    }
    assert backend.call(reg.functions.participantCount()) == 9
    assert backend.call(reg.functions.participant(9)) == (
        int(Role.FUNDER),
        int(InstitutionType.TRUST),
        at,
        name,
    )
    assert backend.call(reg.functions.currentEpoch(9)) == (signer.address, key, ACTIVE, at)
    assert backend.call(reg.functions.epochs(9)) == [(signer.address, key, ACTIVE, at)]
    assert backend.call(reg.functions.epochAt(9, at)) == (signer.address, key, ACTIVE, at)
    assert backend.call(reg.functions.epochAt(9, at - 1)) == (ZERO_ADDRESS, ZERO32, 0, 0)
    assert backend.call(reg.functions.activeParticipantOf(signer.address)) == [9, int(Role.FUNDER)]


def test_register_every_role(backend: Env) -> None:
    for role in Role:
        if role is Role.NONE:
            continue
        institution = InstitutionType.OTHER if role is Role.FUNDER else InstitutionType.NONE
        party = backend.register(role, institution)
        assert backend.call(backend.registry.functions.roleOf(party.id)) == [role, institution]


def test_non_gateway_may_register_without_ed25519_key_and_informational_type(backend: Env) -> None:
    party = backend.register(Role.PLATFORM, InstitutionType.OTHER, ed25519_key=ZERO32)
    assert backend.call(backend.registry.functions.roleOf(party.id)) == [
        Role.PLATFORM,
        InstitutionType.OTHER,
    ]


def test_register_invalid_role(backend: Env) -> None:
    fn = backend.registry.functions.registerParticipant(
        0, 0, LocalSigner.generate().address, ZERO32, "x"
    )
    with backend.reverts("RegistryInvalidRole"):
        backend.transact(backend.regulator, fn)


def test_register_out_of_range_enum_reverts_without_error(backend: Env) -> None:
    fn = backend.registry.functions.registerParticipant(
        7, 0, LocalSigner.generate().address, ZERO32, "x"
    )
    with backend.reverts(None):
        backend.transact(backend.regulator, fn)


def test_register_funder_requires_institution_type(backend: Env) -> None:
    fn = backend.registry.functions.registerParticipant(
        int(Role.FUNDER), 0, LocalSigner.generate().address, ZERO32, "x"
    )
    with backend.reverts("RegistryInstitutionTypeRequired", 9):
        backend.transact(backend.regulator, fn)
    assert backend.call(backend.registry.functions.participantCount()) == 8


def test_register_zero_signer(backend: Env) -> None:
    fn = backend.registry.functions.registerParticipant(
        int(Role.PLATFORM), 0, ZERO_ADDRESS, ZERO32, "x"
    )
    with backend.reverts("RegistryInvalidSigner"):
        backend.transact(backend.regulator, fn)


def test_register_signer_in_use(backend: Env) -> None:
    fn = backend.registry.functions.registerParticipant(
        int(Role.PLATFORM), 0, backend.bank.address, ZERO32, "x"
    )
    with backend.reverts("RegistrySignerInUse", backend.bank.address, backend.bank.id):
        backend.transact(backend.regulator, fn)


def test_register_gateway_requires_ed25519_key(backend: Env) -> None:
    fn = backend.registry.functions.registerParticipant(
        int(Role.GATEWAY), 0, LocalSigner.generate().address, ZERO32, "gw"
    )
    with backend.reverts("RegistryEd25519KeyRequired"):
        backend.transact(backend.regulator, fn)


def test_register_requires_regulator_role(backend: Env) -> None:
    fn = backend.registry.functions.registerParticipant(
        int(Role.PLATFORM), 0, LocalSigner.generate().address, ZERO32, "x"
    )
    with backend.reverts("AccessControlUnauthorizedAccount", backend.bank.address, REGULATOR_ROLE):
        backend.transact(backend.bank, fn)


# ------------------------------------------------------------------------------ status


def test_status_history(backend: Env) -> None:
    reg, platform = backend.registry, backend.platform
    registered = backend.call(reg.functions.currentEpoch(platform.id))[3]
    backend.advance(100)
    receipt = backend.suspend(platform)
    suspended_at = backend.block_time(receipt)
    assert backend.event(receipt, reg, "ParticipantStatusChanged") == {
        "participantId": platform.id,
        "status": SUSPENDED,
    }
    assert backend.call(reg.functions.activeParticipantOf(platform.address)) == [0, 0]
    assert backend.call(reg.functions.participantIdOf(platform.address)) == platform.id
    backend.advance(100)
    receipt = backend.reactivate(platform)
    reactivated_at = backend.block_time(receipt)
    assert backend.event(receipt, reg, "ParticipantStatusChanged")["status"] == ACTIVE
    assert backend.call(reg.functions.activeParticipantOf(platform.address)) == [
        platform.id,
        Role.PLATFORM,
    ]

    assert backend.call(reg.functions.epochs(platform.id)) == [
        (platform.address, ZERO32, ACTIVE, registered),
        (platform.address, ZERO32, SUSPENDED, suspended_at),
        (platform.address, ZERO32, ACTIVE, reactivated_at),
    ]

    def status_at(t: int) -> int:
        status: int = backend.call(reg.functions.epochAt(platform.id, t))[2]
        return status

    assert status_at(registered - 1) == 0
    assert status_at(suspended_at - 1) == ACTIVE
    assert status_at(suspended_at) == SUSPENDED
    assert status_at(reactivated_at - 1) == SUSPENDED
    assert status_at(reactivated_at) == ACTIVE
    assert status_at(2**64 - 1) == ACTIVE


def test_set_status_invalid(backend: Env) -> None:
    with backend.reverts("RegistryInvalidStatus"):
        backend.transact(
            backend.regulator,
            backend.registry.functions.setParticipantStatus(backend.platform.id, 0),
        )


def test_set_status_unknown_participant(backend: Env) -> None:
    for pid in (0, 9, 2**64 - 1):
        with backend.reverts("RegistryUnknownParticipant", pid):
            backend.transact(
                backend.regulator, backend.registry.functions.setParticipantStatus(pid, SUSPENDED)
            )


def test_set_status_requires_regulator_role(backend: Env) -> None:
    fn = backend.registry.functions.setParticipantStatus(backend.platform.id, SUSPENDED)
    with backend.reverts(
        "AccessControlUnauthorizedAccount", backend.platform.address, REGULATOR_ROLE
    ):
        backend.transact(backend.platform, fn)


# ------------------------------------------------------------------------------ signer rotation


def test_rotate_signer_by_regulator_keeps_history(backend: Env) -> None:
    reg, platform = backend.registry, backend.platform
    registered = backend.call(reg.functions.currentEpoch(platform.id))[3]
    backend.advance(10)
    old = platform.address
    new = LocalSigner.generate()
    receipt = backend.transact(
        backend.regulator, reg.functions.rotateSigner(platform.id, new.address)
    )
    rotated_at = backend.block_time(receipt)
    assert backend.event(receipt, reg, "SignerRotated") == {
        "participantId": platform.id,
        "previousSigner": old,
        "newSigner": new.address,
    }
    assert backend.call(reg.functions.epochAt(platform.id, rotated_at - 1)) == (
        old,
        ZERO32,
        ACTIVE,
        registered,
    )
    assert backend.call(reg.functions.epochAt(platform.id, rotated_at)) == (
        new.address,
        ZERO32,
        ACTIVE,
        rotated_at,
    )
    assert backend.call(reg.functions.currentEpoch(platform.id))[0] == new.address
    assert len(backend.call(reg.functions.epochs(platform.id))) == 2
    # the old address stays bound to the participant (never reused) but is no longer active
    assert backend.call(reg.functions.participantIdOf(old)) == platform.id
    assert backend.call(reg.functions.participantIdOf(new.address)) == platform.id
    assert backend.call(reg.functions.activeParticipantOf(old)) == [0, 0]
    assert backend.call(reg.functions.activeParticipantOf(new.address)) == [
        platform.id,
        Role.PLATFORM,
    ]


def test_rotate_signer_by_self_then_old_key_is_powerless(backend: Env) -> None:
    reg, gateway = backend.registry, backend.gateway
    old_account = gateway.account
    old_signer = backend.rotate_signer(gateway, sender=old_account)
    with backend.reverts("RegistryUnauthorized", old_signer.address, gateway.id):
        backend.transact(
            old_account, reg.functions.rotateSigner(gateway.id, LocalSigner.generate().address)
        )
    # the new key can rotate again
    backend.rotate_signer(gateway, sender=gateway)


def test_rotate_signer_to_used_addresses(backend: Env) -> None:
    reg, platform = backend.registry, backend.platform
    with backend.reverts("RegistrySignerInUse", backend.bank.address, backend.bank.id):
        backend.transact(
            backend.regulator, reg.functions.rotateSigner(platform.id, backend.bank.address)
        )
    with backend.reverts("RegistrySignerInUse", platform.address, platform.id):
        backend.transact(
            backend.regulator, reg.functions.rotateSigner(platform.id, platform.address)
        )
    old = backend.rotate_signer(platform)
    # a participant cannot go back to its own former key either
    with backend.reverts("RegistrySignerInUse", old.address, platform.id):
        backend.transact(backend.regulator, reg.functions.rotateSigner(platform.id, old.address))


def test_rotate_signer_zero(backend: Env) -> None:
    with backend.reverts("RegistryInvalidSigner"):
        backend.transact(
            backend.regulator,
            backend.registry.functions.rotateSigner(backend.platform.id, ZERO_ADDRESS),
        )


def test_rotate_signer_unknown_participant(backend: Env) -> None:
    with backend.reverts("RegistryUnknownParticipant", 42):
        backend.transact(
            backend.regulator,
            backend.registry.functions.rotateSigner(42, LocalSigner.generate().address),
        )


def test_rotate_signer_unauthorized(backend: Env) -> None:
    fn = backend.registry.functions.rotateSigner(
        backend.platform.id, LocalSigner.generate().address
    )
    with backend.reverts("RegistryUnauthorized", backend.outsider.address, backend.platform.id):
        backend.transact(backend.outsider, fn)
    with backend.reverts("RegistryUnauthorized", backend.platform2.address, backend.platform.id):
        backend.transact(backend.platform2, fn)


def test_second_regulator_account_may_rotate(backend: Env) -> None:
    reg = backend.registry
    deputy = backend.client.new_funded_account()
    receipt = backend.transact(
        backend.regulator, reg.functions.grantRole(REGULATOR_ROLE, deputy.address)
    )
    assert backend.event(receipt, reg, "RoleGranted") == {
        "role": REGULATOR_ROLE,
        "account": deputy.address,
        "sender": backend.regulator.address,
    }
    new = LocalSigner.generate()
    backend.transact(deputy, reg.functions.rotateSigner(backend.platform.id, new.address))
    assert backend.call(reg.functions.currentEpoch(backend.platform.id))[0] == new.address


# ------------------------------------------------------------------------------ Ed25519 key rotation


def test_rotate_ed25519_key_keeps_history(backend: Env) -> None:
    reg, gateway = backend.registry, backend.gateway
    old_key = gateway.ed25519_key
    backend.advance(10)
    new_key = bytes([7]) * 32
    receipt = backend.transact(gateway, reg.functions.rotateEd25519Key(gateway.id, new_key))
    at = backend.block_time(receipt)
    assert backend.event(receipt, reg, "Ed25519KeyRotated") == {
        "participantId": gateway.id,
        "previousKey": old_key,
        "newKey": new_key,
    }
    assert backend.call(reg.functions.epochAt(gateway.id, at - 1))[1] == old_key
    assert backend.call(reg.functions.epochAt(gateway.id, at)) == (
        gateway.address,
        new_key,
        ACTIVE,
        at,
    )
    newer = bytes([8]) * 32
    receipt = backend.transact(backend.regulator, reg.functions.rotateEd25519Key(gateway.id, newer))
    assert backend.event(receipt, reg, "Ed25519KeyRotated")["previousKey"] == new_key
    assert [e[1] for e in backend.call(reg.functions.epochs(gateway.id))] == [
        old_key,
        new_key,
        newer,
    ]


def test_rotate_ed25519_key_errors(backend: Env) -> None:
    reg, gateway = backend.registry, backend.gateway
    with backend.reverts("RegistryEd25519KeyRequired"):
        backend.transact(gateway, reg.functions.rotateEd25519Key(gateway.id, ZERO32))
    with backend.reverts("RegistryUnauthorized", backend.auditor.address, gateway.id):
        backend.transact(backend.auditor, reg.functions.rotateEd25519Key(gateway.id, b"\1" * 32))
    with backend.reverts("RegistryUnknownParticipant", 99):
        backend.transact(backend.regulator, reg.functions.rotateEd25519Key(99, b"\1" * 32))


# ------------------------------------------------------------------------------ views of unknown ids


def test_views_of_unknown_participants(backend: Env) -> None:
    reg = backend.registry
    for pid in (0, 9):
        with backend.reverts("RegistryUnknownParticipant", pid):
            backend.call(reg.functions.participant(pid))
        with backend.reverts("RegistryUnknownParticipant", pid):
            backend.call(reg.functions.currentEpoch(pid))
        assert backend.call(reg.functions.epochAt(pid, backend.now())) == (
            ZERO_ADDRESS,
            ZERO32,
            0,
            0,
        )
        assert backend.call(reg.functions.epochs(pid)) == []
        assert backend.call(reg.functions.roleOf(pid)) == [0, 0]
    stranger = LocalSigner.generate().address
    assert backend.call(reg.functions.participantIdOf(stranger)) == 0
    assert backend.call(reg.functions.activeParticipantOf(stranger)) == [0, 0]
    assert backend.call(reg.functions.activeParticipantOf(ZERO_ADDRESS)) == [0, 0]


# ------------------------------------------------------------------------------ AccessControl


def test_grant_and_revoke_regulator_role(backend: Env) -> None:
    reg = backend.registry
    deputy = backend.client.new_funded_account()

    def register() -> Any:
        return reg.functions.registerParticipant(
            int(Role.AUDITOR), 0, LocalSigner.generate().address, ZERO32, "审计"
        )

    with backend.reverts("AccessControlUnauthorizedAccount", deputy.address, REGULATOR_ROLE):
        backend.transact(deputy, register())
    backend.transact(backend.regulator, reg.functions.grantRole(REGULATOR_ROLE, deputy.address))
    backend.transact(deputy, register())
    receipt = backend.transact(
        backend.regulator, reg.functions.revokeRole(REGULATOR_ROLE, deputy.address)
    )
    assert backend.event(receipt, reg, "RoleRevoked") == {
        "role": REGULATOR_ROLE,
        "account": deputy.address,
        "sender": backend.regulator.address,
    }
    with backend.reverts("AccessControlUnauthorizedAccount", deputy.address, REGULATOR_ROLE):
        backend.transact(deputy, register())


def test_grant_role_requires_admin(backend: Env) -> None:
    fn = backend.registry.functions.grantRole(REGULATOR_ROLE, backend.outsider.address)
    with backend.reverts(
        "AccessControlUnauthorizedAccount", backend.outsider.address, DEFAULT_ADMIN_ROLE
    ):
        backend.transact(backend.outsider, fn)
    # a REGULATOR_ROLE holder is not an admin
    deputy = backend.client.new_funded_account()
    backend.transact(
        backend.regulator, backend.registry.functions.grantRole(REGULATOR_ROLE, deputy.address)
    )
    with backend.reverts("AccessControlUnauthorizedAccount", deputy.address, DEFAULT_ADMIN_ROLE):
        backend.transact(deputy, fn)


def test_renounce_role(backend: Env) -> None:
    reg = backend.registry
    regulator = backend.regulator.address
    with backend.reverts("AccessControlBadConfirmation"):
        backend.transact(
            backend.regulator, reg.functions.renounceRole(REGULATOR_ROLE, backend.outsider.address)
        )
    receipt = backend.transact(
        backend.regulator, reg.functions.renounceRole(REGULATOR_ROLE, regulator)
    )
    assert backend.event(receipt, reg, "RoleRevoked") == {
        "role": REGULATOR_ROLE,
        "account": regulator,
        "sender": regulator,
    }
    assert backend.call(reg.functions.hasRole(REGULATOR_ROLE, regulator)) is False
    with backend.reverts("AccessControlUnauthorizedAccount", regulator, REGULATOR_ROLE):
        backend.transact(backend.regulator, reg.functions.setLpr(310, 0))


def test_error_selectors_match_the_abi(backend: Env) -> None:
    # the decoder and these tests agree on the selectors of the errors named in the interface
    with backend.reverts("RegistryUnknownParticipant", 77) as info:
        backend.call(backend.registry.functions.participant(77))
    assert isinstance(info.value, ContractRevert)
    assert info.value.error is not None
    assert info.value.error.data[:4] == selector("RegistryUnknownParticipant(uint64)")


def test_deploy_without_registering_the_regulator(backend: Env) -> None:
    """The registry can start empty; the first registered participant gets id 1."""
    from ledger.chain.deploy import deploy_contracts

    admin = Account.from_key(LocalSigner.generate().private_key)
    backend.client.fund(admin.address, 10**21)
    deployment = deploy_contracts(backend.client, admin, register_regulator=False)
    reg = backend.client.contract("ParticipantRegistry", deployment.registry)
    assert backend.call(reg.functions.participantCount()) == 0
    receipt = backend.transact(
        admin,
        reg.functions.registerParticipant(
            int(Role.REGULATOR), 0, admin.address, ZERO32, "Regulator"
        ),
    )
    assert backend.event(receipt, reg, "ParticipantRegistered")["participantId"] == 1
