"""HTTP gateway: a thin FastAPI layer over `ledger` (validate → call the library → serialize)."""
