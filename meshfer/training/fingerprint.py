"""A shipped model's fingerprint: what the pipeline evaluated on a fixed sample of its test split, written beside
its card (``fingerprint.json`` + ``fingerprint.npz``) so that a test can check, without the run's ``data/``, that
the package serves what was evaluated and that it is any good.

The sample is seeded by each image's path below its dataset folder, so every model of a dataset gets the same images
(the expression models: the same FER-2013 test faces). The arrays hold, per sampled image: its path (relative to its
dataset folder, whose name is in the JSON) and SHA-256, its label, and the model's probabilities as the evaluate
stage computes them (NaN where no face was found). For the first ``STORED_INPUTS`` sampled images with a face they
also hold the stored meshes (points, blendshapes, pose, float32 as the landmark stage wrote them): the serving
runtime's input without MediaPipe. An ensemble's fingerprint holds no meshes: its test reads its members'.

Run as ``python -m meshfer.training.fingerprint <approach> --models DIR`` to fingerprint an already exported model
folder (e.g. the package's own) from this project's data/; the bundle stage calls :func:`write_for_bundle`.
"""
from __future__ import annotations

import argparse
import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from meshfer.card import CARD_FILE, EnsembleCard, read_card, sha256_of
from meshfer.runtime import load_expression_model, load_model
from meshfer.scores import split_metrics
from meshfer.training.config import dataset_of, load_params, serving_dir, write_json
from meshfer.training.feature_table import FeatureTable, load_features
from meshfer.training.scoring import decide, predict_proba_images

FINGERPRINT_JSON = "fingerprint.json"
FINGERPRINT_ARRAYS = "fingerprint.npz"
SAMPLE_SIZE = 1000  # 1,000 of FER-2013's 3,589 test faces: the sample's accuracy spreads by about +-1.3 points
STORED_INPUTS = 100  # meshes kept per model: 100 x 6 kB, so that all shipped models stay within a few MB
SEED = 0
SPLIT = "test"


@dataclass
class TestSplit:
    """The test images of one approach's features: per image its project path, label, whether a face was found,
    and the model's probabilities (NaN rows where no face)."""

    path: np.ndarray
    y: np.ndarray
    found: np.ndarray


def test_split(table: FeatureTable) -> TestSplit:
    """The test images of a feature table."""
    every = table.rows(SPLIT, with_face=False)
    return TestSplit(table.path[every], table.y[every], table.found[every])


def test_probabilities(model, table: FeatureTable) -> np.ndarray:
    """The model's probabilities for every test image, exactly as the evaluate stage computes them."""
    return predict_proba_images(model, table, SPLIT).astype(np.float32)


