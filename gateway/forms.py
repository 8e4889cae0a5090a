"""Multipart forms, read strictly: a text field that is not UTF-8 is refused (422
`INVALID_UTF8`), where Starlette would decode it as Latin-1 and carry on; an oversized part is
413 (Starlette says 400)."""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import FormData
from starlette.formparsers import MultiPartException, MultiPartParser

from gateway.errors import ApiError

__all__ = ["read_form"]


class _InvalidField(MultiPartException):
    pass


class _StrictParser(MultiPartParser):
    """Text fields decoded as UTF-8 or refused; files are passed on as they are."""

    def on_part_end(self) -> None:
        part = self._current_part
        if part.file is None:
            try:
                value = bytes(part.data).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _InvalidField(f"form field {part.field_name!r} is not UTF-8") from exc
            self.items.append((part.field_name, value))
            return
        super().on_part_end()


async def read_form(request: Request, limit: int) -> FormData:
    """The multipart form of `request`, each text field at most `limit` bytes."""
    parser = _StrictParser(request.headers, request.stream(), max_part_size=limit)
    try:
        return await parser.parse()
    except _InvalidField as exc:
        raise ApiError(422, "INVALID_UTF8", exc.message) from exc
    except MultiPartException as exc:
        if "maximum size" in exc.message.lower():
            raise ApiError(413, "PAYLOAD_TOO_LARGE", f"a form part exceeds {limit} bytes") from exc
        raise ApiError(422, "INVALID_INPUT", f"malformed multipart body: {exc.message}") from exc
