"""Stage `train@<approach>`: fit on the training split -> models/<approach>/ (model file + card.json)."""
import resource
from pathlib import Path

from meshfer.config import dataset_of, features_path, load_arrays, load_params, stage_args, write_json
from meshfer.pipeline import fit


def main() -> None:
    approach = stage_args(__doc__, "approach", "a key of `approaches` in params.yaml")
    params = load_params()
    dataset = params["datasets"][dataset_of(params, approach)]
    features = load_arrays(features_path(approach))
    model, training = fit(features, approach, params[approach], dataset["task"], dataset["landmarks"])
    model.save(Path("models") / approach)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    write_json(Path("metrics") / "training" / approach / "summary.json",
               {**training, "peak_rss_mib": round(peak_mib, 1)})


if __name__ == "__main__":
    main()
