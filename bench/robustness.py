"""Robustness: does classifying the mesh instead of the pixels survive lighting, noise, rotation, scale,
translation, flips and occlusion? Every expression approach (the pipeline's models/serving) and the `fer`
package's CNN (the peer of bench/peer_fer.py, both ways) on the same corrupted images of a fixed, stratified
PrivateTest sample.

Scored like the pipeline (no face = wrong). Per corruption and severity: accuracy, face coverage, accuracy on the
faces found, and `kept` -- the share of images found both clean and corrupted whose label did not change (when it
drops, the features themselves moved; when coverage drops, the landmarker lost the face). Summary per approach:
the mean relative accuracy drop over corruptions, and the ImageNet-C style mean corruption error normalised by
the peer CNN (classifier mode): mCE < 1 means fewer errors than the peer under corruption.

Run: python -m bench.robustness [--per-label 100]   (about 10 minutes on 2 cores)
Writes bench/results/robustness.json, robustness.csv (the same table, long format) and robustness.png.
"""
from __future__ import annotations

import argparse
import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import albumentations as A
import cv2
import numpy as np
import pandas as pd

from bench.common import RESULTS, ROOT, fer_sample, write_result
from meshfer.features import MeshBatch, compute_features
from meshfer.imageio import read_rgb
from meshfer.labels import EXPRESSIONS
from meshfer.scores import split_metrics

SEED = 20261125
CLEAN = "clean"
Transform = Callable[[np.ndarray, int], np.ndarray]  # (RGB uint8 image, its index in the sample) -> image


@dataclass(frozen=True)
class Corruption:
    name: str
    severities: tuple  # the parameter per severity level, mildest first; what it means is in `make`
    make: Callable[[object], Transform]


def _albu(transform: A.BasicTransform) -> Transform:
    # One seeded pipeline per condition: the same image gets the same noise whichever worker runs it.
    pipeline = A.Compose([transform], seed=SEED)
    return lambda image, i: pipeline(image=image)["image"]


def _rotate(degrees: float) -> Transform:
    # Alternate the sense so a severity holds both clockwise and anticlockwise faces.
    left = A.Affine(rotate=(degrees, degrees), border_mode=cv2.BORDER_CONSTANT, fill=0, p=1)
    right = A.Affine(rotate=(-degrees, -degrees), border_mode=cv2.BORDER_CONSTANT, fill=0, p=1)
    return lambda image, i: (left if i % 2 == 0 else right)(image=image)["image"]


def _scale(factor: float) -> Transform:
    """Resize by ``factor``; a shrunk face sits centred on a black canvas of the original size."""
    def apply(image: np.ndarray, i: int) -> np.ndarray:
        h, w = image.shape[:2]
        small = cv2.resize(image, (round(w * factor), round(h * factor)),
                           interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC)
        if factor >= 1:
            return small
        canvas = np.zeros_like(image)
        top, left = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
        canvas[top:top + small.shape[0], left:left + small.shape[1]] = small
        return canvas
    return apply


def _translate(shift: float) -> Transform:
    """The face on a black canvas of twice its side, moved from the centre by ``shift`` of the free margin
    towards one of the four corners (cycling over images)."""
    def apply(image: np.ndarray, i: int) -> np.ndarray:
        h, w = image.shape[:2]
        canvas = np.zeros((2 * h, 2 * w, *image.shape[2:]), image.dtype)
        dy, dx = [(-1, -1), (-1, 1), (1, -1), (1, 1)][i % 4]
        top, left = round(h / 2 * (1 + dy * shift)), round(w / 2 * (1 + dx * shift))
        canvas[top:top + h, left:left + w] = image
        return canvas
    return apply


def _bar(rows: tuple[float, float]) -> Transform:
    """A black bar across the face between two heights (fractions of the crop: FER-2013 crops are centred)."""
    def apply(image: np.ndarray, i: int) -> np.ndarray:
        out, h = image.copy(), image.shape[0]
        out[round(rows[0] * h):round(rows[1] * h)] = 0
        return out
    return apply


CORRUPTIONS = (
    Corruption("brightness", (-0.5, -0.25, 0.25, 0.5), lambda b: _albu(A.RandomBrightnessContrast(
        brightness_limit=(b, b), contrast_limit=(0, 0), p=1))),
    Corruption("contrast", (-0.75, -0.5, 0.5), lambda c: _albu(A.RandomBrightnessContrast(
        brightness_limit=(0, 0), contrast_limit=(c, c), p=1))),
    Corruption("gamma", (0.4, 0.7, 1.5, 2.5), lambda g: _albu(A.RandomGamma(gamma_limit=(100 * g, 100 * g), p=1))),
    Corruption("gaussian_noise", (0.05, 0.1, 0.2),
               lambda s: _albu(A.GaussNoise(std_range=(s, s), per_channel=False, p=1))),
    Corruption("blur", (0.5, 1.0, 2.0), lambda s: _albu(A.GaussianBlur(sigma_limit=(s, s), p=1))),
    Corruption("jpeg", (50, 20, 10, 5), lambda q: _albu(A.ImageCompression(quality_range=(q, q), p=1))),
    Corruption("rotation", (10, 20, 30, 45), _rotate),
    Corruption("scale", (0.5, 0.75, 1.5, 2.0), _scale),
    Corruption("translation", (0.25, 0.5, 1.0), _translate),
    Corruption("horizontal_flip", (1,), lambda _: _albu(A.HorizontalFlip(p=1))),
    Corruption("occlusion_eyes", ((0.25, 0.5),), _bar),
    Corruption("occlusion_mouth", ((0.65, 0.95),), _bar),
)


