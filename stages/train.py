"""Stage `train@<approach>`: fit on the training split -> models/trained/<approach>/ (model + card.json) and
dvclive's record of the training in metrics/training/<approach>/."""
import json
import logging
import resource
import shutil
from pathlib import Path

from meshfer.training.config import dataset_of, load_params, project_root, stage_args, trained_dir
from meshfer.training.feature_table import load_features
from meshfer.training.fitting import fit

# Not an output: wall time and memory are machine noise, kept out of git and dvc.lock; in the project itself, so
# that a queued or temporary experiment's (run in a copy under .dvc/tmp/exps/) are kept too.
COSTS = project_root() / "data" / "costs"


def main() -> None:
    approach = stage_args(__doc__, "approach", "a key of `approaches` in params.yaml")
    params = load_params()
    dataset = params["datasets"][dataset_of(params, approach)]
    live_dir = Path("metrics") / "training" / approach
    shutil.rmtree(live_dir, ignore_errors=True)
    model, cost = fit(load_features(approach), approach, params[approach], dataset["task"], dataset["landmarks"],
                      live_dir=live_dir)
    model.save(trained_dir(approach))
    cost["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    COSTS.mkdir(parents=True, exist_ok=True)
    (COSTS / f"train@{approach}.json").write_text(json.dumps(cost) + "\n")
    logging.getLogger("train").info("%s: %s", approach, cost)


if __name__ == "__main__":
    main()
