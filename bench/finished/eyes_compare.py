"""Eyes 3: the eye model of this run (models/serving/eyes) against the served one (the package's), and the ordinal
row (models/serving/eyes_ordinal), on the same faces.

- paired: the 309 faces of version 1's test split (bench.finished.eyes_split rebuilds it), all and per source: each
  model's accuracy with Wilson's 95 % interval, the paired difference with its 95 % interval (Wald, paired),
  McNemar's exact test on the faces where exactly one of the two is right; the same on the new validation split
  (which neither model trained on: version 1's training faces stayed in training);
- targets: on the new test split (and validation), all and per source: accuracy with its interval, MAE in ordinal
  steps, the share of faces two steps or more off, recall per label (no face = wrong, and 3 steps off);
- robustness (--robustness): the new test split's images resized, blurred and recompressed, detected again by the
  Recognizer's landmarker and scored by both models, per condition;
- speed (--speed): the Recognizer's eye step (features + model) per face at batch 1, one core, the models taking
  turns in the same run (the best of 5 rounds' medians).

Run after `dvc repro evaluate@eyes evaluate@eyes_ordinal`:
nice -n 10 python -m bench.finished.eyes_compare [--robustness] [--speed]   (writes bench/results/eyes_compare.json,
eyes_robustness.json, eyes_speed.json; robustness about 10 minutes on one core)
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
from scipy.stats import binomtest

from bench.common import EYE_LABELS, median_ms, one_core, write_result
from bench.finished.shared import EYE_SMOKE_PER_LABEL, Run, arguments, eyes_version_1, smaller
from meshfer.runtime import bundled_models_dir, load_model
from meshfer.training.config import load_params
from meshfer.training.held_out import accuracy_interval, source_of
from meshfer.training.featurize import build_feature_table
from meshfer.training.scoring import decide, predict_proba_images

SPLITS = ("validation", "test")
ROUNDS = 5  # speed: rounds of every model's median over the faces


def models(project: Path) -> dict:
    serving = project / "models" / "serving"
    return {"served (package)": load_model(bundled_models_dir() / "eyes"),
            "new (this run)": load_model(serving / "eyes"),
            "eyes_ordinal (this run)": load_model(serving / "eyes_ordinal")}


def predictions(found_models: dict, run: Run) -> dict:
    """Per model and split: (paths, true label, predicted label) of every image of the split."""
    landmarks, tables, out = run.project / "data" / "eyes" / "landmarks", {}, {}
    for name, model in found_models.items():
        key = json.dumps(model.card.feature_params, sort_keys=True)
        if key not in tables:
            table = build_feature_table(landmarks, "eyes", model.card.feature_params)
            tables[key] = smaller(table, EYE_SMOKE_PER_LABEL) if run.smoke else table
        table = tables[key]
        out[name] = {split: (table.path[table.rows(split, False)], table.y[table.rows(split, False)],
                             decide(predict_proba_images(model, table, split))) for split in SPLITS}
    return out


def targets(y: np.ndarray, pred: np.ndarray) -> dict:
    """The issue's target figures; no face counts as wrong and as 3 steps off."""
    steps = np.where(pred < 0, len(EYE_LABELS) - 1, np.abs(pred - y))
    right = int(np.sum(pred == y))
    return {"faces": int(len(y)), "accuracy": round(right / max(len(y), 1), 4),
            "accuracy_ci95": accuracy_interval(right, len(y)), "mae_steps": round(float(np.mean(steps)), 4),
            "two_or_more_steps_off": round(float(np.mean(steps >= 2)), 4),
            "recall": {name: round(float(np.mean(pred[y == i] == i)), 4) for i, name in enumerate(EYE_LABELS)
                       if (y == i).any()}}


def paired(y: np.ndarray, served: np.ndarray, new: np.ndarray) -> dict:
    """The two models on the same faces: accuracy each, the difference (new - served) with a paired Wald 95 %
    interval, and McNemar's exact test on the discordant faces."""
    a, b = served == y, new == y
    only_served, only_new, n = int(np.sum(a & ~b)), int(np.sum(~a & b)), len(y)
    diff = (only_new - only_served) / n
    se = np.sqrt(max(only_new + only_served - (only_new - only_served) ** 2 / n, 0)) / n
    discordant = only_new + only_served
    return {"faces": n, "served": {"accuracy": round(float(a.mean()), 4), "ci95": accuracy_interval(int(a.sum()), n)},
            "new": {"accuracy": round(float(b.mean()), 4), "ci95": accuracy_interval(int(b.sum()), n)},
            "difference_new_minus_served": round(float(diff), 4),
            "difference_ci95": [round(float(diff - 1.96 * se), 4), round(float(diff + 1.96 * se), 4)],
            "only_served_right": only_served, "only_new_right": only_new,
            "mcnemar_exact_p": round(float(binomtest(only_new, discordant).pvalue), 4) if discordant else 1.0}


def by_source(paths: np.ndarray, fn, *arrays) -> dict:
    sources = np.array([source_of(p) for p in paths])
    return {"all": fn(*arrays), **{s: fn(*(x[sources == s] for x in arrays)) for s in np.unique(sources)}}


