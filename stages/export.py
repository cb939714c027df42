"""Stage `export@<approach>`: the trained model as one ONNX file + card -> models/serving/<approach>/, checked
against the trained model on the validation and test faces (the card's `export.parity`)."""
import logging
import shutil

from meshfer.training.config import serving_dir, stage_args, trained_dir
from meshfer.training.onnx_export import export_model
from meshfer.training.feature_table import EVAL_SPLITS, load_features
from meshfer.training.trained import load_trained


def main() -> None:
    approach = stage_args(__doc__, "approach", "a key of `approaches` in params.yaml")
    shutil.rmtree(serving_dir(approach), ignore_errors=True)  # the declared output, nothing else
    card = export_model(load_trained(trained_dir(approach)), load_features(approach), serving_dir(approach))
    for split in EVAL_SPLITS:
        logging.getLogger("export").info("%s %s: %s", approach, split, card.export["parity"].get(split))


if __name__ == "__main__":
    main()