def conditions() -> list[tuple[str, object]]:
    return [(CLEAN, None)] + [(c.name, s) for c in CORRUPTIONS for s in c.severities]


def corruption_transform(name: str, severity) -> Transform:
    if name == CLEAN:
        return lambda image, i: image
    return next(c for c in CORRUPTIONS if c.name == name).make(severity)


@functools.lru_cache(maxsize=1)
def _models(models_dir: str | None, approaches: tuple[str, ...] | None, peer: bool):
    """Built once per worker process: the served detection settings, the expression models (the ensemble's
    members are the recognizer's own, so none is loaded twice), and the peer."""
    from meshfer.recognizer import Recognizer, bundled_models_dir
    from meshfer.runtime import available_approaches, load_model

    root = Path(models_dir) if models_dir else bundled_models_dir()
    wanted = approaches or tuple(available_approaches(root))
    recognizer = Recognizer("ensemble" if "ensemble" in wanted else wanted[0], models_dir=root, eyes=False,
                            num_faces=1)
    models = {m.approach: m for m in recognizer.expression.members}
    models.update({name: load_model(root / name) for name in wanted if name not in models and name != "ensemble"})
    peers = {}
    if peer:
        from fer.fer import FER

        peers = {"classifier": FER(offsets=(0, 0)), "detector": FER()}
    return recognizer, models, wanted, peers


def _peer_label(detector, image: np.ndarray, whole_image: bool) -> int:
    if whole_image:
        found = detector.detect_emotions(image, face_rectangles=[(0, 0, image.shape[1], image.shape[0])])
    else:  # its Haar cascade needs more pixels than a 48 px crop, as in bench/peer_fer.py
        found = detector.detect_emotions(cv2.resize(image, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC))
    if not found:
        return -1
    emotions = max(found, key=lambda f: f["box"][2] * f["box"][3])["emotions"]
    return EXPRESSIONS.index(max(emotions, key=emotions.get))


def run_condition(name: str, severity, paths: list[str], models_dir: str | None = None,
                  approaches: tuple[str, ...] | None = None, peer: bool = True) -> dict[str, np.ndarray]:
    """Predicted label index (-1: no face) per image and approach under one corruption."""
    recognizer, models, wanted, peers = _models(models_dir, approaches, peer)
    transform = corruption_transform(name, severity)
    faces, images, peer_pred = [], [], {mode: [] for mode in peers}
    for i, path in enumerate(paths):
        image = transform(read_rgb(path), i)
        found = recognizer.landmarker.detect(image)
        faces.append(found[0] if found else None)
        images.append(image)
        bgr = np.ascontiguousarray(image[..., ::-1])
        for mode, detector in peers.items():
            peer_pred[mode].append(_peer_label(detector, bgr, whole_image=mode == "classifier"))
    found = np.array([f is not None for f in faces])
    batch = MeshBatch(*(np.stack([getattr(f, k) for f in faces if f is not None])
                        for k in ("points", "blendshapes", "pose")),
                      [image for image, f in zip(images, faces) if f is not None]) if found.any() else None
    out = {f"peer_{mode}": np.array(p) for mode, p in peer_pred.items()}
    probas = {}
    for approach, model in models.items():
        probas[approach] = model.predict_proba(compute_features(batch, model.card.feature_params)) if batch else None
    # The served ensemble, from its members' probabilities already computed above.
    ensemble = recognizer.expression
    if ensemble.approach == "ensemble":
        probas["ensemble"] = ensemble.combine([probas[m.approach] for m in ensemble.members]) if batch else None
    for approach, proba in probas.items():
        if approach not in wanted:
            continue
        pred = np.full(len(paths), -1)
        if proba is not None:
            pred[found] = proba.argmax(axis=1)
        out[approach] = pred
    return out


def score(predictions: dict, truth: np.ndarray) -> pd.DataFrame:
    """Long table: one row per (approach, corruption, severity)."""
    rows = []
    for (name, severity), by_approach in predictions.items():
        for approach, pred in by_approach.items():
            clean = predictions[(CLEAN, None)][approach]
            both = (pred >= 0) & (clean >= 0)
            m = split_metrics(truth, pred, EXPRESSIONS)
            rows.append({"approach": approach, "corruption": name, "severity": str(severity),
                         "level": 0 if name == CLEAN else _level(name, severity),
                         "accuracy": m["accuracy"], "macro_f1": m["macro_f1"],
                         "coverage": round(1 - m["no_face_rate"], 4),
                         "detected_accuracy": m["detected_accuracy"],
                         "kept": round(float((pred[both] == clean[both]).mean()), 4) if both.any() else 0.0})
    return pd.DataFrame(rows)


