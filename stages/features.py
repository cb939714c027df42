"""Stage `features@<approach>`: feature arrays from the cached landmarks -> data/features/<approach>.npz."""
from pathlib import Path

from meshfer.training.config import dataset_of, features_path, load_params, save_arrays, stage_args
from meshfer.training.pipeline import feature_table


def main() -> None:
    approach = stage_args(__doc__, "approach", "a key of `approaches` in params.yaml")
    params = load_params()
    dataset = dataset_of(params, approach)
    table = feature_table(Path("data") / dataset / "landmarks", params["datasets"][dataset]["task"],
                          params[approach]["features"])
    save_arrays(features_path(approach), table)


if __name__ == "__main__":
    main()
