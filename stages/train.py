"""Stage `train@<approach>`: fit on the training split -> models/<approach>/ (model file + card.json)."""
import argparse
from pathlib import Path

import numpy as np

from meshfer.config import dataset_of, load_params, setup_logging, write_json
from meshfer.pipeline import fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("approach")
    args = parser.parse_args()
    setup_logging()
    params = load_params()
    dataset = params["datasets"][dataset_of(params, args.approach)]
    with np.load(Path("data") / "features" / f"{args.approach}.npz", allow_pickle=False) as data:
        features = dict(data)
    model, training = fit(features, args.approach, params[args.approach], dataset["task"], dataset["landmarks"])
    model.save(Path("models") / args.approach)
    write_json(Path("metrics") / "training" / args.approach / "summary.json", training)


if __name__ == "__main__":
    main()
