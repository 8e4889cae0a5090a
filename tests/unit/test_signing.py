"""Signers: keys round-trip through encrypted keystores; recovery refuses what OpenZeppelin refuses."""

from __future__ import annotations

import pytest

from ledger.errors import SignatureError
from ledger.signing import LocalSigner, recover_address, verify_signature

_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def test_keystore_round_trip_and_wrong_password() -> None:
    signer = LocalSigner.generate()
    keystore = signer.to_keystore("correct horse")
    assert "crypto" in keystore and signer.private_key.hex() not in str(keystore)
    assert LocalSigner.from_keystore(keystore, "correct horse").address == signer.address
    with pytest.raises(SignatureError) as err:
        LocalSigner.from_keystore(keystore, "wrong")
    assert err.value.code == "KEY_DECRYPT_FAILED"


def test_keystore_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    signer = LocalSigner.generate()
    path = tmp_path / "key.json"
    path.write_text(json.dumps(signer.to_keystore("pw")))
    assert LocalSigner.from_keystore(path, "pw").address == signer.address


def test_recovery_refuses_malleable_and_malformed_signatures() -> None:
    signer = LocalSigner.generate()
    digest = bytes(range(32))
    signature = signer.sign_digest(digest)
    verify_signature(digest, signature, signer.address)
    s = int.from_bytes(signature[32:64], "big")
    high_s = (
        signature[:32] + (_N - s).to_bytes(32, "big") + bytes([55 - signature[64]])
    )  # 27 <-> 28
    with pytest.raises(SignatureError, match="upper half"):
        recover_address(digest, high_s)
    with pytest.raises(SignatureError, match="65 bytes"):
        recover_address(digest, signature[:64])
    with pytest.raises(SignatureError, match="v must be"):
        recover_address(digest, signature[:64] + b"\x00")
    with pytest.raises(SignatureError):
        verify_signature(digest, signature, LocalSigner.generate().address)


def test_bad_private_key_length() -> None:
    with pytest.raises(SignatureError):
        LocalSigner(b"\x01" * 31)
