"""The README's timeline pictures, through `meshfer predict --plot --summary`:

- expressions: a clip built from three FER-2013 PrivateTest faces (happy, surprise, neutral; a second each, with a
  second without a face after the second one);
- eye events: a 30 fps clip built from two photos of the eye set (the first open-eyed and the first closed-eyed one,
  by name, that the eye model rates so on both eyes), with three blinks, a 1.5 s closure and half a second without
  a face.

Run: python -m bench.timeline   (writes bench/results/timeline{,_eyes}.png and .json)
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench.common import RESULTS, fer_sample, write_result
from meshfer.imageio import read_rgb
from tests.video_clips import clip_from_faces

EYES_ROOT = Path("data/raw/eyes")
# (what is shown, ms) at 30 fps: blinks of 200, 300 and 400 ms, a 1.5 s closure, 0.5 s without a face
EYE_SCHEDULE = [("open", 1500), ("closed", 200), ("open", 2000), ("closed", 300), ("open", 1000), ("none", 500),
                ("open", 1000), ("closed", 1500), ("open", 1500), ("closed", 400), ("open", 1000)]


def main() -> None:
    by_label = {p.parent.name: p for p in fer_sample(per_label=2)}  # the second file of each label, by name
    faces = [read_rgb(by_label[label]) for label in ("happy", "surprise", "neutral")]
    with tempfile.TemporaryDirectory() as tmp:
        clip = clip_from_faces(faces, Path(tmp) / "clip.avi", blank_after=1)
        summary = Path(tmp) / "summary.json"
        subprocess.run([sys.executable, "-m", "meshfer.cli", "predict", str(clip), "--smoothing", "5", "--plot",
                        str(RESULTS / "timeline.png"), "--summary", str(summary), "--json", "-o", "/dev/null"],
                       check=True)
        facts = next(iter(json.loads(summary.read_text()).values()))
    write_result("timeline", {"command": "python -m bench.timeline", "faces": [
        f"{by_label[k].parent.parent.name}/{k}/{by_label[k].name}" for k in ("happy", "surprise", "neutral")],
        "summary": facts})
    eyes_timeline()


def rated(recognizer, state: str) -> np.ndarray:
    from PIL import Image

    for path in sorted((EYES_ROOT / f"eye_{state}").glob("*.jpg")):
        frame = np.asarray(Image.open(path).convert("RGB").resize((240, 240)))
        faces = recognizer.predict(frame)
        if len(faces) == 1 and faces.loc[0, "left_eye"] == faces.loc[0, "right_eye"] == state:
            return frame
    raise SystemExit(f"no photo in {EYES_ROOT}/eye_{state} is rated {state} on both eyes")


def eyes_timeline() -> None:
    import cv2

    from meshfer.recognizer import Recognizer

    with Recognizer() as recognizer:
        shown = {"open": rated(recognizer, "open"), "closed": rated(recognizer, "closed"),
                 "none": np.full((240, 240, 3), 40, np.uint8)}
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "eyes.avi"
        writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 30, (240, 240))
        for what, ms in EYE_SCHEDULE:
            for _ in range(ms * 30 // 1000):
                writer.write(cv2.cvtColor(shown[what], cv2.COLOR_RGB2BGR))
        writer.release()
        summary = Path(tmp) / "summary.json"
        subprocess.run([sys.executable, "-m", "meshfer.cli", "predict", str(clip), "--plot",
                        str(RESULTS / "timeline_eyes.png"), "--summary", str(summary), "--json", "-o", "/dev/null"],
                       check=True)
        facts = next(iter(json.loads(summary.read_text()).values()))
    write_result("timeline_eyes", {"command": "python -m bench.timeline", "schedule_ms": EYE_SCHEDULE,
                                   "fps": 30, "summary": facts})


if __name__ == "__main__":
    main()
