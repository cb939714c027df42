"""`make bench`: the benchmarks whose results `bench.report` reads (predict, batch, eyes_sources, peer_fer,
robustness) and the timeline pictures, in turn (after `dvc repro`), then the README tables.

Run on their own: `bench.http` and `bench.http_metrics` (each starts servers from a clean serving venv) and
`bench.device` (needs a browser). The finished experiments (bench/finished/) are not re-run: their outcome is
recorded in their result files; `make bench-smoke` shows they still run."""
from bench import batch, eyes_sources, peer_fer, predict, report, robustness, timeline


def main() -> None:
    predict.main()
    batch.main()
    timeline.main()
    eyes_sources.main()
    peer_fer.main()
    robustness.main()
    report.main()


if __name__ == "__main__":
    main()
