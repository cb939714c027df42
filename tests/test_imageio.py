import numpy as np
import pytest
from PIL import Image

from meshfer.imageio import ImageReadError, array_to_rgb, read_rgb, to_rgb


def test_gray_jpeg_becomes_rgb(face_image):
    rgb = read_rgb(face_image)
    assert rgb.shape == (48, 48, 3) and rgb.dtype == np.uint8
    assert (rgb[..., 0] == rgb[..., 2]).all()


@pytest.mark.parametrize("mode", ["RGBA", "P", "LA", "CMYK", "I;16"])
def test_modes_are_normalised(tmp_path, face_image, mode):
    gray = Image.open(face_image).convert("L")
    if mode == "I;16":
        img = Image.fromarray(np.asarray(gray).astype(np.uint16) * 257)
        path = tmp_path / "x16.png"
    else:
        img = gray.convert(mode)
        path = tmp_path / ("x.jpg" if mode == "CMYK" else "x.png")
    img.save(path)
    rgb = read_rgb(path)
    assert rgb.shape == (48, 48, 3) and rgb.dtype == np.uint8
    # The content survives: close to the 8-bit original (JPEG re-encoding and CMYK conversion blur a little).
    assert np.abs(rgb.mean(axis=2) - np.asarray(gray, float)).mean() < 12


def test_sixteen_bit_array_scaled_not_clipped():
    arr = np.array([[0, 65535], [32768, 1000]], np.uint16)
    out = array_to_rgb(arr)
    assert out[0, 1, 0] == 255 and out[1, 0, 0] == 128 and out.shape == (2, 2, 3)


def test_bgr_order_is_swapped():
    bgr = np.zeros((2, 2, 3), np.uint8)
    bgr[..., 0] = 200  # blue
    assert to_rgb(bgr, channel_order="BGR")[0, 0].tolist() == [0, 0, 200]


def test_exif_rotation_applied(tmp_path):
    img = Image.fromarray(np.zeros((10, 20, 3), np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° on display
    img.save(tmp_path / "r.jpg", exif=exif)
    assert read_rgb(tmp_path / "r.jpg").shape[:2] == (20, 10)


@pytest.mark.parametrize(
    "content, reason",
    [(b"", "empty file"), (b"hello, not a picture", "not an image"), (None, "corrupt or truncated")],
)
def test_bad_files_raise_clear_errors(tmp_path, face_image, content, reason):
    path = tmp_path / "bad image.jpg"
    path.write_bytes(face_image.read_bytes()[:300] if content is None else content)
    with pytest.raises(ImageReadError, match=reason) as err:
        read_rgb(path)
    assert str(path) in str(err.value)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageReadError, match="no such file"):
        read_rgb(tmp_path / "nope.png")
    with pytest.raises(ImageReadError, match="not a regular file"):
        read_rgb(tmp_path)


def test_wrong_input_type():
    with pytest.raises(TypeError):
        to_rgb(42)
