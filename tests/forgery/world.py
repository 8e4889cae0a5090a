"""A genuine gateway with real receipts, an attacker with a look-alike deployment on the same
chain, and the forged receipts an attacker would build — each with the check that must catch it.

The attacker knows everything public: our code, the contracts, every genuine receipt. They can
deploy our contracts again, register participants with the same ids and names, sign with their own
keys, run their own "gateway", and edit any byte of a receipt. They cannot sign with a genuine
participant's or gateway's key.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger.anchoring import EvidenceChain
from ledger.canonical import canonical_digest
from ledger.chain.client import ChainClient
from ledger.chain.deploy import Deployment, deploy_contracts
from ledger.disclosure import check_disclosure
from ledger.eip712 import Domain, loan_record_id, signatures_hash, typed_data
from ledger.enums import InstitutionType, Role
from ledger.merkle import leaf_hash
from ledger.receipts import LEAF_TYPES, DocumentRef, Provenance, Receipt
from ledger.records import LoanRecord
from ledger.signing import LocalSigner
from ledger.testing import build_disclosure
from ledger.timestamps import EntryPromise, GatewayKey
from ledger.trust import TrustRoot
from tests.api.conftest import Env, auth

__all__ = ["Attacker", "Forgery", "World", "build_world", "forgeries"]

Json = dict[str, Any]


@dataclass
class Attacker:
    """A second deployment of our contracts on the same chain, with look-alike participants."""

    deployment: Deployment
    chain: EvidenceChain
    signers: dict[int, LocalSigner]
    gateway_account: LocalAccount
    gateway_key: GatewayKey
    gateway_id: int
    receipt: Receipt  # a 10x loan, genuinely anchored on the look-alike deployment


@dataclass
class World:
    env: Env
    client: ChainClient
    trust: TrustRoot
    rpc_url: str | None
    genuine: dict[str, Receipt] = field(default_factory=dict)
    documents: dict[str, bytes] = field(default_factory=dict)
    attacker: Attacker | None = None

    def json(self, name: str) -> Json:
        return json.loads(self.genuine[name].to_json())


@dataclass(frozen=True)
class Forgery:
    name: str
    receipt: Json
    check: str  # the check that must fail
    document: bytes | None = None


def _anchored(env: Env, anchoring: str = "batch") -> tuple[str, bytes]:
    body, doc = env.loan_json(anchoring=anchoring)
    r = env.post_loan(env["p1"].key, body, document=doc)
    assert r.status_code == 202, r.text
    record_id = str(r.json()["record_id"])
    c = env.http.post(f"/v1/loans/{record_id}/confirm", headers=auth(env["bank1"].key))
    assert c.status_code == 200, c.text
    return record_id, doc


def build_world(env: Env, client: ChainClient, rpc_url: str | None) -> World:
    """Genuine receipts (two batches and a per-record anchor) through the gateway's HTTP API."""
    service = env.gw.service
    world = World(env, client, service.trust_root, rpc_url)
    batches: list[list[tuple[str, bytes]]] = []
    for size in (2, 1):
        batch = [_anchored(env) for _ in range(size)]
        assert service.anchor_pending() == size
        batches.append(batch)
    per_record = _anchored(env, "per-record")
    named = {
        "batch-a0": batches[0][0],
        "batch-a1": batches[0][1],
        "batch-b0": batches[1][0],
        "per-record": per_record,
    }
    for name, (record_id, doc) in named.items():
        r = env.http.get(f"/v1/loans/{record_id}/receipt", headers=auth(env.regulator_key))
        assert r.status_code == 200, r.text
        world.genuine[name] = Receipt.model_validate(r.json())
        world.documents[name] = doc
    world.attacker = _look_alike(world)
    return world


