"""Stage `prepare@<dataset>`: index the labelled images of every folder of the dataset (`root`, `more_roots`), each
split on its own, mark the validation and test images that copy a training image, drop training images whose
copies disagree on the label -> data/<dataset>/prepared/manifest.parquet, report.json."""
from pathlib import Path

import pandas as pd

from meshfer.training.config import load_params, stage_args, write_json
from meshfer.training.datasets import DatasetError, dataset_roots, read_dataset
from meshfer.training.near_copies import mark_copies


def main() -> None:
    dataset = stage_args(__doc__, "dataset", "a key of `datasets` in params.yaml")
    params = load_params()["datasets"][dataset]
    out = Path("data") / dataset / "prepared"
    out.mkdir(parents=True, exist_ok=True)
    manifests, reports = [], {}
    for root in dataset_roots(params):
        try:
            manifest, report = read_dataset(Path(root["root"]), params, out)
        except DatasetError as err:
            raise SystemExit(f"prepare@{dataset}: {err}\n{root['where_to_get_it']}") from None
        manifests.append(manifest)
        reports[root["root"]] = report.to_dict()
    manifest, copies = mark_copies(pd.concat(manifests, ignore_index=True), params["near_copies"])
    manifest.to_parquet(out / "manifest.parquet", index=False)
    write_json(out / "report.json", {**reports, "copies_of_training_images": copies})


if __name__ == "__main__":
    main()
