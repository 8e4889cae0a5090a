"""What a gateway is told at start: where its data lives, how often it anchors, what it promises."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from eth_account.signers.local import LocalAccount

from ledger.chain.transactions import TxPolicy
from ledger.disclosure import DisclosurePolicy
from ledger.queries.statistics import ConsumerFinancePolicy

__all__ = ["ServiceConfig"]


@dataclass(frozen=True)
class ServiceConfig:
    data_dir: Path
    batch_interval: float = 1.0
    batch_size: int = 1_000
    anchor_deadline_seconds: int = 300
    disclosure_policy: DisclosurePolicy = field(default_factory=DisclosurePolicy)
    #: the consumer-finance portfolio rule the statistics and violations measure
    consumer_finance: ConsumerFinancePolicy = field(default_factory=ConsumerFinancePolicy)
    #: how often the registry view looks for new blocks when it follows the chain in the background
    follow_interval: float = 0.25
    #: blocks the event index stays behind the head, and blocks on top of each of the gateway's
    #: own transactions before it counts as done (reorganizations; 0 needs no block production)
    confirmations: int = 0
    #: fees, fee cap, gas headroom, replacement and timeouts of the gateway's transactions
    #: (None: the chain client's own policy); its `confirmations` is raised to the one above
    transactions: TxPolicy | None = None
    #: this gateway's chain account (key file); None: the one it created and sealed before, or,
    #: on a dev chain only (embedded, eth-tester), a new one funded from the node's accounts
    account: LocalAccount | None = field(default=None, repr=False)
    #: the account that deploys the contracts on first start and becomes the regulator
    #: (key file); needed only where no deployment of this database's chain is known
    deployer: LocalAccount | None = field(default=None, repr=False)
    #: how long a gateway's claim on queued records holds before another gateway may take
    #: them over (a gateway that died mid-batch)
    claim_lease_seconds: float = 120.0
