"""Stage `features@<approach>`: feature arrays from the cached landmarks -> data/features/<approach>.npz."""
import argparse
from pathlib import Path

import numpy as np

from meshfer.config import dataset_of, load_params, setup_logging
from meshfer.pipeline import feature_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("approach")
    args = parser.parse_args()
    setup_logging()
    params = load_params()
    dataset = dataset_of(params, args.approach)
    table = feature_table(Path("data") / dataset / "landmarks", params["datasets"][dataset]["task"],
                          params[args.approach]["features"])
    out = Path("data") / "features" / f"{args.approach}.npz"
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **table)


if __name__ == "__main__":
    main()
