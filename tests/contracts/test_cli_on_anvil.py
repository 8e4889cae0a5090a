"""`ledger deploy` and `ledger verify` against a real JSON-RPC node (anvil)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner
from web3 import Web3

from ledger.anchoring import EvidenceChain
from ledger.chain.anvil import AnvilNode
from ledger.chain.client import ChainClient
from ledger.chain.deploy import load_deployment
from ledger.cli import app
from ledger.testing import make_loan, promise, setup_actors
from ledger.trust import TrustRoot

pytestmark = pytest.mark.anvil
runner = CliRunner()


@pytest.fixture(scope="module")
def node() -> Iterator[AnvilNode]:
    with AnvilNode() as anvil:
        yield anvil


def test_deploy_records_the_deployment_per_chain_id(node: AnvilNode, tmp_path: Path) -> None:
    result = runner.invoke(app, ["deploy", "--rpc", node.url, "--out", str(tmp_path), "--dev-fund"])
    assert result.exit_code == 0, result.output
    client = ChainClient(Web3(Web3.HTTPProvider(node.url)))
    deployment = load_deployment(tmp_path, client.chain_id)
    assert deployment is not None
    chain = EvidenceChain(client, deployment)
    assert client.call(chain.ledger.functions.registry()) == deployment.registry
    assert client.call(chain.registry.functions.participantCount()) == 1  # the regulator
    trust = json.loads((tmp_path / f"{client.chain_id}.trust-root.json").read_text())
    assert trust["ledger"] == deployment.ledger and trust["registry"] == deployment.registry
    assert trust["genesis_hash"] == "0x" + bytes(client.w3.eth.get_block(0)["hash"]).hex()


def test_verify_cli_checks_a_receipt_against_the_node(node: AnvilNode, tmp_path: Path) -> None:
    actors = setup_actors(ChainClient(Web3(Web3.HTTPProvider(node.url))))
    loan, document = make_loan(actors, "Bank A", "Platform 1")
    batch = actors.chain.anchor_batch(actors.gateway_account, [promise(actors, loan)])
    receipt = tmp_path / "receipt.json"
    receipt.write_text(actors.chain.batch_receipts(batch)[0].to_json())
    doc = tmp_path / "agreement.pdf"
    doc.write_bytes(document)
    trust = TrustRoot.of_deployment(actors.client, actors.deployment).save(tmp_path / "trust.json")
    base = ["verify", "--receipt", str(receipt), "--document", str(doc), "--rpc", node.url]
    ok = runner.invoke(app, [*base, "--trust", str(trust), "--json"])
    assert ok.exit_code == 0, ok.output
    report = json.loads(ok.stdout)
    assert report["ok"] and report["pinned"] and len(report["checks"]) == 15
    assert report["deployment"]["ledger"] == actors.deployment.ledger
    # without a trust root: said plainly, and not a success unless accepted
    unpinned = runner.invoke(app, [*base, "--json"])
    assert unpinned.exit_code == 3, unpinned.output
    assert "no trust root" in unpinned.stderr
    assert json.loads(unpinned.stdout)["pinned"] is False
    accepted = runner.invoke(app, [*base, "--json", "--accept-unpinned"])
    assert accepted.exit_code == 0, accepted.output
    # the simple pin: chain id and ledger address
    simple = [
        "--chain-id",
        str(actors.deployment.chain_id),
        "--ledger",
        actors.deployment.ledger,
    ]
    assert runner.invoke(app, [*base, *simple]).exit_code == 0
    doc.write_bytes(document + b"!")
    bad = runner.invoke(app, [*base, "--trust", str(trust), "--json"])
    assert bad.exit_code == 1
    failed = [c for c in json.loads(bad.stdout)["checks"] if c["status"] == "fail"]
    assert [c["name"] for c in failed] == ["document"] and failed[0][
        "code"
    ] == "VERIFY_DOCUMENT_MISMATCH"


def test_chain_fund_sends_gas_money_from_the_dev_node(node: AnvilNode) -> None:
    target = "0x" + "ab" * 20
    w3 = Web3(Web3.HTTPProvider(node.url))
    before = w3.eth.get_balance(Web3.to_checksum_address(target))
    result = runner.invoke(app, ["chain", "fund", target, "--wei", "12345", "--chain", node.url])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["balance"] == before + 12345
    assert w3.eth.get_balance(Web3.to_checksum_address(target)) == before + 12345
    refused = runner.invoke(app, ["chain", "fund", "0x1234", "--chain", node.url])
    assert refused.exit_code == 2 and "not an address" in refused.output
    assert "dev nodes only" in runner.invoke(app, ["chain", "fund", "--help"]).output.lower()
