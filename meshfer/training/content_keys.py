"""Training wing: an image file's content key (the hash of its bytes): how the landmark store caches detections, how
copies of a training image are found, and how a photo's files are kept in one split. Standard library only, so the
data stages that only hash files do not import the landmark pass."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path


def content_key(path: str | os.PathLike) -> str:
    """Hash of the file's bytes; an unreadable file gets a key from its path so it is still recorded."""
    try:
        return hashlib.sha1(Path(path).read_bytes()).hexdigest()
    except OSError as err:
        return "unreadable-" + hashlib.sha1(f"{path}|{err}".encode()).hexdigest()
