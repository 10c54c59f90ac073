"""Start-up side of authentication: the bootstrap admin token of a first deployment.

Per-request authentication and role checks are dependencies in `vigie.api.deps`.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session, sessionmaker

from vigie.services.tokens import Role, ensure_token
from vigie.settings import Settings

logger = logging.getLogger(__name__)

BOOTSTRAP_TOKEN_NAME = "bootstrap-admin"


def ensure_bootstrap_admin(settings: Settings, factory: sessionmaker[Session]) -> bool:
    """Store `VIGIE_BOOTSTRAP_ADMIN_TOKEN` as an admin token if set; True if a token was configured."""
    if settings.bootstrap_admin_token is None:
        return False
    with factory() as session:
        row = ensure_token(
            session,
            name=BOOTSTRAP_TOKEN_NAME,
            token=settings.bootstrap_admin_token.get_secret_value(),
            roles=[Role.ADMIN],
            secret=settings.secret_key,
        )
        session.commit()
        logger.info("bootstrap admin token present (id %s)", row.id)
    return True
