"""Reading any still image into the 8-bit RGB array MediaPipe wants, with clear errors; finding the images and
videos in folders, including labelled ``<root>/<label>/`` folders."""
from __future__ import annotations

import contextlib
import io
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
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


class ImageTooLargeError(ImageReadError):
    """An image whose header declares more pixels than allowed; nothing was decoded."""


def is_image_path(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def is_video_path(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def looks_like_image(path: str | os.PathLike) -> bool:
    """Whether Pillow recognises the file's header (for files whose name does not say what they are)."""
    try:
        with Image.open(path):
            return True
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return False


@dataclass
class FolderContents:
    """The media below a folder, sorted; ``skipped`` are files that are neither images nor videos."""

    images: list[Path] = field(default_factory=list)
    videos: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)


def folder_contents(folder: str | os.PathLike) -> FolderContents:
    """Every image and video below ``folder`` (recursively, symlink loops not followed). A file is an image by its
    suffix or, lacking an image or video suffix, by its header; anything else is listed as skipped."""
    contents = FolderContents()
    for path in sorted(_walk(Path(folder))):
        if not path.is_file():  # a FIFO, socket or device would block or never end when read; a broken link
            contents.skipped.append(path)
        elif is_image_path(path):
            contents.images.append(path)
        elif is_video_path(path):
            contents.videos.append(path)
        elif not path.name.startswith(".") and looks_like_image(path):
            contents.images.append(path)
        else:
            contents.skipped.append(path)
    return contents


def _walk(folder: Path) -> Iterator[Path]:
    for root, _dirs, files in os.walk(folder, followlinks=False):
        for name in files:
            yield Path(root) / name


@dataclass
class LabelledImages:
    """Images of a ``<root>/<label folder>/`` layout and what did not fit it."""

    pairs: list[tuple[Path, str]] = field(default_factory=list)  # (image, canonical label)
    unknown_folders: list[str] = field(default_factory=list)
    empty_folders: list[str] = field(default_factory=list)
    label_entries_not_folders: list[str] = field(default_factory=list)
    skipped_files: list[Path] = field(default_factory=list)


def labelled_images(root: str | os.PathLike, aliases: Mapping[str, str], where: str = "",
                    into: LabelledImages | None = None) -> LabelledImages:
    """Images below ``root/<folder>/`` for every folder named in ``aliases`` (folder name -> label); folder names
    match whatever their case (`Happy/` is `happy/`)."""
    found = into or LabelledImages()
    label_of = {folder.casefold(): label for folder, label in aliases.items()}
    for sub in sorted(Path(root).iterdir()):
        name = f"{where}{sub.name}"
        label = label_of.get(sub.name.casefold())
        if not sub.is_dir():
            if label:  # e.g. a file called `happy` where the happy folder should be
                found.label_entries_not_folders.append(name)
            continue
        if not label:
            found.unknown_folders.append(name)
            continue
        contents = folder_contents(sub)
        found.skipped_files += contents.skipped + contents.videos
        if not contents.images:
            found.empty_folders.append(name)
        found.pairs += [(p, label) for p in contents.images]
    return found


def unique(paths: Iterable[Path]) -> list[Path]:
    """In order, without repeats (a file named twice, or inside two folders given, is read once)."""
    return list(dict.fromkeys(paths))


def read_rgb(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode a file into an HxWx3 uint8 RGB array, applying its EXIF orientation."""
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(path, "no such file" if not path.exists() else "not a regular file")
    if path.stat().st_size == 0:
        raise ImageReadError(path, "empty file (0 bytes)")
    return _decode(path, path, max_pixels)


def decode_image(data: bytes, name: str = "image", max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode an encoded image held in memory (an upload) like :func:`read_rgb` decodes a file. The size is checked
    from the header, before the pixels are decoded: :class:`ImageTooLargeError` above ``max_pixels``."""
    if not data:
        raise ImageReadError(name, "empty image (0 bytes)")
    return _decode(io.BytesIO(data), name, max_pixels)


def _decode(source, name: Any, max_pixels: int) -> np.ndarray:
    try:
        with _header_read_by_our_limit():
            img = Image.open(source)  # reads the header only
        with img:
            if img.width * img.height > max_pixels:
                raise ImageTooLargeError(name, too_large(img.width, img.height, max_pixels))
            img.load()
            return pil_to_rgb(ImageOps.exif_transpose(img))
    except ImageReadError:
        raise
    except UnidentifiedImageError:
        raise ImageReadError(name, "not an image file (unrecognised format)") from None
    except Image.DecompressionBombError as err:  # a later frame's own size, checked by Pillow when it is read
        raise ImageTooLargeError(name, f"image too large ({err})") from None
    except ValueError as err:
        if TEXT_LIMIT_NAMES & set(str(err).replace(">", " ").split()):
            raise ImageReadError(name, "PNG text metadata too large to read safely (over Pillow's limit on text "
                                       "chunks); the image is refused, its pixels unread") from None
        raise ImageReadError(name, f"corrupt or truncated image ({err})") from None
    except (OSError, SyntaxError) as err:
        raise ImageReadError(name, f"corrupt or truncated image ({err})") from None


def too_large(width: int, height: int, max_pixels: int) -> str:
    return f"image too large ({width}x{height} = {width * height / 1e6:.3g} MP, limit {max_pixels / 1e6:.3g} MP)"


# Pillow's ValueErrors for a PNG whose text chunks hold more than it reads (MAX_TEXT_CHUNK: 1 MiB decompressed per
# chunk; MAX_TEXT_MEMORY: 64 MiB in all): a valid file, refused for what it carries, not corrupt.
TEXT_LIMIT_NAMES = frozenset({"PngImagePlugin.MAX_TEXT_CHUNK", "MAX_TEXT_MEMORY"})
_PILLOW_LIMIT = threading.Lock()


@contextlib.contextmanager
def _header_read_by_our_limit():
    """Pillow's decompression-bomb guard (a module global, checked when a header is opened: an error above twice
    ``Image.MAX_IMAGE_PIXELS``, a warning above it) handed to meshfer's own limit for one header read: the caller
    checks the size the header declares against ``max_pixels`` exactly, with the image's own size in the message,
    whether the limit is below Pillow's default ceiling or above it. Decoding happens after, outside the lock,
    once that size is known to be within the limit."""
    with _PILLOW_LIMIT:
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


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
    if channel_order.upper() not in ("RGB", "BGR"):
        raise ValueError(f"channel_order must be 'RGB' or 'BGR', not {channel_order!r}")
    arr = _to_uint8(arr)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if channel_order.upper() == "BGR":
        import cv2

        # OpenCV's swap: a video frame's copy in a fifth of the time numpy's reversed view takes.
        return cv2.cvtColor(np.ascontiguousarray(arr), cv2.COLOR_BGRA2RGB if arr.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(arr[:, :, :3])


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
