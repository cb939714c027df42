"""Reading any still image into the 8-bit RGB array MediaPipe wants, with clear errors."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"})

# Larger images are refused rather than risking memory blow-ups on a small device.
MAX_PIXELS = 120_000_000


class ImageReadError(ValueError):
    """An input could not be turned into an image; the message says which and why."""

    def __init__(self, source: Any, reason: str):
        self.source, self.reason = str(source), reason
        super().__init__(f"{source}: {reason}")


def is_image_path(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Decode a file into an HxWx3 uint8 RGB array, applying its EXIF orientation."""
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(path, "no such file" if not path.exists() else "not a regular file")
    if path.stat().st_size == 0:
        raise ImageReadError(path, "empty file (0 bytes)")
    try:
        with Image.open(path) as img:
            if img.width * img.height > MAX_PIXELS:
                raise ImageReadError(path, f"image too large ({img.width}x{img.height} pixels)")
            img.load()
            return pil_to_rgb(ImageOps.exif_transpose(img))
    except ImageReadError:
        raise
    except UnidentifiedImageError:
        raise ImageReadError(path, "not an image file (unrecognised format)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise ImageReadError(path, f"corrupt or truncated image ({err})") from None


def pil_to_rgb(img: Image.Image) -> np.ndarray:
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return array_to_rgb(np.asarray(img))
    if img.mode != "RGB":
        # Palette, gray, alpha and CMYK all go through Pillow's own conversion; alpha is dropped.
        img = img.convert("RGB")
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))


def array_to_rgb(array: np.ndarray, channel_order: str = "RGB") -> np.ndarray:
    """Normalise a gray, RGB(A) or BGR(A) array of uint8/uint16/float to HxWx3 uint8 RGB."""
    arr = np.asarray(array)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)) or min(arr.shape[:2]) < 1:
        raise ImageReadError("array", f"expected HxW, HxWx3 or HxWx4, got shape {arr.shape}")
    arr = _to_uint8(arr)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    arr = arr[:, :, :3]
    if channel_order.upper() == "BGR":
        arr = arr[:, :, ::-1]
    elif channel_order.upper() != "RGB":
        raise ValueError(f"channel_order must be 'RGB' or 'BGR', not {channel_order!r}")
    return np.ascontiguousarray(arr)


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.floating):
        # Floats are taken as [0, 1] when they fit there, else as 8-bit values.
        scale = 255.0 if float(np.nanmax(arr, initial=0.0)) <= 1.0 else 1.0
        return np.clip(np.nan_to_num(arr) * scale, 0, 255).round().astype(np.uint8)
    if np.issubdtype(arr.dtype, np.integer):
        top = 65535 if arr.dtype.itemsize >= 2 and int(arr.max(initial=0)) > 255 else 255
        return (np.clip(arr.astype(np.float64), 0, top) * (255.0 / top)).round().astype(np.uint8)
    raise ImageReadError("array", f"unsupported pixel type {arr.dtype}")


def to_rgb(image: Any, channel_order: str = "RGB") -> np.ndarray:
    """Accept a path, a numpy array or a PIL image; return HxWx3 uint8 RGB."""
    if isinstance(image, (str, os.PathLike)):
        return read_rgb(image)
    if isinstance(image, Image.Image):
        return pil_to_rgb(ImageOps.exif_transpose(image))
    if isinstance(image, np.ndarray):
        return array_to_rgb(image, channel_order)
    raise TypeError(f"expected a path, a numpy array or a PIL image, not {type(image).__name__}")
