from __future__ import annotations

import numpy as np
import pytest

from vigie.errors import InvalidInputError
from vigie.vision.letterbox import PAD_VALUE, letterbox


@pytest.mark.parametrize(
    ("h", "w", "size"), [(1080, 810, 416), (240, 320, 416), (500, 500, 640), (100, 1000, 320)]
)
def test_round_trip_maps_boxes_back_exactly(h: int, w: int, size: int) -> None:
    image = np.zeros((h, w, 3), np.uint8)
    out, t = letterbox(image, size)
    assert out.shape == (size, size, 3)
    boxes = np.array([[0, 0, w, h], [w * 0.1, h * 0.2, w * 0.5, h * 0.9]], np.float32)
    np.testing.assert_allclose(t.to_original(t.to_input(boxes)), boxes, atol=1e-3)
    # the image fills one axis completely and is centred on the other
    inner = t.to_input(np.array([[0, 0, w, h]]))[0]
    assert min(inner[0], inner[1]) == pytest.approx(0, abs=1e-6)
    assert inner[0] + inner[2] == pytest.approx(size, abs=1.0)
    assert inner[1] + inner[3] == pytest.approx(size, abs=1.0)


def test_padding_and_content_positions() -> None:
    image = np.full((100, 200, 3), 255, np.uint8)  # wide: padded top and bottom
    out, t = letterbox(image, 100)
    assert (t.scale, t.pad_x, t.pad_y) == (0.5, 0.0, 25.0)
    assert (out[:25] == PAD_VALUE).all() and (out[75:] == PAD_VALUE).all()
    assert (out[25:75] == 255).all()


def test_boxes_outside_the_image_are_clipped_to_it() -> None:
    _, t = letterbox(np.zeros((100, 200, 3), np.uint8), 100)
    back = t.to_original(np.array([[0, 0, 100, 100]]))  # the whole input, padding included
    np.testing.assert_allclose(back, [[0, 0, 200, 100]])


def test_rectangular_target_and_bad_input() -> None:
    out, t = letterbox(np.zeros((100, 100, 3), np.uint8), (64, 128))
    assert out.shape == (64, 128, 3) and t.pad_x == 32
    with pytest.raises(InvalidInputError):
        letterbox(np.zeros((0, 10, 3), np.uint8), 64)
