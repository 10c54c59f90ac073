"""FastAPI dependencies: settings, a database session per request, and the calling principal.

Use them as `Annotated` types in route signatures:

    def list_things(session: SessionDep, principal: Annotated[Principal, require_roles("planner")]): ...

or the ready-made aliases below (`AnyRole`, `AdminRole`, `WorkerRole`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from vigie.errors import AuthenticationError
from vigie.services.schemas import INT64_MAX
from vigie.services.tokens import Principal, Role, authenticate
from vigie.settings import Settings

# auto_error=False: we raise our own 401 with the standard body; the scheme still appears in OpenAPI.
BEARER = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer <token>`")


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_sessionmaker(request: Request) -> sessionmaker[Session]:
    return request.app.state.sessionmaker


def get_session(factory: Annotated[sessionmaker[Session], Depends(get_sessionmaker)]) -> Iterator[Session]:
    # Services flush; routes commit their writes explicitly, before the response is built, so that a
    # failing commit is the client's error response. Closing rolls back whatever a failed request left.
    with factory() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
SessionDep = Annotated[Session, Depends(get_session)]

# Ids in paths and query strings: positive and within the database's integers, so that a huge number is
# a 422 naming the parameter rather than an overflow in the driver.
IdPath = Annotated[int, Path(ge=1, le=INT64_MAX, description="Id of a stored row.")]
IdQuery = Annotated[int | None, Query(ge=1, le=INT64_MAX, description="Id of a stored row.")]


def get_principal(
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
) -> Principal:
    """The authenticated caller; 401 (via AuthenticationError) without a valid bearer token."""
    if credentials is None or not credentials.credentials:
        raise AuthenticationError("missing bearer token: send `Authorization: Bearer <token>`")
    principal = authenticate(session, token=credentials.credentials, secret=settings.secret_key)
    session.commit()  # keeps last_used_at; nothing else is pending this early in the request
    return principal


def require_roles(*roles: Role | str) -> Any:
    """A dependency returning the Principal if it holds one of `roles` (admin holds all), else 403.

    Returns `Depends(...)`, to be used as `Annotated[Principal, require_roles("operator", "planner")]`.
    """
    if not roles:
        raise ValueError("require_roles needs at least one role; use AnyRole for any authenticated caller")
    wanted = tuple(Role(role) for role in roles)  # a typo fails at import time, not at request time

    def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        return principal.require(*wanted)

    check.__name__ = "require_" + "_or_".join(role.value for role in wanted)
    return Depends(check)


AnyRole = Annotated[Principal, Depends(get_principal)]
AdminRole = Annotated[Principal, require_roles(Role.ADMIN)]
WorkerRole = Annotated[Principal, require_roles(Role.WORKER)]

__all__: list[str] = [
    "BEARER",
    "AdminRole",
    "AnyRole",
    "IdPath",
    "IdQuery",
    "SessionDep",
    "SettingsDep",
    "WorkerRole",
    "get_principal",
    "get_session",
    "require_roles",
]
