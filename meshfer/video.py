"""Serving wing: videos and cameras frame by frame, faces followed across frames, the timeline of a video.

Every frame is detected as a still image: MediaPipe's VIDEO mode is no faster here and loses small faces that
IMAGE mode finds. A face keeps its ``face`` number from frame to frame while its box overlaps the one it had.
"""
from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from meshfer.imageio import ImageReadError
from meshfer.native import quiet_native_logs
from meshfer.eye_events import EyeEventRules, blink_runs, eye_events, frame_duration_ms
from meshfer.labels import EXPRESSIONS
from meshfer.result_table import PROBA_COLUMNS


class VideoEndedEarly(ImageReadError):
    """A video file that stops giving frames before the count its container states (damaged or truncated)."""


def read_frames(source: str | os.PathLike | int, max_frames: int | None = None
                ) -> Iterator[tuple[int, int, np.ndarray]]:
    """(frame number, timestamp in ms, BGR frame) from a video file or a camera index. A file's timestamps are
    the container's (a variable frame rate stays right); a camera's are the time since its first frame. A file
    that ends well before its stated frame count raises :class:`VideoEndedEarly` after its last readable frame."""
    import cv2

    is_file = isinstance(source, (str, os.PathLike))
    if is_file and not Path(source).is_file():
        raise ImageReadError(source, "no such video file" if not Path(source).exists() else "not a regular file")
    with quiet_native_logs():  # FFmpeg prints e.g. "moov atom not found" itself; our error says it in one line
        capture = cv2.VideoCapture(str(source) if is_file else source)
    if not capture.isOpened():
        raise ImageReadError(source, "cannot open the video (unreadable or not a video)" if is_file
                             else "cannot open the camera (no camera, or in use)")
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    stated = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if is_file else 0
    started = time.monotonic()
    frame_no = 0
    try:
        while max_frames is None or frame_no < max_frames:
            with quiet_native_logs():
                ok, frame = capture.read()
            if not ok:
                break
            if is_file:
                position = capture.get(cv2.CAP_PROP_POS_MSEC)
                timestamp = position if position > 0 or frame_no == 0 else frame_no * 1000.0 / fps
            else:
                timestamp = (time.monotonic() - started) * 1000.0
            yield frame_no, int(round(timestamp)), frame
            frame_no += 1
    finally:
        capture.release()
    if (max_frames is None or frame_no < max_frames) and stated - frame_no > max(2, 0.02 * stated):
        # Containers estimate their count from the duration for some codecs: a frame or two short is normal.
        raise VideoEndedEarly(source, f"the video ended early: {frame_no} of the {stated} frames its container "
                                      f"states could be read (damaged or truncated file)")


def frame_count(source: str | os.PathLike) -> int | None:
    """The container's frame count, if it states one (for a progress bar)."""
    import cv2

    with quiet_native_logs():
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


def box_areas(table: pd.DataFrame) -> pd.Series:
    """Each face row's box area, in pixels: how prominent the face is."""
    return (table["x_max"] - table["x_min"]) * (table["y_max"] - table["y_min"])


def most_prominent(table: pd.DataFrame) -> Any:
    """The index of the row with the largest box, or None for a frame without a face."""
    return None if table.empty else box_areas(table).idxmax()


SWITCH_AREA_RATIO = 0.7  # another face becomes the subject when the subject's box is below 0.7x its area


def subject_rows(table: pd.DataFrame) -> pd.DataFrame:
    """One row per frame, following the person: the most prominent face (the largest box), kept while it stays in
    view and not much smaller than the largest (so two similar faces do not make it flicker), re-acquired after a
    gap or a jump. Frames without a face get a row with only ``frame`` and ``timestamp_ms``."""
    table = table[table["frame"].notna()]  # a row about the file (e.g. "ended early") is not a frame
    frames = table.drop_duplicates("frame")[["frame", "timestamp_ms"]].set_index("frame")
    faces = table.dropna(subset=["face"]) if "face" in table else table.iloc[:0]
    if faces.empty:
        return frames.reset_index()
    chosen, subject = [], None
    for _, rows in faces.assign(_area=box_areas(faces)).groupby("frame", sort=True):
        largest = rows.loc[rows["_area"].idxmax()]
        kept = rows[rows["face"] == subject]
        row = kept.iloc[0] if len(kept) and kept["_area"].iloc[0] >= SWITCH_AREA_RATIO * largest["_area"] else largest
        subject = row["face"]
        chosen.append(row.name)
    rows = faces.loc[chosen].drop(columns=["timestamp_ms"]).set_index("frame")
    return frames.join(rows, how="left").reset_index()


def video_summary(table: pd.DataFrame, rules: EyeEventRules = EyeEventRules()) -> dict:
    """The share of frames with a face (any face), and for the person followed (see :func:`subject_rows`): the
    share of their frames per expression and, with the eye model, their eye events (:mod:`meshfer.eye_events`)."""
    return _summary(table, subject_rows(table), rules)


