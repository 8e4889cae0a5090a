"""The gateway's log of sent transactions: `TransactionStore` on the gateway's database.

One row per signed attempt (a replacement is another row at the same nonce), written before the
attempt is broadcast, so a restarted gateway knows every nonce it used and holds the raw bytes to
broadcast again whatever the node lost. Rows of an account more than `KEEP_NONCES` nonces below
its newest are deleted as new ones arrive.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import BigInteger, Float, Index, LargeBinary, String, delete, select, update
from sqlalchemy.orm import Mapped, mapped_column

from ledger.chain.transactions import KEEP_NONCES, SentTransaction
from ledger.store import Base, Database

__all__ = ["SqlTransactionStore", "TransactionRow"]


class TransactionRow(Base):
    """A signed transaction attempt of one of this gateway's chain accounts."""

    __tablename__ = "chain_transactions"
    tx_hash: Mapped[str] = mapped_column(String(66), primary_key=True)
    account: Mapped[str] = mapped_column(String(42))
    nonce: Mapped[int] = mapped_column(BigInteger)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    gas: Mapped[int] = mapped_column(BigInteger)
    #: wei per gas (EIP-1559 fields, or the legacy gas price): well under 2**63
    max_fee_per_gas: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    max_priority_fee_per_gas: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    gas_price: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    sent_at: Mapped[float] = mapped_column(Float)
    #: `ledger.chain.transactions.TxState`
    state: Mapped[str] = mapped_column(String(16))
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (Index("ix_chain_transactions_account_nonce", "account", "nonce"),)


def _sent(row: TransactionRow) -> SentTransaction:
    return SentTransaction(
        account=row.account,
        nonce=row.nonce,
        tx_hash=row.tx_hash,
        raw=row.raw,
        gas=row.gas,
        max_fee_per_gas=row.max_fee_per_gas,
        max_priority_fee_per_gas=row.max_priority_fee_per_gas,
        gas_price=row.gas_price,
        sent_at=row.sent_at,
        state=row.state,
        block_number=row.block_number,
    )


class SqlTransactionStore:
    """`TransactionStore` in the `chain_transactions` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def account_lock(self, account: str) -> AbstractContextManager[Any]:
        """Across every gateway on this database (a PostgreSQL advisory lock, or a file lock)."""
        return self.db.exclusive(f"chain-account:{account.lower()}")

    def add(self, tx: SentTransaction) -> None:
        with self.db.session() as s:
            s.merge(
                TransactionRow(
                    tx_hash=tx.tx_hash,
                    account=tx.account,
                    nonce=tx.nonce,
                    raw=tx.raw,
                    gas=tx.gas,
                    max_fee_per_gas=tx.max_fee_per_gas,
                    max_priority_fee_per_gas=tx.max_priority_fee_per_gas,
                    gas_price=tx.gas_price,
                    sent_at=tx.sent_at,
                    state=tx.state,
                    block_number=tx.block_number,
                )
            )
            if tx.nonce > KEEP_NONCES and tx.nonce % 64 == 0:
                s.execute(
                    delete(TransactionRow).where(
                        TransactionRow.account == tx.account,
                        TransactionRow.nonce < tx.nonce - KEEP_NONCES,
                    )
                )

    def set_state(self, tx_hash: str, state: str, block_number: int | None = None) -> None:
        with self.db.session() as s:
            s.execute(
                update(TransactionRow)
                .where(TransactionRow.tx_hash == tx_hash)
                .values(state=state, block_number=block_number)
            )

    def attempts(self, account: str, from_nonce: int) -> list[SentTransaction]:
        with self.db.session() as s:
            rows = s.execute(
                select(TransactionRow)
                .where(
                    TransactionRow.account == account.lower(), TransactionRow.nonce >= from_nonce
                )
                .order_by(TransactionRow.nonce, TransactionRow.sent_at)
            ).scalars()
            return [_sent(r) for r in rows]

    def get(self, tx_hash: str) -> SentTransaction | None:
        with self.db.session() as s:
            row = s.get(TransactionRow, tx_hash)
            return None if row is None else _sent(row)
