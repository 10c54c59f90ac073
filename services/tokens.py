"""API tokens: creation, authentication, revocation.

Only HMAC-SHA256(secret_key, token) is stored, so a leaked database does not leak usable tokens, and
rotating the secret key invalidates every token at once. The clear token is returned once, at creation.
Like the other services, these functions flush and leave the commit to the caller.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigie.errors import AuthenticationError, InvalidInputError, NotFoundError, PermissionDeniedError
from vigie.store.models import ApiToken
from vigie.store.types import utcnow

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "vigie_"  # makes leaked tokens easy to spot for secret scanners and in logs
# last_used_at is informative only: writing it on every request would turn each read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class Role(StrEnum):
    ADMIN = "admin"  # everything, including token administration
    OPERATOR = "operator"  # fire watch room
    PLANNER = "planner"  # traffic counts
    COASTAL = "coastal"  # shoreline monitoring
    PARKING = "parking"  # plate reading (LAPI)
    WORKER = "worker"  # pipelines ingesting results and camera health


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's name and roles, resolved once per request."""

    name: str
    roles: frozenset[Role]
    token_id: int | None = None

    def allows(self, *roles: Role | str) -> bool:
        """True if the principal holds one of `roles`; admin holds them all."""
        return Role.ADMIN in self.roles or any(Role(role) in self.roles for role in roles)

    def require(self, *roles: Role | str) -> Principal:
        if not self.allows(*roles):
            needed = " or ".join(str(Role(role)) for role in roles)
            held = ", ".join(sorted(self.roles)) or "none"
            raise PermissionDeniedError(f"token {self.name!r} needs role {needed}; it has {held}")
        return self


def parse_roles(roles: Iterable[str]) -> list[Role]:
    """Validated, de-duplicated roles in a stable order; raises InvalidInputError naming unknown ones."""
    roles = list(roles)
    unknown = sorted({str(role) for role in roles} - {role.value for role in Role})
    if unknown:
        known = ", ".join(role.value for role in Role)
        raise InvalidInputError(f"roles: unknown role(s) {', '.join(unknown)}; expected some of {known}")
    if not roles:
        raise InvalidInputError("roles: a token needs at least one role")
    return sorted({Role(role) for role in roles}, key=list(Role).index)


def hash_token(token: str, secret: str | SecretStr) -> str:
    """Hex HMAC-SHA256 of the clear token keyed by the service secret: the only form that is stored."""
    key = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    return hmac.new(key.encode(), token.encode(), hashlib.sha256).hexdigest()


def generate_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _as_utc(moment: datetime) -> datetime:
    # A caller's naive expiry is taken as UTC (stored columns are always aware: UTCDateTime).
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidInputError("name: a token needs a non-empty name (who or what uses it)")
    return name


def create_token(
    session: Session,
    *,
    name: str,
    roles: Iterable[str],
    secret: str | SecretStr,
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """Store a new token and return it with its clear value, which is not kept anywhere."""
    if expires_at is not None and _as_utc(expires_at) <= utcnow():
        raise InvalidInputError(f"expires_at: expected a future time, got {expires_at.isoformat()}")
    clear = generate_token()
    row = _store_token(session, name=name, roles=roles, token=clear, secret=secret, expires_at=expires_at)
    return row, clear


def _store_token(
    session: Session,
    *,
    name: str,
    roles: Iterable[str],
    token: str,
    secret: str | SecretStr,
    expires_at: datetime | None = None,
) -> ApiToken:
    row = ApiToken(
        name=_check_name(name),
        token_hash=hash_token(token, secret),
        roles=[role.value for role in parse_roles(roles)],
        created_at=utcnow(),
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return row


def ensure_token(
    session: Session, *, name: str, token: str, roles: Iterable[str], secret: str | SecretStr
) -> ApiToken:
    """Make sure a token with this clear value exists (bootstrap admin); never revives a revoked one."""
    if len(token) < 16:
        raise InvalidInputError("bootstrap token: expected at least 16 characters")
    existing = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token, secret)))
    if existing is not None:
        if existing.revoked_at is not None:
            logger.warning("bootstrap token %r was revoked; it stays revoked", existing.name)
        return existing
    return _store_token(session, name=name, roles=roles, token=token, secret=secret)


def authenticate(session: Session, *, token: str, secret: str | SecretStr) -> Principal:
    """The principal owning `token`; AuthenticationError if it is unknown or revoked."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token, secret)))
    if row is None:
        raise AuthenticationError("unknown API token")
    now = utcnow()
    principal = _principal(row, now=now)
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        row.last_used_at = now
        session.flush()
    if unknown := sorted(set(row.roles) - {role.value for role in Role}):
        logger.warning("API token %r holds unknown role(s) %s; ignored", row.name, ", ".join(unknown))
    return principal


def authenticate_token_id(session: Session, *, token_id: int) -> Principal:
    """The owner of the stored token `token_id`, checked as its clear value would be (AuthenticationError
    when it is gone, revoked or expired): for credentials derived from a token, such as the fire stream's
    tickets, which must die with it."""
    row = session.get(ApiToken, token_id, populate_existing=True)  # revocations by other sessions count
    if row is None:
        raise AuthenticationError(f"API token {token_id} no longer exists")
    return _principal(row, now=utcnow())


def _principal(row: ApiToken, *, now: datetime) -> Principal:
    """The principal of a stored token that is neither revoked nor expired at `now`."""
    if row.revoked_at is not None:
        raise AuthenticationError(f"API token {row.name!r} was revoked")
    if row.expires_at is not None and row.expires_at <= now:
        raise AuthenticationError(f"API token {row.name!r} expired at {row.expires_at.isoformat()}")
    known = {role.value for role in Role}
    # A role removed from this version grants nothing; refusing the whole token would lock people out.
    roles = frozenset(Role(role) for role in row.roles if role in known)
    return Principal(name=row.name, roles=roles, token_id=row.id)


def list_tokens(session: Session, *, include_revoked: bool = True) -> list[ApiToken]:
    query = select(ApiToken).order_by(ApiToken.id)
    if not include_revoked:
        query = query.where(ApiToken.revoked_at.is_(None))
    return list(session.scalars(query))


def revoke_token(session: Session, *, token_id: int) -> ApiToken:
    """Revoke a token; revoking twice keeps the first revocation time."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFoundError(f"API token {token_id} does not exist")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()
    return row
