"""Serving costs, each beside the bare MediaPipe call measured in the same run on the same images:

- per image, pinned to one core: `Recognizer().predict(image)` vs MediaPipe's FaceLandmarker alone (IMAGE mode, one
  face, blendshapes on, the bundled .task), on FER-2013 PrivateTest crops (the bare call gets them padded and
  upscaled as in training, already done) and on ordinary photos (UTKFace portraits of the eye set, 200 px, and the
  test fixtures, 512 px; the bare call gets them as they are). Both run interleaved, image by image.
- per approach (the pipeline's models/serving: the package ships only those fast enough to serve): the
  classifier's time per face at batch 1 and 256 (features excluded), the features' time, the file size.
- a 640 x 480 video, default approach, one core: frames per second, beside decode + the bare call per frame.
- the serving install (the wheel, no extras, in a clean venv): its size, and `meshfer predict one.jpg` as a fresh
  process: wall time and peak memory.
- a folder of images with one process and with `-j 2` (two worker processes).

Run: python -m bench.predict   (writes bench/results/predict.json; needs the datasets, after `dvc repro`)
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import ROOT, fer_sample, median_ms, one_core, photo_sample, write_result

APPROACHES = ("pca_svm", "blendshape_svm", "gnn", "mesh_svm", "mesh_hgb", "aligned_cnn", "ensemble")
SERVING_VENV = Path(tempfile.gettempdir()) / "meshfer-serving-venv"


def _bare_landmarker():
    """MediaPipe's FaceLandmarker as a user would make it: one face, blendshapes and pose on, defaults otherwise."""
    from meshfer.native import mediapipe, quiet_native_logs, vision
    from meshfer.landmarker import bundled_model_path

    tasks = vision()
    options = tasks.FaceLandmarkerOptions(
        base_options=mediapipe().tasks.BaseOptions(model_asset_buffer=bundled_model_path().read_bytes()),
        running_mode=tasks.RunningMode.IMAGE, num_faces=1, output_face_blendshapes=True,
        output_facial_transformation_matrixes=True)
    with quiet_native_logs():
        return tasks.FaceLandmarker.create_from_options(options)


def side_by_side(images: list[np.ndarray], bare_inputs: list[np.ndarray], rounds: int = 5,
                 approach: str | None = None) -> dict:
    """Median ms per image of the bare call, of Recognizer().predict (a pandas table) and of predict_faces (numpy
    arrays), interleaved image by image."""
    from meshfer import Recognizer
    from meshfer.native import mediapipe

    mp = mediapipe()
    bare = _bare_landmarker()
    with Recognizer(approach=approach) as rec:
        for image, prepared in list(zip(images, bare_inputs))[:5]:  # warm up both
            rec.predict(image)
            bare.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=prepared))
        bare_ms, ours_ms, arrays_ms = [], [], []
        for _ in range(rounds):
            for image, prepared in zip(images, bare_inputs):
                start = time.perf_counter()
                bare.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=prepared))
                bare_ms.append(1000 * (time.perf_counter() - start))
                start = time.perf_counter()
                rec.predict(image)
                ours_ms.append(1000 * (time.perf_counter() - start))
                start = time.perf_counter()
                rec.predict_faces(image)
                arrays_ms.append(1000 * (time.perf_counter() - start))
        approach = rec.approach
    bare.close()
    bare_median = statistics.median(bare_ms)
    return {"images": len(images), "rounds": rounds, "approach": approach,
            "bare_mediapipe_ms": round(bare_median, 3),
            "recognizer_ms": round(statistics.median(ours_ms), 3),
            "ratio_of_medians": round(statistics.median(ours_ms) / bare_median, 3),
            "predict_faces_ms": round(statistics.median(arrays_ms), 3),
            "predict_faces_ratio": round(statistics.median(arrays_ms) / bare_median, 3)}


