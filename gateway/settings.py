"""Gateway settings: flags, environment variables (LEDGER_*) and a `.env` file."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger.limits import MAX_DOCUMENT_BYTES, MAX_JSON_BYTES

__all__ = ["GatewaySettings"]


class GatewaySettings(BaseSettings):
    """Zero configuration by default: embedded chain and SQLite in `./data`."""

    model_config = SettingsConfigDict(env_prefix="LEDGER_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="chain state, database, keys")
    chain: str | None = Field(
        default=None, description="JSON-RPC URL of an EVM node; default: embedded"
    )
    db: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite in the data dir"
    )
    host: str = "127.0.0.1"
    port: int = 8000
    cf_average_cap_bps: int = Field(
        default=2_000,
        ge=0,
        le=100_000,
        description="consumer-finance companies: the most their new loans may cost on average per"
        " Beijing-time quarter (bps); statistics and violations measure against it",
    )
    batch_interval: float = Field(default=1.0, gt=0, description="seconds between batch anchors")
    batch_size: int = Field(
        default=1_000, ge=1, le=100_000, description="anchor as soon as this many wait"
    )
    anchor_deadline: int = Field(
        default=300, ge=1, description="seconds promised in entry timestamps"
    )
    confirmations: int = Field(
        default=0,
        ge=0,
        description="blocks on top before the indexer reads a block and before the gateway's own"
        " transactions count (0: mined; above 0 needs a node that makes blocks by itself)",
    )
    account_key_file: Path | None = Field(
        default=None,
        description="this gateway's chain account: a hex private key file (mode 600) or a V3"
        " keystore (password in LEDGER_ACCOUNT_KEY_PASSWORD); or the hex in LEDGER_ACCOUNT_KEY",
    )
    deployer_key_file: Path | None = Field(
        default=None,
        description="first start on a chain: the funded account that deploys the contracts and"
        " becomes the regulator (same formats; LEDGER_DEPLOYER_KEY[_PASSWORD])",
    )
    max_fee_gwei: float = Field(
        default=500.0, ge=0, description="the most this gateway pays per gas (gwei): fee cap"
    )
    priority_fee_gwei: float = Field(default=1.0, ge=0, description="EIP-1559 tip (gwei)")
    tx_replace_after: float = Field(
        default=30.0, gt=0, description="seconds without a receipt before fees are raised"
    )
    rpc_timeout: float = Field(
        default=10.0,
        gt=0,
        description="seconds one JSON-RPC request waits for the node (a hung node fails fast;"
        " what was acknowledged waits in the queue)",
    )
    tx_timeout: float = Field(
        default=180.0, gt=0, description="seconds to wait for a confirmed receipt"
    )
    claim_lease: float = Field(
        default=120.0,
        gt=0,
        description="seconds a gateway's claim on queued records holds before another gateway"
        " on the same database takes them over",
    )
    max_upload_bytes: int = Field(
        default=MAX_DOCUMENT_BYTES,
        ge=1,
        le=MAX_DOCUMENT_BYTES,
        description="largest agreement file in an upload (hashed and encrypted chunk by chunk:"
        " it costs disk, not memory); past it 413 PAYLOAD_TOO_LARGE",
    )
    max_json_bytes: int = Field(
        default=MAX_JSON_BYTES, ge=1, le=MAX_JSON_BYTES, description="largest JSON request body"
    )

    def database_url(self) -> str:
        return self.db or f"sqlite:///{(self.data_dir / 'ledger.db').resolve()}"
