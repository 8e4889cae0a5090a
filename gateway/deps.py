"""Dependencies: the service and the authenticated caller, as `Annotated` aliases."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ledger.enums import Role
from ledger.errors import PermissionDenied
from ledger.service import Caller, LedgerService

__all__ = ["CurrentCaller", "Service", "require"]

_bearer = HTTPBearer(auto_error=False, description="API key bound to one participant and role")


async def get_service(request: Request) -> LedgerService:
    service: LedgerService = request.app.state.service
    return service


Service = Annotated[LedgerService, Depends(get_service)]


# Async on purpose: authentication is one indexed read, cheaper than the hop to a worker thread
# that FastAPI makes for a plain `def` dependency.
async def get_caller(
    service: Service, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Caller:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise PermissionDenied("missing bearer API key", code="UNAUTHENTICATED")
    return service.authenticate(credentials.credentials)


CurrentCaller = Annotated[Caller, Depends(get_caller)]


def require(*roles: Role) -> Callable[[Caller], Awaitable[Caller]]:
    """A dependency that lets only `roles` through (403 ROLE_FORBIDDEN otherwise)."""

    async def check(caller: CurrentCaller) -> Caller:
        if caller.role not in roles:
            allowed = ", ".join(r.name.lower() for r in roles)
            raise PermissionDenied(f"this endpoint is for: {allowed}", code="ROLE_FORBIDDEN")
        return caller

    return check


RegulatorCaller = Annotated[Caller, Depends(require(Role.REGULATOR))]
FunderCaller = Annotated[Caller, Depends(require(Role.FUNDER))]
PlatformCaller = Annotated[Caller, Depends(require(Role.PLATFORM))]
#: the roles that sign loan records: platform, funder (or co-funder), credit enhancer (guarantor)
PartyCaller = Annotated[Caller, Depends(require(Role.PLATFORM, Role.FUNDER, Role.CREDIT_ENHANCER))]
