"""Serving costs per approach: model size, classifier time per face (batch 1 and 256), end-to-end latency per
image on one core (decode + landmarks + classify), peak memory; folder throughput on 2 cores; video-mode fps.

Run: python -m bench.predict   (writes bench/results/predict.json; each approach measured in its own process)
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import fer_sample, median_ms, one_core, peak_rss_mib, write_result

APPROACHES = ("pca_svm", "blendshape_svm", "gnn", "mesh_svm", "mesh_hgb", "aligned_cnn", "ensemble", "eyes")


def dir_size_mb(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6, 3)


def measure(approach: str, models_dir: str | None) -> dict:
    """Everything for one approach, pinned to one core."""
    from meshfer import Recognizer
    from meshfer.features import MeshBatch
    from meshfer.imageio import read_rgb

    one_core()
    files = fer_sample(per_label=15)
    eyes_only = approach == "eyes"
    with Recognizer(approach=None if eyes_only else approach, models_dir=models_dir, eyes=eyes_only) as rec:
        found = [(f[0], image) for image in map(read_rgb, files) if (f := rec.landmarker.detect(image))]
        faces, images = [f for f, _ in found], [image for _, image in found]
        batch = MeshBatch(np.stack([f.points for f in faces]), np.stack([f.blendshapes for f in faces]),
                          np.stack([f.pose for f in faces]), images)
        big = MeshBatch(*(np.resize(a, (256, *a.shape[1:])) for a in (batch.points, batch.blendshapes, batch.pose)),
                        [images[k % len(images)] for k in range(256)])
        one = MeshBatch(batch.points[:1], batch.blendshapes[:1], batch.pose[:1], images[:1])
        classify = rec._eye_table if eyes_only else rec.expression_proba
        result = {
            "classify_ms_per_face_batch1": median_ms(lambda: classify(one), 50),
            "classify_ms_per_face_batch256": round(median_ms(lambda: classify(big), 5) / 256, 4),
        }
        images = [str(p) for p in files]
        i = iter(range(10**9))
        result["end_to_end_ms_per_image"] = median_ms(lambda: rec.predict(images[next(i) % len(images)]),
                                                      len(images))
        result["landmarks_ms_per_image"] = median_ms(lambda: rec.landmarker.detect(read_rgb(images[0])), 50)
    result["classifier_share"] = round(result["classify_ms_per_face_batch1"] / result["end_to_end_ms_per_image"], 3)
    result["peak_rss_mib"] = round(peak_rss_mib(), 1)
    return result


def folder_throughput(models_dir: str | None) -> dict:
    from meshfer import Recognizer

    files = fer_sample(per_label=100)
    out = {}
    with Recognizer(models_dir=models_dir) as rec:
        rec.predict_many(files[:140], progress=False, n_jobs=2, chunk_size=70)  # start the workers first
        for jobs in (1, 2):
            start = time.perf_counter()
            rec.predict_many(files, progress=False, n_jobs=jobs, chunk_size=70)
            out[f"images_per_second_{jobs}_processes"] = round(len(files) / (time.perf_counter() - start), 1)
    out["images"] = len(files)
    return out


def video_fps(models_dir: str | None) -> dict:
    import cv2

    from meshfer import Recognizer

    files = fer_sample(per_label=15)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.avi"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (240, 240))
        for p in files:
            frame = cv2.resize(cv2.imread(str(p)), (160, 160))
            writer.write(cv2.copyMakeBorder(frame, 40, 40, 40, 40, cv2.BORDER_CONSTANT))
        writer.release()
        with Recognizer(models_dir=models_dir, running_mode="video") as rec:
            start = time.perf_counter()
            frames = sum(1 for _ in rec.predict_video(path, smoothing=5))
            seconds = time.perf_counter() - start
    return {"frames": frames, "frame_size": "240x240", "frames_per_second": round(frames / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models-dir", default=None, help="default: the bundled pretrained models")
    parser.add_argument("--one", choices=APPROACHES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.models_dir)))
        return
    from meshfer.recognizer import bundled_models_dir

    models = Path(args.models_dir) if args.models_dir else bundled_models_dir()
    per_approach = {}
    for approach in APPROACHES:
        cmd = [sys.executable, "-m", "bench.predict", "--one", approach]
        if args.models_dir:
            cmd += ["--models-dir", args.models_dir]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        per_approach[approach] = json.loads(out)
        if (models / approach).is_dir():
            per_approach[approach]["model_size_mb"] = dir_size_mb(models / approach)
        print(approach, per_approach[approach])
    write_result("predict", {
        "what": "serving costs; per-approach figures pinned to one core (eyes: with the default expression model beside it); images are FER-2013 PrivateTest (48x48, "
                "padded and upscaled to 256 px before detection as in training)",
        "command": "python -m bench.predict",
        "approaches": per_approach,
        "folder": folder_throughput(args.models_dir),
        "video": video_fps(args.models_dir),
    })


if __name__ == "__main__":
    main()
