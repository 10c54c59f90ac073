"""The one place where domain errors become HTTP responses.

Every error body has the same shape, `{"error": code, "detail": message}`, so that clients can switch on a
stable code while people read the message. Request validation errors keep FastAPI's own 422 body (it names
the failing field), only with the `error` code added.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from vigie.errors import (
    AuthenticationError,
    ConfigError,
    ConflictError,
    InvalidInputError,
    ModelUnavailableError,
    NotFoundError,
    PermissionDeniedError,
    SourceError,
    VigieError,
)

logger = logging.getLogger(__name__)

# Most specific class first: the first `isinstance` match wins (ConfigError is an InvalidInputError).
DOMAIN_ERROR_STATUS: tuple[tuple[type[VigieError], int, str], ...] = (
    (AuthenticationError, 401, "unauthenticated"),
    (ConfigError, 422, "invalid_config"),
    (InvalidInputError, 422, "invalid_input"),
    (NotFoundError, 404, "not_found"),
    (ConflictError, 409, "conflict"),
    (PermissionDeniedError, 403, "forbidden"),
    (ModelUnavailableError, 503, "model_unavailable"),
    (SourceError, 502, "source_unavailable"),
)

# Bearer challenge required by RFC 6750 on every 401.
BEARER_CHALLENGE = {"WWW-Authenticate": "Bearer"}


class FieldError(BaseModel):
    """One failing field of a `validation_error` (FastAPI's item, without the submitted value)."""

    type: str
    loc: list[str | int] = Field(description="Where: body, query, path or header, then the field's path.")
    msg: str


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: str = Field(
        description="Stable code: validation_error, invalid_input, unauthenticated, forbidden, not_found, "
        "conflict, ..."
    )
    detail: str | list[FieldError] = Field(
        description="What is wrong and what was expected; the failing fields for validation_error."
    )


# Documented on every API operation: the schema of each 4xx answer, 422 included (FastAPI's default 422
# schema would not match the `error` code added here, nor the domain errors' string detail). The content
# is named as JSON: FastAPI would otherwise document it with the route's media type (HTML, CSV...).
ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    "4XX": {
        "model": ErrorBody,
        "description": "Refused: `error` says why, `detail` what was expected.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }
}


def error_body(code: str, detail: object) -> dict[str, object]:
    return {"error": code, "detail": detail}


def status_for(exc: VigieError) -> tuple[int, str]:
    """HTTP status and error code for a domain error; 500 for a VigieError nobody mapped."""
    for error_type, status, code in DOMAIN_ERROR_STATUS:
        if isinstance(exc, error_type):
            return status, code
    return 500, "internal_error"


async def _domain_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, VigieError)
    status, code = status_for(exc)
    if status >= 500:
        logger.warning("%s on %s %s: %s", type(exc).__name__, request.method, request.url.path, exc)
    headers = BEARER_CHALLENGE if status == 401 else None
    return JSONResponse(error_body(code, str(exc)), status_code=status, headers=headers)


async def _http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    # Unknown routes, wrong methods...: same body shape as domain errors, headers (Allow...) kept.
    assert isinstance(exc, StarletteHTTPException)
    code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_").replace("-", "_")
    return JSONResponse(
        error_body(code, exc.detail), status_code=exc.status_code, headers=getattr(exc, "headers", None)
    )


async def _validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # FastAPI's body is {"detail": [{"loc": [...], "msg": ..., "type": ...}]}; keep it, add the stable code.
    # The submitted values ("input", and "ctx" which can quote them) are not echoed: a request can carry
    # a plate, a token or a whole body, and error responses end up in logs and proxies.
    errors = [{k: v for k, v in e.items() if k not in ("input", "ctx")} for e in exc.errors()]
    return JSONResponse(error_body("validation_error", jsonable_encoder(errors)), status_code=422)


async def _database_error_handler(request: Request, exc: Exception) -> JSONResponse:
    # Server down, connection lost, or a schema that was never migrated: retrying later may work. The SQL
    # and the driver's message stay in the log, not in the response.
    reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    logger.error("database error on %s %s: %s", request.method, request.url.path, reason)
    return JSONResponse(
        error_body("database_unavailable", "the database is unreachable or not migrated; see /health"),
        status_code=503,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(VigieError, _domain_error_handler)
    app.add_exception_handler(OperationalError, _database_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_error_handler)
