"""`make quick`: the whole pipeline on the small subset params_quick.yaml names, as the DVC experiment `quick`, run in
a temporary copy of the project (`dvc exp run --temp`): the workspace, dvc.lock, metrics/ and params.yaml stay as they
are, and the figures live in the experiment only (`dvc exp show`; every metrics file of it says "subset": true).

With -S settings (`python scripts/quick.py -S 'pca_svm.model.C=1,5,10'`), a sweep on top of the subset: every
setting is queued as its own experiment (`dvc exp run --queue`, each run in a temporary copy too) and the queue is
run, one at a time, to the end.
"""
import json
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from meshfer.training.config import PARAMS_FILE, load_params, quick_overrides, with_overrides  # noqa: E402
from meshfer.training.schema import ParamsError, check_params  # noqa: E402

NAME = "quick"
DVC = [sys.executable, "-m", "dvc"]


def subset_flags() -> list[str]:
    overrides = quick_overrides()
    try:
        check_params(with_overrides(load_params(PARAMS_FILE), overrides))
    except (ParamsError, KeyError) as err:
        raise SystemExit(f"quick: {err}") from None
    return [f"-S{key}={json.dumps(value)}" for key, value in overrides.items()]


def run_queue() -> int:
    """Run the queued experiments one at a time and wait for the last; 1 if any failed."""
    subprocess.run([*DVC, "queue", "start", "-j", "1"], check=True)
    while True:
        status = subprocess.run([*DVC, "queue", "status"], capture_output=True, text=True).stdout
        if not re.search(r"\b(Queued|Running)\b", status):
            print(status, end="")
            return 1 if "Failed" in status else 0
        time.sleep(10)


def main() -> None:
    flags, sweep = subset_flags(), sys.argv[1:]
    if not sweep:
        subprocess.run([*DVC, "exp", "remove", NAME], capture_output=True)  # a previous quick look, if any
        raise SystemExit(subprocess.run([*DVC, "exp", "run", "--temp", "-n", NAME, *flags]).returncode)
    if subprocess.run([*DVC, "exp", "run", "--queue", *flags, *sweep]).returncode:
        raise SystemExit(1)
    raise SystemExit(run_queue())


if __name__ == "__main__":
    main()
