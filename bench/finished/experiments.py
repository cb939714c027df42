"""The experiment loop's costs (issue: experiments you can trust), in a fresh clone of the last commit with an
empty DVC cache, on this machine: `make quick` (target: <= 5 min on 2 cores), how soon a wrong value stops a stage
(target: < 2 s) and a whole `dvc exp run` (against its floor, an experiment where nothing changed), and how long
`locate` takes on the full data (the only stage a second `dvc repro` runs).

python -m bench.finished.experiments   (about 5 minutes, after a commit)
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench.common import write_result
from bench.finished.shared import arguments


def timed(args: list[str], cwd: Path, ok: bool = True) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if ok and proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return round(seconds, 2), proc


def datasets_env(project: Path) -> dict:
    """The environment with scripts/link-data.sh's variables pointing at ``project``'s datasets, so that a clone
    elsewhere finds them."""
    env = dict(os.environ)
    for name, variable in (("fer2013", "MESHFER_DATA"), ("eyes", "MESHFER_EYES_DATA"),
                           ("eyes_fer", "MESHFER_EYES_FER_DATA")):
        if (project / "data" / "raw" / name).is_dir():
            env.setdefault(variable, str((project / "data" / "raw" / name).resolve()))
    return env


def main(argv: list[str] | None = None) -> None:
    _, run = arguments(__doc__, argv)
    dvc = [sys.executable, "-m", "dvc"]
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "-q", str(run.project), str(clone)], check=True)
        subprocess.run(["bash", "scripts/link-data.sh"], cwd=clone, check=True, capture_output=True,
                       env=datasets_env(run.project))
        # A smoke run leaves out the two whole-pipeline runs (minutes): the bad values and `locate` only.
        quick = None if run.smoke else timed([sys.executable, "scripts/quick.py"], clone)[0]
        # Nothing changed: DVC's start-up and the locate stages.
        floor = None if run.smoke else timed([*dvc, "exp", "run"], clone)[0]
        bad_exp, proc = timed([*dvc, "exp", "run", "-S", "pca_svm.model.C=-1"], clone, ok=False)
        assert proc.returncode != 0 and "pca_svm.model.C: -1 is out of range" in proc.stdout + proc.stderr
        params = yaml.safe_load((clone / "params.yaml").read_text())
        params["pca_svm"]["model"]["C"] = -1
        (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        bad_stage, proc = timed([sys.executable, "-m", "stages.train", "pca_svm"], clone, ok=False)
        assert proc.returncode != 0 and "pca_svm.model.C" in proc.stderr
        subprocess.run(["git", "checkout", "-q", "--", "params.yaml"], cwd=clone, check=True)
        locate_fer, _ = timed([sys.executable, "-m", "stages.locate", "fer"], clone)
    write_result("experiments", {
        "command": "python -m bench.finished.experiments",
        "make_quick_s": quick,
        "dvc_exp_run_nothing_changed_s": floor,
        "dvc_exp_run_bad_value_s": bad_exp,
        "stage_stops_on_bad_value_s": bad_stage,
        "locate_full_fer_s": locate_fer,
        "note": "make_quick_s: fresh clone, empty DVC cache, empty landmark cache; the bad-value run is measured "
                "against dvc_exp_run_nothing_changed_s, its floor (DVC start-up, the always-run locate stages)",
    }, run.results)


if __name__ == "__main__":
    main()
