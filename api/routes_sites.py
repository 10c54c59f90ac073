"""Sites: read for any authenticated role, write for admin. Routes commit what the services flushed."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from vigie.api.deps import AdminRole, AnyRole, IdPath, SessionDep
from vigie.services import sites
from vigie.services.schemas import SiteCreate, SiteRead, SiteUpdate

router = APIRouter(prefix="/sites", tags=["sites"])


@router.get("", summary="List sites")
def list_sites(session: SessionDep, _: AnyRole) -> list[SiteRead]:
    return [SiteRead.model_validate(row) for row in sites.list_sites(session)]


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a site")
def create_site(body: SiteCreate, session: SessionDep, _: AdminRole) -> SiteRead:
    site = sites.create_site(session, data=body)
    session.commit()
    return SiteRead.model_validate(site)


@router.get("/{site_id}", summary="Read a site")
def get_site(site_id: IdPath, session: SessionDep, _: AnyRole) -> SiteRead:
    return SiteRead.model_validate(sites.get_site(session, site_id=site_id))


@router.patch("/{site_id}", summary="Update a site (only the fields sent)")
def update_site(site_id: IdPath, body: SiteUpdate, session: SessionDep, _: AdminRole) -> SiteRead:
    site = sites.update_site(session, site_id=site_id, data=body)
    session.commit()
    return SiteRead.model_validate(site)


@router.delete("/{site_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a site and its cameras")
def delete_site(site_id: IdPath, session: SessionDep, _: AdminRole) -> Response:
    sites.delete_site(session, site_id=site_id)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
