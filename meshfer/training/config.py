"""Reading params.yaml and writing small JSON outputs, the way every stage does."""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import yaml

PARAMS_FILE = "params.yaml"


def load_params(path: str | os.PathLike = PARAMS_FILE) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def dataset_of(params: dict, approach: str) -> str:
    try:
        return params["approaches"][approach]
    except KeyError:
        raise SystemExit(f"unknown approach {approach!r}; params.yaml lists {sorted(params['approaches'])}") from None


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_json(path: str | os.PathLike, data: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=_plain) + "\n", encoding="utf-8")


def features_path(approach: str) -> Path:
    return Path("data") / "features" / f"{approach}.npz"


def load_features(approach: str) -> dict[str, np.ndarray]:
    """The arrays the features stage wrote for an approach (see meshfer.training.pipeline.feature_table)."""
    return load_arrays(features_path(approach))


def trained_dir(approach: str) -> Path:
    """Where train@<approach> writes the model as its framework made it."""
    return Path("models") / "trained" / approach


def serving_dir(approach: str = "") -> Path:
    """Where export@<approach> writes the ONNX file + card that serving loads (and the ensemble its card)."""
    return Path("models") / "serving" / approach


def save_arrays(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """An .npz that is byte-identical for identical arrays (np.savez stamps the time into its zip entries), so
    a re-run that computes the same features does not make DVC retrain the models that read them."""
    import zipfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            entry = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with archive.open(entry, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asanyarray(array), allow_pickle=False)


def load_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return dict(data)


def setup_logging() -> None:
    logging.basicConfig(level=os.environ.get("MESHFER_LOG", "INFO"), format="%(levelname)s %(name)s: %(message)s")


def stage_args(doc: str | None, name: str, help_text: str) -> str:
    """Parse a stage's single argument (the dataset or approach it runs for) and set up logging."""
    import argparse

    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument(name, help=help_text)
    value = getattr(parser.parse_args(), name)
    setup_logging()
    return value