def comparison(run: Run) -> dict:
    found = models(run.project)
    preds = predictions(found, run)
    with tempfile.TemporaryDirectory() as work:
        old = eyes_version_1(load_params(run.project / "params.yaml")["datasets"]["eyes"], run.project / "data" / "raw",
                             Path(work))
    old_test = {f"{folder}/{file}" for folder, file in old.loc[old["split"] == "test", ["source_folder", "file"]]
                .itertuples(index=False)}
    out = {"models": {name: {"card_metrics": m.card.metrics, "feature_params": m.card.feature_params,
                             "model_params": m.card.model_params} for name, m in found.items()}}
    served = preds["served (package)"]
    for name in ("new (this run)", "eyes_ordinal (this run)"):
        paths, y, new = preds[name]["test"]
        keep = np.isin(paths, list(old_test))
        assert np.array_equal(paths, served["test"][0])
        out.setdefault("paired_old_test_faces", {})[name] = by_source(
            paths[keep], paired, y[keep], served["test"][2][keep], new[keep])
        paths, y, new = preds[name]["validation"]
        out.setdefault("paired_new_validation", {})[name] = by_source(paths, paired, y, served["validation"][2], new)
    out["old_test_faces_found"] = int(np.isin(served["test"][0], list(old_test)).sum())
    for name, by_split in preds.items():
        for split, (paths, y, pred) in by_split.items():
            out.setdefault(f"targets_new_{split}", {})[name] = by_source(paths, targets, y, pred)
    return out


CONDITIONS = {"clean": None, "resized to 0.5x": ("resize", 0.5), "resized to 2x": ("resize", 2.0),
              "blur sigma 1": ("blur", 1.0), "blur sigma 2": ("blur", 2.0), **{f"jpeg {q}": ("jpeg", q)
                                                                                 for q in (30, 50, 70, 90)}}


def corrupt(image: np.ndarray, condition) -> np.ndarray:
    import cv2

    if condition is None:
        return image
    kind, value = condition
    if kind == "resize":
        return cv2.resize(image, None, fx=value, fy=value, interpolation=cv2.INTER_AREA if value < 1
                          else cv2.INTER_CUBIC)
    if kind == "blur":
        return cv2.GaussianBlur(image, (0, 0), value)
    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(image[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, value])
    return cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]


def robustness(run: Run) -> dict:
    from meshfer import Recognizer
    from meshfer.features import MeshBatch, compute_features
    from meshfer.imageio import read_rgb

    found = models(run.project)
    table = build_feature_table(run.project / "data" / "eyes" / "landmarks", "eyes", {"kind": "eye_shape"})
    test = table.rows("test", False)
    if run.smoke:
        test &= np.cumsum(test) <= 6
    paths, y = table.path[test], table.y[test]
    sources = np.array([source_of(p) for p in paths])
    out = {}
    with Recognizer(eyes=False) as rec:
        originals = [read_rgb(run.project / p) for p in paths]
        for name, condition in list(CONDITIONS.items())[:2 if run.smoke else None]:
            images = [corrupt(image, condition) for image in originals]
            faces = [rec.landmarker.detect(image) for image in images]
            hit = np.array([bool(f) for f in faces])
            batch = MeshBatch(*(np.stack([getattr(f[0], k) for f in faces if f]) for k in ("points", "blendshapes",
                                                                                           "pose")),
                              [image for image, f in zip(images, faces) if f])
            out[name] = {"faces_found": round(float(hit.mean()), 4)}
            for model_name, model in found.items():
                pred = np.full(len(paths), -1)
                proba = model.predict_proba(compute_features(batch, model.card.feature_params))
                pred[hit] = (proba.mean(axis=1) if proba.ndim == 3 else proba).argmax(axis=1)
                out[name][model_name] = {"all": targets(y, pred), **{
                    s: targets(y[sources == s], pred[sources == s]) for s in np.unique(sources)}}
            print(name, {m: out[name][m]["all"]["accuracy"] for m in found}, flush=True)
    return out


def speed(run: Run) -> dict:
    from meshfer import Recognizer
    from meshfer.features import MeshBatch
    from meshfer.imageio import read_rgb

    one_core()
    faces, rounds = (4, 1) if run.smoke else (100, ROUNDS)
    table = build_feature_table(run.project / "data" / "eyes" / "landmarks", "eyes", {"kind": "eye_shape"})
    paths = table.path[table.rows("test", False)]
    picked = [paths[i] for i in np.linspace(0, len(paths) - 1, faces).astype(int)]
    with Recognizer() as rec:
        found = [(image, f) for image in (read_rgb(run.project / p) for p in picked)
                 if (f := rec.landmarker.detect(image))]

        def batch(k: int) -> MeshBatch:
            image, f = found[k % len(found)]
            return MeshBatch(np.stack([x.points for x in f]), np.stack([x.blendshapes for x in f]),
                             np.stack([x.pose for x in f]), [image] * len(f))

        counter = iter(range(10**9))
        times: dict = {}
        loaded = models(run.project)
        for _ in range(rounds):  # the models take turns, so a busy spell on a shared machine hits both
            for name, model in loaded.items():
                rec.eye_model = model
                # A fresh batch each call: MeshBatch caches features, as the Recognizer computes them once per image.
                times.setdefault(name, []).append(
                    median_ms(lambda _: rec.eye_probabilities(batch(next(counter))), len(found), warmup=3))
        out = {name: {"eye_step_ms_per_face_best_round": min(t), "per_round": t} for name, t in times.items()}
        out["faces"] = len(found)
    return out


def options(parser) -> None:
    parser.add_argument("--robustness", action="store_true", help="also the corrupted test images (slow)")
    parser.add_argument("--speed", action="store_true", help="also the eye step's time per face")


def main(argv: list[str] | None = None) -> None:
    args, run = arguments(__doc__, argv, options)
    write_result("eyes_compare", {"command": "nice -n 10 python -m bench.finished.eyes_compare", **comparison(run)},
                 run.results)
    if args.speed:
        write_result("eyes_speed", {"command": "nice -n 10 python -m bench.finished.eyes_compare --speed",
                                    **speed(run)}, run.results)
    if args.robustness:
        write_result("eyes_robustness", {"command": "nice -n 10 python -m bench.finished.eyes_compare --robustness",
                                         "conditions": robustness(run)}, run.results)


if __name__ == "__main__":
    main()
