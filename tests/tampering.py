"""Forging evidence packages for the tests that must catch it."""

from __future__ import annotations

import io
import zipfile

__all__ = ["rezip"]


def rezip(data: bytes, change: dict[str, bytes]) -> bytes:
    """The same ZIP with some members' bytes replaced (written anew, so their CRCs are right:
    only the package's own digests and signature can tell)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for info in src.infolist():
            z.writestr(info, change.get(info.filename, src.read(info)))
    return out.getvalue()
