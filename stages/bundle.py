"""Stage `bundle`: the exported models that are fast enough to serve (`serving.bundled`), each card carrying its
measured metrics, into the package (meshfer/assets/models/), with serving.json naming the Recognizer's default
approach, so that `pip install` users predict offline without running the pipeline."""
import argparse
import json
import shutil
from pathlib import Path

from meshfer.card import CARD_FILE
from meshfer.training.config import load_params, serving_dir, setup_logging, write_json
from meshfer.runtime import SERVING_FILE

PACKAGE_MODELS = Path("meshfer") / "assets" / "models"  # the declared output, in this checkout


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    setup_logging()
    params = load_params()
    shutil.rmtree(PACKAGE_MODELS, ignore_errors=True)
    rule = params["serving"]
    validation = {}
    for approach in rule["bundled"]:
        target = PACKAGE_MODELS / approach
        shutil.copytree(serving_dir(approach), target)
        metrics = json.loads((Path("metrics") / f"{approach}.json").read_text())
        card = json.loads((target / CARD_FILE).read_text())
        (target / CARD_FILE).write_text(json.dumps({**card, "metrics": metrics}, indent=2) + "\n")
        if card.get("task") == "expression":
            validation[approach] = metrics.get("validation", {}).get("accuracy", 0.0)
    write_json(PACKAGE_MODELS / SERVING_FILE, {
        "default_approach": max(validation, key=validation.get),
        "chosen_by": "the highest validation accuracy among the bundled approaches (serving.bundled in params.yaml); "
                     "bench/results/predict.json measures each one's cost against the budget",
        "budget": rule["budget"], "validation_accuracy": validation,
    })


if __name__ == "__main__":
    main()
