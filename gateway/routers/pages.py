"""Pages people read, served by the gateway itself: HTML and scripts from `gateway/web`, nothing
from another host (a Content-Security-Policy of `'self'` says so to the browser too).

- `GET /verify` (public): drop an agreement and its receipt; the file is hashed in the browser
  and never leaves it; the receipt and the digest are checked by `POST /v1/verify` against this
  gateway's deployment, whose trust root the page shows beside the result.
- `GET /dashboard` (the page is public; every figure on it comes from the regulator's API with
  the regulator's key, typed into the page and kept for the browser tab only): APR distribution
  per institution type with the caps drawn, loans above a cap, legacy stock, consumer-finance
  averages against the policy by quarter, whitelists with their history, proven violations, and
  a loan search with CSV export. Everything is aggregated server-side and paged.
- `GET /desk` (public page; a participant's own API key): its loans and receipts; a funder's
  loans awaiting its approval (approve = co-sign, reject with a reason) and its whitelist.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

__all__ = ["WEB_DIR", "router"]

WEB_DIR = Path(__file__).resolve().parents[1] / "web"

#: no inline script, nothing from another origin, no framing
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)

router = APIRouter(tags=["pages"], include_in_schema=False)


def _page(name: str) -> FileResponse:
    return FileResponse(
        WEB_DIR / name,
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-cache"},
    )


@router.get("/verify")
def verify_page() -> FileResponse:
    return _page("verify.html")


@router.get("/dashboard")
def dashboard_page() -> FileResponse:
    return _page("dashboard.html")


@router.get("/desk")
def desk_page() -> FileResponse:
    return _page("desk.html")
