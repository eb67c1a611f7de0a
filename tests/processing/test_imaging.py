import numpy as np
import pytest

from common import imaging
from tests import support


def test_preprocess_gives_normalised_chw_float32():
    array = imaging.preprocess(support.random_png())
    assert array.shape == (3, 32, 32) and array.dtype == np.float32
    assert -3 < array.mean() < 3


def test_any_size_is_resized_and_centre_cropped():
    assert imaging.preprocess(support.jpeg_bytes((200, 80))).shape == (3, 32, 32)


@pytest.mark.parametrize("size", [(20000, 20000), (8000, 8000)])
def test_bombs_are_refused_from_the_header(size):
    """20000^2 trips Pillow's own guard, 8000^2 only ours; both before any pixel is decoded."""
    with pytest.raises(imaging.DecompressionBombError, match="decompression bomb"):
        imaging.open_image(support.bomb_png(*size))


def test_truncated_png_fails_on_full_decode_not_only_verify():
    with pytest.raises(imaging.TruncatedImageError, match="truncated"):
        imaging.open_image(support.truncated_png())


@pytest.mark.parametrize("data, error", [
    (b"", imaging.NotAnImageError),
    (b"GIF89a garbage", imaging.NotAnImageError),
    (b"\x00\x01\x02" * 100, imaging.NotAnImageError),
])
def test_non_images_are_named(data, error):
    with pytest.raises(error):
        imaging.preprocess(data)


def test_training_validation_rejects_grey_and_constant():
    with pytest.raises(imaging.WrongModeError):
        imaging.validate_training_image(support.random_png(mode="L"))
    with pytest.raises(imaging.ConstantImageError):
        imaging.validate_training_image(support.constant_png())
    assert imaging.validate_training_image(support.random_png()).format == "PNG"


def test_rgba_is_composited_on_white():
    from PIL import Image

    image = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert imaging.to_rgb(image).getpixel((0, 0)) == (255, 255, 255)
