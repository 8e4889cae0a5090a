"""Evidence packages for courts and arbitrators (issue 14): one self-contained ZIP per anchored
record, with the original document, the receipt, the verification report run at export time,
the chain facts, the trust root, the signers as registered at signing time, the provenance and
history, and a bilingual certificate (HTML and PDF) answering 人民法院在线诉讼规则 Arts. 16-18.

- `model`: the format (`evidence-package/v1`), the manifest and the gathered facts
- `collect`: signers' registry epochs at `issued_at`, provenance, revocations and amendments
- `certificate`, `pdf`: the certificate page and its PDF
- `package`: writing and reading the ZIP
- `export`: who may export, and building a package from a gateway's service
- `verify`: verifying a package offline, from the package and a chain node only
"""

from __future__ import annotations

from ledger.evidence.export import EXPORT_ROLES, ExportedPackage, export_package, may_export
from ledger.evidence.model import PACKAGE_FORMAT, EvidenceFacts, Manifest
from ledger.evidence.package import read_package, write_package
from ledger.evidence.verify import PACKAGE_CHECKS, PackageReport, verify_package

__all__ = [
    "EXPORT_ROLES",
    "PACKAGE_CHECKS",
    "PACKAGE_FORMAT",
    "EvidenceFacts",
    "ExportedPackage",
    "Manifest",
    "PackageReport",
    "export_package",
    "may_export",
    "read_package",
    "verify_package",
    "write_package",
]
