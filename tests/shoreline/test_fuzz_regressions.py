"""Shoreline inputs that fuzzing turned into 500s: each is now a clear 422 naming the input."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("crs", ["¹", "²¹⁵⁴", "9" * 5000])
@pytest.mark.parametrize("export", ["shorelines.geojson", "shorelines.csv"])
def test_a_crs_of_unicode_or_endless_digits_is_a_422(client, auth, crs: str, export: str) -> None:
    # Before: str.isdigit() accepted '¹', then int() refused it (ValueError, a 500).
    response = client.get(
        f"/api/v1/shoreline/stations/any/{export}", params={"crs": crs}, headers=auth("coastal")
    )
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_input"
    assert body["detail"].endswith(": expected an EPSG code such as 4326 or EPSG:2154")


def _water_levels(client, headers, text: str):
    return client.post(
        "/api/v1/shoreline/stations/any/water-levels",
        files={"file": ("tide.csv", text.encode(), "text/csv")},
        headers=headers,
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('2026-01-01T00:00:00Z,1\nx\r"y\n', "new-line character seen in unquoted field"),
        ("a" * 200_000 + ",1\n", "field larger than field limit"),
    ],
)
def test_a_water_levels_file_the_csv_module_cannot_read_is_a_422(
    client, auth, text: str, reason: str
) -> None:
    # Before: csv.Error escaped the parser: a 500.
    response = _water_levels(client, auth("coastal"), text)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail.startswith("tide.csv line ") and ": not readable as CSV (" in detail and reason in detail


def test_a_water_level_time_before_year_1_in_utc_is_a_422(client, auth) -> None:
    # Before: the conversion to UTC overflowed (OverflowError, a 500).
    response = _water_levels(client, auth("coastal"), "0001-01-01T00:00:00+01:00,1.2\n")
    assert response.status_code == 422
    assert response.json() == {
        "error": "invalid_input",
        "detail": "tide.csv line 1: time: 0001-01-01T00:00:00+01:00 is outside years 1 to 9999 once "
        "converted to UTC",
    }


def test_a_photo_time_before_year_1_in_utc_is_a_422(client) -> None:
    # Public upload: the form field is refused before the photo is looked at (before: a 500).
    response = client.post(
        "/api/v1/shoreline/stations/any/photos?process=false",
        files={"photo": ("beach.jpg", b"\xff\xd8\xff", "image/jpeg")},
        data={"taken_at": "0001-01-01T00:00:00+01:00"},
    )
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "validation_error"
    [item] = body["detail"]
    assert item["loc"] == ["body", "taken_at"] and "outside years 1 to 9999" in item["msg"]