def relative_to_roots(paths: np.ndarray, roots: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(index of the dataset folder, path below it) per image; a path under no listed folder is refused."""
    which, rel = np.zeros(len(paths), np.int16), []
    for i, path in enumerate(paths):
        path = Path(path).as_posix()
        for r, root in enumerate(roots):
            prefix = Path(root).as_posix().rstrip("/") + "/"
            if path.startswith(prefix):
                which[i] = r
                rel.append(path[len(prefix):])
                break
        else:
            raise ValueError(f"{path} is in none of the dataset's folders {roots}")
    return which, np.array(rel, dtype=str)


def sample_rows(relative: np.ndarray, size: int = SAMPLE_SIZE, seed: int = SEED) -> np.ndarray:
    """The sampled images' positions, in sample order: ranked by a seeded hash of their path below the dataset
    folder, so the sample depends neither on listing order nor on the machine."""
    rank = np.array([zlib.crc32(f"{seed}:{p}".encode()) for p in relative], dtype=np.int64)
    return np.lexsort((relative, rank))[:size]


def _dataset_roots(approach: str, params: dict) -> list[dict]:
    from meshfer.training.datasets import dataset_roots

    return dataset_roots(params["datasets"][dataset_of(params, approach)])


def _stored_meshes(dataset: str, paths: np.ndarray) -> dict[str, np.ndarray]:
    """The landmark stage's records of the given images (all with a face), in that order."""
    from meshfer.training.landmark_store import RECORD_ARRAYS, load_landmarks

    table = load_landmarks(Path("data") / dataset / "landmarks")
    position = {p: i for i, p in enumerate(table.index["path"])}
    picked = np.array([position[p] for p in paths], dtype=int)
    return {name: getattr(table, name)[picked].astype(np.float32) for name in RECORD_ARRAYS}


def fingerprint_arrays(approach: str, models_root: Path, params: dict) -> tuple[dict, dict[str, np.ndarray]]:
    """(summary, arrays) of an approach's model in ``models_root`` on this project's data."""
    card = read_card(models_root / approach / CARD_FILE)
    members = card.members if isinstance(card, EnsembleCard) else [approach]
    features = {m: load_features(m) for m in members}
    split = test_split(features[members[0]])
    for member in members[1:]:
        if not np.array_equal(test_split(features[member]).path, split.path):
            raise ValueError(f"{member}'s features cover other test images than {members[0]}'s")
    probas = [test_probabilities(load_model(models_root / m), features[m]) for m in members]
    if isinstance(card, EnsembleCard):
        combined = np.full_like(probas[0], np.nan)
        combined[split.found] = load_expression_model(models_root, approach).combine([p[split.found] for p in probas])
        proba = combined.astype(np.float32)
    else:
        proba = probas[0]
    roots = _dataset_roots(members[0], params)
    which, relative = relative_to_roots(split.path, [r["root"] for r in roots])
    picked = sample_rows(relative)
    y_pred = _decide(proba)
    sample_scores = split_metrics(split.y[picked], y_pred[picked], card.labels, ordinal=card.task == "eyes")
    full_scores = split_metrics(split.y, y_pred, card.labels, ordinal=card.task == "eyes")
    arrays = {
        "root": which[picked], "path": relative[picked],
        "sha256": np.array([sha256_of(p) for p in split.path[picked]], dtype=str),
        "label": split.y[picked].astype(np.int16), "found": split.found[picked], "proba": proba[picked],
    }
    if not isinstance(card, EnsembleCard):
        with_face = picked[split.found[picked]][:STORED_INPUTS]
        meshes = _stored_meshes(dataset_of(params, approach), split.path[with_face])
        arrays.update({"stored": np.isin(picked, with_face), **meshes})
    summary = {
        "approach": approach, "task": card.task, "labels": list(card.labels), "split": SPLIT, "seed": SEED,
        "model_sha256": _model_hashes(models_root, members, card),
        "dataset_roots": [{"name": Path(r["root"]).name, "env": r.get("root_env", "")} for r in roots],
        "images": int(len(picked)), "of_split_images": int(len(split.path)),
        "stored_meshes": 0 if isinstance(card, EnsembleCard) else int(len(with_face)),
        "sample": sample_scores, "whole_split": {"accuracy": full_scores["accuracy"], "images": full_scores["images"]},
        "probabilities": "the evaluate stage's computation (meshfer.training.scoring.predict_proba_images) on the "
                         "run's features" + (", the members' combined by the served combiner"
                                             if isinstance(card, EnsembleCard) else ""),
    }
    return summary, arrays


def _decide(proba: np.ndarray) -> np.ndarray:
    return decide(proba)


def _model_hashes(models_root: Path, members: list[str], card) -> dict[str, str]:
    """SHA-256 of every file the fingerprint was made with (an ensemble's combiner and its members')."""
    hashes = {m: sha256_of(models_root / m / read_card(models_root / m / CARD_FILE).format) for m in members}
    if isinstance(card, EnsembleCard) and card.combiner != "mean":
        hashes[card.approach] = sha256_of(models_root / card.approach / card.combiner)
    return hashes


def write(directory: Path, summary: dict, arrays: dict[str, np.ndarray]) -> None:
    """The summary as JSON, the arrays compressed (a re-run with the same arrays writes the same bytes)."""
    import io
    import zipfile

    directory.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(directory / FINGERPRINT_ARRAYS, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=False)
            archive.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), buffer.getvalue(),
                             compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    summary = {**summary, "arrays": FINGERPRINT_ARRAYS,
               "arrays_sha256": hashlib.sha256((directory / FINGERPRINT_ARRAYS).read_bytes()).hexdigest()}
    write_json(directory / FINGERPRINT_JSON, summary)


def write_for_bundle(approach: str, target: Path) -> None:
    """The bundle stage's call: fingerprint the run's exported model (models/serving) into its bundle folder."""
    summary, arrays = fingerprint_arrays(approach, serving_dir(), load_params())
    write(target, summary, arrays)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("approach", help="an entry of `serving.bundled` in params.yaml")
    parser.add_argument("--models", type=Path, default=serving_dir(), help="the models folder (default: %(default)s)")
    parser.add_argument("--data-note", default="",
                        help="how this project's data differs from the model's own run (kept in the summary)")
    args = parser.parse_args()
    summary, arrays = fingerprint_arrays(args.approach, args.models, load_params())
    write(args.models / args.approach, {**summary, **({"data_note": args.data_note} if args.data_note else {})}, arrays)
    print(f"{args.approach}: sample accuracy {summary['sample']['accuracy']} on {summary['images']} images "
          f"(whole split {summary['whole_split']['accuracy']})")


if __name__ == "__main__":
    main()