def _level(name: str, severity) -> int:
    return next(c for c in CORRUPTIONS if c.name == name).severities.index(severity) + 1


def summary(table: pd.DataFrame, reference: str | None = "peer_classifier") -> dict:
    """Per approach: clean accuracy, worst corruption, mean relative drop and mCE against the reference."""
    clean = table[table.corruption == CLEAN].set_index("approach")["accuracy"]
    corrupted = table[table.corruption != CLEAN]
    error = corrupted.assign(error=1 - corrupted.accuracy).groupby(["approach", "corruption"])["error"].sum()
    result = {}
    for approach, group in corrupted.groupby("approach"):
        drop = group.groupby("corruption")["accuracy"].mean().pipe(lambda a: (clean[approach] - a) / clean[approach])
        worst = group.loc[group.accuracy.idxmin()]
        result[approach] = {
            "clean_accuracy": float(clean[approach]),
            "mean_relative_drop": round(float(drop.mean()), 4),
            **({"mce_vs_peer_classifier": round(float((error[approach] / error[reference]).mean()), 4)}
               if reference in error else {}),
            "worst": {"corruption": worst.corruption, "severity": worst.severity,
                      "accuracy": float(worst.accuracy), "coverage": float(worst.coverage)},
            "relative_drop_per_corruption": {k: round(float(v), 4) for k, v in drop.items()},
        }
    return result


def plot(table: pd.DataFrame, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [c.name for c in CORRUPTIONS]
    fig, axes = plt.subplots(3, 4, figsize=(16, 11), sharey=True)
    for ax, corruption in zip(axes.flat, names):
        for approach, group in table.groupby("approach", sort=False):
            clean = table[(table.approach == approach) & (table.corruption == CLEAN)]
            rows = pd.concat([clean, group[group.corruption == corruption]])
            style = "--" if approach.startswith("peer") else "-"
            ax.plot(rows.level, rows.accuracy, style, marker="o", label=approach)
        severities = next(c for c in CORRUPTIONS if c.name == corruption).severities
        ax.set_xticks(range(len(severities) + 1), ["clean", *map(str, severities)], fontsize=8)
        ax.set_title(corruption)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("accuracy (no face = wrong)")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("FER-2013 PrivateTest sample under corruption: mesh approaches vs. the fer CNN")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> None:
    from joblib import Parallel, delayed

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-label", type=int, default=100, help="images per label (the first by file name)")
    parser.add_argument("--n-jobs", type=int, default=-1)
    pipeline_models = ROOT / "models" / "serving"
    parser.add_argument("--models-dir", default=str(pipeline_models) if pipeline_models.is_dir() else None,
                        help="the models to score (default: this checkout's models/serving, every approach; without "
                        "it the package's)")
    parser.add_argument("--approaches", nargs="+", help="only these approaches (default: all)")
    parser.add_argument("--no-peer", dest="peer", action="store_false", help="leave out the fer peer")
    parser.add_argument("--name", default="robustness", help="result file name in bench/results (no suffix)")
    args = parser.parse_args()
    paths = [str(p) for p in fer_sample(per_label=args.per_label)]
    truth = np.array([EXPRESSIONS.index(p.split("/")[-2]) for p in paths])
    todo = conditions()
    start = time.perf_counter()
    # By its module name, not __main__'s, so worker processes import it (and cache their models) themselves.
    from bench.robustness import run_condition as run

    options = (args.models_dir, tuple(args.approaches) if args.approaches else None, args.peer)
    results = Parallel(n_jobs=args.n_jobs, verbose=5)(delayed(run)(n, s, paths, *options) for n, s in todo)
    seconds = time.perf_counter() - start
    table = score(dict(zip(todo, results)), truth)
    RESULTS.mkdir(parents=True, exist_ok=True)
    reference = "peer_classifier" if args.peer else None
    if args.name == "robustness":  # the published run: table and plot beside the JSON
        table.to_csv(RESULTS / "robustness.csv", index=False)
        plot(table, RESULTS / "robustness.png")
    write_result(args.name, {
        "command": " ".join(["python -m bench.robustness", *__import__("sys").argv[1:]]),
        "sample": f"FER-2013 PrivateTest, the first {args.per_label} files by name of each label: {len(paths)} images",
        "conditions": len(todo), "seconds": round(seconds, 1),
        "corruptions": {c.name: list(c.severities) for c in CORRUPTIONS},
        "summary": summary(table, reference), "table": table.to_dict(orient="records")})
    print(pd.DataFrame(summary(table, reference)).T.drop(columns=["worst", "relative_drop_per_corruption"]))


if __name__ == "__main__":
    main()