def _look_alike(world: World) -> Attacker:
    """The attacker deploys our contracts again, registers every participant of the genuine
    registry with the same id, role and name (their own keys), and anchors a loan at ten times
    the principal of a genuine one, through their own gateway."""
    client, service = world.client, world.env.gw.service
    regulator: LocalAccount = Account.create()
    client.fund(regulator.address, 10**21)
    deployment = deploy_contracts(client, regulator)
    chain = EvidenceChain(client, deployment)
    signers: dict[int, LocalSigner] = {}
    gateway_key = GatewayKey.generate()
    gateway_account: LocalAccount = Account.create()
    client.fund(gateway_account.address, 10**21)
    gateway_id = 0
    for row in sorted(service.participants(), key=lambda p: p.id):
        if row.id == 1:
            continue  # the attacker's regulator is participant 1 of their registry
        role = Role[row.role.upper()]
        if role is Role.GATEWAY:
            pid = chain.register_participant(
                regulator,
                role,
                gateway_account.address,
                row.name,
                ed25519_public_key=gateway_key.public_key,
            )
            gateway_id = pid
        else:
            signer = LocalSigner.generate()
            client.fund(signer.address, 10**20)
            pid = chain.register_participant(
                regulator,
                role,
                signer.address,
                row.name,
                InstitutionType[row.institution_type.upper()],
            )
            signers[pid] = signer
        assert pid == row.id, "look-alike ids follow the genuine ones"
    genuine = world.genuine["batch-a0"]
    bank, platform = genuine.record.funder_id, genuine.record.platform_id
    chain.whitelist(Account.from_key(signers[bank].private_key), platform)
    now = client.latest_timestamp()
    at = datetime.fromtimestamp(now, UTC)
    form = build_disclosure(
        genuine.record.principal * 10,
        12,
        Fraction(1, 100),
        at.date(),
        lender="Funder",
        confirmed_at=at - timedelta(minutes=5),
    )
    document = b"%PDF-1.7 forged agreement " + secrets.token_bytes(8)
    record = genuine.record.model_copy(
        update={
            "agreement_digest": "0x" + hashlib.sha256(document).hexdigest(),
            "disclosure_digest": "0x" + form.digest().hex(),
            "principal": form.principal,
            "apr_bps": check_disclosure(form).nominal_bps,
            "issued_at": now,
        }
    )
    assert genuine.provenance is not None
    loan = chain.sign_loan(
        record,
        signers,
        DocumentRef(
            sha256=record.agreement_digest, media_type="application/pdf", size=len(document)
        ),
        disclosure=form.as_json(),
        provenance=Provenance(
            submitted_by=platform,
            source_system=genuine.provenance.source_system,
            gateway_id=gateway_id,
        ),
    )
    loan = dataclasses.replace(
        loan, entry_timestamp=loan.promise(gateway_key, gateway_id, chain.domain, now, 300)
    )
    batch = chain.anchor_batch(gateway_account, [loan])
    receipt = chain.batch_receipts(batch)[0]
    world.documents["look-alike"] = document
    return Attacker(deployment, chain, signers, gateway_account, gateway_key, gateway_id, receipt)


# ------------------------------------------------------------------------------ the forgeries


def _recompute(data: Json, domain: Domain) -> None:
    """Recomputes the record id, typed data and leaf from the (edited) record, as anyone can."""
    record = LoanRecord.model_validate(data["record"])
    record_id = "0x" + loan_record_id(record, domain).hex()
    data["record_id"] = record_id
    data["typed_data"] = typed_data(record, domain)
    if data["anchor"]["mode"] == "batch":
        sigs = [bytes.fromhex(s["signature"][2:]) for s in data["signatures"]]
        values = [record_id, "0x" + signatures_hash(sigs).hex()]
        data["anchor"]["leaf"] = {
            "types": list(LEAF_TYPES),
            "values": values,
            "hash": "0x" + leaf_hash(LEAF_TYPES, values).hex(),
        }


def _tenfold(world: World, data: Json) -> None:
    """Principal x10, with a disclosure form that says so, recomputed digests and ids."""
    form = copy.deepcopy(data["disclosure"])
    form["principal"] *= 10
    for item in form["schedule"]:
        item["principal"] *= 10
        item["interest"] *= 10
    data["disclosure"] = form
    data["record"]["principal"] = form["principal"]
    data["record"]["disclosure_digest"] = "0x" + canonical_digest(form).hex()
    _recompute(data, world.trust.domain)


