"""CRS transforms: known points, round trips, and the wrong-CRS mistakes people make."""

from __future__ import annotations

import numpy as np
import pytest

from vigie.calibration.crs import check_lonlat, require_projected, to_projected, to_wgs84
from vigie.errors import InvalidInputError


def test_paris_in_lambert93_matches_the_published_value() -> None:
    # Notre-Dame de Paris, IGN: about X 652 000 m, Y 6 861 000 m in Lambert-93.
    x, y = to_projected(2.3499, 48.8530)
    assert 651_000 < float(x) < 653_500 and 6_860_000 < float(y) < 6_862_500


@pytest.mark.parametrize(("lon", "lat"), [(0.3745, 49.7573), (-1.1528, 46.1591), (9.45, 42.70)])
def test_round_trip_to_the_millimetre(lon: float, lat: float) -> None:
    x, y = to_projected(lon, lat)
    back_lon, back_lat = to_wgs84(x, y)
    # 1e-8 degrees is about a millimetre.
    assert abs(float(back_lon) - lon) < 1e-8 and abs(float(back_lat) - lat) < 1e-8


def test_arrays_are_transformed_elementwise() -> None:
    lon, lat = np.array([0.37, 2.35]), np.array([49.76, 48.85])
    x, _ = to_projected(lon, lat)
    assert x.shape == (2,) and x[1] > x[0]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: check_lonlat(652_301.0, 6_861_302.0), "not a WGS84 longitude/latitude"),
        (lambda: to_projected(151.28, -33.80), "outside the area of use of EPSG:2154"),  # Sydney
        (lambda: to_projected(48.85, 2.35), "outside the area of use"),  # lat/lon swapped
        (lambda: to_projected(0.37, 49.76, 28356), "outside the area of use of EPSG:28356"),  # Fécamp
        (lambda: require_projected(4326), "not a projected CRS"),
        (lambda: require_projected(999_999), "EPSG:999999 is not a known"),
        (lambda: check_lonlat(float("nan"), 1.0), "finite"),
    ],
)
def test_wrong_crs_is_refused_with_a_clear_message(call, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        call()
