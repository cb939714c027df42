"""Finished experiments: each measured one question once and its outcome is recorded (README.md here: what each
measured, its result file in bench/results/, the outcome). Each still runs: `--smoke` runs it end to end on a tiny
subset (`make bench-smoke`, tests/test_bench_smoke.py)."""

# Module names, in the order `make bench-smoke` runs them (each with its smoke arguments).
EXPERIMENTS = {
    "cnn_flip": [], "distil_cnn": [], "distil_mesh": [], "ensemble_priors": [], "experiments": [],
    "eyes_cnn": [], "eyes_compare": ["--speed", "--robustness"], "eyes_data": [], "eyes_models": [],
    "eyes_split": [], "eyes_tune": [], "hgb_generalise": [], "landmark_only": [], "landmarks": [],
    "mirror_tta": [], "near_copies": [],
}