def per_image(args, approach: str | None = None) -> dict:
    from meshfer.imageio import read_rgb
    from meshfer.landmarker import DetectConfig, prepare_image

    one_core()
    detect = DetectConfig()
    crops = [read_rgb(p) for p in fer_sample(per_label=args.per_label)]
    padded = [prepare_image(c, detect.pad_fraction, detect.pad_mode, detect.min_side)[0] for c in crops]
    photos = [read_rgb(p) for p in photo_sample()]
    return {"fer2013_crops": side_by_side(crops, padded, approach=approach),
            "photos": side_by_side(photos, photos, approach=approach)}


def per_image_single_models(args) -> dict:
    """The same for the shipped single models that the default ensemble is made of: the price of the ensemble."""
    return {approach: per_image(args, approach) for approach in ("aligned_cnn", "mesh_hgb")}


def breakdown(args) -> dict:
    """Where a prediction's time goes, pinned to one core: detection (padding, MediaPipe, landmarks to numpy), the
    expression model (features + ONNX), the eye model (features + ONNX), the result table; median ms per image."""
    from meshfer import Recognizer
    from meshfer.features import MeshBatch
    from meshfer.imageio import read_rgb
    from meshfer.recognizer import Faces

    one_core()
    out = {}
    samples = {"fer2013_crops": fer_sample(per_label=args.per_label), "photos": photo_sample()}
    with Recognizer() as rec:
        for name, paths in samples.items():
            images = [read_rgb(p) for p in paths]
            found = [(image, faces) for image in images if (faces := rec.landmarker.detect(image))]

            def batch(k: int) -> MeshBatch:
                image, faces = found[k % len(found)]
                return MeshBatch(np.stack([f.points for f in faces]), np.stack([f.blendshapes for f in faces]),
                                 np.stack([f.pose for f in faces]), [image] * len(faces))

            def table(k: int):
                image, faces = found[k % len(found)]
                return Faces(faces, np.full((len(faces), 7), 1 / 7), np.full((len(faces), 2, 4), 0.25)).to_frame()

            out[name] = {
                "predict": median_ms(lambda k: rec.predict(images[k % len(images)]), 3 * len(images)),
                "detect": median_ms(lambda k: rec.landmarker.detect(images[k % len(images)]), 3 * len(images)),
                "expression_model": median_ms(lambda k: rec.expression.predict_proba_meshes(batch(k)), 300),
                "eye_model": median_ms(lambda k: rec.eye_probabilities(batch(k)), 300),
                "result_table": median_ms(table, 300),
            }
    return out


def classifiers() -> dict:
    """Per approach, pinned to one core: classifier ms per face at batch 1 and 256 (features excluded), features
    ms per face, model file size."""
    from meshfer.features import MeshBatch, compute_features
    from meshfer.imageio import read_rgb
    from meshfer.landmarker import Landmarker
    from meshfer.runtime import load_expression_model, load_model

    one_core()
    root = ROOT / "models" / "serving"  # every approach, the SVM baselines the package does not ship included
    lm_again = Landmarker()
    with Landmarker() as lm:
        images = [read_rgb(p) for p in fer_sample(per_label=5)]
        found = [(faces[0], image) for image in images if (faces := lm.detect(image))]
    points = np.stack([f.points for f, _ in found])
    shapes = np.stack([f.blendshapes for f, _ in found])
    poses = np.stack([f.pose for f, _ in found])
    pictures = [image for _, image in found]

    def batch(n: int, offset: int = 0) -> MeshBatch:
        idx = (np.arange(n) + offset) % len(points)
        return MeshBatch(points[idx], shapes[idx], poses[idx], [pictures[i] for i in idx])

    out = {}
    for approach in (*APPROACHES, "eyes"):
        if approach == "eyes":
            model = load_model(root / "eyes")
            members, combine = [model], None
        else:
            served = load_expression_model(root, approach)
            members, combine = served.members, served.combine
        inputs1 = [[compute_features(batch(1, k), m.card.feature_params) for m in members] for k in range(40)]
        inputs256 = [compute_features(batch(256), m.card.feature_params) for m in members]

        def classify(xs):
            probas = [m.predict_proba(x) for m, x in zip(members, xs)]
            return combine(probas) if combine else probas[0]

        timed = median_ms(lambda k: classify(inputs1[k % 40]), 300)
        features = median_ms(lambda k: [compute_features(batch(1, k), m.card.feature_params) for m in members], 200)
        cold = []
        for k in range(60):  # as served: right after a landmark pass, whose work has pushed the model out of cache
            lm_again.detect(pictures[k % len(pictures)])
            start = time.perf_counter()
            classify(inputs1[k % 40])
            cold.append(time.perf_counter() - start)
        out[approach] = {
            "classify_ms_per_face_batch1": timed,
            "classify_ms_per_face_after_a_landmark_pass": round(1000 * statistics.median(cold), 4),
            "classify_ms_per_face_batch256": round(median_ms(lambda k: classify(inputs256), 10) / 256, 4),
            "features_ms_per_face": features,
            "model_mb": round(sum((m.directory / m.card.format).stat().st_size for m in members) / 1e6, 3),
        }
        print(approach, out[approach], flush=True)
    lm_again.close()
    return out