def _summary(table: pd.DataFrame, subject: pd.DataFrame, rules: EyeEventRules) -> dict:
    frames_with_face = table.loc[table["frame"].notna() & (table["error"] == "") if "error" in table
                                 else table["frame"].notna(), "frame"].nunique()
    frames = len(subject)
    seen = subject.dropna(subset=["expression"]) if "expression" in subject else subject.iloc[:0]
    counts = seen["expression"].value_counts() if len(seen) else pd.Series(dtype=int)
    times = subject["timestamp_ms"].to_numpy(np.float64)
    summary = {
        "frames": int(frames),
        "duration_s": round(float(times[-1] + frame_duration_ms(times)) / 1000.0, 3) if frames else 0.0,
        "face_found_share": round(frames_with_face / frames, 4) if frames else 0.0,
        "expression_share": {name: round(float(counts.get(name, 0)) / len(seen), 4) if len(seen) else 0.0
                             for name in EXPRESSIONS},
    }
    if "left_eye" in subject and frames:
        summary["eyes"] = eye_events(times, _states(subject["left_eye"]), _states(subject["right_eye"]), rules)
    return summary


def _states(column: pd.Series) -> list:
    return [value if isinstance(value, str) and value else None for value in column]


def plot_timeline(table: pd.DataFrame, path: str | os.PathLike, title: str = "",
                  rules: EyeEventRules = EyeEventRules()) -> None:
    """A PNG of the person's expression probabilities (as smoothed) and both eyes' openness over time: frames
    without a face shaded grey, blinks marked, closures longer than a blink shaded."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    subject = subject_rows(table)
    summary = _summary(table, subject, rules)
    seconds = subject["timestamp_ms"].to_numpy(float) / 1000.0
    missing = subject["expression"].isna().to_numpy() if "expression" in subject else np.ones(len(subject), bool)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 5.5), sharex=True, height_ratios=[3, 1.5])
    colours = plt.get_cmap("tab10")
    for i, (column, name) in enumerate(zip(PROBA_COLUMNS, EXPRESSIONS)):
        values = subject[column].to_numpy(float) if column in subject else np.full(len(subject), np.nan)
        top.plot(seconds, values, label=name, color=colours(i), linewidth=1.4, clip_on=False)
    for side, style in (("left", "-"), ("right", "--")):
        column = f"{side}_eye_openness"
        if column in subject:
            bottom.plot(seconds, subject[column].to_numpy(float), style, color="0.25", label=f"{side} eye",
                        clip_on=False)
    step = frame_duration_ms(seconds * 1000.0) / 1000.0
    for axis in (top, bottom):
        for start, stop in _runs(missing):
            axis.axvspan(seconds[start] - step / 2, seconds[stop - 1] + step / 2, color="0.85", linewidth=0)
    eyes = summary.get("eyes")
    if eyes:
        for closure in eyes["closures"]:
            bottom.axvspan(closure["start_s"], closure["end_s"], color="tab:red", alpha=0.18, linewidth=0)
        blink_times = _blink_starts(subject, rules)
        bottom.plot(blink_times, np.full(len(blink_times), 1.12), "v", color="tab:red", markersize=6,
                    clip_on=False, label="blink")
    top.set_ylim(0, 1)
    top.set_ylabel("probability")
    with warnings.catch_warnings():  # a legend of a video without faces has no lines: matplotlib warns
        warnings.simplefilter("ignore", UserWarning)
        top.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
        bottom.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    headline = f"face found in {summary['face_found_share']:.0%} of {summary['frames']} frames"
    if eyes:
        headline += f"; {eyes['blinks']} blinks, PERCLOS {eyes['perclos'] or 0:.0%}"
    top.set_title(f"{title}  ({headline})".strip(), fontsize=10)
    bottom.set_ylim(-0.05, 1.05)
    bottom.set_yticks([0, 1 / 3, 2 / 3, 1], ["closed", "narrowed", "open", "wide"])
    bottom.set_ylabel("eye openness")
    bottom.set_xlabel("time (s); grey: no face; red: closed longer than a blink; \u25bc blink. "
                      "The person followed is the most prominent face")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _blink_starts(subject: pd.DataFrame, rules: EyeEventRules) -> list[float]:
    """Seconds where each counted blink starts (for the marks on the timeline)."""
    return [start_ms / 1000.0 for start_ms, _ in blink_runs(
        subject["timestamp_ms"].to_numpy(np.float64), _states(subject["left_eye"]), _states(subject["right_eye"]),
        rules)]


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) index ranges where ``mask`` is True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(int), [0]])))
    return list(zip(edges[::2], edges[1::2]))

