"""Serving wing: blinks, winks, long closures and PERCLOS from a face's eye states over time.

The rules (the README's "Eye events" lists them too):

- Only frames with a face count. A frame without one neither starts nor ends an event: the eyes' state is unknown
  there, so a closure seen before and after a gap is one closure, ended by the first frame with a face whose eyes
  are open.
- An event's duration is measured on the video's timestamps, not in frames: from the first frame with the eye(s)
  closed to the first frame with a face where they are open again (so a closure of 6 frames at 30 fps lasts
  200 ms, as it would at 15 or 60 fps).
- A **blink**: both eyes closed, then open again, for ``min_blink_ms`` to ``max_blink_ms`` (default 50-500 ms).
  Shorter: too brief to call (one frame at 30 fps); it still counts in PERCLOS.
- A **closure**: both eyes closed for longer than ``max_blink_ms``, listed with its start and end. One still going
  at the end of the video ends there (``"ongoing": true``); one already going at the first frame with a face starts
  there. Neither of those counts as a blink, whatever its length: its closing or opening was not seen.
- A **wink** (per eye, the person's own left or right): that eye closed while the other stays not closed
  throughout, then open again, with a blink's duration. (An eye closing a frame before the other is part of a
  blink, not a wink.)
- **PERCLOS**: the share of the frames with a face in which both eyes are closed (the standard drowsiness measure
  in driver monitoring, here with the eye model's `closed` state as "closed").
- ``blinks_per_minute`` counts blinks per minute of time with a face; ``longest_closure_ms`` is the longest time
  both eyes were closed (blinks included; 0 when they never were).
"""
from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

CLOSED = "closed"


@dataclass(frozen=True)
class EyeEventRules:
    """The durations that make a blink (and a wink); longer both-eye closures are listed as closures."""

    min_blink_ms: float = 50.0
    max_blink_ms: float = 500.0

    def __post_init__(self):
        if not 0 <= self.min_blink_ms <= self.max_blink_ms:
            raise ValueError(f"blink durations need 0 <= min ({self.min_blink_ms} ms) <= max "
                             f"({self.max_blink_ms} ms)")


@dataclass(frozen=True)
class _Run:
    start: int  # index of the first closed frame (among the frames with a face)
    stop: int  # index of the first frame after the run
    start_ms: float
    end_ms: float
    seen_closing: bool  # the frame before is a frame with a face where the eye was open
    seen_opening: bool  # the run ends with a frame with a face where the eye is open (not with the video)

    @property
    def duration_ms(self) -> float:
        return round(self.end_ms - self.start_ms, 3)  # timestamps in ms need no more; and 500.0 stays 500.0


@dataclass(frozen=True)
class _FaceFrames:
    times: np.ndarray  # timestamps of the frames with a face
    left: np.ndarray  # per such frame: the left eye is closed
    right: np.ndarray
    frame_ms: float  # one frame's duration
    end_ms: float  # when the video ends

    @classmethod
    def of(cls, timestamps_ms: Any, left_states: Any, right_states: Any) -> "_FaceFrames":
        times = np.asarray(timestamps_ms, dtype=np.float64)
        if not len(times) == len(left_states) == len(right_states):
            raise ValueError("timestamps and eye states need one value per frame")
        has_face = np.array([_is_state(a) and _is_state(b) for a, b in zip(left_states, right_states)], bool)
        left, right = (np.array([s == CLOSED for s in states], dtype=bool).reshape(-1)
                       for states in (left_states, right_states))
        frame_ms = frame_duration_ms(times)
        end_ms = float(times[-1] + frame_ms) if len(times) else 0.0
        return cls(times[has_face], left[has_face], right[has_face], frame_ms, end_ms)

    def blinks(self, rules: EyeEventRules) -> list[_Run]:
        return [run for run in _closed_runs(self.left & self.right, self.times, self.end_ms)
                if run.seen_closing and run.seen_opening
                and rules.min_blink_ms <= run.duration_ms <= rules.max_blink_ms]