def video(frames: int = 200) -> dict:
    """A 640 x 480 clip (a portrait moving across a room-sized frame), default approach, one core."""
    import cv2

    from meshfer import Recognizer
    from meshfer.native import mediapipe
    from meshfer.imageio import read_rgb

    one_core()
    face = cv2.resize(read_rgb(ROOT / "tests" / "fixtures" / "faces" / "grace_hopper.jpg"), (220, 258))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.mp4"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (640, 480))
        for i in range(frames):
            frame = np.full((480, 640, 3), 70, np.uint8)
            x, y = 60 + int(300 * (0.5 + 0.5 * np.sin(i / 25))), 100 + int(40 * np.cos(i / 17))
            frame[y:y + 258, x:x + 220] = face
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        writer.release()
        mp = mediapipe()
        bare = _bare_landmarker()
        start = time.perf_counter()
        capture = cv2.VideoCapture(str(path))
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            bare.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
        bare_seconds = time.perf_counter() - start
        bare.close()
        with Recognizer() as rec:
            start = time.perf_counter()
            table = rec.predict_video(path, progress=False)
            seconds = time.perf_counter() - start
    return {"frames": frames, "frame_size": "640x480", "approach": rec.approach,
            "frames_with_a_face": int((table["error"] == "").sum()),
            "frames_per_second": round(frames / seconds, 1),
            "bare_mediapipe_frames_per_second": round(frames / bare_seconds, 1)}


