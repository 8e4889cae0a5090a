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
  loans awaiting its approval with the full terms and the fee disclosure form (approve = co-sign,
  reject with a reason) and its whitelist; for every party, what awaits its signature, signed
  by the gateway (custodial) or in the page with ethers: an injected EIP-1193 wallet, or an
  encrypted keystore file unlocked in the page. The key never leaves the browser.
- `GET /static/vendor/ethers.js`: ethers v6 (ESM), from `node_modules` (npm, pinned in
  `package.json`), served from this origin: the pages load nothing from another host.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from gateway.errors import ApiError

__all__ = ["WEB_DIR", "router"]

WEB_DIR = Path(__file__).resolve().parents[1] / "web"
#: ethers' ESM bundle, installed by `scripts/bootstrap` (`npm ci`)
ETHERS = Path(__file__).resolve().parents[2] / "node_modules" / "ethers" / "dist" / "ethers.min.js"

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


@router.get("/static/vendor/ethers.js")
def ethers_bundle() -> FileResponse:
    if not ETHERS.is_file():
        raise ApiError(404, "ASSET_MISSING", "ethers is not installed: run scripts/bootstrap")
    return FileResponse(
        ETHERS, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"}
    )