def eye_events(timestamps_ms: Any, left_states: Any, right_states: Any,
               rules: EyeEventRules = EyeEventRules()) -> dict[str, Any]:
    """The eye events of one face over time. Inputs are per frame, in time order: the frame's timestamp and each
    eye's state (``"closed"``, ``"narrowed"``, ...; ``None``/NaN where the frame has no face)."""
    seen = _FaceFrames.of(timestamps_ms, left_states, right_states)
    both = seen.left & seen.right
    both_runs = _closed_runs(both, seen.times, seen.end_ms)
    blinks = seen.blinks(rules)
    closures = [run for run in both_runs if run.duration_ms > rules.max_blink_ms]
    face_ms = _face_time_ms(seen.times, seen.frame_ms)
    return {
        "blinks": len(blinks),
        "blinks_per_minute": round(len(blinks) / (face_ms / 60000.0), 2) if face_ms > 0 else None,
        "mean_blink_ms": round(float(np.mean([r.duration_ms for r in blinks])), 1) if blinks else None,
        "longest_closure_ms": round(max((r.duration_ms for r in both_runs), default=0.0), 1),
        "closures": [{"start_s": round(r.start_ms / 1000.0, 3), "end_s": round(r.end_ms / 1000.0, 3),
                      "duration_ms": round(r.duration_ms, 1), "ongoing": not r.seen_opening} for r in closures],
        "perclos": round(float(both.mean()), 4) if len(both) else None,
        "winks_left": _winks(seen.left, seen.right, seen, rules),
        "winks_right": _winks(seen.right, seen.left, seen, rules),
        "rules": asdict(rules),
    }


def blink_runs(timestamps_ms: Any, left_states: Any, right_states: Any,
               rules: EyeEventRules = EyeEventRules()) -> list[tuple[float, float]]:
    """(start, end) in ms of each blink :func:`eye_events` counts."""
    return [(run.start_ms, run.end_ms) for run in _FaceFrames.of(timestamps_ms, left_states, right_states
                                                                   ).blinks(rules)]


def _is_state(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def frame_duration_ms(times: np.ndarray) -> float:
    """One frame's duration: the mean step between timestamps (whole-ms timestamps of 30 fps step 33 or 34)."""
    return float((times[-1] - times[0]) / (len(times) - 1)) if len(times) > 1 else 0.0


def _face_time_ms(face_times: np.ndarray, frame_ms: float) -> float:
    """Time covered by the frames with a face, one frame's duration each (the gaps without a face do not count)."""
    return len(face_times) * frame_ms


def _closed_runs(closed: np.ndarray, times: np.ndarray, end_of_video: float) -> list[_Run]:
    edges = np.flatnonzero(np.diff(np.concatenate([[0], closed.astype(np.int8), [0]])))
    runs = []
    for start, stop in zip(edges[::2], edges[1::2]):
        reopened = stop < len(closed)
        runs.append(_Run(int(start), int(stop), float(times[start]),
                         float(times[stop]) if reopened else end_of_video,
                         seen_closing=start > 0, seen_opening=reopened))
    return runs


def _winks(eye: np.ndarray, other: np.ndarray, seen: _FaceFrames, rules: EyeEventRules) -> int:
    return sum(1 for run in _closed_runs(eye, seen.times, seen.end_ms)
               if run.seen_closing and run.seen_opening and not other[run.start:run.stop].any()
               and rules.min_blink_ms <= run.duration_ms <= rules.max_blink_ms)


class LiveEyeEvents:
    """The eye events of the last ``window_s`` seconds, updated frame by frame (for a camera)."""

    def __init__(self, window_s: float = 60.0, rules: EyeEventRules = EyeEventRules()):
        self.window_ms, self.rules = window_s * 1000.0, rules
        self._frames: deque[tuple[float, Any, Any]] = deque()

    def update(self, timestamp_ms: float, left_state: Any, right_state: Any) -> dict[str, Any]:
        """Add a frame (states ``None`` without a face) and get the events of the window ending with it."""
        self._frames.append((float(timestamp_ms), left_state, right_state))
        while self._frames and self._frames[0][0] < timestamp_ms - self.window_ms:
            self._frames.popleft()
        times, lefts, rights = zip(*self._frames)
        return eye_events(times, lefts, rights, self.rules)
