"""Plates never leave in clear through errors: masked messages, masked import reports, masked CLI output."""

from __future__ import annotations

import argparse

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from vigie.errors import InvalidInputError
from vigie.pipelines.lapi import park_cli
from vigie.services.lapi_parking import create_car_park
from vigie.services.lapi_plates import mask_plate, parse_plate_input
from vigie.services.lapi_schemas import CarParkIn, SubscriberIn
from vigie.services.lapi_subscribers import decode_subscriber_file
from vigie.services.schemas import SiteCreate
from vigie.services.sites import create_site
from vigie.settings import Settings
from vigie.store.db import make_sessionmaker
from vigie.store.models import ParkingSubscriber

SECRET = "import-tests-secret-" + "i" * 32


def test_mask_plate_keeps_two_characters_of_long_texts_only():
    assert mask_plate(" AB-123-CD ") == "AB…"
    assert mask_plate("AB12") == "…"  # two of four characters would give most of it away
    assert mask_plate("") == "…" and mask_plate(None) == "…"


@pytest.mark.parametrize("text", ["GH-47$-JK", "G", "GH-478-IO"])
def test_plate_input_errors_show_the_plate_masked(text):
    with pytest.raises(InvalidInputError) as caught:
        parse_plate_input(text, what="plate")
    message = str(caught.value)
    assert message.startswith("plate '")
    assert text not in message and "47" not in message


def test_a_subscriber_validation_error_does_not_quote_the_input():
    with pytest.raises(ValidationError) as caught:
        SubscriberIn(plate="GH-478-JK", valid_from="2026-11-02T00:00:00Z", valid_to="2026-11-01T00:00:00Z")
    assert "valid_to" in str(caught.value) and "478" not in str(caught.value)


def test_decode_subscriber_file_accepts_utf8_and_windows_and_names_bad_bytes():
    assert decode_subscriber_file("Réf".encode()) == "Réf"
    assert decode_subscriber_file("Réf".encode("cp1252")) == "Réf"
    with pytest.raises(InvalidInputError, match=r"0x9d at offset 2"):
        decode_subscriber_file(b"ab\x9dcd")


def _cli(db_url: str, monkeypatch: pytest.MonkeyPatch) -> argparse.ArgumentParser:
    settings = Settings(_env_file=None, env="test", secret_key=SECRET, database_url=db_url)
    monkeypatch.setattr(park_cli, "_settings", lambda: settings)
    parser = argparse.ArgumentParser()
    park_cli.add_commands(parser.add_subparsers(dest="command"))
    return parser


def test_import_command_prints_rejected_rows_without_plates(engine, db_url, tmp_path, monkeypatch, capsys):
    factory = make_sessionmaker(engine)
    with factory() as session:
        site = create_site(session, data=SiteCreate(slug="lr", name="La Rochelle", kind="lapi"))
        create_car_park(session, site_id=site.id, data=CarParkIn(slug="vp", name="Vieux-Port"))
        session.commit()
    csv_file = tmp_path / "abonnes.csv"
    csv_file.write_bytes(
        "plate;valid_from;reference\n"
        "BC-246-DE;01/11/2026;Réf-1\n"
        "GH-478-IO;01/11/2026;R-2\n"  # not a SIV plate
        "JK-591-LM;2026-13-45;R-3\n"  # bad date
        "BC-246-DE;01/11/2026;R-4\n".encode("cp1252")  # duplicate of line 2
    )
    parser = _cli(db_url, monkeypatch)
    args = parser.parse_args(
        ["lapi", "import-subscribers", str(csv_file), "--database-url", db_url, "--car-park", "vp"]
    )

    assert args.func(args) == 0

    out = capsys.readouterr().out
    assert "1 subscription(s) imported, 3 row(s) rejected" in out
    assert "line 3: plate: Value error, plate 'GH…'" in out and "line 4:" in out and "line 5:" in out
    for clear in ("478", "591", "246"):
        assert clear not in out
    with factory() as session:
        assert session.scalars(select(ParkingSubscriber.reference)).all() == ["Réf-1"]

    csv_file.write_bytes(b"plate,valid_from\nAB-123-CD,2026-11-01\x81\n")
    with pytest.raises(InvalidInputError, match="0x81"):
        args.func(args)
