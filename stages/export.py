"""Stage `export`: copy the trained models, with their test metrics on the card, into the package
(meshfer/assets/models/) so that `pip install` users predict offline without running the pipeline."""
import argparse
import json
import shutil
from pathlib import Path

from meshfer.config import load_params, setup_logging
from meshfer.models import CARD_FILE
from meshfer.recognizer import ENSEMBLE_FILE


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    setup_logging()
    target_root = Path("meshfer") / "assets" / "models"  # the declared output, in this checkout
    shutil.rmtree(target_root, ignore_errors=True)
    params = load_params()
    for approach in params["approaches"]:
        source, target = Path("models") / approach, target_root / approach
        shutil.copytree(source, target)
        card = json.loads((source / CARD_FILE).read_text())
        card["metrics"] = {**card.get("metrics", {}), **json.loads((Path("metrics") / f"{approach}.json").read_text())}
        (target / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n")
    members = json.loads((Path("metrics") / "reports" / "ensemble.json").read_text())["members"]
    ensemble = {"members": members, "metrics": json.loads((Path("metrics") / "ensemble.json").read_text())}
    (target_root / ENSEMBLE_FILE).write_text(json.dumps(ensemble, indent=2) + "\n")


if __name__ == "__main__":
    main()
