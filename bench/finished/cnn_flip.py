"""The aligned network with the flip at test time: does averaging a face and its mirror image pay for a second pass?

`aligned_cnn` trains on mirrored faces (the mesh mirrored with the crop, `flip: true`), so its mirror image is a
face it knows. `tta_flip` makes the network average both (one file, two forward passes: about twice the
classifier's cost). Scored with the trained model (`models/trained/aligned_cnn`) on clean validation, test and
test_unseen, no face = wrong. Run after `dvc repro`: python -m bench.finished.cnn_flip   (writes
bench/results/cnn_flip.json)
"""
from __future__ import annotations

import numpy as np

from bench.common import write_result
from bench.finished.shared import arguments, smaller
from meshfer.training.feature_table import TEST_WITHOUT_NEAR_COPIES, FeatureTable
from meshfer.training.trained import load_trained
from meshfer.training.networks import KerasClassifier, rebuilt
from meshfer.training.scoring import decide, predict_proba_images

SPLITS = ("validation", "test", TEST_WITHOUT_NEAR_COPIES)


def main(argv: list[str] | None = None) -> None:
    _, run = arguments(__doc__, argv)
    trained = load_trained(run.project / "models" / "trained" / "aligned_cnn")
    table = FeatureTable.load(run.project / "data" / "features" / "aligned_cnn.npz")
    if run.smoke:
        table = smaller(table)
    both = type(trained)(trained.card, KerasClassifier(rebuilt(trained.estimator.model, tta_flip=True)))
    results = {}
    for name, model in {"as trained": trained, "with the flip at test time": both}.items():
        for split in SPLITS:
            y = table.y[table.rows(split, with_face=False)]
            predicted = decide(predict_proba_images(model, table, split))
            results.setdefault(name, {})[split] = round(float(np.mean(predicted == y)), 4)
        print(name, results[name], flush=True)
    write_result("cnn_flip", {"command": "python -m bench.finished.cnn_flip", "flip_in_training":
                              bool(trained.card.model_params.get("flip")), "accuracy": results}, run.results)


if __name__ == "__main__":
    main()
