"""Stage `bundle@<approach>`, for each approach the package may ship (`serving.bundled`): its exported file and
card, the card carrying the measured metrics, and its fingerprint (meshfer.training.fingerprint: a fixed sample of
the test split with the evaluated probabilities, which the tests check the package against)
-> models/bundle/<approach>/. Never the package itself: a run's models reach meshfer/assets/models/ only through
`make promote`, which refuses a subset or out-of-date run."""
import json
import shutil
from pathlib import Path

from meshfer.card import CARD_FILE
from meshfer.training.config import bundle_dir, serving_dir, stage_args
from meshfer.training.fingerprint import write_for_bundle


def main() -> None:
    approach = stage_args(__doc__, "approach", "an entry of `serving.bundled` in params.yaml")
    target = bundle_dir(approach)
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(serving_dir(approach), target)
    metrics = json.loads((Path("metrics") / f"{approach}.json").read_text())
    card = json.loads((target / CARD_FILE).read_text())
    (target / CARD_FILE).write_text(json.dumps({**card, "metrics": metrics}, indent=2) + "\n")
    write_for_bundle(approach, target)


if __name__ == "__main__":
    main()
