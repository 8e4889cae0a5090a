"""The certificate as PDF: WeasyPrint lays out the same HTML, with the fonts found by
fontconfig (Debian's fonts-noto-cjk for the Chinese), embedded and subset; nothing is fetched."""

from __future__ import annotations

from ledger.errors import ConfigurationError

__all__ = ["render_pdf"]


def _refuse_fetch(url: str, *args: object, **kwargs: object) -> dict[str, object]:
    raise ValueError(f"the certificate loads nothing from outside ({url})")


def render_pdf(html: str) -> bytes:
    """The PDF of a certificate page; `ConfigurationError` (CERTIFICATE_RENDERER_MISSING) if
    WeasyPrint or its system libraries (Pango) are not installed."""
    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # OSError: Pango missing
        raise ConfigurationError(
            f"cannot render the certificate PDF: {exc}", code="CERTIFICATE_RENDERER_MISSING"
        ) from exc
    pdf = weasyprint.HTML(string=html, url_fetcher=_refuse_fetch).write_pdf()
    assert isinstance(pdf, bytes)
    return pdf
