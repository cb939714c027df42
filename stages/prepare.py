"""Stage `prepare@<dataset>`: index the labelled images into data/<dataset>/prepared/manifest.parquet."""
from pathlib import Path

from meshfer.training.config import load_params, stage_args, write_json
from meshfer.training.datasets import DatasetError, read_dataset


def main() -> None:
    dataset = stage_args(__doc__, "dataset", "a key of `datasets` in params.yaml")
    params = load_params()["datasets"][dataset]
    out = Path("data") / dataset / "prepared"
    out.mkdir(parents=True, exist_ok=True)
    try:
        manifest, report = read_dataset(Path(params["root"]), params, out)
    except DatasetError as err:
        raise SystemExit(f"prepare@{dataset}: {err}\n{params['where_to_get_it']}") from None
    manifest.to_parquet(out / "manifest.parquet", index=False)
    write_json(out / "report.json", report.to_dict())


if __name__ == "__main__":
    main()
