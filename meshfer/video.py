"""Serving wing: videos and cameras frame by frame, faces followed across frames, the timeline of a video.

Every frame is detected as a still image: MediaPipe's VIDEO mode is no faster here and loses small faces that
IMAGE mode finds. A face keeps its ``face`` number from frame to frame while its box overlaps the one it had.
"""
from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from meshfer.imageio import ImageReadError
from meshfer.labels import EXPRESSIONS

PROBA_COLUMNS = [f"p_{name}" for name in EXPRESSIONS]


def read_frames(source: str | os.PathLike | int, max_frames: int | None = None
                ) -> Iterator[tuple[int, int, np.ndarray]]:
    """(frame number, timestamp in ms, BGR frame) from a video file or a camera index."""
    import cv2

    if isinstance(source, (str, os.PathLike)) and not Path(source).is_file():
        raise ImageReadError(source, "no such video file")
    capture = cv2.VideoCapture(source if isinstance(source, int) else str(source))
    if not capture.isOpened():
        raise ImageReadError(source, "cannot open the video or camera")
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    try:
        frame_no = 0
        while max_frames is None or frame_no < max_frames:
            ok, frame = capture.read()
            if not ok:
                break
            yield frame_no, int(round(frame_no * 1000.0 / fps)), frame
            frame_no += 1
    finally:
        capture.release()


def frame_count(source: str | os.PathLike) -> int | None:
    """The container's frame count, if it states one (for a progress bar)."""
    import cv2

    capture = cv2.VideoCapture(str(source))
    try:
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()
    return count if count > 0 else None


class FaceTracks:
    """Numbers faces consistently across frames: a face takes the number of the face whose last box (seen within
    ``max_gap`` frames) it overlaps most (intersection over union above ``min_iou``), else a new one. Optionally
    averages each face's expression probabilities over its last ``smoothing`` frames."""

    def __init__(self, smoothing: int = 1, min_iou: float = 0.3, max_gap: int = 30):
        if smoothing < 1:
            raise ValueError(f"smoothing must be 1 or more frames, not {smoothing}")
        self.smoothing, self.min_iou, self.max_gap = smoothing, min_iou, max_gap
        self._last: dict[int, tuple[np.ndarray, int]] = {}  # track -> (its last box, the frame it was seen in)
        self._history: dict[int, deque] = {}
        self._frame = self._next = 0

    def update(self, boxes: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Track numbers for this frame's faces (rows of ``boxes``) and their smoothed probabilities."""
        ids = np.full(len(boxes), -1)
        free = {k: box for k, (box, seen) in self._last.items() if self._frame - seen <= self.max_gap}
        for i in np.argsort([-_area(b) for b in boxes]) if len(boxes) else []:
            best = max(free, key=lambda k: _iou(boxes[i], free[k]), default=None)
            if best is not None and _iou(boxes[i], free[best]) >= self.min_iou:
                ids[i] = best
                del free[best]
            else:
                ids[i], self._next = self._next, self._next + 1
        self._last.update({int(k): (b, self._frame) for k, b in zip(ids, boxes)})
        self._frame += 1
        smoothed = np.array(proba, dtype=np.float64, copy=True)
        for row, track in enumerate(ids):
            past = self._history.setdefault(int(track), deque(maxlen=self.smoothing))
            past.append(proba[row])
            smoothed[row] = np.mean(past, axis=0)
        return ids, smoothed


def _area(box: np.ndarray) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = _area(np.array([max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])]))
    union = _area(a) + _area(b) - inter
    return inter / union if union > 0 else 0.0


def main_face(table: pd.DataFrame) -> pd.DataFrame:
    """One row per frame: the face seen in the most frames (the subject), or a no-face row where it is absent."""
    faces = table.dropna(subset=["face"])
    frames = table.drop_duplicates("frame")[["frame", "timestamp_ms"]].set_index("frame")
    if faces.empty:
        return frames.reset_index()
    subject = faces["face"].value_counts().idxmax()
    rows = faces[faces["face"] == subject].drop_duplicates("frame").set_index("frame")
    return frames.join(rows.drop(columns=["timestamp_ms"]), how="left").reset_index()


def video_summary(table: pd.DataFrame) -> dict:
    """Share of frames where a face was found, and share of those frames (the subject's face) per expression."""
    main = main_face(table)
    frames = len(main)
    with_face = main.dropna(subset=["expression"]) if "expression" in main else main.iloc[:0]
    counts = with_face["expression"].value_counts() if len(with_face) else pd.Series(dtype=int)
    duration = (float(main["timestamp_ms"].max()) / 1000.0) if frames else 0.0
    return {
        "frames": int(frames),
        "duration_s": round(duration, 3),
        "face_found_share": round(len(with_face) / frames, 4) if frames else 0.0,
        "expression_share": {name: round(float(counts.get(name, 0)) / len(with_face), 4) if len(with_face) else 0.0
                             for name in EXPRESSIONS},
    }


def plot_timeline(table: pd.DataFrame, path: str | os.PathLike, title: str = "") -> None:
    """A PNG of the subject's expression probabilities (as smoothed) and both eyes' openness over time, with
    the frames where no face was found shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    main = main_face(table)
    seconds = main["timestamp_ms"].to_numpy(float) / 1000.0
    missing = main["expression"].isna().to_numpy() if "expression" in main else np.ones(len(main), bool)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 5.5), sharex=True, height_ratios=[3, 1.3])
    colours = plt.get_cmap("tab10")
    for i, (column, name) in enumerate(zip(PROBA_COLUMNS, EXPRESSIONS)):
        values = main[column].to_numpy(float) if column in main else np.full(len(main), np.nan)
        top.plot(seconds, values, label=name, color=colours(i), linewidth=1.4)
    for side, style in (("left", "-"), ("right", "--")):
        column = f"{side}_eye_openness"
        if column in main:
            bottom.plot(seconds, main[column].to_numpy(float), style, color="0.25", label=f"{side} eye")
    step = float(np.median(np.diff(seconds))) if len(seconds) > 1 else 0.04
    for axis in (top, bottom):
        for start, stop in _runs(missing):
            axis.axvspan(seconds[start] - step / 2, seconds[stop - 1] + step / 2, color="0.85", linewidth=0)
    top.set_ylim(0, 1)
    top.set_ylabel("probability")
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    summary = video_summary(table)
    top.set_title(f"{title}  (face found in {summary['face_found_share']:.0%} of {summary['frames']} frames; "
                  "grey: no face)".strip())
    bottom.set_ylim(-0.05, 1.05)
    bottom.set_yticks([0, 1 / 3, 2 / 3, 1], ["closed", "narrowed", "open", "wide"])
    bottom.set_ylabel("eye openness")
    bottom.set_xlabel("time (s)")
    bottom.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) index ranges where ``mask`` is True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(int), [0]])))
    return list(zip(edges[::2], edges[1::2]))


def clip_from_faces(faces: list[np.ndarray], path: str | os.PathLike, frames_per_face: int = 25, fps: int = 25,
                    size: int = 240, blank_after: int | None = None) -> Path:
    """A test video made from still faces (RGB arrays): each face held for ``frames_per_face`` frames with a slow
    zoom and drift, as a handheld camera would give, and optionally a second of empty frames after face
    ``blank_after``. Written as MJPG .avi, which every OpenCV build writes."""
    import cv2

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
