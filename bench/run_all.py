"""`make bench`: every benchmark in turn (about 10 minutes on 2 cores), then the README table."""
from bench import eyes_models, landmarks, peer_fer, predict, report


def main() -> None:
    landmarks.main()
    predict.main()
    eyes_models.main()
    peer_fer.main()
    report.main()


if __name__ == "__main__":
    main()
