"""`make bench`: every benchmark in turn (about 25 minutes on 2 cores; after `dvc repro`), then the README table."""
from bench import eyes_models, landmark_only, landmarks, mirror_tta, peer_fer, predict, report, robustness


def main() -> None:
    landmarks.main()
    predict.main()
    eyes_models.main()
    mirror_tta.main()
    landmark_only.main()
    peer_fer.main()
    robustness.main()
    report.main()


if __name__ == "__main__":
    main()
