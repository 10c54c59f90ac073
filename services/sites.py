"""Sites: create, read, update, delete. Keyword-only functions over a session: they flush, callers commit."""

from __future__ import annotations

from shapely.geometry import Point
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vigie.errors import ConflictError, InvalidInputError, NotFoundError
from vigie.services.schemas import SiteCreate, SiteUpdate
from vigie.store.models import Site


def _ensure_slug_free(session: Session, slug: str, *, except_id: int | None = None) -> None:
    existing = session.scalar(select(Site.id).where(Site.slug == slug))
    if existing is not None and existing != except_id:
        raise ConflictError(f"a site with slug {slug!r} already exists (id {existing})")


def _flush(session: Session, what: str) -> None:
    """Flush, turning a unique-constraint race (two writers, same slug) into a ConflictError."""
    try:
        session.flush()
    except IntegrityError as exc:
        raise ConflictError(f"{what} conflicts with stored data: {exc.orig}") from exc


def create_site(session: Session, *, data: SiteCreate) -> Site:
    _ensure_slug_free(session, data.slug)
    site = Site(
        slug=data.slug,
        name=data.name,
        kind=data.kind,
        timezone=data.timezone,
        location=None if data.longitude is None else Point(data.longitude, data.latitude),
    )
    session.add(site)
    _flush(session, f"site {data.slug!r}")
    return site


def get_site(session: Session, *, site_id: int | None = None, slug: str | None = None) -> Site:
    """The site with `site_id` or `slug` (exactly one of them)."""
    if (site_id is None) == (slug is None):
        raise InvalidInputError("get_site: give exactly one of site_id or slug")
    if site_id is not None:
        site = session.get(Site, site_id)
        if site is None:
            raise NotFoundError(f"site id {site_id} does not exist")
        return site
    site = session.scalar(select(Site).where(Site.slug == slug))
    if site is None:
        raise NotFoundError(f"site {slug!r} does not exist")
    return site


def list_sites(session: Session) -> list[Site]:
    return list(session.scalars(select(Site).order_by(Site.slug)))


def update_site(session: Session, *, site_id: int, data: SiteUpdate) -> Site:
    """Apply the fields set in `data`; an explicit null longitude/latitude clears the location."""
    site = get_site(session, site_id=site_id)
    changes = data.model_dump(exclude_unset=True)
    if "slug" in changes and changes["slug"] is not None and changes["slug"] != site.slug:
        _ensure_slug_free(session, changes["slug"], except_id=site.id)
    for field in ("slug", "name", "kind", "timezone"):
        if changes.get(field) is not None:
            setattr(site, field, changes[field])
    if "longitude" in changes or "latitude" in changes:
        site.location = None if data.longitude is None else Point(data.longitude, data.latitude)
    _flush(session, f"site {site.slug!r}")
    return site


def delete_site(session: Session, *, site_id: int) -> None:
    """Delete a site with its cameras, stations and everything they recorded; its alerts are kept unlinked."""
    site = get_site(session, site_id=site_id)
    session.delete(site)
    session.flush()
