"""Site services on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from vigie.errors import ConflictError, InvalidInputError, NotFoundError
from vigie.services.schemas import SiteCreate, SiteRead, SiteUpdate
from vigie.services.sites import create_site, delete_site, get_site, list_sites, update_site
from vigie.store.models import SiteKind


def _create(session, slug="calanques", **fields):
    data = {
        "slug": slug,
        "name": "Massif des Calanques",
        "kind": "fire",
        "longitude": 5.45,
        "latitude": 43.21,
    }
    return create_site(session, data=SiteCreate(**(data | fields)))


def test_create_get_list(session):
    site = _create(session)
    _create(session, slug="arcachon", kind="shoreline", longitude=None, latitude=None)
    session.commit()
    assert get_site(session, site_id=site.id) is site
    assert get_site(session, slug="calanques").id == site.id
    assert [s.slug for s in list_sites(session)] == ["arcachon", "calanques"]
    read = SiteRead.model_validate(site)
    assert (read.longitude, read.latitude) == (5.45, 43.21)
    assert read.kind is SiteKind.FIRE
    assert read.timezone == "Europe/Paris"
    assert read.created_at.utcoffset().total_seconds() == 0


def test_duplicate_slug_conflicts(session):
    _create(session)
    with pytest.raises(ConflictError, match="calanques"):
        _create(session)


def test_unknown_ids_name_the_id(session):
    with pytest.raises(NotFoundError, match="site id 4242"):
        get_site(session, site_id=4242)
    with pytest.raises(NotFoundError, match="'nowhere'"):
        get_site(session, slug="nowhere")
    with pytest.raises(NotFoundError, match="4242"):
        update_site(session, site_id=4242, data=SiteUpdate(name="x"))
    with pytest.raises(NotFoundError, match="4242"):
        delete_site(session, site_id=4242)
    with pytest.raises(InvalidInputError, match="exactly one"):
        get_site(session, site_id=1, slug="x")


def test_update_changes_only_given_fields_and_can_clear_location(session):
    site = _create(session)
    update_site(session, site_id=site.id, data=SiteUpdate(name="Calanques", timezone="UTC"))
    assert (site.name, site.timezone, site.kind, site.longitude) == ("Calanques", "UTC", SiteKind.FIRE, 5.45)
    update_site(session, site_id=site.id, data=SiteUpdate(longitude=None, latitude=None))
    assert site.location is None
    other = _create(session, slug="esterel")
    with pytest.raises(ConflictError, match="esterel"):
        update_site(session, site_id=site.id, data=SiteUpdate(slug=other.slug))


def test_delete(session):
    site = _create(session)
    delete_site(session, site_id=site.id)
    session.commit()
    assert list_sites(session) == []


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"longitude": 652000.0, "latitude": 6862000.0}, "longitude"),
        ({"longitude": 5.0, "latitude": None}, "both longitude and latitude"),
        ({"timezone": "Paris"}, "IANA"),
        ({"slug": "Bad Slug"}, "slug"),
        ({"kind": "volcano"}, "kind"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_schema_rejects(fields, where):
    data = {"slug": "s", "name": "S", "kind": "fire"} | fields
    with pytest.raises(ValidationError, match=where):
        SiteCreate(**data)
