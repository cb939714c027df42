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
    """params.yaml, checked against meshfer.training.schema (raises ParamsError: one line naming the key)."""
    from meshfer.training.schema import ParamsError, check_params

    text = Path(path).read_text(encoding="utf-8")
    try:
        shared = next((t for t in yaml.scan(text) if isinstance(t, (yaml.AnchorToken, yaml.AliasToken))), None)
        params = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML ({' '.join(str(err).split())})") from None
    if shared is not None:
        # `dvc exp run -S` edits one spot of the file: a value shared through an anchor would change in one place
        # and not the other, or in both where one was named.
        raise ParamsError(f"{path}: line {shared.start_mark.line + 1}: YAML anchors and aliases are not allowed "
                          "(`dvc exp run -S` must change exactly the key it names); write the value out")
    check_params(params)
    return params


# A queued experiment (`dvc exp run --queue`) runs in a temporary copy of the project at
# <project>/.dvc/tmp/exps/<name>/, which holds the git-tracked files only: not the links to the data.
QUEUED_COPY = (".dvc", "tmp", "exps")


def project_root(cwd: str | os.PathLike | None = None) -> Path:
    """The project a stage runs for: the current folder, or the project a queued experiment's copy was made from."""
    here = Path(cwd or os.getcwd()).resolve()
    parts = here.parts
    for i in range(len(parts) - len(QUEUED_COPY)):
        if parts[i:i + len(QUEUED_COPY)] == QUEUED_COPY:
            return Path(*parts[:i])
    return here


QUICK_FILE = "params_quick.yaml"


def quick_overrides(path: str | os.PathLike = QUICK_FILE) -> dict[str, Any]:
    """`make quick`'s values: dotted params.yaml keys (as `dvc exp run -S` takes them) -> value."""
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


def with_overrides(params: dict, overrides: dict[str, Any]) -> dict:
    """params with each dotted key set as `dvc exp run -S key=value` would (the key must exist)."""
    import copy

    params = copy.deepcopy(params)
    for dotted, value in overrides.items():
        *path, last = dotted.split(".")
        section = params
        for name in path:
            section = section[name]
        if last not in section:
            raise KeyError(f"{dotted} is not in params.yaml")
        section[last] = value
    return params


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


def trained_dir(approach: str) -> Path:
    """Where train@<approach> writes the model as its framework made it."""
    return Path("models") / "trained" / approach


def serving_dir(approach: str = "") -> Path:
    """Where export@<approach> writes the ONNX file + card that serving loads (and the ensemble its card)."""
    return Path("models") / "serving" / approach


def bundle_dir(approach: str = "") -> Path:
    """Where bundle@<approach> puts what the package would ship from this run (see meshfer.training.promote)."""
    return Path("models") / "bundle" / approach


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
