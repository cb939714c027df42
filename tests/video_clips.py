"""Test videos made from still faces, for tests and benches (the serving package reads videos, never makes them)."""
import os
from pathlib import Path

import cv2
import numpy as np


def clip_from_faces(faces: list[np.ndarray], path: str | os.PathLike, frames_per_face: int = 25, fps: int = 25,
                    size: int = 240, blank_after: int | None = None) -> Path:
    """A test video made from still faces (RGB arrays): each face held for ``frames_per_face`` frames with a slow
    zoom and drift, as a handheld camera would give, and optionally a second of empty frames after face
    ``blank_after``. Written as MJPG .avi, which every OpenCV build writes."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (size, size))
    for k, face in enumerate(faces):
        for t in range(frames_per_face):
            zoom = 1.0 + 0.06 * np.sin(2 * np.pi * t / frames_per_face)
            shift = 4 * np.cos(2 * np.pi * (t + 7 * k) / frames_per_face)
            matrix = np.array([[zoom, 0, shift + size * (1 - zoom) / 2], [0, zoom, size * (1 - zoom) / 2]])
            frame = cv2.resize(face, (size, size), interpolation=cv2.INTER_CUBIC)
            writer.write(cv2.cvtColor(cv2.warpAffine(frame, matrix, (size, size), borderMode=cv2.BORDER_REPLICATE),
                                      cv2.COLOR_RGB2BGR))
        if blank_after == k:
            for _ in range(fps):
                writer.write(np.full((size, size, 3), 40, np.uint8))
    writer.release()
    return Path(path)
