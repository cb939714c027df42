"""`make bench`: every benchmark in turn (about 40 minutes on 2 cores, after `dvc repro`), then the README tables."""
from bench import (eyes_models, landmark_only, landmarks, mirror_tta, peer_fer, predict, report, robustness,
                   timeline)


def main() -> None:
    landmarks.main()
    predict.main()
    timeline.main()
    eyes_models.main()
    mirror_tta.main()
    landmark_only.main()
    peer_fer.main()
    robustness.main()
    report.main()


if __name__ == "__main__":
    main()
