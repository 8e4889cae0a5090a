"""The one error tree of the ledger.

Every failure the library reports is a `LedgerError` with a stable machine `code` (the same
string the HTTP gateway returns) and a sentence a person understands. Verification *raises*
a `VerificationError` subclass naming the check that failed instead of returning `False`.
"""

from __future__ import annotations

__all__ = [
    "AprError",
    "ChainError",
    "ChainIdMismatch",
    "ChainUnavailable",
    "CompilerError",
    "ConfigurationError",
    "Conflict",
    "DatabaseUnavailable",
    "DisclosureMismatchError",
    "DocumentErased",
    "FeeCapExceeded",
    "Gone",
    "InputError",
    "LedgerError",
    "MerkleError",
    "NonceConflict",
    "NotFound",
    "PermissionDenied",
    "RuleViolation",
    "SignatureError",
    "TransactionTimeout",
    "VerificationError",
]


class LedgerError(Exception):
    """Base of every error the ledger raises on purpose."""

    code: str = "LEDGER_ERROR"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.code


class InputError(LedgerError):
    """Malformed or out-of-range input (bad JSON, wrong types, negative amounts...)."""

    code = "INVALID_INPUT"


class ConfigurationError(LedgerError):
    """The environment is missing something the operation needs (compiler, node, keys)."""

    code = "CONFIGURATION_ERROR"


class CompilerError(ConfigurationError):
    """Solidity compilation failed or produced artifacts that differ from the committed ones."""

    code = "COMPILER_ERROR"


class ChainError(LedgerError):
    """The EVM node refused or failed an operation (not a rule the contract enforces)."""

    code = "CHAIN_ERROR"


class ChainUnavailable(ChainError):
    """The node did not answer (refused, reset, timed out): nothing was decided, try again
    later. The gateway answers 503; what it acknowledged waits in its queue."""

    code = "CHAIN_UNAVAILABLE"


class ChainIdMismatch(ChainUnavailable):
    """The node answers with another chain id than the deployment's: it is not this ledger's
    chain, and nothing is read from it or sent to it."""

    code = "CHAIN_ID_MISMATCH"


class FeeCapExceeded(ChainError):
    """The network's base fee (or gas price) is above the most this gateway pays per gas."""

    code = "CHAIN_FEE_CAP_EXCEEDED"


class TransactionTimeout(ChainError):
    """A transaction got no (confirmed) receipt in time, replacements included; it may still
    be mined later: its nonce stays taken until the node drops it."""

    code = "CHAIN_TX_TIMEOUT"


class NonceConflict(ChainError):
    """A nonce of this gateway's account was used by a transaction it did not send."""

    code = "CHAIN_NONCE_CONFLICT"


class AprError(InputError):
    """Cash flows from which no annual percentage rate can be computed."""

    code = "APR_INVALID_CASH_FLOWS"


class MerkleError(LedgerError):
    """A Merkle tree or proof is malformed."""

    code = "MERKLE_INVALID"


class SignatureError(LedgerError):
    """A signature is malformed or was not made by the expected signer."""

    code = "SIGNATURE_INVALID"


class RuleViolation(LedgerError):
    """A record breaks a 助贷 rule (cap, whitelist, co-funding floor, participant status...)."""

    code = "RULE_VIOLATION"


class DisclosureMismatchError(RuleViolation):
    """The annualized cost stated on a fee disclosure differs from the one computed from it."""

    code = "DISCLOSURE_RATE_MISMATCH"


class VerificationError(LedgerError):
    """A receipt failed verification; `check` names the link of the chain of evidence."""

    code = "VERIFICATION_FAILED"

    def __init__(self, check: str, message: str, *, code: str | None = None) -> None:
        super().__init__(f"{check}: {message}", code=code)
        self.check = check


class NotFound(LedgerError):
    """Unknown, or not the caller's to see (the two are not told apart)."""

    code = "NOT_FOUND"


class PermissionDenied(LedgerError):
    """No or an unknown API key (`UNAUTHENTICATED`), or a role that may not do this."""

    code = "FORBIDDEN"


class Conflict(LedgerError):
    """The request does not fit the state of what it names (not anchored yet, already retired)."""

    code = "CONFLICT"


class Gone(LedgerError):
    """What the request names existed but was destroyed on purpose (an erased document or
    secret): it will not come back."""

    code = "GONE"


class DocumentErased(Gone):
    """The document was crypto-shredded (erasure): its data key and ciphertext are gone."""

    code = "DOCUMENT_ERASED"


class DatabaseUnavailable(LedgerError):
    """The database cannot serve the request now: it is down or restarting, read-only, out of
    space, or locked by another process (`ledger.codes.DATABASE_CODES`). The request's
    transaction did not commit (if the connection dropped during the commit itself, the database
    decides: a repeated submission or confirmation then answers `duplicate`). Not the caller's
    fault: retry later (the gateway answers 503)."""

    code = "DATABASE_UNAVAILABLE"
