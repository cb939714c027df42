"""Stage `train@<approach>`: fit on the training split -> models/trained/<approach>/ (model + card.json)."""
import resource
from pathlib import Path

from meshfer.training.config import dataset_of, load_features, load_params, stage_args, trained_dir, write_json
from meshfer.training.pipeline import fit


def main() -> None:
    approach = stage_args(__doc__, "approach", "a key of `approaches` in params.yaml")
    params = load_params()
    dataset = params["datasets"][dataset_of(params, approach)]
    model, training = fit(load_features(approach), approach, params[approach], dataset["task"], dataset["landmarks"])
    model.save(trained_dir(approach))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    write_json(Path("metrics") / "training" / approach / "summary.json",
               {**training, "peak_rss_mib": round(peak_mib, 1)})


if __name__ == "__main__":
    main()
