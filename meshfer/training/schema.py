"""What params.yaml may say: every section's keys, their types and ranges. Checked whenever the pipeline reads it
(``config.load_params``), so a typo (``-S +pca_svm.model.c=10``), a wrong type or an impossible value stops a stage
in well under a second with one line naming the key, instead of training with a default or failing deep inside
scikit-learn.

A new feature or model kind adds its entry to FEATURES or MODELS below (and nothing else here).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from meshfer.features import EYE_X, EYE_Y, SCLERA_VERSIONS, patch_fits
from meshfer.mesh import N_LANDMARKS


class ParamsError(ValueError):
    """A value in params.yaml that the pipeline cannot use; the message is one line that names the key."""


Check = Callable[[Any, str], None]


def _fail(key: str, why: str) -> None:
    raise ParamsError(f"params.yaml: {key}: {why}")


def number(lo: float | None = None, hi: float | None = None, *, integer: bool = False, lo_open: bool = False
           ) -> Check:
    def check(value: Any, key: str) -> None:
        kinds = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds):
            _fail(key, f"{value!r} is not {'an integer' if integer else 'a number'}")
        if lo is not None and (value <= lo if lo_open else value < lo):
            _fail(key, f"{value!r} is out of range (must be {'>' if lo_open else '>='} {lo})")
        if hi is not None and value > hi:
            _fail(key, f"{value!r} is out of range (must be <= {hi})")
    return check


def integer(lo: int | None = None, hi: int | None = None) -> Check:
    return number(lo, hi, integer=True)


def flag(value: Any, key: str) -> None:
    if not isinstance(value, bool):
        _fail(key, f"{value!r} is not true or false")


def text(value: Any, key: str) -> None:
    if not isinstance(value, str):
        _fail(key, f"{value!r} is not a string")


def one_of(*choices: Any) -> Check:
    def check(value: Any, key: str) -> None:
        if isinstance(value, bool) or value not in choices:
            _fail(key, f"{value!r} is not one of {', '.join(map(str, choices))}")
    return check


def nullable(inner: Check) -> Check:
    def check(value: Any, key: str) -> None:
        if value is not None:
            inner(value, key)
    return check


def list_of(inner: Check, length: int | None = None, min_length: int = 0) -> Check:
    def check(value: Any, key: str) -> None:
        if not isinstance(value, list):
            _fail(key, f"{value!r} is not a list")
        if (length is not None and len(value) != length) or len(value) < min_length:
            _fail(key, f"has {len(value)} items (needs {length if length is not None else f'{min_length}+'})")
        for i, item in enumerate(value):
            inner(item, f"{key}[{i}]")
    return check


def mapping_of(inner: Check) -> Check:
    def check(value: Any, key: str) -> None:
        if not isinstance(value, Mapping):
            _fail(key, "is not a section (key: value pairs)")
        for name, item in value.items():
            inner(item, f"{key}.{name}")
    return check


def fields(spec: Mapping[str, Check], required: tuple[str, ...] = ()) -> Check:
    """A section with exactly these keys (those in ``required`` must be there; the rest have defaults in code)."""
    def check(value: Any, key: str) -> None:
        if not isinstance(value, Mapping):
            _fail(key, "is not a section (key: value pairs)")
        for name in value:
            if name not in spec:
                _fail(f"{key}.{name}", f"unknown key ({key} takes {', '.join(sorted(spec))})")
        for name in required:
            if name not in value:
                _fail(f"{key}.{name}", "missing")
        for name, item in value.items():
            spec[name](item, f"{key}.{name}")
    return check


def by_kind(kinds: Mapping[str, Mapping[str, Check]], required: tuple[str, ...] = ()) -> Check:
    """A section whose ``kind`` picks which other keys it takes."""
    def check(value: Any, key: str) -> None:
        if not isinstance(value, Mapping) or "kind" not in value:
            _fail(f"{key}.kind", "missing")
        kind = value["kind"]
        if kind not in kinds:
            _fail(f"{key}.kind", f"{kind!r} is not one of {', '.join(kinds)}")
        fields({"kind": text, **kinds[kind]}, required)(value, key)
    return check


fraction = number(0, 1)
seed = integer(0)
landmark = integer(0, N_LANDMARKS - 1)
positive = number(0, lo_open=True)

# --- datasets -------------------------------------------------------------------------------------------------
AUGMENT = fields({
    "target_per_class": integer(0), "grid_distortion_p": fraction, "grid_num_steps": integer(1),
    "grid_distort_limit": fraction, "optical_distortion_p": fraction, "optical_distort_limit": fraction,
    "horizontal_flip_p": fraction, "jpeg_p": fraction, "jpeg_quality": list_of(integer(1, 100), 2),
    "noise_p": fraction, "noise_std": list_of(fraction, 2), "seed": seed,
}, required=("target_per_class", "seed"))
LANDMARKS = fields({
    "num_faces": integer(1), "min_detection_confidence": fraction, "fallback_detection_confidence": fraction,
    "min_presence_confidence": fraction, "pad_fraction": number(0, 2), "pad_mode": one_of("constant", "replicate"),
    "min_side": integer(0), "retry_pad_fractions": list_of(number(0, 2)),
    "retry_pad_modes": list_of(one_of("constant", "replicate")), "denoise_sigma": number(0),
    "n_jobs": integer(-1), "backend": one_of("loky", "dask"), "scheduler_address": text, "chunk_size": integer(1),
}, required=("num_faces", "n_jobs", "backend", "chunk_size"))
NEAR_COPIES = fields({"similarity": number(0, 1), "max_shift_px": integer(0, 8), "mirrored": flag},
                     required=("similarity", "max_shift_px", "mirrored"))
ROOT = fields({"root": text, "root_env": text, "where_to_get_it": text, "same_photo": text,
               "agreement": text, "keep_splits_of_annotators": list_of(integer(1), min_length=1)},
              required=("root", "root_env", "where_to_get_it"))
DATASET = fields({
    "task": one_of("expression", "eyes"), "root": text, "root_env": text, "where_to_get_it": text,
    "more_roots": list_of(ROOT),
    "aliases": mapping_of(text),
    "split_fractions": fields({"train": fraction, "validation": fraction, "test": fraction},
                              required=("train", "validation", "test")),
    "max_per_label": integer(0), "seed": seed, "augment": AUGMENT, "landmarks": LANDMARKS,
    "near_copies": NEAR_COPIES,
}, required=("task", "root", "root_env", "where_to_get_it", "more_roots", "aliases", "max_per_label", "seed",
             "augment", "landmarks", "near_copies"))

# --- approaches: features and models by kind ------------------------------------------------------------------
DIMS = one_of(2, 3)
DISTANCES = {"dims": DIMS, "reference": landmark, "scale_pair": list_of(landmark, 2)}
ALIGNED_MESH = {"dims": DIMS, "append_blendshapes": flag}
FEATURES = {
    "distances": DISTANCES,
    "blendshapes": {"append_distances": flag, "distances": fields(DISTANCES)},
    "mesh_nodes": {"dims": DIMS, "level_eyes": flag},
    "aligned_mesh": ALIGNED_MESH,
    "aligned_face": {"crop_px": integer(16, 256), "eye_x": fraction, "eye_y": fraction,
                     "mesh": by_kind({"aligned_mesh": ALIGNED_MESH})},
    "eye_shape": {"combine": one_of("per_eye", "mean"), "sclera": one_of(*SCLERA_VERSIONS)},
    "eyes": {"combine": one_of("per_eye", "mean"), "iris": flag, "sclera": one_of(0, *SCLERA_VERSIONS),
             "blendshapes": flag, "periocular": flag,
             "patch": nullable(fields({"crop_px": integer(16, 256), "width_px": integer(2), "height_px": integer(2)},
                                      required=("crop_px", "width_px", "height_px")))},
}
CLASS_WEIGHT = nullable(one_of("balanced"))
PCA = {"pca_components": integer(0), "pca_on": one_of("all", "coordinates", "pixels")}
NETWORK = {
    "learning_rate": positive, "batch_size": integer(1), "epochs": integer(1), "patience": integer(1),
    "lr_patience": integer(0), "schedule": one_of("plateau", "cosine"), "warmup_epochs": integer(0),
    "weight_decay": number(0), "label_smoothing": number(0, 0.5), "ema_decay": number(0, 0.99999), "mixup": number(0),
    "dropout": number(0, 0.95),
    "dense_units": integer(1), "class_weight": CLASS_WEIGHT, "seed": seed,
}
MODELS = {
    "svm": {**PCA, "C": positive, "kernel": one_of("rbf", "linear", "poly", "sigmoid"),
            "gamma": one_of("scale", "auto"), "degree": integer(1), "class_weight": CLASS_WEIGHT,
            "per_eye_samples": flag, "seed": seed},
    "hgb": {**PCA, "learning_rate": positive, "max_iter": integer(1), "max_leaf_nodes": integer(2),
            "l2_regularization": number(0), "validation_fraction": number(0, 0.5), "class_weight": CLASS_WEIGHT,
            "per_eye_samples": flag, "seed": seed},
    "logistic_at": {**PCA, "alpha": number(0), "max_iter": integer(1), "per_eye_samples": flag, "seed": seed},
    "logreg": {**PCA, "C": positive, "max_iter": integer(1), "per_eye_samples": flag, "seed": seed},
    "gnn": {**NETWORK, "conv": one_of("gcn", "gcs"), "channels": list_of(integer(1), min_length=1),
            "pooling": one_of("flatten", "avg", "max"), "l2": number(0)},
    "cnn": {**NETWORK, "filters": list_of(integer(1), min_length=1), "block_dropout": number(0, 0.95),
            "shift": fraction, "contrast": fraction, "flip": flag, "erase": fraction, "tta_flip": flag,
            "quantize": nullable(one_of("int8"))},
}
APPROACH = fields({"features": by_kind(FEATURES), "model": by_kind(MODELS, required=("seed",))},
                  required=("features", "model"))

ENSEMBLE = fields({
    "candidates": list_of(text, min_length=1), "min_members": integer(1),
    "combiners": list_of(one_of("mean", "stacking"), min_length=1), "C": positive, "folds": integer(2),
    "priors": one_of("training", "validation"), "seed": seed,
}, required=("candidates", "min_members", "combiners", "C", "folds", "priors", "seed"))
SERVING = fields({"budget": text, "bundled": list_of(text, min_length=1)}, required=("bundled",))
TOP = {"datasets": mapping_of(DATASET), "approaches": mapping_of(text), "ensemble": ENSEMBLE, "serving": SERVING}


# DVC leaves keys of these names out of its run-cache key (dvc/stage/cache.py: they are file sizes in dvc.lock), in
# params too: a sweep over one would silently restore outputs made with another value.
DVC_BLIND_KEYS = ("size", "nfiles")


def _check_dvc_can_see(value: Any, key: str) -> None:
    if isinstance(value, Mapping):
        for name, item in value.items():
            where = f"{key}.{name}" if key else str(name)
            if name in DVC_BLIND_KEYS:
                _fail(where, f"DVC's run cache ignores keys named {' or '.join(DVC_BLIND_KEYS)} (a sweep would reuse "
                             "outputs made with another value); name it otherwise")
            _check_dvc_can_see(item, where)


def check_params(params: Any) -> None:
    """Raise ParamsError (one line, naming the key) unless every section of params.yaml is usable."""
    if not isinstance(params, Mapping):
        _fail("(top)", "is not a section (key: value pairs)")
    _check_dvc_can_see(params, "")
    approaches = params.get("approaches") or {}
    for name in params:
        if name not in TOP and name not in approaches:
            _fail(name, f"unknown section (params.yaml has {', '.join([*TOP, *approaches])})")
    for name, check in TOP.items():
        if name not in params:
            _fail(name, "missing section")
        check(params[name], name)
    for approach, dataset in approaches.items():
        if dataset not in params["datasets"]:
            _fail(f"approaches.{approach}", f"{dataset!r} is not a dataset ({', '.join(params['datasets'])})")
        if approach not in params:
            _fail(approach, f"missing section (approaches.{approach} names it)")
        APPROACH(params[approach], approach)
    _check_references(params)


def _check_references(params: Mapping) -> None:
    """Values that name other sections, and values that must agree with one another."""
    expression = [a for a, d in params["approaches"].items() if params["datasets"][d]["task"] == "expression"]
    for i, name in enumerate(params["ensemble"]["candidates"]):
        if name not in expression:
            _fail(f"ensemble.candidates[{i}]", f"{name!r} is not an expression approach ({', '.join(expression)})")
    if params["ensemble"]["min_members"] > len(params["ensemble"]["candidates"]):
        _fail("ensemble.min_members", "is more than ensemble.candidates lists")
    for i, name in enumerate(params["serving"]["bundled"]):
        if name not in params["approaches"] and name != "ensemble":
            _fail(f"serving.bundled[{i}]", f"{name!r} is not an approach (nor ensemble)")
    for name, dataset in params["datasets"].items():
        total = sum(dataset.get("split_fractions", {"train": 1}).values())
        if abs(total - 1) > 1e-6:
            _fail(f"datasets.{name}.split_fractions", f"add up to {total:g}, not 1")
    for approach in params["approaches"]:
        model, features = params[approach]["model"], params[approach]["features"]
        if model.get("pca_on") == "coordinates" and features["kind"] != "aligned_mesh":
            _fail(f"{approach}.model.pca_on", f"coordinates needs {approach}.features.kind aligned_mesh")
        if model.get("pca_on") == "pixels" and not features.get("patch"):
            _fail(f"{approach}.model.pca_on", f"pixels needs {approach}.features.patch")
        if features.get("patch") and not patch_fits(features["patch"]):
            _fail(f"{approach}.features.patch", "the patches leave the crop (centred on the eyes at "
                                                f"{EYE_X:g} and {1 - EYE_X:g} of its width, {EYE_Y:g} of its height)")
        if model["kind"] == "cnn" and features["kind"] != "aligned_face":
            _fail(f"{approach}.model.kind", f"cnn needs {approach}.features.kind aligned_face")
        if model["kind"] == "gnn" and features["kind"] != "mesh_nodes":
            _fail(f"{approach}.model.kind", f"gnn needs {approach}.features.kind mesh_nodes")
