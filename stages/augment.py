"""Stage `augment@<dataset>`: balance the training split; write data/<dataset>/augmented/."""
import argparse
from pathlib import Path

import pandas as pd

from meshfer.augment import augment_manifest
from meshfer.config import load_params, setup_logging


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dataset")
    args = parser.parse_args()
    setup_logging()
    params = load_params()["datasets"][args.dataset]["augment"]
    out = Path("data") / args.dataset / "augmented"
    out.mkdir(parents=True, exist_ok=True)
    manifest = pd.read_parquet(Path("data") / args.dataset / "prepared" / "manifest.parquet")
    augment_manifest(manifest, out, params).to_parquet(out / "manifest.parquet", index=False)


if __name__ == "__main__":
    main()