def forgeries(world: World) -> list[Forgery]:
    """Every forged receipt, built the way an attacker would, with the check that catches it."""
    assert world.attacker is not None
    attacker = world.attacker
    trust = world.trust
    out: list[Forgery] = []

    def add(name: str, base: str, edit: Callable[[Json], None], check: str) -> None:
        data = world.json(base)
        edit(data)
        out.append(Forgery(name, data, check, world.documents.get(base)))

    # 1. the look-alike deployment: every signature, proof and anchor genuine there
    out.append(
        Forgery(
            "look-alike deployment, 10x principal",
            json.loads(attacker.receipt.to_json()),
            "deployment",
            world.documents["look-alike"],
        )
    )

    # 2. its receipt relabelled with the genuine contracts' addresses
    def relabel(data: Json) -> None:
        data.clear()
        data.update(json.loads(attacker.receipt.to_json()))
        data["anchor"]["registry"] = trust.registry
        data["anchor"]["ledger"] = trust.ledger
        _recompute(data, trust.domain)

    add("look-alike receipt relabelled as genuine", "batch-a0", relabel, "signatures")

    # 3. a genuine receipt edited (10x) with record id, typed data and leaf recomputed
    add("10x principal, ids recomputed", "batch-a0", lambda d: _tenfold(world, d), "signatures")
    add("10x principal per record", "per-record", lambda d: _tenfold(world, d), "signatures")

    # 4. ... and re-signed by the attacker's look-alike keys (same ids)
    def resign(data: Json) -> None:
        _tenfold(world, data)
        digest = bytes.fromhex(data["record_id"][2:])
        for s in data["signatures"]:
            signer = attacker.signers[s["participant_id"]]
            s["signature"] = "0x" + signer.sign_digest(digest).hex()
            s["signer"] = signer.address
        _recompute(data, trust.domain)

    add("10x principal re-signed by look-alike keys", "batch-a0", resign, "signatures")

    # 5. the entry timestamp re-signed with another Ed25519 key
    def resign_promise(data: Json, key: GatewayKey) -> None:
        promise = EntryPromise.model_validate(data["entry_timestamp"]["promise"])
        data["entry_timestamp"] = key.sign(promise).model_dump(mode="json")

    add(
        "entry timestamp re-signed by another key",
        "batch-a0",
        lambda d: resign_promise(d, GatewayKey.generate()),
        "entry_timestamp",
    )
    add(
        "entry timestamp re-signed by the look-alike gateway",
        "batch-a1",
        lambda d: resign_promise(d, attacker.gateway_key),
        "entry_timestamp",
    )

    def later_deadline(data: Json) -> None:
        promise = dict(data["entry_timestamp"]["promise"])
        promise["anchor_deadline"] += 10**6
        data["entry_timestamp"]["promise"] = promise  # the signature no longer covers it

    add("promise deadline moved", "batch-a0", later_deadline, "entry_timestamp")
    add(
        "batch receipt without its entry timestamp",
        "batch-a0",
        lambda d: d.__setitem__("entry_timestamp", None),
        "entry_timestamp",
    )

    # 6. a proof moved to another batch
    other = world.json("batch-b0")["anchor"]

    def move(data: Json) -> None:
        for key in (
            "root",
            "proof",
            "transaction_hash",
            "block_number",
            "block_time",
            "batch_size",
        ):
            data["anchor"][key] = other[key]

    add("proof moved to another batch", "batch-a0", move, "proof")

    def borrow_tx(data: Json) -> None:
        data["anchor"]["transaction_hash"] = other["transaction_hash"]
        data["anchor"]["block_number"] = other["block_number"]
        data["anchor"]["block_time"] = other["block_time"]

    add("another batch's transaction", "batch-a0", borrow_tx, "anchor")
    per_record_tx = world.json("per-record")["anchor"]
    add(
        "per-record receipt naming a batch's transaction",
        "per-record",
        lambda d: d["anchor"].update(
            {k: other[k] for k in ("transaction_hash", "block_number", "block_time")}
        ),
        "anchor",
    )
    assert per_record_tx["mode"] == "per-record"

    # 7. chain id and contract addresses swapped
    add("chain id swapped", "batch-a0", lambda d: d["anchor"].update(chain_id=1), "deployment")
    add(
        "registry swapped for the look-alike's",
        "batch-a0",
        lambda d: d["anchor"].update(registry=attacker.deployment.registry),
        "deployment",
    )
    add(
        "ledger swapped for the look-alike's",
        "batch-a0",
        lambda d: d["anchor"].update(ledger=attacker.deployment.ledger),
        "deployment",
    )

    # 8. the fields that once slipped through
    add(
        "provenance.submitted_by",
        "batch-a0",
        lambda d: d["provenance"].update(submitted_by=d["record"]["funder_id"]),
        "provenance",
    )
    add(
        "provenance.source_system",
        "batch-a0",
        lambda d: d["provenance"].update(source_system="bank core"),
        "provenance",
    )
    add(
        "provenance.gateway_id",
        "batch-a0",
        lambda d: d["provenance"].update(gateway_id=attacker.gateway_id + 100),
        "provenance",
    )
    add(
        "anchor.batch_size",
        "batch-a0",
        lambda d: d["anchor"].update(batch_size=d["anchor"]["batch_size"] + 1),
        "anchor",
    )
    add(
        "document.media_type",
        "batch-a0",
        lambda d: d["document"].update(media_type="text/plain"),
        "provenance",
    )
    add(
        "document.size",
        "batch-a0",
        lambda d: d["document"].update(size=d["document"]["size"] + 1),
        "provenance",
    )
    add(
        "signatures[].role",
        "batch-a0",
        lambda d: [s.update(role="guarantor") for s in d["signatures"][1:2]],
        "signatures",
    )
    add(
        "signature dropped",
        "batch-a0",
        lambda d: d["signatures"].pop(),
        "signatures",
    )
    return out
