"""`make promote` (``python -m meshfer.training.promote``): a full-data run's bundled models (models/bundle/, made by
the bundle stages) into the package (meshfer/assets/models/), with serving.json naming the Recognizer's default.

This is the only way the package's models change. It refuses, with one line, a run on a subset of the data
(`max_per_label` > 0, as `make quick` and the tests use) and a run that is not up to date with params.yaml and the
code (`dvc status`), so what ships is always what the committed dvc.lock describes.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from meshfer.card import CARD_FILE
from meshfer.runtime import SERVING_FILE
from meshfer.scores import validation_accuracy
from meshfer.training.config import PARAMS_FILE, bundle_dir, load_params, write_json
from meshfer.training.fingerprint import FINGERPRINT_JSON

PACKAGE_MODELS = Path("meshfer") / "assets" / "models"
LOCK_FILE = "dvc.lock"


class PromoteError(RuntimeError):
    """The run cannot ship; the message is one line that says why."""


def check_full_data(params: dict, lock: dict) -> None:
    """Every dataset in full, both as params.yaml says now and as the run recorded in dvc.lock."""
    for name, dataset in params["datasets"].items():
        recorded = (lock.get("stages", {}).get(f"prepare@{name}", {}).get("params", {}).get(PARAMS_FILE, {})
                    .get(f"datasets.{name}.max_per_label"))
        for where, value in (("params.yaml", dataset["max_per_label"]), ("dvc.lock", recorded)):
            if value != 0:
                raise PromoteError(f"not a full-data run: datasets.{name}.max_per_label is {value} in {where} "
                                   "(a subset's models never ship; run `dvc repro` with it at 0)")


def check_up_to_date() -> None:
    """Nothing to reproduce but the `locate` stages, which always run."""
    proc = subprocess.run([sys.executable, "-m", "dvc", "status", "--json"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise PromoteError(f"dvc status failed: {' '.join(proc.stderr.split())[:300]}")
    stale = sorted(stage for stage in json.loads(proc.stdout or "{}") if not stage.startswith("locate@"))
    if stale:
        raise PromoteError(f"the run is not up to date ({', '.join(stale[:4])}{' ...' if len(stale) > 4 else ''} "
                           "changed): run `dvc repro` first")


def promote(bundled: list[str], source: Path = bundle_dir(), dest: Path = PACKAGE_MODELS) -> str:
    """Replace the package's models with the run's; returns the default approach written to serving.json."""
    missing = [a for a in bundled if not all((source / a / name).is_file() for name in (CARD_FILE, FINGERPRINT_JSON))]
    if missing:
        raise PromoteError(f"{source} lacks {', '.join(missing)} (a card and its fingerprint): run `dvc repro` first")
    cards = {a: json.loads((source / a / CARD_FILE).read_text()) for a in bundled}
    validation = {a: validation_accuracy(c["metrics"]) for a, c in cards.items() if c.get("task") == "expression"}
    if not validation:
        raise PromoteError("serving.bundled names no expression approach")
    shutil.rmtree(dest, ignore_errors=True)
    for approach in bundled:
        shutil.copytree(source / approach, dest / approach)
    default = max(validation, key=validation.get)
    write_json(dest / SERVING_FILE, {
        "default_approach": default,
        "chosen_by": "the highest validation accuracy among the bundled approaches (serving.bundled in params.yaml); "
                     "bench/results/predict.json measures each one's cost against the budget",
        "validation_accuracy": validation,
    })
    return default


def main() -> None:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    try:
        params = load_params()
        lock = yaml.safe_load(Path(LOCK_FILE).read_text()) if Path(LOCK_FILE).is_file() else {}
        check_full_data(params, lock)
        check_up_to_date()
        default = promote(params["serving"]["bundled"])
    except (PromoteError, ValueError) as err:
        print(f"promote: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"promote: {', '.join(params['serving']['bundled'])} -> {PACKAGE_MODELS} (default: {default})")


if __name__ == "__main__":
    main()
