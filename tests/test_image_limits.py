"""meshfer's pixel limit is its own, above Pillow's default ceiling too, with exact messages; a PNG refused for its
oversized text metadata says so instead of calling the file corrupt."""
import struct
import zlib

import pytest
from PIL import Image, PngImagePlugin

from meshfer.imageio import ImageReadError, ImageTooLargeError, decode_image


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, *extra: bytes, pixels: bool = False) -> bytes:
    """A gray PNG of this size; without pixels only its header (enough for the size check)."""
    rows = zlib.compress(b"".join(b"\0" + b"\x80" * width for _ in range(height))) if pixels else None
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + b"".join(extra) + (chunk(b"IDAT", rows) if rows else b"") + chunk(b"IEND", b""))


def test_over_the_limit_the_message_gives_the_size_and_the_limit():
    with pytest.raises(ImageTooLargeError) as refused:
        decode_image(png(16000, 12000), "big.png", max_pixels=120_000_000)
    assert refused.value.reason == "image too large (16000x12000 = 192 MP, limit 120 MP)"
    with pytest.raises(ImageTooLargeError) as refused:
        decode_image(png(20, 10), "small.png", max_pixels=100)
    assert refused.value.reason == "image too large (20x10 = 0.0002 MP, limit 0.0001 MP)"


def test_a_limit_above_pillows_ceiling_is_the_one_that_counts():
    ceiling = Image.MAX_IMAGE_PIXELS
    assert 16000 * 12000 > 2 * ceiling  # Pillow alone would refuse this header outright
    with pytest.raises(ImageReadError) as failed:
        decode_image(png(16000, 12000), "big.png", max_pixels=250_000_000)
    assert not isinstance(failed.value, ImageTooLargeError)  # the size passed; the header-only file has no pixels
    assert failed.value.reason.startswith("corrupt or truncated image")
    assert Image.MAX_IMAGE_PIXELS == ceiling  # Pillow's own guard is back for everything else


def test_an_image_within_the_limit_decodes():
    rgb = decode_image(png(30, 20, pixels=True), "ok.png", max_pixels=600)
    assert rgb.shape == (20, 30, 3) and int(rgb[0, 0, 0]) == 0x80


def test_a_png_with_too_much_text_is_refused_as_such_not_as_corrupt(monkeypatch):
    # a zTXt chunk that unpacks to 8 MiB: over Pillow's 1 MiB per text chunk (a 500 MB one is refused the same way)
    packed = zlib.compress(b"a" * (8 << 20), 9)
    for data in (png(30, 20, chunk(b"zTXt", b"comment\0\0" + packed), pixels=True),
                 png(30, 20, chunk(b"iTXt", b"comment\0\1\0\0\0" + packed), pixels=True)):
        with pytest.raises(ImageReadError) as refused:
            decode_image(data, "notes.png")
        assert refused.value.reason.startswith("PNG text metadata too large to read safely"), refused.value.reason
    # plain tEXt chunks over Pillow's total for text (64 MiB; lowered here so the test stays small)
    monkeypatch.setattr(PngImagePlugin, "MAX_TEXT_MEMORY", 1000)
    with pytest.raises(ImageReadError) as refused:
        decode_image(png(30, 20, chunk(b"tEXt", b"comment\0" + b"a" * 2000), pixels=True), "notes.png")
    assert refused.value.reason.startswith("PNG text metadata too large to read safely"), refused.value.reason
