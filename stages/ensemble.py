"""Stage `ensemble`: soft voting over the members' saved probabilities -> metrics/ensemble.json, confusion."""
from pathlib import Path

import pandas as pd

from meshfer.config import load_params, setup_logging, write_json
from meshfer.ensemble import select_members, soft_vote


def main() -> None:
    setup_logging()
    params = load_params()["ensemble"]
    tables = {m: pd.read_parquet(Path("data") / "predictions" / f"{m}.parquet") for m in params["candidates"]}
    if params["select"] == "validation":
        members, subsets = select_members(tables)
    else:
        members, subsets = list(tables), {}
    metrics, report, test_rows = soft_vote([tables[m] for m in members])
    write_json(Path("metrics") / "ensemble.json", metrics)
    write_json(Path("metrics") / "reports" / "ensemble.json",
               {"members": members, **report, "validation_accuracy_of_subsets": subsets})
    test_rows.to_csv(Path("metrics") / "confusion" / "ensemble.csv", index=False)


if __name__ == "__main__":
    main()
