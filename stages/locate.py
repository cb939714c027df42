"""Stage `locate@<dataset>`: find the dataset's folders (always run: it is cheap) and fingerprint their files ->
data/<dataset>/source.json, which `prepare` depends on. A missing dataset stops the pipeline here, with where to
get it, before any other stage's outputs are touched."""
from pathlib import Path

from meshfer.training.config import load_params, stage_args, write_json
from meshfer.training.datasets import DatasetError, dataset_roots, fingerprint, locate_dataset


def main() -> None:
    dataset = stage_args(__doc__, "dataset", "a key of `datasets` in params.yaml")
    roots = dataset_roots(load_params()["datasets"][dataset])
    try:
        found = [locate_dataset(root) for root in roots]
    except DatasetError as err:
        raise SystemExit(f"locate@{dataset}: {err}") from None
    prints = [{"root": root["root"], **fingerprint(path)} for root, path in zip(roots, found)]
    write_json(Path("data") / dataset / "source.json", prints[0] if len(prints) == 1 else {"roots": prints})


if __name__ == "__main__":
    main()