def serving_install(rebuild: bool) -> dict:
    """The wheel without extras in a clean venv: size of its site-packages (beside an empty venv's, made in the same
    run), and a fresh `meshfer predict`. An existing venv gets this checkout's wheel reinstalled."""
    with tempfile.TemporaryDirectory() as wheels:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                        wheels, str(ROOT)], check=True)
        wheel = [str(p) for p in Path(wheels).glob("*.whl")]
        if rebuild or not (SERVING_VENV / "bin" / "meshfer").exists():
            shutil.rmtree(SERVING_VENV, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(SERVING_VENV)], check=True)
            subprocess.run([str(SERVING_VENV / "bin" / "pip"), "install", "-q", *wheel], check=True)
        else:
            subprocess.run([str(SERVING_VENV / "bin" / "pip"), "install", "-q", "--no-deps", "--force-reinstall",
                            *wheel], check=True)
    empty_mb = _venv_site_packages_mb([])
    mediapipe_mb = _venv_site_packages_mb([f"mediapipe=={_installed_version('mediapipe')}"])
    site = next((SERVING_VENV / "lib").glob("python*/site-packages"))
    sizes = {p.name: _du(p) for p in site.iterdir()}
    largest = dict(sorted(((k, round(v, 1)) for k, v in sizes.items()), key=lambda kv: -kv[1])[:10])
    image = ROOT / "tests" / "fixtures" / "faces" / "eileen_collins.jpg"
    runs, peaks = [], []
    for _ in range(5):
        start = time.perf_counter()
        proc = subprocess.Popen([str(SERVING_VENV / "bin" / "meshfer"), "predict", str(image)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak, not the pip runs' above
        runs.append(time.perf_counter() - start)
        stderr = proc.stderr.read()
        assert os.waitstatus_to_exitcode(status) == 0, stderr
        peaks.append(usage.ru_maxrss / 1024)
    return {"site_packages_mb": round(sum(sizes.values()), 1), "empty_venv_site_packages_mb": round(empty_mb, 1),
            "installed_mb": round(sum(sizes.values()) - empty_mb, 1),
            "mediapipe_alone_installed_mb": round(mediapipe_mb - empty_mb, 1), "largest_mb": largest,
            "training_libraries_installed": [n for n in ("tensorflow", "sklearn", "spektral", "mord", "scipy")
                                             if (site / n).exists()],
            "predict_one_image_wall_s": round(statistics.median(runs), 3),
            "predict_one_image_peak_rss_mib": round(max(peaks), 1),
            "cli_output_stderr": stderr}


def _venv_site_packages_mb(requirements: list[str]) -> float:
    """Size of a fresh venv's site-packages with just ``requirements`` installed (none: the venv's own pip)."""
    with tempfile.TemporaryDirectory() as venv:
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        if requirements:
            subprocess.run([str(Path(venv, "bin", "pip")), "install", "-q", *requirements], check=True)
        return sum(_du(p) for p in next(Path(venv, "lib").glob("python*/site-packages")).iterdir())


def _installed_version(name: str) -> str:
    out = subprocess.run([str(SERVING_VENV / "bin" / "python"), "-c",
                          f"import importlib.metadata as m; print(m.version({name!r}))"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def _du(path: Path) -> float:
    files = [path] if path.is_file() else path.rglob("*")
    return sum(f.stat().st_size for f in files if f.is_file() and not f.is_symlink()) / 1e6


def folder_processes(per_label: tuple[int, ...] = (58, 200)) -> dict:
    """Images per second for `meshfer predict` over FER-2013 files with one process and with `-j 2`, for a few
    hundred files and for over a thousand (each worker's start-up weighs less)."""
    out = {}
    for count in per_label:
        files = [str(p) for p in fer_sample(per_label=count)]
        command = [str(SERVING_VENV / "bin" / "meshfer"), "predict", "--json", "-o", os.devnull, *files]
        seconds = {}
        for jobs in (1, 2):
            start = time.perf_counter()
            subprocess.run([*command, "-j", str(jobs)], check=True, capture_output=True)
            seconds[jobs] = time.perf_counter() - start
        out[f"{len(files)}_images"] = {"images_per_second_one_process": round(len(files) / seconds[1], 1),
                                       "images_per_second_j2": round(len(files) / seconds[2], 1),
                                       "speed_up": round(seconds[1] / seconds[2], 2)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-label", type=int, default=10, help="FER-2013 crops per label (default 10: 70)")
    parser.add_argument("--rebuild-venv", action="store_true", help="rebuild the serving venv from this checkout")
    args = parser.parse_args()
    results = {}
    for name in STEPS:  # each in a fresh process: pinning and imports must not leak between them
        cmd = [sys.executable, "-c", f"import json, bench.predict as b; print(json.dumps(b.run_step({name!r})))"]
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "BENCH_ARGS":
                             json.dumps(vars(args))})
        if out.returncode:
            raise SystemExit(f"{name} failed:\n{out.stderr[-3000:]}")
        results[name] = json.loads(out.stdout.strip().splitlines()[-1])
        print(name, json.dumps(results[name])[:400], flush=True)
    write_result("predict", {"what": __doc__.split("\n\n")[0], "command": "python -m bench.predict", **results})


STEPS = {
    "per_image": per_image,
    "per_image_single_models": per_image_single_models,
    "breakdown": breakdown,
    "classifiers": lambda args: classifiers(),
    "video": lambda args: video(),
    "serving_install": lambda args: serving_install(args.rebuild_venv),
    "folder": lambda args: folder_processes(),
}


def run_step(name: str):
    """One of STEPS, with main's arguments from the environment (each step runs in a fresh process)."""
    return STEPS[name](argparse.Namespace(**json.loads(os.environ.get("BENCH_ARGS", "{}"))))


if __name__ == "__main__":
    main()
