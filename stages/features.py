"""Stage `features@<approach>`: feature arrays from the cached landmarks -> data/features/<approach>.npz."""
from pathlib import Path

from meshfer.training.config import dataset_of, load_params, stage_args
from meshfer.training.feature_table import features_path
from meshfer.training.featurize import build_feature_table


def main() -> None:
    approach = stage_args(__doc__, "approach", "a key of `approaches` in params.yaml")
    params = load_params()
    dataset = dataset_of(params, approach)
    table = build_feature_table(Path("data") / dataset / "landmarks", params["datasets"][dataset]["task"],
                                params[approach]["features"])
    table.save(features_path(approach))


if __name__ == "__main__":
    main()
