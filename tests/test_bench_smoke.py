"""Every finished experiment (bench/finished/) still runs: its `--smoke` run, end to end on a tiny subset of the
quick pipeline run's outputs, exits 0 and writes its result file to the folder it is given, never to bench/results/.
Needs the research datasets (the quick run does): see tests/conftest.py."""
import json
import subprocess

import pytest

from bench.common import RESULTS, ROOT
from bench.finished import EXPERIMENTS
from bench.finished.__main__ import smoke_command


# The result files a run writes, where they are not named after the module.
RESULT_FILES = {"eyes_compare": ["eyes_compare", "eyes_speed", "eyes_robustness"]}


@pytest.fixture(scope="module")
def results_before() -> dict:
    return {p.name: p.stat().st_mtime_ns for p in RESULTS.glob("*.json")}


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_smoke_run(name, pipeline_project, tmp_path, results_before):
    project, env, _ = pipeline_project
    proc = subprocess.run(smoke_command(name, project, tmp_path), cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, f"{name} --smoke failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    for result in RESULT_FILES.get(name, [name]):
        written = json.loads((tmp_path / f"{result}.json").read_text())
        assert written["command"].startswith(("python -m bench.finished.", "nice -n 10 python -m bench.finished.",
                                              "OMP_NUM_THREADS=1 python -m bench.finished."))
        assert "machine" in written
    assert {p.name: p.stat().st_mtime_ns for p in RESULTS.glob("*.json")} == results_before


def test_a_smoke_run_never_writes_to_bench_results():
    proc = subprocess.run(smoke_command("landmark_only", ROOT, RESULTS), cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode != 0 and "never writes to bench/results/" in proc.stderr


def test_every_finished_experiment_is_smoke_run_and_indexed():
    folder = ROOT / "bench" / "finished"
    modules = {p.stem for p in folder.glob("*.py")} - {"__init__", "__main__", "shared"}
    index = (folder / "README.md").read_text()
    assert modules == set(EXPERIMENTS)
    assert [m for m in modules if f"| `{m}` |" not in index] == []
