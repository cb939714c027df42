"""The README's timeline picture: a clip built from three FER-2013 PrivateTest faces (happy, surprise, neutral; a
second each, with a second without a face after the second one), through `meshfer predict --plot`.

Run: python -m bench.timeline   (writes bench/results/timeline.png and timeline.json)
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import RESULTS, fer_sample, write_result
from meshfer.imageio import read_rgb
from meshfer.video import clip_from_faces


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


if __name__ == "__main__":
    main()
