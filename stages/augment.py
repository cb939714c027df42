"""Stage `augment@<dataset>`: balance the training split; write data/<dataset>/augmented/."""
from pathlib import Path

import pandas as pd

from meshfer.training.augment import augment_manifest
from meshfer.training.config import load_params, stage_args


def main() -> None:
    dataset = stage_args(__doc__, "dataset", "a key of `datasets` in params.yaml")
    params = load_params()["datasets"][dataset]["augment"]
    out = Path("data") / dataset / "augmented"
    out.mkdir(parents=True, exist_ok=True)
    manifest = pd.read_parquet(Path("data") / dataset / "prepared" / "manifest.parquet")
    augment_manifest(manifest, out, params).to_parquet(out / "manifest.parquet", index=False)


if __name__ == "__main__":
    main()
