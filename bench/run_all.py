"""`make bench`: every benchmark in turn (about an hour on 2 cores, after `dvc repro`), then the README tables."""
from bench import (batch, cnn_flip, distil_mesh, eyes_cnn, eyes_compare, eyes_data, eyes_models, eyes_split,
                   eyes_tune, landmark_only, landmarks, mirror_tta, peer_fer, predict, report, robustness, timeline)


def main() -> None:
    landmarks.main()
    predict.main()
    batch.main()
    timeline.main()
    eyes_models.main()
    eyes_data.main()
    eyes_cnn.main()
    eyes_split.main()
    eyes_tune.main()
    eyes_compare.main(["--speed", "--robustness"])
    mirror_tta.main()
    landmark_only.main()
    cnn_flip.main()
    distil_mesh.main()
    peer_fer.main()
    robustness.main()
    report.main()


if __name__ == "__main__":
    main()
