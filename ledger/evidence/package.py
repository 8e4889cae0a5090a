"""Writing and reading the package ZIP. Members are stored deflated, in a fixed order, with a
fixed timestamp, so the same contents make the same bytes."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass

from ledger import safejson
from ledger.errors import VerificationError
from ledger.evidence.model import MANIFEST, Manifest, Member

__all__ = ["MAX_PACKAGE_BYTES", "ReadPackage", "member_of", "read_package", "write_package"]

#: a package larger than this is refused when read (a ZIP bomb is not evidence)
MAX_PACKAGE_BYTES = 512 * 1024 * 1024
_EPOCH = (1980, 1, 1, 0, 0, 0)


def member_of(name: str, data: bytes, media_type: str) -> Member:
    return Member(
        name=name,
        sha256="0x" + hashlib.sha256(data).hexdigest(),
        size=len(data),
        media_type=media_type,
    )


def write_package(manifest: Manifest, files: dict[str, bytes]) -> bytes:
    """The ZIP: `package.json` first, then the members in the manifest's order."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        entries = [(MANIFEST, manifest_bytes(manifest))]
        entries += [(m.name, files[m.name]) for m in manifest.members]
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, data)
    return out.getvalue()


def manifest_bytes(manifest: Manifest) -> bytes:
    return (
        json.dumps(manifest.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
    ).encode()


@dataclass(frozen=True)
class ReadPackage:
    """A package as read: its manifest, every file in the ZIP (by name), and the members that
    could not be read (by name: why, e.g. a CRC error)."""

    manifest: Manifest
    files: dict[str, bytes]
    unreadable: dict[str, str]


def read_package(data: bytes) -> ReadPackage:
    """Reads a package; `VerificationError` (check `package_format`) if it is not one."""

    def refuse(why: str) -> VerificationError:
        return VerificationError(
            "package_format", f"not an evidence package: {why}", code="VERIFY_PACKAGE_FORMAT"
        )

    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise refuse(str(exc)) from exc
    with z:
        infos = z.infolist()
        if sum(i.file_size for i in infos) > MAX_PACKAGE_BYTES:
            raise refuse("its members are larger than a package may be")
        names = [i.filename for i in infos]
        if len(set(names)) != len(names):
            raise refuse("a member name comes twice")
        if MANIFEST not in names:
            raise refuse(f"no {MANIFEST}")
        files: dict[str, bytes] = {}
        unreadable: dict[str, str] = {}
        for info in infos:
            if info.is_dir():
                continue
            try:
                files[info.filename] = z.read(info)
            except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as exc:
                unreadable[info.filename] = str(exc)  # a CRC error: that member was altered
    if MANIFEST in unreadable:
        raise refuse(f"{MANIFEST}: {unreadable[MANIFEST]}")
    try:
        manifest = Manifest.model_validate(safejson.loads(files.pop(MANIFEST)))
    except Exception as exc:
        raise refuse(f"{MANIFEST}: {exc}") from exc
    return ReadPackage(manifest, files, unreadable)
