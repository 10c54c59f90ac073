"""Token administration (admin only): create (the clear token is shown once), list, revoke."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from vigie.api.deps import AdminRole, IdPath, SessionDep, SettingsDep
from vigie.services import tokens
from vigie.services.schemas import DateTimeIn
from vigie.services.tokens import Role

router = APIRouter(prefix="/tokens", tags=["tokens"])


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="Who or what uses the token.")
    roles: list[Role] = Field(min_length=1, description="Roles granted; admin grants everything.")
    expires_at: DateTimeIn | None = Field(None, description="Optional expiry (timezone-aware).")


class TokenRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    roles: list[Role]
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenRead):
    token: str = Field(description="The clear token. It is not stored and cannot be shown again.")


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create an API token")
def create_token(body: TokenCreate, session: SessionDep, settings: SettingsDep, _: AdminRole) -> TokenCreated:
    row, clear = tokens.create_token(
        session, name=body.name, roles=body.roles, secret=settings.secret_key, expires_at=body.expires_at
    )
    session.commit()
    return TokenCreated.model_validate({**TokenRead.model_validate(row).model_dump(), "token": clear})


@router.get("", summary="List API tokens (never their values)")
def list_tokens(session: SessionDep, _: AdminRole, include_revoked: bool = True) -> list[TokenRead]:
    return [
        TokenRead.model_validate(row) for row in tokens.list_tokens(session, include_revoked=include_revoked)
    ]


@router.delete("/{token_id}", summary="Revoke an API token")
def revoke_token(token_id: IdPath, session: SessionDep, _: AdminRole) -> TokenRead:
    row = tokens.revoke_token(session, token_id=token_id)
    session.commit()
    return TokenRead.model_validate(row)
