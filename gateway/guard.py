"""The first thing every request meets: its body's size and, for JSON, its shape.

`RequestGuard` is the outermost middleware (inside only Starlette's error handler), so it runs
before routing, body parsing and authentication: a hostile body is refused at the cost of
reading it, whether or not it carries an API key.

- Multipart bodies (uploads) are streamed through, counted; past `max_upload_bytes` the app is
  told the client went away, so it stops reading and stores nothing, and the answer is 413.
- Every other body is read whole, up to `max_json_bytes` (413 beyond), and its raw bytes are
  checked by `ledger.safejson.check_json_shape` (422 `JSON_TOO_DEEP`,
  `JSON_NUMBER_TOO_LONG`, 413 `JSON_TOO_MANY_ELEMENTS`) before any parser sees them, and must be UTF-8 (422
  `INVALID_UTF8`). The app then receives the same bytes.
- The path and the query string, percent-decoded, must be UTF-8 too (422 `INVALID_UTF8`):
  Starlette would put U+FFFD in place of bad bytes and let the request through.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledger.safejson import JsonShapeError, check_json_shape

__all__ = ["RequestGuard"]


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _url_is_utf8(scope: Scope) -> bool:
    """Whether the raw path and the query string percent-decode to UTF-8 (`+` is a space)."""
    raw_path = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "surrogateescape")
    query = scope.get("query_string", b"").replace(b"+", b" ")
    return all(_is_utf8(unquote_to_bytes(part)) for part in (raw_path, query))


async def _answer(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestGuard:
    """ASGI middleware bounding request bodies; see the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_upload_bytes: int,
        max_json_bytes: int,
        on_refuse: Callable[[str], None] = lambda code: None,
    ) -> None:
        self.app = app
        self.max_upload_bytes = max_upload_bytes
        self.max_json_bytes = max_json_bytes
        self.on_refuse = on_refuse

    async def _refuse(self, send: Send, status: int, code: str, message: str) -> None:
        self.on_refuse(code)
        await _answer(send, status, code, message)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not _url_is_utf8(scope):
            await self._refuse(
                send, 422, "INVALID_UTF8", "the path or query string is not UTF-8 once decoded"
            )
            return
        content_type = b""
        length: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.lower()
            elif name == b"content-length":
                length = value
        multipart = content_type.startswith(b"multipart/")
        limit = self.max_upload_bytes if multipart else self.max_json_bytes
        if length is not None and length.strip().isdigit() and int(length) > limit:
            await self._refuse(
                send, 413, "PAYLOAD_TOO_LARGE", f"request body exceeds {limit} bytes"
            )
            return
        if multipart:
            await self._stream(scope, receive, send, limit)
        else:
            await self._buffered(scope, receive, send, limit)

    async def _buffered(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(
                    send, 413, "PAYLOAD_TOO_LARGE", f"request body exceeds {limit} bytes"
                )
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body:
            try:
                check_json_shape(body)
            except JsonShapeError as exc:
                await self._refuse(send, exc.status, exc.code, exc.message)
                return
            if not _is_utf8(body):
                await self._refuse(send, 422, "INVALID_UTF8", "the request body is not UTF-8")
                return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _stream(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        received = 0
        too_large = False
        answered = False

        async def counting_receive() -> Message:
            nonlocal received, too_large
            if too_large:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # The app sees the client leave: it stops parsing and stores nothing.
                    too_large = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal answered
            if not too_large:
                await send(message)
            elif not answered:
                answered = True
                await self._refuse(
                    send, 413, "PAYLOAD_TOO_LARGE", f"request body exceeds {limit} bytes"
                )

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not too_large:
                raise
        if too_large and not answered:
            await self._refuse(
                send, 413, "PAYLOAD_TOO_LARGE", f"request body exceeds {limit} bytes"
            )
